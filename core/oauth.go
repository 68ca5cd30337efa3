package core

// Authentication and OAuth2's decisions (RFC 6749 §4.1 with PKCE, RFC
// 7636; revocation, RFC 7009; introspection, RFC 7662; dynamic client
// registration, RFC 7591): which client, redirect URI and scopes an
// authorization may name, what the owner granted, whether a code, a
// verifier or a refresh token is good, and which clients may register.
// The HTTP door (api/oauth*.go) parses the forms and writes the pages,
// redirects and token replies.

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/recap/recap"
	"github.com/recap/recap/store"
)

// KeyLookup finds the key a bearer secret belongs to (store.ErrNotFound
// when none, or revoked): the store, or a store.KeyCache in front of it.
type KeyLookup interface {
	KeyBySecret(ctx context.Context, secret string) (*recap.Caller, error)
}

// AuthStore is the persistence of keys, OAuth2 clients, codes and tokens.
type AuthStore interface {
	KeyLookup
	KeyByAccessToken(ctx context.Context, token string) (*recap.Caller, error)
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

// errUnauthenticated is every authentication failure: one body, so a
// caller learns nothing about which keys exist.
var errUnauthenticated = &Error{Kind: KindUnauthorized, Code: "invalid_api_key",
	Message: "Invalid or missing API key. Send it as 'Authorization: Bearer <key>'."}

// Authenticate returns the key a bearer secret (an API key or an OAuth2
// access token) belongs to; an unknown or revoked one is KindUnauthorized.
func (s *Service) Authenticate(ctx context.Context, secret string) (*recap.Caller, error) {
	var k *recap.Caller
	var err error
	if strings.HasPrefix(secret, store.AccessTokenPrefix) {
		k, err = s.cfg.Auth.KeyByAccessToken(ctx, secret)
	} else {
		k, err = s.cfg.Keys.KeyBySecret(ctx, secret)
	}
	if err == store.ErrNotFound {
		return nil, errUnauthenticated
	}
	return k, err
}

// OAuthError is an RFC 6749 error: Code is its "error", Description its
// "error_description", Kind decides the status. Redirect marks an error
// of an authorization request that goes back to the client on its
// (registered) redirect URI; any other is shown to the person.
type OAuthError struct {
	Kind        Kind
	Code        string
	Description string
	Redirect    bool
}

func (e *OAuthError) Error() string { return e.Code + ": " + e.Description }

func oauthInvalid(code, desc string) *OAuthError {
	return &OAuthError{Kind: KindInvalid, Code: code, Description: desc}
}

// oauthServerError is a failure of Recap's at an OAuth2 endpoint.
var oauthServerError = &OAuthError{Kind: KindInternal, Code: "server_error", Description: "The server had an error."}

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

// OAuthClient is the client an authorization is for, as the consent page
// names it.
type OAuthClient struct {
	ID   string
	Name string
	// Registered marks a client that registered itself (and chose its
	// own name).
	Registered bool
}

// AuthorizeRequest is an authorization request's parameters (each sent
// at most once and valid text: the door checks) and, when the owner
// answered the consent page, the answer.
type AuthorizeRequest struct {
	ClientID, RedirectURI, ResponseType, Scope, State string
	CodeChallenge, CodeChallengeMethod                string
	// Consent is the owner's answer; nil only checks the request (to show
	// the consent page).
	Consent *Consent
}

// Consent is the owner's answer on the consent page.
type Consent struct {
	Approve bool
	// APIKey is the key the owner signed in with.
	APIKey string
	// Grant are the scopes the owner ticked.
	Grant []string
}

// Authorization is a checked authorization request; Code is the
// authorization code once the owner granted it.
type Authorization struct {
	Client        OAuthClient
	RedirectURI   string
	State         string
	Scopes        []string
	CodeChallenge string
	Code          string
}

// Authorize checks an authorization request and, with the owner's
// consent, issues a code for the scopes the client asked for, the owner
// ticked and the key has. A problem with the client or redirect URI
// returns no Authorization (never redirect to a URI that is not
// registered); other problems return it with an *OAuthError whose
// Redirect is set, except a key that is not valid (KindUnauthorized: the
// person may try another) and a failure to look it up.
func (s *Service) Authorize(ctx context.Context, r AuthorizeRequest) (*Authorization, error) {
	c, err := s.cfg.Auth.OAuthClient(ctx, r.ClientID)
	if err != nil || r.ClientID == "" {
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			s.cfg.Logger.Error("oauth client lookup", "err", err)
			return nil, oauthServerError
		}
		return nil, oauthInvalid("invalid_request", "Unknown client_id.")
	}
	redirect := r.RedirectURI
	if redirect == "" && len(c.RedirectURIs) == 1 {
		redirect = c.RedirectURIs[0]
	}
	if !slices.Contains(c.RedirectURIs, redirect) {
		return nil, oauthInvalid("invalid_request", "The redirect_uri is not registered for this client.")
	}
	a := &Authorization{Client: OAuthClient{ID: c.ID, Name: c.Name, Registered: c.Registered}, RedirectURI: redirect, State: r.State}
	back := func(code, desc string) (*Authorization, error) {
		return a, &OAuthError{Kind: KindInvalid, Code: code, Description: desc, Redirect: true}
	}
	if r.ResponseType != "code" {
		return back("unsupported_response_type", "Only response_type=code is supported.")
	}
	scopes, ok := parseScope(r.Scope)
	if !ok {
		return back("invalid_scope", "Known scopes are 'read' and 'write'.")
	}
	a.Scopes = scopes
	a.CodeChallenge = r.CodeChallenge
	if r.CodeChallengeMethod != "S256" || !validChallenge(a.CodeChallenge) {
		return back("invalid_request", "PKCE is required: send code_challenge (BASE64URL(SHA-256(code_verifier)), 43 characters) and code_challenge_method=S256.")
	}
	if r.Consent == nil {
		return a, nil
	}
	if !r.Consent.Approve {
		return back("access_denied", "The owner did not approve the request.")
	}
	secret := strings.TrimSpace(r.Consent.APIKey)
	var key *recap.Caller
	if secret != "" && len(secret) <= 256 && !strings.HasPrefix(secret, store.AccessTokenPrefix) {
		k, err := s.cfg.Auth.KeyBySecret(ctx, secret)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			s.cfg.Logger.Error("oauth sign-in", "err", err)
			return a, &OAuthError{Kind: KindInternal, Code: "server_error", Description: "The server had an error; try again."}
		}
		key = k
	}
	if key == nil {
		return a, &OAuthError{Kind: KindUnauthorized, Code: "access_denied", Description: "That API key is not valid. Sign in with an active key of your account."}
	}
	// Granted: what the client asked for, the owner ticked, and the key has.
	var granted []string
	for _, sc := range a.Scopes {
		if slices.Contains(r.Consent.Grant, sc) && slices.Contains(key.Scopes, sc) {
			granted = append(granted, sc)
		}
	}
	if len(granted) == 0 {
		return back("access_denied", "No scope was approved.")
	}
	code, err := s.cfg.Auth.CreateAuthCode(ctx, store.AuthCode{ClientID: c.ID, APIKeyID: key.ID,
		RedirectURI: a.RedirectURI, Scopes: granted, CodeChallenge: a.CodeChallenge, CodeChallengeMethod: "S256",
		ExpiresAt: time.Now().Add(s.cfg.OAuth.CodeTTL)})
	if err != nil {
		s.cfg.Logger.Error("oauth code", "err", err)
		return a, &OAuthError{Kind: KindInternal, Code: "server_error", Description: "The server had an error.", Redirect: true}
	}
	s.cfg.Logger.Info("oauth code issued", "client_id", c.ID, "key_id", key.ID, "scopes", strings.Join(granted, " "))
	a.Code = code
	return a, nil
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

// ClientCredentials are how a client authenticates at the token,
// revocation and introspection endpoints (RFC 6749 §2.3.1): client_id
// (and client_secret) in the body, or HTTP Basic, not both.
type ClientCredentials struct {
	ID, Secret string
	// Basic is set when the request carried HTTP Basic credentials;
	// BasicUser and BasicPassword are as sent (form-encoded).
	Basic                    bool
	BasicUser, BasicPassword string
}

// errInvalidClient is a client that failed to authenticate.
var errInvalidClient = &OAuthError{Kind: KindUnauthorized, Code: "invalid_client", Description: "Client authentication failed."}

// client authenticates a client.
func (s *Service) client(ctx context.Context, cr ClientCredentials) (*store.OAuthClient, *OAuthError) {
	id, secret := cr.ID, cr.Secret
	if cr.Basic {
		if secret != "" {
			return nil, oauthInvalid("invalid_request", "Authenticate the client one way only.")
		}
		u, err1 := url.QueryUnescape(cr.BasicUser)
		p, err2 := url.QueryUnescape(cr.BasicPassword)
		if err1 != nil || err2 != nil || (id != "" && id != u) {
			return nil, errInvalidClient
		}
		id, secret = u, p
	}
	if id == "" {
		return nil, oauthInvalid("invalid_request", "client_id is required.")
	}
	c, err := s.cfg.Auth.OAuthClient(ctx, id)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		s.cfg.Logger.Error("oauth client lookup", "err", err)
		return nil, oauthServerError
	}
	if c == nil || !c.CheckSecret(secret) {
		return nil, errInvalidClient
	}
	return c, nil
}

// TokenRequest is a token request's parameters (each sent at most once
// and valid text: the door checks).
type TokenRequest struct {
	Client                                                          ClientCredentials
	GrantType, Code, RedirectURI, CodeVerifier, RefreshToken, Scope string
}

// Tokens are an access token and its refresh token.
type Tokens struct {
	Access          string
	Refresh         string
	Scopes          []string
	AccessExpiresAt time.Time
}

// Token exchanges a code, or a refresh token, for tokens. Every failure
// is an *OAuthError.
func (s *Service) Token(ctx context.Context, r TokenRequest) (*Tokens, error) {
	client, oerr := s.client(ctx, r.Client)
	if oerr != nil {
		return nil, oerr
	}
	var pair *store.TokenPair
	switch r.GrantType {
	case "authorization_code":
		pair, oerr = s.exchangeCode(ctx, client, r)
	case "refresh_token":
		pair, oerr = s.refresh(ctx, client, r)
	case "":
		oerr = oauthInvalid("invalid_request", "grant_type is required.")
	default:
		oerr = oauthInvalid("unsupported_grant_type", "Supported grant types: authorization_code, refresh_token.")
	}
	if oerr != nil {
		return nil, oerr
	}
	return &Tokens{Access: pair.Access, Refresh: pair.Refresh, Scopes: pair.Scopes, AccessExpiresAt: pair.AccessExpiresAt}, nil
}

// refresh issues new tokens for a refresh token, its scopes narrowed when
// the request names fewer (never widened).
func (s *Service) refresh(ctx context.Context, client *store.OAuthClient, r TokenRequest) (*store.TokenPair, *OAuthError) {
	if r.RefreshToken == "" {
		return nil, oauthInvalid("invalid_request", "refresh_token is required.")
	}
	var scopes []string
	if r.Scope != "" {
		var ok bool
		if scopes, ok = parseScope(r.Scope); !ok {
			return nil, oauthInvalid("invalid_scope", "Known scopes are 'read' and 'write'.")
		}
	}
	pair, err := s.cfg.Auth.RefreshTokens(ctx, r.RefreshToken, client.ID, scopes, s.cfg.OAuth.AccessTTL, s.cfg.OAuth.RefreshTTL)
	switch {
	case errors.Is(err, store.ErrInvalidGrant):
		return nil, oauthInvalid("invalid_grant", "The refresh token is invalid, expired, revoked or was issued to another client.")
	case errors.Is(err, store.ErrInvalidScope):
		return nil, oauthInvalid("invalid_scope", "A refresh may narrow the granted scopes, never widen them.")
	case err != nil:
		s.cfg.Logger.Error("oauth refresh", "err", err)
		return nil, oauthServerError
	}
	return pair, nil
}

// exchangeCode redeems a code (once: the first attempt uses it up, right
// or wrong) and issues tokens if the client, redirect URI and PKCE
// verifier all match what was authorized.
func (s *Service) exchangeCode(ctx context.Context, client *store.OAuthClient, r TokenRequest) (*store.TokenPair, *OAuthError) {
	if r.Code == "" || r.CodeVerifier == "" {
		return nil, oauthInvalid("invalid_request", "code and code_verifier are required.")
	}
	if !validVerifier(r.CodeVerifier) {
		return nil, oauthInvalid("invalid_grant", "The code_verifier is malformed.")
	}
	ac, err := s.cfg.Auth.RedeemAuthCode(ctx, r.Code)
	if errors.Is(err, store.ErrInvalidGrant) {
		return nil, oauthInvalid("invalid_grant", "The authorization code is invalid, expired or already used.")
	}
	if err != nil {
		s.cfg.Logger.Error("oauth redeem", "err", err)
		return nil, oauthServerError
	}
	redirect := r.RedirectURI
	if redirect == "" && len(client.RedirectURIs) == 1 {
		redirect = client.RedirectURIs[0]
	}
	sum := sha256.Sum256([]byte(r.CodeVerifier))
	challenge := base64.RawURLEncoding.EncodeToString(sum[:])
	if ac.ClientID != client.ID || ac.RedirectURI != redirect ||
		subtle.ConstantTimeCompare([]byte(challenge), []byte(ac.CodeChallenge)) != 1 {
		return nil, oauthInvalid("invalid_grant", "The code was not issued to this client, redirect URI and code_verifier.")
	}
	pair, err := s.cfg.Auth.IssueTokens(ctx, ac, s.cfg.OAuth.AccessTTL, s.cfg.OAuth.RefreshTTL)
	if err != nil {
		s.cfg.Logger.Error("oauth issue", "err", err)
		return nil, oauthServerError
	}
	return pair, nil
}

// tokenOf authenticates the client of a revocation or introspection
// request and checks it names a token.
func (s *Service) tokenOf(ctx context.Context, cr ClientCredentials, token string) (*store.OAuthClient, *OAuthError) {
	client, oerr := s.client(ctx, cr)
	if oerr != nil {
		return nil, oerr
	}
	if token == "" {
		return nil, oauthInvalid("invalid_request", "token is required.")
	}
	return client, nil
}

// RevokeToken revokes a token of the calling client (RFC 7009); a token
// that does not exist, or is another client's, is no error (§2.2: the
// reply must not tell which tokens exist). Every failure is an
// *OAuthError.
func (s *Service) RevokeToken(ctx context.Context, cr ClientCredentials, token string) error {
	client, oerr := s.tokenOf(ctx, cr, token)
	if oerr != nil {
		return oerr
	}
	found, err := s.cfg.Auth.RevokeToken(ctx, token, client.ID)
	if err != nil {
		s.cfg.Logger.Error("oauth revoke", "err", err)
		return &OAuthError{Kind: KindUnavailable, Code: "temporarily_unavailable", Description: "The token could not be revoked now; try again."}
	}
	if found {
		s.cfg.Logger.Info("oauth token revoked", "client_id", client.ID)
	}
	return nil
}

// IntrospectToken tells a confidential client whether one of its tokens
// is active (RFC 7662): nil when not. Public clients cannot authenticate,
// so they are refused; a token of another client is inactive, like an
// unknown one. Every failure is an *OAuthError.
func (s *Service) IntrospectToken(ctx context.Context, cr ClientCredentials, token string) (*store.TokenInfo, error) {
	client, oerr := s.tokenOf(ctx, cr, token)
	if oerr == nil && !client.Confidential {
		oerr = &OAuthError{Kind: KindUnauthorized, Code: "invalid_client",
			Description: "Introspection is for confidential clients: authenticate with the client secret."}
	}
	if oerr != nil {
		return nil, oerr
	}
	ti, err := s.cfg.Auth.IntrospectToken(ctx, token, client.ID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		s.cfg.Logger.Error("oauth introspect", "err", err)
		return nil, &OAuthError{Kind: KindUnavailable, Code: "temporarily_unavailable", Description: "The token could not be checked now; try again."}
	}
	return ti, nil
}

// ClientRegistration is the client metadata Recap reads from a dynamic
// registration (RFC 7591 §2); other fields are ignored, as §2 asks.
type ClientRegistration struct {
	RedirectURIs            []string
	TokenEndpointAuthMethod *string
	GrantTypes              []string
	ResponseTypes           []string
	ClientName              string
	Scope                   string
}

// RegisteredClient is the registered metadata (RFC 7591 §3.2.1).
type RegisteredClient struct {
	ClientID                string
	IssuedAt                time.Time
	ClientName              string
	RedirectURIs            []string
	GrantTypes              []string
	ResponseTypes           []string
	TokenEndpointAuthMethod string
	Scope                   string
}

// Limits of a registration's metadata.
const (
	maxRedirectURIs   = 10
	maxRedirectURILen = 2000
	maxClientNameLen  = 100
	// defaultClientName is the name of a client that gave none.
	defaultClientName = "Unnamed application"
)

// RegisterClient registers a public client (RFC 7591 §3). Only public
// clients register (token_endpoint_auth_method "none"): they hold no
// secret, and PKCE, which Authorize requires of every client, protects
// their codes. Redirect URIs are https, or http on a loopback address at
// any port (RFC 8252 §7.3), so a code only ever goes back to a
// TLS-protected site or to the machine the person is at. Every failure is
// an *OAuthError.
func (s *Service) RegisterClient(ctx context.Context, req ClientRegistration) (*RegisteredClient, error) {
	out, oerr := checkRegistration(req)
	if oerr != nil {
		return nil, oerr
	}
	c, err := s.cfg.Auth.RegisterOAuthClient(ctx, out.ClientName, out.RedirectURIs)
	if err != nil {
		s.cfg.Logger.Error("oauth register", "err", err)
		return nil, oauthServerError
	}
	out.ClientID, out.IssuedAt = c.ID, c.CreatedAt
	s.cfg.Logger.Info("oauth client registered", "client_id", c.ID, "client_name", c.Name, "redirect_uris", strings.Join(c.RedirectURIs, " "))
	return out, nil
}

// checkRegistration validates registration metadata and returns the
// metadata to register (grant types, response types, scope normalized).
func checkRegistration(req ClientRegistration) (*RegisteredClient, *OAuthError) {
	invalid := func(desc string) (*RegisteredClient, *OAuthError) {
		return nil, oauthInvalid("invalid_client_metadata", desc)
	}
	if m := req.TokenEndpointAuthMethod; m != nil && *m != "none" {
		return invalid("Only public clients may register: token_endpoint_auth_method must be \"none\" (PKCE protects the codes).")
	}
	if len(req.RedirectURIs) == 0 || len(req.RedirectURIs) > maxRedirectURIs {
		return nil, oauthInvalid("invalid_redirect_uri", "redirect_uris must list 1 to "+strconv.Itoa(maxRedirectURIs)+" URIs.")
	}
	for _, u := range req.RedirectURIs {
		if err := validRedirectURI(u); err != nil {
			return nil, oauthInvalid("invalid_redirect_uri", "Redirect URI "+err.Error()+".")
		}
	}
	out := &RegisteredClient{RedirectURIs: slices.Compact(slices.Clone(req.RedirectURIs)), TokenEndpointAuthMethod: "none",
		GrantTypes: []string{"authorization_code", "refresh_token"}, ResponseTypes: []string{"code"}}
	if len(req.GrantTypes) > 0 {
		for _, g := range req.GrantTypes {
			if g != "authorization_code" && g != "refresh_token" {
				return invalid("grant_types may hold authorization_code and refresh_token only.")
			}
		}
		if !slices.Contains(req.GrantTypes, "authorization_code") {
			return invalid("grant_types must include authorization_code.")
		}
		out.GrantTypes = slices.Compact(slices.Sorted(slices.Values(req.GrantTypes)))
	}
	for _, rt := range req.ResponseTypes {
		if rt != "code" {
			return invalid("response_types may hold code only.")
		}
	}
	scopes, ok := parseScope(req.Scope)
	if !ok {
		return invalid("Known scopes are 'read' and 'write'.")
	}
	if strings.TrimSpace(req.Scope) == "" {
		scopes = []string{recap.ScopeRead, recap.ScopeWrite}
	}
	out.Scope = strings.Join(scopes, " ")
	name, err := clientName(req.ClientName)
	if err != nil {
		return invalid(err.Error() + ".")
	}
	out.ClientName = name
	return out, nil
}

// validRedirectURI checks a redirect URI a client registers itself:
// absolute, without fragment (RFC 6749 §3.1.2) or user info, and https or
// http on a loopback host.
func validRedirectURI(raw string) error {
	if raw == "" || len(raw) > maxRedirectURILen {
		return errors.New("each redirect URI must be 1 to " + strconv.Itoa(maxRedirectURILen) + " characters")
	}
	u, err := url.Parse(raw)
	if err != nil || !u.IsAbs() || u.Host == "" {
		return errors.New(strconv.Quote(truncate(raw, 100)) + " is not an absolute URL")
	}
	if u.Fragment != "" || strings.Contains(raw, "#") {
		return errors.New(strconv.Quote(truncate(raw, 100)) + " has a fragment")
	}
	if u.User != nil {
		return errors.New(strconv.Quote(truncate(raw, 100)) + " has user information")
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		switch u.Hostname() {
		case "127.0.0.1", "localhost", "::1":
			return nil
		}
	}
	return errors.New(strconv.Quote(truncate(raw, 100)) + " is neither https nor http on a loopback address " +
		"(http://127.0.0.1, http://localhost or http://[::1], any port)")
}

// clientName cleans a self-chosen client name for the consent page.
func clientName(name string) (string, error) {
	name = strings.TrimSpace(name)
	if name == "" {
		return defaultClientName, nil
	}
	if !utf8.ValidString(name) || strings.ContainsFunc(name, func(r rune) bool { return !unicode.IsPrint(r) }) {
		return "", errors.New("client_name must be printable text")
	}
	if utf8.RuneCountInString(name) > maxClientNameLen {
		return "", errors.New("client_name is longer than " + strconv.Itoa(maxClientNameLen) + " characters")
	}
	return name, nil
}
