package api

// OAuth2 for clients that configure themselves: what a generic OAuth
// library or an MCP client needs beyond the code flow in oauth.go.
//
//	GET  /.well-known/oauth-authorization-server      RFC 8414 server metadata
//	GET  /.well-known/openid-configuration            the same, for clients that look there
//	POST /api/auth/register                           RFC 7591 dynamic client registration (oauth_register.go)
//	GET  /.well-known/oauth-protected-resource[/...]  RFC 9728 resource metadata: the
//	                                                  API (root, /api/v1, /v1) and /mcp
//	POST /api/auth/revoke                             RFC 7009 token revocation
//	POST /api/auth/introspect                         RFC 7662 introspection (confidential clients)
//
// and every 401 and 403 of the API carries an RFC 6750 challenge that
// names the resource metadata (bearerChallenge), which is how an MCP
// client finds the authorization server.

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/gorilla/mux"

	"github.com/recap/recap"
	"github.com/recap/recap/core"
	"github.com/recap/recap/textclean"
)

// DiscoveryConfig configures the OAuth2 discovery documents.
type DiscoveryConfig struct {
	// Issuer is the API's public base URL (PUBLIC_URL), e.g.
	// https://recap.example.com: the issuer identifier and the base of
	// every URL the documents give. Empty: each request's scheme and Host
	// (X-Forwarded-Proto when a proxy terminates TLS), which suits a
	// single host but lets a client name the issuer it is told.
	Issuer string
}

// Well-known paths (RFC 8414 §3, RFC 9728 §3).
const (
	wellKnownAuthServer = "/.well-known/oauth-authorization-server"
	wellKnownResource   = "/.well-known/oauth-protected-resource"
	// wellKnownOpenID is where OpenID Connect discovery looks. Recap is
	// no OpenID provider (it issues no ID token, so it has no jwks_uri,
	// subject types or signing algorithms to state), but clients that
	// fall back to this path (MCP's authorization spec names it) need
	// only the endpoints, which the RFC 8414 document gives.
	wellKnownOpenID = "/.well-known/openid-configuration"
)

// protectedResources are the resources Recap serves, by the path that
// follows wellKnownResource: "" is the whole API at the root.
var protectedResources = map[string]string{
	"":        "Recap API",
	"/api/v1": "Recap API",
	"/v1":     "Recap API",
	"/mcp":    "Recap MCP server",
}

// MountOAuthDiscovery adds the metadata, revocation and introspection
// routes, and makes the API's 401 and 403 replies name them.
func (s *Server) MountOAuthDiscovery(cfg DiscoveryConfig) {
	s.cfg.OAuth.Issuer = strings.TrimRight(cfg.Issuer, "/")
	r := s.router
	r.HandleFunc(wellKnownAuthServer, s.handleAuthServerMetadata).Methods(http.MethodGet, http.MethodHead)
	r.HandleFunc(wellKnownOpenID, s.handleAuthServerMetadata).Methods(http.MethodGet, http.MethodHead)
	r.HandleFunc(wellKnownResource, s.handleResourceMetadata).Methods(http.MethodGet, http.MethodHead)
	r.HandleFunc(wellKnownResource+"/{resource:.+}", s.handleResourceMetadata).Methods(http.MethodGet, http.MethodHead)
	for _, p := range []string{wellKnownAuthServer, wellKnownOpenID, wellKnownResource, wellKnownResource + "/{resource:.+}"} {
		r.HandleFunc(p, preflightAnyOrigin("GET, HEAD, OPTIONS")).Methods(http.MethodOptions)
	}
	if s.cfg.OAuth.RegistrationsPerHour > 0 {
		r.HandleFunc("/api/auth/register", s.handleRegister).Methods(http.MethodPost)
		r.HandleFunc("/api/auth/register", preflightAnyOrigin("POST, OPTIONS")).Methods(http.MethodOptions)
	}
	r.HandleFunc("/api/auth/revoke", s.handleRevoke).Methods(http.MethodPost)
	r.HandleFunc("/api/auth/introspect", s.handleIntrospect).Methods(http.MethodPost)
}

// publicBase is the base URL clients reach this API at.
func (s *Server) publicBase(r *http.Request) string {
	if s.cfg.OAuth.Issuer != "" {
		return s.cfg.OAuth.Issuer
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	if p := strings.ToLower(r.Header.Get("X-Forwarded-Proto")); p == "https" || p == "http" {
		scheme = p
	}
	host := r.Host
	if host == "" || strings.ContainsAny(host, "/\\\"?#@ ") {
		host = "localhost"
	}
	return scheme + "://" + host
}

// authServerMetadata is RFC 8414 §2.
type authServerMetadata struct {
	Issuer                                     string   `json:"issuer"`
	AuthorizationEndpoint                      string   `json:"authorization_endpoint"`
	TokenEndpoint                              string   `json:"token_endpoint"`
	RevocationEndpoint                         string   `json:"revocation_endpoint"`
	IntrospectionEndpoint                      string   `json:"introspection_endpoint"`
	RegistrationEndpoint                       string   `json:"registration_endpoint,omitempty"`
	ScopesSupported                            []string `json:"scopes_supported"`
	ResponseTypesSupported                     []string `json:"response_types_supported"`
	ResponseModesSupported                     []string `json:"response_modes_supported"`
	GrantTypesSupported                        []string `json:"grant_types_supported"`
	CodeChallengeMethodsSupported              []string `json:"code_challenge_methods_supported"`
	TokenEndpointAuthMethodsSupported          []string `json:"token_endpoint_auth_methods_supported"`
	RevocationEndpointAuthMethodsSupported     []string `json:"revocation_endpoint_auth_methods_supported"`
	IntrospectionEndpointAuthMethodsSupported  []string `json:"introspection_endpoint_auth_methods_supported"`
	AuthorizationResponseIssParameterSupported bool     `json:"authorization_response_iss_parameter_supported"`
}

// clientAuthMethods are how a client authenticates at the token and
// revocation endpoints: public clients by client_id alone (PKCE protects
// their codes), confidential ones with their secret either way.
var clientAuthMethods = []string{"none", "client_secret_basic", "client_secret_post"}

func (s *Server) handleAuthServerMetadata(w http.ResponseWriter, r *http.Request) {
	base := s.publicBase(r)
	registration := ""
	if s.cfg.OAuth.RegistrationsPerHour > 0 {
		registration = base + "/api/auth/register"
	}
	s.writeMetadata(w, authServerMetadata{
		Issuer:                                     base,
		AuthorizationEndpoint:                      base + "/api/auth/authorize",
		TokenEndpoint:                              base + "/api/auth/token",
		RevocationEndpoint:                         base + "/api/auth/revoke",
		IntrospectionEndpoint:                      base + "/api/auth/introspect",
		RegistrationEndpoint:                       registration,
		ScopesSupported:                            []string{recap.ScopeRead, recap.ScopeWrite},
		ResponseTypesSupported:                     []string{"code"},
		ResponseModesSupported:                     []string{"query"},
		GrantTypesSupported:                        []string{"authorization_code", "refresh_token"},
		CodeChallengeMethodsSupported:              []string{"S256"},
		TokenEndpointAuthMethodsSupported:          clientAuthMethods,
		RevocationEndpointAuthMethodsSupported:     clientAuthMethods,
		IntrospectionEndpointAuthMethodsSupported:  []string{"client_secret_basic", "client_secret_post"},
		AuthorizationResponseIssParameterSupported: true,
	})
}

// resourceMetadata is RFC 9728 §2.
type resourceMetadata struct {
	Resource               string   `json:"resource"`
	AuthorizationServers   []string `json:"authorization_servers"`
	ScopesSupported        []string `json:"scopes_supported"`
	BearerMethodsSupported []string `json:"bearer_methods_supported"`
	ResourceName           string   `json:"resource_name"`
}

func (s *Server) handleResourceMetadata(w http.ResponseWriter, r *http.Request) {
	suffix := ""
	if v := mux.Vars(r)["resource"]; v != "" {
		suffix = "/" + v
	}
	name, ok := protectedResources[suffix]
	if !ok {
		s.writeError(w, r, errNoRoute(r))
		return
	}
	base := s.publicBase(r)
	s.writeMetadata(w, resourceMetadata{
		Resource:               base + suffix,
		AuthorizationServers:   []string{base},
		ScopesSupported:        []string{recap.ScopeRead, recap.ScopeWrite},
		BearerMethodsSupported: []string{"header"},
		ResourceName:           name,
	})
}

// writeMetadata sends a discovery document: public, readable from any
// origin (browser-based clients discover too), cacheable when the issuer
// is configured rather than taken from the request.
func (s *Server) writeMetadata(w http.ResponseWriter, v any) {
	h := w.Header()
	if h.Get("Access-Control-Allow-Origin") == "" {
		h.Set("Access-Control-Allow-Origin", "*")
	}
	if s.cfg.OAuth.Issuer != "" {
		h.Set("Cache-Control", "public, max-age=3600")
	} else {
		h.Set("Cache-Control", "no-cache")
	}
	writeJSON(w, http.StatusOK, v)
}

// preflightAnyOrigin answers a CORS preflight of a route that takes no
// credentials, so any origin may call it: the discovery documents (MCP
// clients send MCP-Protocol-Version with them) and dynamic registration
// (browser-based clients register too). With CORS_ORIGINS set, the CORS
// layer answers first.
func preflightAnyOrigin(methods string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Access-Control-Allow-Origin", "*")
		h.Set("Access-Control-Allow-Methods", methods)
		if req := r.Header.Get("Access-Control-Request-Headers"); req != "" && len(req) <= 1024 {
			h.Set("Access-Control-Allow-Headers", req)
		}
		h.Set("Access-Control-Max-Age", "86400")
		w.WriteHeader(http.StatusNoContent)
	}
}

// resourceMetadataURL is the metadata of the resource a request was for.
func (s *Server) resourceMetadataURL(r *http.Request) string {
	suffix := ""
	for _, p := range []string{"/mcp", "/api/v1", "/v1"} {
		if r.URL.Path == p || strings.HasPrefix(r.URL.Path, p+"/") {
			suffix = p
			break
		}
	}
	return s.publicBase(r) + wellKnownResource + suffix
}

// bearerChallenge is the WWW-Authenticate value of a 401 or 403 (RFC 6750
// §3): the error (invalid_token for every 401, which share one body so
// that nothing tells a missing key from a revoked one; insufficient_scope
// for a 403), the scope the request needs, and where the resource's
// metadata is (RFC 9728 §5.1).
func (s *Server) bearerChallenge(r *http.Request, e *Error) string {
	code, scope := "invalid_token", recap.ScopeRead+" "+recap.ScopeWrite
	if e.Status == http.StatusForbidden {
		code, scope = "insufficient_scope", scopeFor(r)
	}
	return `Bearer realm="recap", error=` + quote(code) + `, error_description=` + quote(e.Message) +
		`, scope=` + quote(scope) + `, resource_metadata=` + quote(s.resourceMetadataURL(r))
}

// quote makes an RFC 9110 quoted-string; error_description may use only
// printable ASCII but '"' and '\' (RFC 6750 §3), so others are dropped.
func quote(v string) string {
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c < 0x20 || c > 0x7e || c == '"' || c == '\\' {
			continue
		}
		b.WriteByte(c)
	}
	b.WriteByte('"')
	return b.String()
}

// oauthForm reads a form-encoded request to the revocation or
// introspection endpoint: the parameters (each at most once) and the
// client's credentials.
func (s *Server) oauthForm(w http.ResponseWriter, r *http.Request, names ...string) (map[string]string, core.ClientCredentials, *oauthError) {
	var none core.ClientCredentials
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if !strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
		return nil, none, oauthErr("invalid_request", "Send the parameters as application/x-www-form-urlencoded.")
	}
	if err := r.ParseForm(); err != nil {
		return nil, none, oauthErr("invalid_request", "The request body could not be read.")
	}
	params := map[string]string{}
	for _, p := range append(names, "client_id", "client_secret") {
		v, ok := single(r.PostForm, p)
		if !ok {
			return nil, none, oauthErr("invalid_request", "The parameter "+p+" was sent more than once.")
		}
		if !textclean.Valid(v) {
			return nil, none, oauthErr("invalid_request", "The parameter "+p+" holds a NUL character or invalid UTF-8.")
		}
		params[p] = v
	}
	return params, clientCredentials(r, params), nil
}

// handleRevoke revokes a token of the calling client (RFC 7009). The
// reply is 200 whether or not there was such a token (§2.2): it must not
// tell a client which tokens exist. token_type_hint is accepted and not
// needed: both kinds are looked up.
func (s *Server) handleRevoke(w http.ResponseWriter, r *http.Request) {
	params, client, oerr := s.oauthForm(w, r, "token", "token_type_hint")
	if oerr != nil {
		writeTokenError(w, oerr)
		return
	}
	if err := s.core.RevokeToken(r.Context(), client, params["token"]); err != nil {
		writeTokenError(w, fromOAuth(err))
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
}

// introspection is RFC 7662 §2.2.
type introspection struct {
	Active    bool   `json:"active"`
	Scope     string `json:"scope,omitempty"`
	ClientID  string `json:"client_id,omitempty"`
	Username  string `json:"username,omitempty"`
	TokenType string `json:"token_type,omitempty"`
	Exp       int64  `json:"exp,omitempty"`
	Iat       int64  `json:"iat,omitempty"`
	Sub       string `json:"sub,omitempty"`
	Iss       string `json:"iss,omitempty"`
}

// handleIntrospect tells a confidential client whether one of its tokens
// is active (RFC 7662). Public clients cannot authenticate, so they get
// 401; a token of another client is reported inactive, like an unknown
// one, so introspection never reveals tokens a client was not issued.
func (s *Server) handleIntrospect(w http.ResponseWriter, r *http.Request) {
	params, client, oerr := s.oauthForm(w, r, "token", "token_type_hint")
	if oerr != nil {
		writeTokenError(w, oerr)
		return
	}
	ti, err := s.core.IntrospectToken(r.Context(), client, params["token"])
	if err != nil {
		writeTokenError(w, fromOAuth(err))
		return
	}
	if ti == nil {
		writeToken(w, http.StatusOK, introspection{Active: false})
		return
	}
	out := introspection{Active: true, Scope: strings.Join(ti.Scopes, " "), ClientID: ti.ClientID, Username: ti.KeyName,
		Exp: ti.ExpiresAt.Unix(), Iat: ti.IssuedAt.Unix(), Sub: "key_" + strconv.FormatInt(ti.APIKeyID, 10), Iss: s.publicBase(r)}
	if ti.IsAccess() {
		out.TokenType = "Bearer"
	}
	writeToken(w, http.StatusOK, out)
}
