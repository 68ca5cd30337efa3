package api

// OAuth2 authorization-code flow with PKCE (RFC 6749 §4.1, RFC 7636),
// the contract's second security scheme. Written against the RFCs rather
// than with an OAuth2 library; docs/features.md ("Scopes and
// OAuth2 sign-in") says why. Only the subset Recap needs is here:
//
//	GET/POST /api/auth/authorize  response_type=code, PKCE S256 required
//	POST     /api/auth/token      grant_type=authorization_code | refresh_token
//
// Codes, access tokens and refresh tokens are random 256-bit values kept
// in Postgres only as SHA-256 (store/oauth.go). An access token resolves
// to the API key its owner signed in with, narrowed to the granted scopes.

import (
	"errors"
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/recap/recap"
	"github.com/recap/recap/core"
	"github.com/recap/recap/textclean"
)

// OAuthConfig configures the OAuth2 endpoints (lifetimes are
// core.OAuthConfig's).
type OAuthConfig struct {
	// Issuer is the public base URL (see DiscoveryConfig); empty means
	// each request's own.
	Issuer string
	// RegistrationsPerHour limits dynamic client registration (RFC 7591,
	// POST /api/auth/register) per client address; 0 turns dynamic
	// registration off.
	RegistrationsPerHour int
}

// scopeNames lists the scopes a client may ask for, with what the
// authorize page says about each.
var scopeNames = []struct{ Name, Description string }{
	{recap.ScopeRead, "See your jobs, transcripts, models and credit balance"},
	{recap.ScopeWrite, "Summarize videos and create or cancel jobs, spending your credits"},
}

// oauthError is an RFC 6749 error: "error" and "error_description".
type oauthError struct {
	Status      int
	Code        string
	Description string
}

func (e *oauthError) Error() string { return e.Code + ": " + e.Description }

func oauthErr(code, desc string) *oauthError {
	return &oauthError{Status: http.StatusBadRequest, Code: code, Description: desc}
}

// single returns the one value of a form parameter; a parameter sent
// twice is invalid (RFC 6749 §3.1, §3.2).
func single(f url.Values, name string) (string, bool) {
	v := f[name]
	if len(v) > 1 {
		return "", false
	}
	if len(v) == 0 {
		return "", true
	}
	return v[0], true
}

// fromOAuth is the door's form of a use case's OAuth2 error: its status
// by kind, as every other error's.
func fromOAuth(err error) *oauthError {
	var oe *core.OAuthError
	if !errors.As(err, &oe) {
		return &oauthError{Status: http.StatusInternalServerError, Code: "server_error", Description: "The server had an error."}
	}
	status, _ := statusOf(oe.Kind)
	return &oauthError{Status: status, Code: oe.Code, Description: oe.Description}
}

// authorizeParams reads an authorization request's parameters: each at
// most once, and text Postgres can store.
func authorizeParams(f url.Values) (core.AuthorizeRequest, *oauthError) {
	for _, p := range []string{"client_id", "redirect_uri", "response_type", "scope", "state", "code_challenge", "code_challenge_method"} {
		if len(f[p]) > 1 {
			return core.AuthorizeRequest{}, oauthErr("invalid_request", "The parameter "+p+" was sent more than once.")
		}
		if !textclean.Valid(f.Get(p)) {
			return core.AuthorizeRequest{}, oauthErr("invalid_request", "The parameter "+p+" holds a NUL character or invalid UTF-8.")
		}
	}
	return core.AuthorizeRequest{ClientID: f.Get("client_id"), RedirectURI: f.Get("redirect_uri"), ResponseType: f.Get("response_type"),
		Scope: f.Get("scope"), State: f.Get("state"), CodeChallenge: f.Get("code_challenge"),
		CodeChallengeMethod: f.Get("code_challenge_method")}, nil
}

// redirectTo sends the person back to the client with params, state, and
// the issuer (RFC 9207), so a client talking to several servers can tell
// which one answered.
func (s *Server) redirectTo(w http.ResponseWriter, r *http.Request, req *core.Authorization, params url.Values) {
	u, err := url.Parse(req.RedirectURI)
	if err != nil { // registered URIs are checked at registration
		http.Error(w, "bad redirect URI", http.StatusInternalServerError)
		return
	}
	q := u.Query()
	for k, v := range params {
		q[k] = v
	}
	if req.State != "" {
		q.Set("state", req.State)
	}
	q.Set("iss", s.publicBase(r))
	u.RawQuery = q.Encode()
	w.Header().Set("Cache-Control", "no-store")
	status := http.StatusFound
	if r.Method == http.MethodPost {
		status = http.StatusSeeOther
	}
	http.Redirect(w, r, u.String(), status)
}

func (s *Server) redirectError(w http.ResponseWriter, r *http.Request, req *core.Authorization, e *oauthError) {
	s.redirectTo(w, r, req, url.Values{"error": {e.Code}, "error_description": {e.Description}})
}

// handleAuthorize shows the consent page (GET) and takes its answer (POST).
func (s *Server) handleAuthorize(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		s.authorizePage(w, http.StatusBadRequest, authorizeView{Fatal: "The request could not be read."})
		return
	}
	req, oerr := authorizeParams(r.Form)
	if oerr != nil {
		s.authorizePage(w, oerr.Status, authorizeView{Fatal: oerr.Description})
		return
	}
	if r.Method == http.MethodPost {
		req.Consent = &core.Consent{Approve: r.PostForm.Get("decision") == "approve", APIKey: r.PostForm.Get("api_key"), Grant: r.PostForm["grant"]}
	}
	a, err := s.core.Authorize(r.Context(), req)
	if err != nil {
		var ce *core.OAuthError
		redirect := errors.As(err, &ce) && ce.Redirect && a != nil
		oerr := fromOAuth(err)
		switch {
		case redirect:
			s.redirectError(w, r, a, oerr)
		case a != nil && oerr.Status == http.StatusUnauthorized:
			// The key: the person may sign in with another.
			s.authorizePage(w, oerr.Status, authorizeView{Req: a, Form: r.Form, Problem: oerr.Description})
		default:
			s.authorizePage(w, oerr.Status, authorizeView{Fatal: oerr.Description})
		}
		return
	}
	if req.Consent == nil {
		s.authorizePage(w, http.StatusOK, authorizeView{Req: a, Form: r.Form})
		return
	}
	s.redirectTo(w, r, a, url.Values{"code": {a.Code}})
}

// authorizeView is what the consent page shows.
type authorizeView struct {
	Req     *core.Authorization
	Form    url.Values
	Problem string
	Fatal   string
}

func (v authorizeView) ScopeRows() []struct{ Name, Description string } {
	var out []struct{ Name, Description string }
	for _, sc := range scopeNames {
		if v.Req != nil && slices.Contains(v.Req.Scopes, sc.Name) {
			out = append(out, sc)
		}
	}
	return out
}

// Hidden are the request's parameters, carried through the form.
func (v authorizeView) Hidden() [][2]string {
	var out [][2]string
	for _, p := range []string{"client_id", "redirect_uri", "response_type", "scope", "state", "code_challenge", "code_challenge_method"} {
		if val := v.Form.Get(p); val != "" {
			out = append(out, [2]string{p, val})
		}
	}
	return out
}

var authorizeTmpl = template.Must(template.New("authorize").Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Authorize – Recap</title>
<style>
body{font:16px/1.5 system-ui,sans-serif;max-width:32rem;margin:3rem auto;padding:0 1rem;color:#222}
h1{font-size:1.4rem}.box{border:1px solid #ccc;border-radius:8px;padding:1rem 1.25rem}
label{display:block;margin:.5rem 0}input[type=password]{width:100%;padding:.4rem;box-sizing:border-box}
.problem{color:#a00}.note{color:#555;font-size:.9rem}.buttons{margin-top:1rem;display:flex;gap:.75rem}button{padding:.45rem 1.1rem}
code{background:#f3f3f3;padding:0 .2rem}
</style></head><body>
{{if .Fatal}}<h1>Authorization failed</h1><p class="problem">{{.Fatal}}</p>
{{else}}<h1>Authorize {{.Req.Client.Name}}</h1>
<div class="box">
<p><strong>{{.Req.Client.Name}}</strong> asks to use your Recap account. After you approve, you return to
<code>{{.Req.RedirectURI}}</code>.</p>
{{if .Req.Client.Registered}}<p class="note">This application registered itself and chose its own name: approve only if you just started signing in to it.</p>
{{end}}
<form method="post" action="authorize">
{{range .Hidden}}<input type="hidden" name="{{index . 0}}" value="{{index . 1}}">
{{end}}<p>It may:</p>
{{range .ScopeRows}}<label><input type="checkbox" name="grant" value="{{.Name}}" checked> <strong>{{.Name}}</strong> — {{.Description}}</label>
{{end}}<label>Sign in with one of your API keys
<input type="password" name="api_key" autocomplete="off" required placeholder="rcp_…"></label>
{{if .Problem}}<p class="problem">{{.Problem}}</p>{{end}}
<div class="buttons"><button type="submit" name="decision" value="approve">Approve</button>
<button type="submit" name="decision" value="deny" formnovalidate>Deny</button></div>
</form></div>{{end}}
</body></html>
`))

func (s *Server) authorizePage(w http.ResponseWriter, status int, v authorizeView) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'")
	h.Set("Referrer-Policy", "no-referrer")
	w.WriteHeader(status)
	if err := authorizeTmpl.Execute(w, v); err != nil {
		s.log.Warn("authorize page", "err", err)
	}
}

// tokenReply is a successful token response (RFC 6749 §5.1).
type tokenReply struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int64  `json:"expires_in"`
	RefreshToken string `json:"refresh_token"`
	Scope        string `json:"scope"`
}

func writeToken(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Pragma", "no-cache")
	writeJSON(w, status, v)
}

func writeTokenError(w http.ResponseWriter, e *oauthError) {
	if e.Status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Basic realm="recap"`)
	}
	writeToken(w, e.Status, map[string]string{"error": e.Code, "error_description": e.Description})
}

// handleToken exchanges a code, or a refresh token, for tokens.
func (s *Server) handleToken(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	ct := r.Header.Get("Content-Type")
	if !strings.HasPrefix(ct, "application/x-www-form-urlencoded") {
		writeTokenError(w, oauthErr("invalid_request", "Send the parameters as application/x-www-form-urlencoded."))
		return
	}
	if err := r.ParseForm(); err != nil {
		writeTokenError(w, oauthErr("invalid_request", "The request body could not be read."))
		return
	}
	f := r.PostForm
	params := map[string]string{}
	for _, p := range []string{"grant_type", "code", "redirect_uri", "code_verifier", "refresh_token", "scope", "client_id", "client_secret"} {
		v, ok := single(f, p)
		if !ok {
			writeTokenError(w, oauthErr("invalid_request", "The parameter "+p+" was sent more than once."))
			return
		}
		if !textclean.Valid(v) {
			writeTokenError(w, oauthErr("invalid_request", "The parameter "+p+" holds a NUL character or invalid UTF-8."))
			return
		}
		params[p] = v
	}
	pair, err := s.core.Token(r.Context(), core.TokenRequest{Client: clientCredentials(r, params), GrantType: params["grant_type"],
		Code: params["code"], RedirectURI: params["redirect_uri"], CodeVerifier: params["code_verifier"],
		RefreshToken: params["refresh_token"], Scope: params["scope"]})
	if err != nil {
		writeTokenError(w, fromOAuth(err))
		return
	}
	writeToken(w, http.StatusOK, tokenReply{AccessToken: pair.Access, TokenType: "Bearer",
		ExpiresIn: int64(time.Until(pair.AccessExpiresAt).Round(time.Second) / time.Second), RefreshToken: pair.Refresh,
		Scope: strings.Join(pair.Scopes, " ")})
}

// clientCredentials are the client's credentials a token, revocation or
// introspection request carries: in the body, or as HTTP Basic.
func clientCredentials(r *http.Request, params map[string]string) core.ClientCredentials {
	c := core.ClientCredentials{ID: params["client_id"], Secret: params["client_secret"]}
	c.BasicUser, c.BasicPassword, c.Basic = r.BasicAuth()
	return c
}
