package app_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"html"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/recap/recap/app/apptest"
	"github.com/recap/recap/store"
)

// assertNotStored fails when any secret appears in the logs or in any
// row of any table of the environment's schema.
func assertNotStored(t *testing.T, e *apptest.Env, logs *apptest.SyncBuffer, secrets ...string) {
	t.Helper()
	ctx := context.Background()
	rows, err := e.Store.Pool().Query(ctx, `SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()`)
	if err != nil {
		t.Fatal(err)
	}
	var tables []string
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			t.Fatal(err)
		}
		tables = append(tables, name)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if len(tables) < 5 {
		t.Fatalf("found only tables %v", tables)
	}
	text := logs.String()
	for _, s := range secrets {
		if s == "" {
			t.Fatal("empty secret")
		}
		if strings.Contains(text, s) {
			t.Errorf("a secret (%.10s…) appears in the logs", s)
		}
		for _, tbl := range tables {
			if n := countRows(t, e, `SELECT count(*) FROM "`+tbl+`" x WHERE strpos(x::text, $1) > 0`, s); n > 0 {
				t.Errorf("a secret (%.10s…) appears in table %s", s, tbl)
			}
		}
	}
}

// expiredToken issues an access token that has already expired.
func expiredToken(t *testing.T, e *apptest.Env) string {
	t.Helper()
	ctx := context.Background()
	c, _, err := e.Store.CreateOAuthClient(ctx, "expired", []string{"http://127.0.0.1:1/cb"}, false)
	if err != nil {
		t.Fatal(err)
	}
	code, err := e.Store.CreateAuthCode(ctx, store.AuthCode{ClientID: c.ID, APIKeyID: e.KeyRow.ID, RedirectURI: "http://127.0.0.1:1/cb",
		Scopes: []string{"read"}, CodeChallenge: strings.Repeat("A", 43), CodeChallengeMethod: "S256", ExpiresAt: time.Now().Add(time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	ac, err := e.Store.RedeemAuthCode(ctx, code)
	if err != nil {
		t.Fatal(err)
	}
	p, err := e.Store.IssueTokens(ctx, ac, -time.Minute, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return p.Access
}

// TestUnauthorized: every way of not being signed in gets the same bytes,
// and no secret reaches the logs or the database.
func TestUnauthorized(t *testing.T) {
	t.Parallel()
	logs := &apptest.SyncBuffer{}
	e := apptest.Start(t, apptest.Options{Log: logs})
	ctx := context.Background()
	revoked, revokedSecret := e.NewKey(t, "revoked", 10)
	if err := e.Store.RevokeKey(ctx, revoked.ID); err != nil {
		t.Fatal(err)
	}
	expired := expiredToken(t, e)
	page := e.Host.PageURL() + "?v=auth"
	seed(t, e, page, 20)
	// A successful request first, so its logs are in the scan below.
	if res, b := call(t, http.MethodPost, e.URL+"/chat/completions", e.Key, chatBody(page, "")); res.StatusCode != 200 {
		t.Fatalf("%d %s", res.StatusCode, b)
	}
	cases := []struct{ name, auth string }{
		{"missing", ""},
		{"empty bearer", "Bearer "},
		{"not bearer", "Basic " + base64.StdEncoding.EncodeToString([]byte("a:b"))},
		{"unknown key", "Bearer rcp_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"},
		{"revoked key", "Bearer " + revokedSecret},
		{"malformed key", "Bearer " + strings.Repeat("x", 300)},
		{"key with junk", "Bearer " + e.Key + "x"},
		{"unknown token", "Bearer " + store.AccessTokenPrefix + "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"},
		{"expired token", "Bearer " + expired},
	}
	type reply struct {
		status int
		header http.Header
		body   []byte
	}
	var first *reply
	for _, c := range cases {
		for _, req := range []struct{ method, path, body string }{
			{http.MethodGet, "/me", ""},
			{http.MethodPost, "/chat/completions", chatBody(page, "")},
		} {
			t.Run(c.name+" "+req.path, func(t *testing.T) {
				r, _ := http.NewRequest(req.method, e.URL+req.path, strings.NewReader(req.body))
				if c.auth != "" {
					r.Header.Set("Authorization", c.auth)
				}
				res, err := http.DefaultClient.Do(r)
				if err != nil {
					t.Fatal(err)
				}
				defer res.Body.Close()
				b, _ := io.ReadAll(res.Body)
				res.Header.Del("Date")
				got := &reply{res.StatusCode, res.Header, b}
				if got.status != 401 || errorCode(b) != "invalid_api_key" {
					t.Fatalf("%d %s", got.status, b)
				}
				if first == nil {
					first = got
					return
				}
				if !bytes.Equal(got.body, first.body) || !equalHeader(got.header, first.header) {
					t.Fatalf("401 differs:\n%v %s\n%v %s", got.header, got.body, first.header, first.body)
				}
			})
		}
	}
	assertNotStored(t, e, logs, e.Key, revokedSecret, expired)
}

func equalHeader(a, b http.Header) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if strings.Join(v, "\n") != strings.Join(b[k], "\n") {
			return false
		}
	}
	return true
}

// pkce returns a fresh code_verifier and its S256 code_challenge.
func pkce() (verifier, challenge string) {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	verifier = base64.RawURLEncoding.EncodeToString(b)
	sum := sha256.Sum256([]byte(verifier))
	return verifier, base64.RawURLEncoding.EncodeToString(sum[:])
}

// oauthClient is a browser and an app in one: it does not follow
// redirects, so each step's Location can be checked.
var oauthHTTP = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

type flow struct {
	t        *testing.T
	e        *apptest.Env
	base     string // server root
	clientID string
	redirect string
}

func (f *flow) authorizeParams(scope, challenge string) url.Values {
	return url.Values{"response_type": {"code"}, "client_id": {f.clientID}, "redirect_uri": {f.redirect}, "scope": {scope},
		"state": {"st-123"}, "code_challenge": {challenge}, "code_challenge_method": {"S256"}}
}

// consent posts the authorize form and returns the redirect's query.
func (f *flow) consent(params url.Values, apiKey, decision string, grants ...string) (int, url.Values) {
	f.t.Helper()
	form := url.Values{}
	for k, v := range params {
		form[k] = v
	}
	form.Set("api_key", apiKey)
	form.Set("decision", decision)
	form["grant"] = grants
	res, err := oauthHTTP.PostForm(f.base+"/api/auth/authorize", form)
	if err != nil {
		f.t.Fatal(err)
	}
	res.Body.Close()
	loc := res.Header.Get("Location")
	if loc == "" {
		return res.StatusCode, nil
	}
	u, err := url.Parse(loc)
	if err != nil || !strings.HasPrefix(loc, f.redirect+"?") {
		f.t.Fatalf("redirect to %q, not the registered %q", loc, f.redirect)
	}
	return res.StatusCode, u.Query()
}

// code runs the consent step and returns the code.
func (f *flow) code(scope, challenge string, grants ...string) string {
	f.t.Helper()
	status, q := f.consent(f.authorizeParams(scope, challenge), f.e.Key, "approve", grants...)
	if status != http.StatusSeeOther || q.Get("code") == "" || q.Get("state") != "st-123" {
		f.t.Fatalf("consent: %d %v", status, q)
	}
	return q.Get("code")
}

type tokenReply struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int    `json:"expires_in"`
	RefreshToken string `json:"refresh_token"`
	Scope        string `json:"scope"`
	Error        string `json:"error"`
}

func (f *flow) token(form url.Values) (int, tokenReply) {
	f.t.Helper()
	res, err := oauthHTTP.PostForm(f.base+"/api/auth/token", form)
	if err != nil {
		f.t.Fatal(err)
	}
	defer res.Body.Close()
	var tr tokenReply
	if err := json.NewDecoder(res.Body).Decode(&tr); err != nil {
		f.t.Fatal(err)
	}
	if res.Header.Get("Cache-Control") != "no-store" {
		f.t.Error("token reply may be cached")
	}
	return res.StatusCode, tr
}

func (f *flow) exchange(code, verifier string) (int, tokenReply) {
	return f.token(url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {f.redirect},
		"client_id": {f.clientID}, "code_verifier": {verifier}})
}

func (f *flow) refresh(refresh, scope string) (int, tokenReply) {
	form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refresh}, "client_id": {f.clientID}}
	if scope != "" {
		form.Set("scope", scope)
	}
	return f.token(form)
}

// api calls the API with a bearer token and returns the status.
func (f *flow) api(method, path, token, body string) int {
	f.t.Helper()
	res, b := call(f.t, method, f.e.URL+path, token, body)
	if res.StatusCode == 403 && errorCode(b) != "insufficient_scope" {
		f.t.Fatalf("403 with code %q", errorCode(b))
	}
	return res.StatusCode
}

// TestOAuth drives the authorization-code flow with PKCE as a browser
// and a client app would.
func TestOAuth(t *testing.T) {
	t.Parallel()
	logs := &apptest.SyncBuffer{}
	e := apptest.Start(t, apptest.Options{Log: logs, Minutes: 10})
	ctx := context.Background()
	const redirect = "http://127.0.0.1:1/callback"
	client, _, err := e.Store.CreateOAuthClient(ctx, "Notes <App>", []string{redirect}, false)
	if err != nil {
		t.Fatal(err)
	}
	f := &flow{t: t, e: e, base: e.Server.URL, clientID: client.ID, redirect: redirect}
	page := e.Host.PageURL() + "?v=oauth"
	seed(t, e, page, 20)
	var secrets []string

	t.Run("consent page", func(t *testing.T) {
		_, challenge := pkce()
		res, err := oauthHTTP.Get(f.base + "/api/auth/authorize?" + f.authorizeParams("read write", challenge).Encode())
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != 200 || !strings.Contains(string(b), "Notes &lt;App&gt;") || !strings.Contains(string(b), `name="api_key"`) ||
			res.Header.Get("X-Frame-Options") != "DENY" {
			t.Fatalf("%d %v\n%s", res.StatusCode, res.Header, b)
		}
		// Submit the page's own form as a browser would: to its action,
		// resolved against the page's URL, with its hidden fields.
		m := regexp.MustCompile(`<form method="post" action="([^"]*)">`).FindStringSubmatch(string(b))
		if m == nil {
			t.Fatalf("no form:\n%s", b)
		}
		action, err := res.Request.URL.Parse(html.UnescapeString(m[1]))
		if err != nil {
			t.Fatal(err)
		}
		form := url.Values{"api_key": {e.Key}, "decision": {"approve"}, "grant": {"read", "write"}}
		for _, h := range regexp.MustCompile(`<input type="hidden" name="([^"]*)" value="([^"]*)">`).FindAllStringSubmatch(string(b), -1) {
			form.Add(html.UnescapeString(h[1]), html.UnescapeString(h[2]))
		}
		res, err = oauthHTTP.PostForm(action.String(), form)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		loc, _ := url.Parse(res.Header.Get("Location"))
		if res.StatusCode != http.StatusSeeOther || loc == nil || loc.Query().Get("code") == "" || loc.Query().Get("state") != "st-123" {
			t.Fatalf("form post: %d %q", res.StatusCode, res.Header.Get("Location"))
		}
	})

	t.Run("refused requests", func(t *testing.T) {
		_, challenge := pkce()
		bad := func(mod func(url.Values)) url.Values {
			p := f.authorizeParams("read", challenge)
			mod(p)
			return p
		}
		cases := []struct {
			name     string
			params   url.Values
			key      string
			decision string
			status   int
			errCode  string // in the redirect; "" = no redirect at all
		}{
			{"unregistered redirect_uri", bad(func(p url.Values) { p.Set("redirect_uri", "http://127.0.0.1:1/evil") }), e.Key, "approve", 400, ""},
			{"unknown client", bad(func(p url.Values) { p.Set("client_id", "rcpc_nope") }), e.Key, "approve", 400, ""},
			{"wrong API key", bad(func(url.Values) {}), "rcp_wrong", "approve", 401, ""},
			{"no PKCE", bad(func(p url.Values) { p.Del("code_challenge") }), e.Key, "approve", 303, "invalid_request"},
			{"plain PKCE", bad(func(p url.Values) { p.Set("code_challenge_method", "plain") }), e.Key, "approve", 303, "invalid_request"},
			{"unknown scope", bad(func(p url.Values) { p.Set("scope", "admin") }), e.Key, "approve", 303, "invalid_scope"},
			{"token response type", bad(func(p url.Values) { p.Set("response_type", "token") }), e.Key, "approve", 303, "unsupported_response_type"},
			{"denied", bad(func(url.Values) {}), e.Key, "deny", 303, "access_denied"},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				status, q := f.consent(c.params, c.key, c.decision, "read")
				if status != c.status || q.Get("error") != c.errCode || q.Get("code") != "" {
					t.Fatalf("got %d %v; want %d error=%q", status, q, c.status, c.errCode)
				}
				if q != nil && q.Get("state") != "st-123" {
					t.Fatalf("state lost: %v", q)
				}
			})
		}
	})

	t.Run("PKCE mismatch", func(t *testing.T) {
		_, challenge := pkce()
		other, _ := pkce()
		code := f.code("read write", challenge, "read", "write")
		if status, tr := f.exchange(code, other); status != 400 || tr.Error != "invalid_grant" || tr.AccessToken != "" {
			t.Fatalf("%d %+v", status, tr)
		}
	})

	t.Run("code reuse", func(t *testing.T) {
		verifier, challenge := pkce()
		code := f.code("read", challenge, "read")
		status, tr := f.exchange(code, verifier)
		if status != 200 || tr.TokenType != "Bearer" || !strings.HasPrefix(tr.AccessToken, store.AccessTokenPrefix) || tr.Scope != "read" {
			t.Fatalf("%d %+v", status, tr)
		}
		if f.api(http.MethodGet, "/me", tr.AccessToken, "") != 200 {
			t.Fatal("fresh token refused")
		}
		if status, again := f.exchange(code, verifier); status != 400 || again.Error != "invalid_grant" {
			t.Fatalf("reused code: %d %+v", status, again)
		}
		// The replay revokes what the code gave: one of its two users is an attacker.
		if f.api(http.MethodGet, "/me", tr.AccessToken, "") != 401 {
			t.Fatal("tokens of a replayed code still work")
		}
		secrets = append(secrets, code, tr.AccessToken, tr.RefreshToken)
	})

	t.Run("scopes", func(t *testing.T) {
		cases := []struct {
			name      string
			scope     string
			grants    []string
			wantScope string
			get, post int
		}{
			{"read only", "read", []string{"read"}, "read", 200, 403},
			{"write unticked", "read write", []string{"read"}, "read", 200, 403},
			{"read and write", "read write", []string{"read", "write"}, "read write", 200, 200},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				verifier, challenge := pkce()
				status, tr := f.exchange(f.code(c.scope, challenge, c.grants...), verifier)
				if status != 200 || tr.Scope != c.wantScope {
					t.Fatalf("%d %+v", status, tr)
				}
				if got := f.api(http.MethodGet, "/jobs", tr.AccessToken, ""); got != c.get {
					t.Fatalf("GET: %d; want %d", got, c.get)
				}
				if got := f.api(http.MethodPost, "/chat/completions", tr.AccessToken, chatBody(page, "")); got != c.post {
					t.Fatalf("completion: %d; want %d", got, c.post)
				}
				secrets = append(secrets, tr.AccessToken, tr.RefreshToken)
			})
		}
	})

	t.Run("refresh", func(t *testing.T) {
		verifier, challenge := pkce()
		_, first := f.exchange(f.code("read write", challenge, "read", "write"), verifier)
		if status, tr := f.refresh(first.RefreshToken, "read write admin"); status != 400 || tr.Error != "invalid_scope" {
			t.Fatalf("unknown scope: %d %+v", status, tr)
		}
		status, second := f.refresh(first.RefreshToken, "read")
		if status != 200 || second.Scope != "read" || second.AccessToken == first.AccessToken || second.RefreshToken == first.RefreshToken {
			t.Fatalf("refresh: %d %+v", status, second)
		}
		if f.api(http.MethodGet, "/me", first.AccessToken, "") != 401 || f.api(http.MethodGet, "/me", second.AccessToken, "") != 200 {
			t.Fatal("rotation: the old access token must stop, the new one work")
		}
		if f.api(http.MethodPost, "/chat/completions", second.AccessToken, chatBody(page, "")) != 403 {
			t.Fatal("a narrowed refresh kept write")
		}
		if status, tr := f.refresh(second.RefreshToken, "read write"); status != 400 || tr.Error != "invalid_scope" {
			t.Fatalf("widening: %d %+v", status, tr)
		}
		status, third := f.refresh(second.RefreshToken, "")
		if status != 200 || third.Scope != "read" {
			t.Fatalf("refresh: %d %+v", status, third)
		}
		// Replaying a rotated refresh token revokes the whole grant.
		if status, tr := f.refresh(first.RefreshToken, ""); status != 400 || tr.Error != "invalid_grant" {
			t.Fatalf("replayed refresh token: %d %+v", status, tr)
		}
		if f.api(http.MethodGet, "/me", third.AccessToken, "") != 401 {
			t.Fatal("a replayed refresh token left the grant alive")
		}
		if status, tr := f.refresh(third.RefreshToken, ""); status != 400 || tr.Error != "invalid_grant" {
			t.Fatalf("revoked grant refreshed: %d %+v", status, tr)
		}
		secrets = append(secrets, first.AccessToken, first.RefreshToken, second.AccessToken, second.RefreshToken, third.AccessToken, third.RefreshToken)
	})

	t.Run("client authentication", func(t *testing.T) {
		verifier, challenge := pkce()
		code := f.code("read", challenge, "read")
		status, tr := f.token(url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {redirect},
			"client_id": {"rcpc_other"}, "code_verifier": {verifier}})
		if status != 401 || tr.Error != "invalid_client" {
			t.Fatalf("unknown client: %d %+v", status, tr)
		}
		other, secret, err := e.Store.CreateOAuthClient(ctx, "server app", []string{redirect}, true)
		if err != nil {
			t.Fatal(err)
		}
		status, tr = f.token(url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {redirect},
			"client_id": {other.ID}, "client_secret": {"wrong"}, "code_verifier": {verifier}})
		if status != 401 || tr.Error != "invalid_client" {
			t.Fatalf("wrong secret: %d %+v", status, tr)
		}
		// The right secret, but the code was issued to the first client.
		status, tr = f.token(url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {redirect},
			"client_id": {other.ID}, "client_secret": {secret}, "code_verifier": {verifier}})
		if status != 400 || tr.Error != "invalid_grant" {
			t.Fatalf("foreign code: %d %+v", status, tr)
		}
		secrets = append(secrets, code, secret)
	})

	assertNotStored(t, e, logs, append(secrets, e.Key)...)
}
