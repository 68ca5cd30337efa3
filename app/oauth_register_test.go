package app_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/recap/recap/app"
	"github.com/recap/recap/app/apptest"
	"github.com/recap/recap/store"
)

type registration struct {
	ClientID                string   `json:"client_id"`
	ClientIDIssuedAt        int64    `json:"client_id_issued_at"`
	ClientName              string   `json:"client_name"`
	RedirectURIs            []string `json:"redirect_uris"`
	GrantTypes              []string `json:"grant_types"`
	ResponseTypes           []string `json:"response_types"`
	TokenEndpointAuthMethod string   `json:"token_endpoint_auth_method"`
	Scope                   string   `json:"scope"`
	Error                   string   `json:"error"`
	ErrorDescription        string   `json:"error_description"`
}

// register POSTs client metadata to the registration endpoint.
func register(t *testing.T, endpoint, body string) (*http.Response, registration) {
	t.Helper()
	res, err := http.Post(endpoint, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	var reg registration
	if err := json.Unmarshal(b, &reg); err != nil {
		t.Fatalf("registration reply %d is not JSON: %s", res.StatusCode, b)
	}
	return res, reg
}

// TestOAuthDynamicRegistration: a client given only the API's URL finds
// the registration endpoint, registers itself (public, loopback
// redirect), signs in with code + PKCE and calls the API; bad metadata
// is refused with RFC 7591's errors; a registration left unused expires.
func TestOAuthDynamicRegistration(t *testing.T) {
	t.Parallel()
	e := apptest.Start(t, apptest.Options{NoWorker: true, Minutes: 10})
	ctx := context.Background()

	_, as := discover(t, e.URL+"/me")
	var meta map[string]any
	getJSON(t, e.Server.URL+"/.well-known/oauth-authorization-server", &meta)
	endpoint, _ := meta["registration_endpoint"].(string)
	if endpoint != e.Server.URL+"/api/auth/register" {
		t.Fatalf("registration_endpoint %q", meta["registration_endpoint"])
	}
	// OpenID Connect discovery finds the same endpoints.
	var oidc map[string]any
	getJSON(t, e.Server.URL+"/.well-known/openid-configuration", &oidc)
	for _, k := range []string{"issuer", "authorization_endpoint", "token_endpoint", "registration_endpoint"} {
		if oidc[k] != meta[k] || oidc[k] == nil {
			t.Errorf("openid-configuration %s = %v, want %v", k, oidc[k], meta[k])
		}
	}

	const redirect = "http://127.0.0.1:33418/callback"
	res, reg := register(t, endpoint, `{"client_name":"Agent <CLI>","redirect_uris":["`+redirect+`","https://agent.example/cb"],`+
		`"token_endpoint_auth_method":"none","grant_types":["authorization_code","refresh_token"],"response_types":["code"],`+
		`"logo_uri":"https://agent.example/logo.png"}`)
	if res.StatusCode != 201 || !strings.HasPrefix(reg.ClientID, store.ClientIDPrefix) || reg.ClientName != "Agent <CLI>" ||
		reg.TokenEndpointAuthMethod != "none" || strings.Join(reg.RedirectURIs, " ") != redirect+" https://agent.example/cb" ||
		strings.Join(reg.GrantTypes, " ") != "authorization_code refresh_token" || strings.Join(reg.ResponseTypes, " ") != "code" ||
		reg.Scope != "read write" || time.Since(time.Unix(reg.ClientIDIssuedAt, 0)) > time.Minute {
		t.Fatalf("registration: %d %+v", res.StatusCode, reg)
	}
	if res.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("Cache-Control %q", res.Header.Get("Cache-Control"))
	}

	// The registered client signs in like any public client.
	conf := &oauth2.Config{ClientID: reg.ClientID, RedirectURL: redirect, Scopes: []string{"read", "write"},
		Endpoint: oauth2.Endpoint{AuthURL: as.AuthorizationEndpoint, TokenURL: as.TokenEndpoint, AuthStyle: oauth2.AuthStyleInParams}}
	verifier := oauth2.GenerateVerifier()
	page, err := oauthHTTP.Get(conf.AuthCodeURL("s1", oauth2.S256ChallengeOption(verifier)))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(page.Body)
	page.Body.Close()
	if page.StatusCode != 200 || !strings.Contains(string(b), "Agent &lt;CLI&gt;") || !strings.Contains(string(b), "registered itself") {
		t.Fatalf("consent page of a registered client: %d\n%s", page.StatusCode, b)
	}
	q := approve(t, conf.AuthCodeURL("s2", oauth2.S256ChallengeOption(verifier)), e.Key)
	tok, err := conf.Exchange(ctx, q.Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatal(err)
	}
	if st, _ := me(t, e, tok.AccessToken); st != 200 {
		t.Fatalf("GET /me with the registered client's token: %d", st)
	}
	// Without PKCE the authorization is refused, on the redirect URI.
	noPKCE := conf.AuthCodeURL("s3")
	res, err = oauthHTTP.Get(noPKCE)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if loc, _ := url.Parse(res.Header.Get("Location")); res.StatusCode != http.StatusFound || loc.Query().Get("error") != "invalid_request" {
		t.Fatalf("authorize without PKCE: %d %q", res.StatusCode, res.Header.Get("Location"))
	}

	// Refused metadata.
	for name, c := range map[string]struct{ body, code string }{
		"no redirect":        {`{"client_name":"x"}`, "invalid_redirect_uri"},
		"plain http":         {`{"redirect_uris":["http://agent.example/cb"]}`, "invalid_redirect_uri"},
		"http lookalike":     {`{"redirect_uris":["http://127.0.0.1.agent.example/cb"]}`, "invalid_redirect_uri"},
		"custom scheme":      {`{"redirect_uris":["agent://cb"]}`, "invalid_redirect_uri"},
		"fragment":           {`{"redirect_uris":["https://agent.example/cb#x"]}`, "invalid_redirect_uri"},
		"user info":          {`{"redirect_uris":["https://me@agent.example/cb"]}`, "invalid_redirect_uri"},
		"relative":           {`{"redirect_uris":["/cb"]}`, "invalid_redirect_uri"},
		"confidential":       {`{"redirect_uris":["https://agent.example/cb"],"token_endpoint_auth_method":"client_secret_basic"}`, "invalid_client_metadata"},
		"implicit":           {`{"redirect_uris":["https://agent.example/cb"],"grant_types":["implicit"]}`, "invalid_client_metadata"},
		"token response":     {`{"redirect_uris":["https://agent.example/cb"],"response_types":["token"]}`, "invalid_client_metadata"},
		"unknown scope":      {`{"redirect_uris":["https://agent.example/cb"],"scope":"admin"}`, "invalid_client_metadata"},
		"not JSON":           {`redirect_uris=https://agent.example/cb`, "invalid_client_metadata"},
		"control characters": {`{"redirect_uris":["https://agent.example/cb"],"client_name":"a\u0007b"}`, "invalid_client_metadata"},
		"NUL":                {`{"redirect_uris":["https://agent.example/cb\u0000"],"logo_uri":"\u0000"}`, "invalid_client_metadata"},
	} {
		res, reg := register(t, endpoint, c.body)
		if res.StatusCode != 400 || reg.Error != c.code || reg.ErrorDescription == "" || reg.ClientID != "" {
			t.Errorf("%s: %d %+v", name, res.StatusCode, reg)
		}
	}
	// IPv6 loopback and localhost at any port are fine; a name is optional.
	res, reg2 := register(t, endpoint, `{"redirect_uris":["http://[::1]:9/cb","http://localhost/cb"],"scope":"read"}`)
	if res.StatusCode != 201 || reg2.ClientName != "Unnamed application" || reg2.Scope != "read" ||
		strings.Join(reg2.GrantTypes, " ") != "authorization_code refresh_token" {
		t.Fatalf("loopback registration: %d %+v", res.StatusCode, reg2)
	}

	// A registration unused for a day is unknown; the next registration
	// deletes it (and its unredeemed codes). A used one stays.
	pool := e.Store.Pool()
	if _, err := pool.Exec(ctx, `UPDATE oauth_clients SET created_at = now() - $2::interval WHERE id = ANY($1)`,
		[]string{reg.ClientID, reg2.ClientID}, store.UnusedClientTTL+time.Hour); err != nil {
		t.Fatal(err)
	}
	q2 := url.Values{"client_id": {reg2.ClientID}, "redirect_uri": {"http://localhost/cb"}, "response_type": {"code"}}
	res, err = oauthHTTP.Get(as.AuthorizationEndpoint + "?" + q2.Encode())
	if err != nil {
		t.Fatal(err)
	}
	b, _ = io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 400 || !strings.Contains(string(b), "Unknown client_id") {
		t.Fatalf("authorize with an expired registration: %d\n%s", res.StatusCode, b)
	}
	if res, _ := register(t, endpoint, `{"redirect_uris":["https://agent.example/cb"]}`); res.StatusCode != 201 {
		t.Fatalf("registration: %d", res.StatusCode)
	}
	var left []string
	rows, err := pool.Query(ctx, `SELECT id FROM oauth_clients WHERE id = ANY($1)`, []string{reg.ClientID, reg2.ClientID})
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var id string
		_ = rows.Scan(&id)
		left = append(left, id)
	}
	if rows.Err() != nil || len(left) != 1 || left[0] != reg.ClientID {
		t.Fatalf("clients left after the purge: %v (used %s, unused %s), %v", left, reg.ClientID, reg2.ClientID, rows.Err())
	}
	if _, err := conf.TokenSource(ctx, &oauth2.Token{RefreshToken: tok.RefreshToken, Expiry: time.Now().Add(-time.Minute)}).Token(); err != nil {
		t.Fatalf("the used registration's refresh token: %v", err)
	}
}

// TestOAuthRegistrationLimits: registrations are rate limited per client
// address, and OAUTH_REGISTRATIONS_PER_HOUR=0 turns them off.
func TestOAuthRegistrationLimits(t *testing.T) {
	t.Parallel()
	e := apptest.Start(t, apptest.Options{NoWorker: true, Configure: func(c *app.Config) { c.OAuthRegistrationsPerHour = 2 }})
	endpoint := e.Server.URL + "/api/auth/register"
	for i := range 2 {
		if res, reg := register(t, endpoint, `{"redirect_uris":["https://agent.example/cb"]}`); res.StatusCode != 201 {
			t.Fatalf("registration %d: %d %+v", i, res.StatusCode, reg)
		}
	}
	res, reg := register(t, endpoint, `{"redirect_uris":["https://agent.example/cb"]}`)
	if res.StatusCode != 429 || reg.Error != "rate_limit_exceeded" || res.Header.Get("Retry-After") == "" || reg.ClientID != "" {
		t.Fatalf("third registration: %d %q %+v", res.StatusCode, res.Header.Get("Retry-After"), reg)
	}

	off := apptest.Start(t, apptest.Options{NoWorker: true, Configure: func(c *app.Config) { c.OAuthRegistrationsPerHour = 0 }})
	var meta map[string]any
	getJSON(t, off.Server.URL+"/.well-known/oauth-authorization-server", &meta)
	if _, ok := meta["registration_endpoint"]; ok {
		t.Errorf("registration_endpoint advertised with registration off: %v", meta["registration_endpoint"])
	}
	res, err := http.Post(off.Server.URL+"/api/auth/register", "application/json", strings.NewReader(`{"redirect_uris":["https://agent.example/cb"]}`))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 404 {
		t.Errorf("registration with registration off: %d", res.StatusCode)
	}
}
