package app_test

import (
	"context"
	"encoding/json"
	"errors"
	"html"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/recap/recap/app"
	"github.com/recap/recap/app/apptest"
	"github.com/recap/recap/store"
)

// challenge parses an RFC 6750 WWW-Authenticate: Bearer header into its
// parameters; ok is false when it is not a Bearer challenge.
func challenge(h string) (map[string]string, bool) {
	rest, ok := strings.CutPrefix(h, "Bearer ")
	if !ok {
		return nil, false
	}
	out := map[string]string{}
	for _, m := range regexp.MustCompile(`([a-z_]+)="([^"]*)"`).FindAllStringSubmatch(rest, -1) {
		out[m[1]] = m[2]
	}
	return out, true
}

// getJSON GETs url and decodes its JSON body into v, returning the reply.
func getJSON(t *testing.T, url string, v any) *http.Response {
	t.Helper()
	res, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != 200 {
		b, _ := io.ReadAll(res.Body)
		t.Fatalf("GET %s: %d %s", url, res.StatusCode, b)
	}
	if err := json.NewDecoder(res.Body).Decode(v); err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	return res
}

type asMetadata struct {
	Issuer                        string   `json:"issuer"`
	AuthorizationEndpoint         string   `json:"authorization_endpoint"`
	TokenEndpoint                 string   `json:"token_endpoint"`
	RevocationEndpoint            string   `json:"revocation_endpoint"`
	IntrospectionEndpoint         string   `json:"introspection_endpoint"`
	ScopesSupported               []string `json:"scopes_supported"`
	ResponseTypesSupported        []string `json:"response_types_supported"`
	GrantTypesSupported           []string `json:"grant_types_supported"`
	CodeChallengeMethodsSupported []string `json:"code_challenge_methods_supported"`
	IssParameterSupported         bool     `json:"authorization_response_iss_parameter_supported"`
}

type prMetadata struct {
	Resource             string   `json:"resource"`
	AuthorizationServers []string `json:"authorization_servers"`
	ScopesSupported      []string `json:"scopes_supported"`
}

// discover does what an OAuth client given only the API's URL does: an
// unauthenticated call, the resource metadata its 401 names, then the
// authorization server's metadata (RFC 9728 §5, RFC 8414 §3).
func discover(t *testing.T, apiURL string) (prMetadata, asMetadata) {
	t.Helper()
	res, err := http.Get(apiURL)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	c, ok := challenge(res.Header.Get("WWW-Authenticate"))
	if res.StatusCode != 401 || !ok || c["error"] != "invalid_token" || c["resource_metadata"] == "" || c["scope"] != "read write" {
		t.Fatalf("GET %s unauthenticated: %d, WWW-Authenticate %q", apiURL, res.StatusCode, res.Header.Get("WWW-Authenticate"))
	}
	var pr prMetadata
	getJSON(t, c["resource_metadata"], &pr)
	if len(pr.AuthorizationServers) != 1 || !strings.HasPrefix(apiURL, pr.Resource) {
		t.Fatalf("resource metadata %+v does not cover %s", pr, apiURL)
	}
	var as asMetadata
	getJSON(t, pr.AuthorizationServers[0]+"/.well-known/oauth-authorization-server", &as)
	if as.Issuer != pr.AuthorizationServers[0] {
		t.Fatalf("issuer %q at the metadata of %q", as.Issuer, pr.AuthorizationServers[0])
	}
	return pr, as
}

// approve is the person at the browser: it opens the consent page at
// authURL, signs in with apiKey and approves every scope offered, and
// returns the query the browser is redirected with.
func approve(t *testing.T, authURL, apiKey string) url.Values {
	t.Helper()
	res, err := oauthHTTP.Get(authURL)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	m := regexp.MustCompile(`<form method="post" action="([^"]*)">`).FindStringSubmatch(string(b))
	if res.StatusCode != 200 || m == nil {
		t.Fatalf("consent page: %d\n%s", res.StatusCode, b)
	}
	action, err := res.Request.URL.Parse(html.UnescapeString(m[1]))
	if err != nil {
		t.Fatal(err)
	}
	form := url.Values{"api_key": {apiKey}, "decision": {"approve"}}
	for _, h := range regexp.MustCompile(`<input type="hidden" name="([^"]*)" value="([^"]*)">`).FindAllStringSubmatch(string(b), -1) {
		form.Add(html.UnescapeString(h[1]), html.UnescapeString(h[2]))
	}
	for _, g := range regexp.MustCompile(`name="grant" value="([^"]*)"`).FindAllStringSubmatch(string(b), -1) {
		form.Add("grant", g[1])
	}
	res, err = oauthHTTP.PostForm(action.String(), form)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	loc, err := url.Parse(res.Header.Get("Location"))
	if res.StatusCode != http.StatusSeeOther || err != nil {
		t.Fatalf("consent: %d %q", res.StatusCode, res.Header.Get("Location"))
	}
	return loc.Query()
}

// postForm POSTs a form, with basic auth when user is set, and returns
// the status and the body.
func postForm(t *testing.T, endpoint string, form url.Values, user, pass string) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, endpoint, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if user != "" {
		req.SetBasicAuth(url.QueryEscape(user), url.QueryEscape(pass))
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, b
}

// me calls GET /me with a token; it returns the status and the challenge.
func me(t *testing.T, e *apptest.Env, token string) (int, map[string]string) {
	t.Helper()
	res, _ := call(t, http.MethodGet, e.URL+"/me", token, "")
	c, _ := challenge(res.Header.Get("WWW-Authenticate"))
	return res.StatusCode, c
}

// TestOAuthDiscoveryFlow is a real OAuth client (golang.org/x/oauth2)
// given nothing but the API's URL and a client_id: it discovers the
// server, signs in with code + PKCE, calls the API, refreshes, revokes,
// and the revoked tokens are refused.
func TestOAuthDiscoveryFlow(t *testing.T) {
	t.Parallel()
	e := apptest.Start(t, apptest.Options{NoWorker: true, Minutes: 10})
	ctx := context.Background()
	const redirect = "http://127.0.0.1:1/callback"
	client, _, err := e.Store.CreateOAuthClient(ctx, "x/oauth2 app", []string{redirect}, false)
	if err != nil {
		t.Fatal(err)
	}

	pr, as := discover(t, e.URL+"/me")
	if pr.Resource != e.Server.URL+"/api/v1" || as.Issuer != e.Server.URL ||
		strings.Join(as.CodeChallengeMethodsSupported, ",") != "S256" || strings.Join(as.ResponseTypesSupported, ",") != "code" ||
		strings.Join(as.GrantTypesSupported, ",") != "authorization_code,refresh_token" || strings.Join(as.ScopesSupported, ",") != "read,write" ||
		!as.IssParameterSupported || as.RevocationEndpoint == "" || as.IntrospectionEndpoint == "" {
		t.Fatalf("metadata: %+v %+v", pr, as)
	}
	conf := &oauth2.Config{
		ClientID:    client.ID,
		RedirectURL: redirect,
		Scopes:      pr.ScopesSupported,
		Endpoint:    oauth2.Endpoint{AuthURL: as.AuthorizationEndpoint, TokenURL: as.TokenEndpoint, AuthStyle: oauth2.AuthStyleInParams},
	}

	// Code + PKCE.
	verifier := oauth2.GenerateVerifier()
	q := approve(t, conf.AuthCodeURL("st-42", oauth2.S256ChallengeOption(verifier)), e.Key)
	if q.Get("state") != "st-42" || q.Get("code") == "" || q.Get("iss") != as.Issuer {
		t.Fatalf("redirect query %v", q)
	}
	if _, err := conf.Exchange(ctx, q.Get("code"), oauth2.VerifierOption(oauth2.GenerateVerifier())); err == nil {
		t.Fatal("a code was exchanged with the wrong verifier")
	}
	// That attempt used the code up (and revoked nothing: it issued nothing).
	q = approve(t, conf.AuthCodeURL("st-43", oauth2.S256ChallengeOption(verifier)), e.Key)
	tok, err := conf.Exchange(ctx, q.Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(tok.AccessToken, store.AccessTokenPrefix) || tok.RefreshToken == "" || tok.Type() != "Bearer" ||
		tok.Extra("scope") != "read write" || time.Until(tok.Expiry) < 50*time.Minute {
		t.Fatalf("token %+v scope %v", tok, tok.Extra("scope"))
	}
	hc := conf.Client(ctx, tok)
	res, err := hc.Get(e.URL + "/me")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 200 {
		t.Fatalf("GET /me with the token: %d", res.StatusCode)
	}

	// Refresh: the token source refreshes an expired token by itself.
	expired := &oauth2.Token{AccessToken: tok.AccessToken, RefreshToken: tok.RefreshToken, Expiry: time.Now().Add(-time.Minute)}
	tok2, err := conf.TokenSource(ctx, expired).Token()
	if err != nil {
		t.Fatal(err)
	}
	if tok2.AccessToken == tok.AccessToken || tok2.RefreshToken == tok.RefreshToken || tok2.Extra("scope") != "read write" {
		t.Fatalf("refresh gave %+v", tok2)
	}
	if st, _ := me(t, e, tok2.AccessToken); st != 200 {
		t.Fatalf("refreshed token: %d", st)
	}
	if st, c := me(t, e, tok.AccessToken); st != 401 || c["error"] != "invalid_token" {
		t.Fatalf("the rotated-out access token: %d %v", st, c)
	}

	// Revoke the refresh token: its whole grant ends, the access token too.
	if st, b := postForm(t, as.RevocationEndpoint, url.Values{"token": {tok2.RefreshToken}, "token_type_hint": {"refresh_token"},
		"client_id": {client.ID}}, "", ""); st != 200 || len(b) != 0 {
		t.Fatalf("revoke: %d %s", st, b)
	}
	st, c := me(t, e, tok2.AccessToken)
	if st != 401 || c["error"] != "invalid_token" || c["resource_metadata"] != e.Server.URL+"/.well-known/oauth-protected-resource/api/v1" {
		t.Fatalf("the revoked grant's access token: %d %v", st, c)
	}
	_, err = conf.TokenSource(ctx, &oauth2.Token{RefreshToken: tok2.RefreshToken, Expiry: time.Now().Add(-time.Minute)}).Token()
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) || re.ErrorCode != "invalid_grant" {
		t.Fatalf("refresh with the revoked token: %v", err)
	}
	// Revoking it again, or a token that never existed, answers the same.
	for _, tk := range []string{tok2.RefreshToken, "rcprt_nothing"} {
		if st, b := postForm(t, as.RevocationEndpoint, url.Values{"token": {tk}, "client_id": {client.ID}}, "", ""); st != 200 || len(b) != 0 {
			t.Fatalf("revoke %q: %d %s", tk, st, b)
		}
	}

	// An access token alone: revoking it ends it; another client cannot.
	verifier = oauth2.GenerateVerifier()
	q = approve(t, conf.AuthCodeURL("st-44", oauth2.S256ChallengeOption(verifier)), e.Key)
	tok3, err := conf.Exchange(ctx, q.Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatal(err)
	}
	other, _, err := e.Store.CreateOAuthClient(ctx, "other app", []string{redirect}, false)
	if err != nil {
		t.Fatal(err)
	}
	if st, _ := postForm(t, as.RevocationEndpoint, url.Values{"token": {tok3.AccessToken}, "client_id": {other.ID}}, "", ""); st != 200 {
		t.Fatalf("foreign revoke: %d", st)
	}
	if st, _ := me(t, e, tok3.AccessToken); st != 200 {
		t.Fatalf("another client revoked this client's token: %d", st)
	}
	if st, _ := postForm(t, as.RevocationEndpoint, url.Values{"token": {tok3.AccessToken}, "client_id": {client.ID}}, "", ""); st != 200 {
		t.Fatalf("revoke: %d", st)
	}
	if st, _ := me(t, e, tok3.AccessToken); st != 401 {
		t.Fatalf("a revoked access token: %d", st)
	}

	// Malformed revocations.
	for name, c := range map[string]struct {
		form   url.Values
		status int
		code   string
	}{
		"no token":       {url.Values{"client_id": {client.ID}}, 400, "invalid_request"},
		"no client":      {url.Values{"token": {"x"}}, 400, "invalid_request"},
		"unknown client": {url.Values{"token": {"x"}, "client_id": {"rcpc_nope"}}, 401, "invalid_client"},
		"token twice":    {url.Values{"token": {"a", "b"}, "client_id": {client.ID}}, 400, "invalid_request"},
	} {
		st, b := postForm(t, as.RevocationEndpoint, c.form, "", "")
		var oe struct{ Error string }
		_ = json.Unmarshal(b, &oe)
		if st != c.status || oe.Error != c.code {
			t.Errorf("revoke, %s: %d %s", name, st, b)
		}
	}
}

// TestOAuthIntrospection: a confidential client learns whether its own
// tokens are active (RFC 7662); nobody learns about anyone else's.
func TestOAuthIntrospection(t *testing.T) {
	t.Parallel()
	e := apptest.Start(t, apptest.Options{NoWorker: true, Minutes: 10})
	ctx := context.Background()
	const redirect = "http://127.0.0.1:1/cb"
	client, secret, err := e.Store.CreateOAuthClient(ctx, "server app", []string{redirect}, true)
	if err != nil {
		t.Fatal(err)
	}
	_, as := discover(t, e.URL+"/jobs")
	conf := &oauth2.Config{ClientID: client.ID, ClientSecret: secret, RedirectURL: redirect, Scopes: []string{"read"},
		Endpoint: oauth2.Endpoint{AuthURL: as.AuthorizationEndpoint, TokenURL: as.TokenEndpoint, AuthStyle: oauth2.AuthStyleInHeader}}
	verifier := oauth2.GenerateVerifier()
	q := approve(t, conf.AuthCodeURL("s", oauth2.S256ChallengeOption(verifier)), e.Key)
	tok, err := conf.Exchange(ctx, q.Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatal(err)
	}

	type info struct {
		Active    bool   `json:"active"`
		Scope     string `json:"scope"`
		ClientID  string `json:"client_id"`
		TokenType string `json:"token_type"`
		Exp       int64  `json:"exp"`
		Iat       int64  `json:"iat"`
		Sub       string `json:"sub"`
		Iss       string `json:"iss"`
	}
	introspect := func(token, user, pass string, form url.Values) (int, info) {
		t.Helper()
		if form == nil {
			form = url.Values{}
		}
		form.Set("token", token)
		st, b := postForm(t, as.IntrospectionEndpoint, form, user, pass)
		var got info
		if st == 200 {
			if err := json.Unmarshal(b, &got); err != nil {
				t.Fatalf("%s: %v", b, err)
			}
		}
		return st, got
	}
	now := time.Now().Unix()
	st, got := introspect(tok.AccessToken, client.ID, secret, nil)
	if st != 200 || !got.Active || got.Scope != "read" || got.ClientID != client.ID || got.TokenType != "Bearer" ||
		got.Exp < now+3000 || got.Iat > now+5 || got.Sub == "" || got.Iss != as.Issuer {
		t.Fatalf("access token: %d %+v", st, got)
	}
	// client_secret_post works too; a refresh token has no token_type.
	st, got = introspect(tok.RefreshToken, "", "", url.Values{"client_id": {client.ID}, "client_secret": {secret}})
	if st != 200 || !got.Active || got.TokenType != "" || got.Exp < now+24*3600 {
		t.Fatalf("refresh token: %d %+v", st, got)
	}
	for name, token := range map[string]string{"unknown": "rcpat_nothing", "an API key": e.Key} {
		if st, got := introspect(token, client.ID, secret, nil); st != 200 || got.Active {
			t.Errorf("%s: %d %+v", name, st, got)
		}
	}
	// Another confidential client is told nothing about this one's token.
	other, otherSecret, err := e.Store.CreateOAuthClient(ctx, "other", []string{redirect}, true)
	if err != nil {
		t.Fatal(err)
	}
	if st, got := introspect(tok.AccessToken, other.ID, otherSecret, nil); st != 200 || got.Active || got.ClientID != "" {
		t.Errorf("another client introspected this one's token: %d %+v", st, got)
	}
	// Public clients and wrong secrets cannot introspect at all.
	public, _, err := e.Store.CreateOAuthClient(ctx, "public", []string{redirect}, false)
	if err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string][2]string{"public client": {public.ID, ""}, "wrong secret": {client.ID, "nope"}} {
		if st, _ := introspect(tok.AccessToken, c[0], c[1], url.Values{"client_id": {c[0]}}); st != 401 {
			t.Errorf("%s: %d", name, st)
		}
	}
	// Revoked: inactive.
	if st, _ := postForm(t, as.RevocationEndpoint, url.Values{"token": {tok.RefreshToken}}, client.ID, secret); st != 200 {
		t.Fatalf("revoke: %d", st)
	}
	for _, token := range []string{tok.AccessToken, tok.RefreshToken} {
		if st, got := introspect(token, client.ID, secret, nil); st != 200 || got.Active {
			t.Errorf("after revocation: %d %+v", st, got)
		}
	}
}

// TestBearerChallenges: every 401 and 403 names the error, the scope and
// the metadata of the resource it refused (the API or /mcp), and the
// metadata documents are readable from any origin.
func TestBearerChallenges(t *testing.T) {
	t.Parallel()
	e := apptest.Start(t, apptest.Options{NoWorker: true})
	ctx := context.Background()
	_, readOnly, err := e.Store.CreateKey(ctx, store.NewKey{Name: "reader", Seconds: 600, Scopes: []string{"read"}})
	if err != nil {
		t.Fatal(err)
	}
	base := e.Server.URL
	cases := []struct {
		name, method, path, key string
		status                  int
		error, scope, metadata  string
	}{
		{"no key", http.MethodGet, "/api/v1/models", "", 401, "invalid_token", "read write", "/api/v1"},
		{"bad key on /v1", http.MethodPost, "/v1/chat/completions", "rcp_nope", 401, "invalid_token", "read write", "/v1"},
		{"read-only key writes", http.MethodPost, "/api/v1/chat/completions", readOnly, 403, "insufficient_scope", "write", "/api/v1"},
		{"read-only key cancels", http.MethodDelete, "/v1/jobs/00000000-0000-0000-0000-000000000000", readOnly, 403, "insufficient_scope", "write", "/v1"},
		{"mcp without a key", http.MethodPost, "/mcp", "", 401, "invalid_token", "read write", "/mcp"},
	}
	for _, c := range cases {
		res, b := call(t, c.method, base+c.path, c.key, `{}`)
		ch, ok := challenge(res.Header.Get("WWW-Authenticate"))
		if res.StatusCode != c.status || !ok || ch["error"] != c.error || ch["scope"] != c.scope || ch["realm"] != "recap" ||
			ch["resource_metadata"] != base+"/.well-known/oauth-protected-resource"+c.metadata || ch["error_description"] == "" {
			t.Errorf("%s: %d %q %s", c.name, res.StatusCode, res.Header.Get("WWW-Authenticate"), b)
			continue
		}
		var pr prMetadata
		getJSON(t, ch["resource_metadata"], &pr)
		if pr.Resource != base+c.metadata || len(pr.AuthorizationServers) != 1 || pr.AuthorizationServers[0] != base {
			t.Errorf("%s: resource metadata %+v", c.name, pr)
		}
	}
	var root prMetadata
	res := getJSON(t, base+"/.well-known/oauth-protected-resource", &root)
	if root.Resource != base || res.Header.Get("Access-Control-Allow-Origin") != "*" {
		t.Errorf("root resource metadata: %+v %v", root, res.Header)
	}
	if r := opsCall(t, http.MethodGet, base+"/.well-known/oauth-protected-resource/nope", nil); r.status != 404 {
		t.Errorf("metadata of an unknown resource: %d", r.status)
	}
	req, _ := http.NewRequest(http.MethodOptions, base+"/.well-known/oauth-authorization-server", nil)
	req.Header.Set("Origin", "https://inspector.example")
	req.Header.Set("Access-Control-Request-Method", "GET")
	req.Header.Set("Access-Control-Request-Headers", "mcp-protocol-version")
	pre, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	pre.Body.Close()
	if pre.StatusCode != 204 || pre.Header.Get("Access-Control-Allow-Origin") != "*" ||
		pre.Header.Get("Access-Control-Allow-Headers") != "mcp-protocol-version" {
		t.Errorf("preflight: %d %v", pre.StatusCode, pre.Header)
	}
	// A client that read a proxy's X-Forwarded-Proto is told https URLs.
	req, _ = http.NewRequest(http.MethodGet, base+"/.well-known/oauth-authorization-server", nil)
	req.Header.Set("X-Forwarded-Proto", "https")
	fwd, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var as asMetadata
	_ = json.NewDecoder(fwd.Body).Decode(&as)
	fwd.Body.Close()
	if as.Issuer != "https://"+strings.TrimPrefix(base, "http://") || !strings.HasPrefix(as.TokenEndpoint, "https://") {
		t.Errorf("behind a TLS proxy: %+v", as)
	}
}

// TestPublicURLIssuer: with PUBLIC_URL set, the documents and challenges
// use it whatever Host the request names, and may be cached.
func TestPublicURLIssuer(t *testing.T) {
	t.Parallel()
	const public = "https://recap.example.com"
	e := apptest.Start(t, apptest.Options{NoWorker: true, Configure: func(c *app.Config) { c.PublicURL = public }})
	var as asMetadata
	res := getJSON(t, e.Server.URL+"/.well-known/oauth-authorization-server", &as)
	if as.Issuer != public || as.AuthorizationEndpoint != public+"/api/auth/authorize" || as.TokenEndpoint != public+"/api/auth/token" ||
		!strings.Contains(res.Header.Get("Cache-Control"), "max-age") {
		t.Fatalf("%+v %v", as, res.Header)
	}
	r, _ := call(t, http.MethodGet, e.URL+"/me", "", "")
	if ch, _ := challenge(r.Header.Get("WWW-Authenticate")); ch["resource_metadata"] != public+"/.well-known/oauth-protected-resource/api/v1" {
		t.Fatalf("challenge %v", ch)
	}
	for _, bad := range []string{"recap.example.com", "ftp://x", "https://x/?q=1", "https://x/#f"} {
		if _, err := app.Load(func(k string) string {
			if k == "PUBLIC_URL" {
				return bad
			}
			return ""
		}); err == nil || !strings.Contains(err.Error(), "PUBLIC_URL") {
			t.Errorf("PUBLIC_URL=%q: %v", bad, err)
		}
	}
}
