package api

// OAuth2 authorization-code flow with PKCE (RFC 6749 §4.1, RFC 7636),
// the contract's second security scheme. Written against the RFCs rather
// than with an OAuth2 library; the README's "Credits, rate limits and
// sign-in" section says why. Only the subset Recap needs is here:
//
//	GET/POST /api/auth/authorize  response_type=code, PKCE S256 required
//	POST     /api/auth/token      grant_type=authorization_code | refresh_token
//
// Codes, access tokens and refresh tokens are random 256-bit values kept
// in Postgres only as SHA-256 (store/oauth.go). An access token resolves
// to the API key its owner signed in with, narrowed to the granted scopes.

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/recap/recap"
	"github.com/recap/recap/store"
	"github.com/recap/recap/textclean"
)

// OAuthStore is the OAuth2 persistence the API uses.
type OAuthStore interface {
	OAuthClient(ctx context.Context, id string) (*store.OAuthClient, error)
	RegisterOAuthClient(ctx context.Context, name string, redirectURIs []string) (*store.OAuthClient, error)
	CreateAuthCode(ctx context.Context, c store.AuthCode) (string, error)
	RedeemAuthCode(ctx context.Context, code string) (*store.AuthCode, error)
	IssueTokens(ctx context.Context, c *store.AuthCode, accessTTL, refreshTTL time.Duration) (*store.TokenPair, error)
	RefreshTokens(ctx context.Context, refresh, clientID string, scopes []string, accessTTL, refreshTTL time.Duration) (*store.TokenPair, error)
	RevokeToken(ctx context.Context, token, clientID string) (bool, error)
	IntrospectToken(ctx context.Context, token, clientID string) (*store.TokenInfo, error)
}

// OAuthConfig sets OAuth2 lifetimes.
type OAuthConfig struct {
	// CodeTTL is how long an authorization code may wait for its exchange
	// (default 60s: the client exchanges it right after the redirect).
	CodeTTL time.Duration
	// AccessTTL is an access token's lifetime (default 1h).
	AccessTTL time.Duration
	// RefreshTTL is a refresh token's lifetime (default 30 days); each
	// refresh issues a new one.
	RefreshTTL time.Duration
	// Issuer is the public base URL (see DiscoveryConfig); empty means
	// each request's own.
	Issuer string
	// RegistrationsPerHour limits dynamic client registration (RFC 7591,
	// POST /api/auth/register) per client address; 0 turns dynamic
	// registration off.
	RegistrationsPerHour int
}

func (c OAuthConfig) withDefaults() OAuthConfig {
	if c.CodeTTL <= 0 {
		c.CodeTTL = time.Minute
	}
	if c.AccessTTL <= 0 {
		c.AccessTTL = time.Hour
	}
	if c.RefreshTTL <= 0 {
		c.RefreshTTL = 30 * 24 * time.Hour
	}
	return c
}

// scopeNames lists the scopes a client may ask for, with what the
// authorize page says about each.
var scopeNames = []struct{ Name, Description string }{
	{recap.ScopeRead, "See your jobs, transcripts, models and credit balance"},
	{recap.ScopeWrite, "Summarize videos and create or cancel jobs, spending your credits"},
}

// parseScope splits a space-separated scope parameter; "" means read.
func parseScope(s string) ([]string, bool) {
	fields := strings.Fields(s)
	if len(fields) == 0 {
		return []string{recap.ScopeRead}, true
	}
	var out []string
	for _, f := range fields {
		if f != recap.ScopeRead && f != recap.ScopeWrite {
			return nil, false
		}
		if !slices.Contains(out, f) {
			out = append(out, f)
		}
	}
	slices.Sort(out)
	return out, true
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

// authorizeRequest is a validated authorization request.
type authorizeRequest struct {
	Client        *store.OAuthClient
	RedirectURI   string
	State         string
	Scopes        []string
	CodeChallenge string
}

// parseAuthorize validates an authorization request. A problem with the
// client or redirect URI is reported to the person (fatal is true: never
// redirect to a URI that is not registered); any other problem goes back
// to the client on its redirect URI.
func (s *Server) parseAuthorize(r *http.Request) (req *authorizeRequest, err *oauthError, fatal bool) {
	f := r.Form
	for _, p := range []string{"client_id", "redirect_uri", "response_type", "scope", "state", "code_challenge", "code_challenge_method"} {
		if len(f[p]) > 1 {
			return nil, oauthErr("invalid_request", "The parameter "+p+" was sent more than once."), true
		}
		if !textclean.Valid(f.Get(p)) {
			return nil, oauthErr("invalid_request", "The parameter "+p+" holds a NUL character or invalid UTF-8."), true
		}
	}
	clientID := f.Get("client_id")
	c, e := s.cfg.Store.OAuthClient(r.Context(), clientID)
	if e != nil || clientID == "" {
		if e != nil && !errors.Is(e, store.ErrNotFound) {
			s.log.Error("oauth client lookup", "err", e)
			return nil, &oauthError{Status: http.StatusInternalServerError, Code: "server_error", Description: "The server had an error."}, true
		}
		return nil, oauthErr("invalid_request", "Unknown client_id."), true
	}
	redirect := f.Get("redirect_uri")
	if redirect == "" && len(c.RedirectURIs) == 1 {
		redirect = c.RedirectURIs[0]
	}
	if !slices.Contains(c.RedirectURIs, redirect) {
		return nil, oauthErr("invalid_request", "The redirect_uri is not registered for this client."), true
	}
	req = &authorizeRequest{Client: c, RedirectURI: redirect, State: f.Get("state")}
	if f.Get("response_type") != "code" {
		return req, oauthErr("unsupported_response_type", "Only response_type=code is supported."), false
	}
	scopes, ok := parseScope(f.Get("scope"))
	if !ok {
		return req, oauthErr("invalid_scope", "Known scopes are 'read' and 'write'."), false
	}
	req.Scopes = scopes
	req.CodeChallenge = f.Get("code_challenge")
	if f.Get("code_challenge_method") != "S256" || !validChallenge(req.CodeChallenge) {
		return req, oauthErr("invalid_request", "PKCE is required: send code_challenge (BASE64URL(SHA-256(code_verifier)), 43 characters) and code_challenge_method=S256."), false
	}
	return req, nil, false
}

func validChallenge(c string) bool {
	if len(c) != 43 {
		return false
	}
	b, err := base64.RawURLEncoding.DecodeString(c)
	return err == nil && len(b) == sha256.Size
}

// validVerifier checks RFC 7636 §4.1: 43 to 128 unreserved characters.
func validVerifier(v string) bool {
	if len(v) < 43 || len(v) > 128 {
		return false
	}
	for i := 0; i < len(v); i++ {
		c := v[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~') {
			return false
		}
	}
	return true
}

// redirectTo sends the person back to the client with params, state, and
// the issuer (RFC 9207), so a client talking to several servers can tell
// which one answered.
func (s *Server) redirectTo(w http.ResponseWriter, r *http.Request, req *authorizeRequest, params url.Values) {
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

func (s *Server) redirectError(w http.ResponseWriter, r *http.Request, req *authorizeRequest, e *oauthError) {
	s.redirectTo(w, r, req, url.Values{"error": {e.Code}, "error_description": {e.Description}})
}

// handleAuthorize shows the consent page (GET) and takes its answer (POST).
func (s *Server) handleAuthorize(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		s.authorizePage(w, http.StatusBadRequest, authorizeView{Fatal: "The request could not be read."})
		return
	}
	req, oerr, fatal := s.parseAuthorize(r)
	if fatal {
		s.authorizePage(w, oerr.Status, authorizeView{Fatal: oerr.Description})
		return
	}
	if oerr != nil {
		s.redirectError(w, r, req, oerr)
		return
	}
	view := authorizeView{Req: req, Form: r.Form}
	if r.Method == http.MethodGet {
		s.authorizePage(w, http.StatusOK, view)
		return
	}
	if r.PostForm.Get("decision") != "approve" {
		s.redirectError(w, r, req, oauthErr("access_denied", "The owner did not approve the request."))
		return
	}
	secret := strings.TrimSpace(r.PostForm.Get("api_key"))
	var key *recap.Caller
	if secret != "" && len(secret) <= 256 && !strings.HasPrefix(secret, store.AccessTokenPrefix) {
		k, err := s.cfg.Store.KeyBySecret(r.Context(), secret)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			s.log.Error("oauth sign-in", "err", err)
			s.authorizePage(w, http.StatusInternalServerError, authorizeView{Fatal: "The server had an error; try again."})
			return
		}
		key = k
	}
	if key == nil {
		view.Problem = "That API key is not valid. Sign in with an active key of your account."
		s.authorizePage(w, http.StatusUnauthorized, view)
		return
	}
	// Granted: what the client asked for, the owner ticked, and the key has.
	var granted []string
	for _, sc := range req.Scopes {
		if slices.Contains(r.PostForm["grant"], sc) && slices.Contains(key.Scopes, sc) {
			granted = append(granted, sc)
		}
	}
	if len(granted) == 0 {
		s.redirectError(w, r, req, oauthErr("access_denied", "No scope was approved."))
		return
	}
	code, err := s.cfg.Store.CreateAuthCode(r.Context(), store.AuthCode{ClientID: req.Client.ID, APIKeyID: key.ID,
		RedirectURI: req.RedirectURI, Scopes: granted, CodeChallenge: req.CodeChallenge, CodeChallengeMethod: "S256",
		ExpiresAt: time.Now().Add(s.cfg.OAuth.CodeTTL)})
	if err != nil {
		s.log.Error("oauth code", "err", err)
		s.redirectError(w, r, req, &oauthError{Code: "server_error", Description: "The server had an error."})
		return
	}
	s.log.Info("oauth code issued", "client_id", req.Client.ID, "key_id", key.ID, "scopes", strings.Join(granted, " "))
	s.redirectTo(w, r, req, url.Values{"code": {code}})
}

// authorizeView is what the consent page shows.
type authorizeView struct {
	Req     *authorizeRequest
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
	client, oerr := s.tokenClient(r, params)
	if oerr != nil {
		writeTokenError(w, oerr)
		return
	}
	var pair *store.TokenPair
	var err error
	switch params["grant_type"] {
	case "authorization_code":
		pair, oerr = s.exchangeCode(r.Context(), client, params)
	case "refresh_token":
		if params["refresh_token"] == "" {
			oerr = oauthErr("invalid_request", "refresh_token is required.")
			break
		}
		var scopes []string
		if params["scope"] != "" {
			var ok bool
			if scopes, ok = parseScope(params["scope"]); !ok {
				oerr = oauthErr("invalid_scope", "Known scopes are 'read' and 'write'.")
				break
			}
		}
		pair, err = s.cfg.Store.RefreshTokens(r.Context(), params["refresh_token"], client.ID, scopes, s.cfg.OAuth.AccessTTL, s.cfg.OAuth.RefreshTTL)
		switch {
		case errors.Is(err, store.ErrInvalidGrant):
			oerr = oauthErr("invalid_grant", "The refresh token is invalid, expired, revoked or was issued to another client.")
		case errors.Is(err, store.ErrInvalidScope):
			oerr = oauthErr("invalid_scope", "A refresh may narrow the granted scopes, never widen them.")
		case err != nil:
			s.log.Error("oauth refresh", "err", err)
			oerr = &oauthError{Status: http.StatusInternalServerError, Code: "server_error", Description: "The server had an error."}
		}
	case "":
		oerr = oauthErr("invalid_request", "grant_type is required.")
	default:
		oerr = oauthErr("unsupported_grant_type", "Supported grant types: authorization_code, refresh_token.")
	}
	if oerr != nil {
		writeTokenError(w, oerr)
		return
	}
	writeToken(w, http.StatusOK, tokenReply{AccessToken: pair.Access, TokenType: "Bearer",
		ExpiresIn: int64(time.Until(pair.AccessExpiresAt).Round(time.Second) / time.Second), RefreshToken: pair.Refresh,
		Scope: strings.Join(pair.Scopes, " ")})
}

// tokenClient authenticates the client at the token endpoint: HTTP Basic
// or client_id (+ client_secret) in the body (RFC 6749 §2.3.1), not both.
func (s *Server) tokenClient(r *http.Request, params map[string]string) (*store.OAuthClient, *oauthError) {
	id, secret := params["client_id"], params["client_secret"]
	if u, p, ok := r.BasicAuth(); ok {
		if secret != "" {
			return nil, oauthErr("invalid_request", "Authenticate the client one way only.")
		}
		var err1, err2 error
		u, err1 = url.QueryUnescape(u)
		secret, err2 = url.QueryUnescape(p)
		if err1 != nil || err2 != nil || (id != "" && id != u) {
			return nil, &oauthError{Status: http.StatusUnauthorized, Code: "invalid_client", Description: "Client authentication failed."}
		}
		id = u
	}
	if id == "" {
		return nil, oauthErr("invalid_request", "client_id is required.")
	}
	c, err := s.cfg.Store.OAuthClient(r.Context(), id)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		s.log.Error("oauth client lookup", "err", err)
		return nil, &oauthError{Status: http.StatusInternalServerError, Code: "server_error", Description: "The server had an error."}
	}
	if c == nil || !c.CheckSecret(secret) {
		return nil, &oauthError{Status: http.StatusUnauthorized, Code: "invalid_client", Description: "Client authentication failed."}
	}
	return c, nil
}

// exchangeCode redeems a code (once: the first attempt uses it up, right
// or wrong) and issues tokens if the client, redirect URI and PKCE
// verifier all match what was authorized.
func (s *Server) exchangeCode(ctx context.Context, client *store.OAuthClient, p map[string]string) (*store.TokenPair, *oauthError) {
	if p["code"] == "" || p["code_verifier"] == "" {
		return nil, oauthErr("invalid_request", "code and code_verifier are required.")
	}
	if !validVerifier(p["code_verifier"]) {
		return nil, oauthErr("invalid_grant", "The code_verifier is malformed.")
	}
	ac, err := s.cfg.Store.RedeemAuthCode(ctx, p["code"])
	if errors.Is(err, store.ErrInvalidGrant) {
		return nil, oauthErr("invalid_grant", "The authorization code is invalid, expired or already used.")
	}
	if err != nil {
		s.log.Error("oauth redeem", "err", err)
		return nil, &oauthError{Status: http.StatusInternalServerError, Code: "server_error", Description: "The server had an error."}
	}
	redirect := p["redirect_uri"]
	if redirect == "" && len(client.RedirectURIs) == 1 {
		redirect = client.RedirectURIs[0]
	}
	sum := sha256.Sum256([]byte(p["code_verifier"]))
	challenge := base64.RawURLEncoding.EncodeToString(sum[:])
	if ac.ClientID != client.ID || ac.RedirectURI != redirect ||
		subtle.ConstantTimeCompare([]byte(challenge), []byte(ac.CodeChallenge)) != 1 {
		return nil, oauthErr("invalid_grant", "The code was not issued to this client, redirect URI and code_verifier.")
	}
	pair, err := s.cfg.Store.IssueTokens(ctx, ac, s.cfg.OAuth.AccessTTL, s.cfg.OAuth.RefreshTTL)
	if err != nil {
		s.log.Error("oauth issue", "err", err)
		return nil, &oauthError{Status: http.StatusInternalServerError, Code: "server_error", Description: "The server had an error."}
	}
	return pair, nil
}
