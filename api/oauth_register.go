package api

// Dynamic client registration (RFC 7591), for clients that configure
// themselves, such as an MCP client meeting Recap for the first time:
//
//	POST /api/auth/register   {"redirect_uris": [...], "client_name": ..., ...}
//
// Only public clients register (token_endpoint_auth_method "none"): they
// hold no secret, and PKCE, which the authorize endpoint requires of every
// client, protects their codes. Redirect URIs are https, or http on a
// loopback address (127.0.0.1, localhost, [::1]) at any port (RFC 8252
// §7.3), so a code only ever goes back to a TLS-protected site or to the
// machine the person is at. Registration is limited per client address
// (OAuthConfig.RegistrationsPerHour), and a registration that is never
// used to obtain tokens expires after store.UnusedClientTTL. The consent
// page tells the person that such a client named itself.

import (
	"bytes"
	"encoding/json"
	"errors"
	"github.com/recap/recap"
	"github.com/recap/recap/textclean"
	"mime"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// registrationRequest is the client metadata Recap reads (RFC 7591 §2);
// other fields are ignored, as §2 asks, and not registered.
type registrationRequest struct {
	RedirectURIs            []string `json:"redirect_uris"`
	TokenEndpointAuthMethod *string  `json:"token_endpoint_auth_method"`
	GrantTypes              []string `json:"grant_types"`
	ResponseTypes           []string `json:"response_types"`
	ClientName              string   `json:"client_name"`
	Scope                   string   `json:"scope"`
}

// registrationReply is the registered metadata (RFC 7591 §3.2.1).
type registrationReply struct {
	ClientID                string   `json:"client_id"`
	ClientIDIssuedAt        int64    `json:"client_id_issued_at"`
	ClientName              string   `json:"client_name"`
	RedirectURIs            []string `json:"redirect_uris"`
	GrantTypes              []string `json:"grant_types"`
	ResponseTypes           []string `json:"response_types"`
	TokenEndpointAuthMethod string   `json:"token_endpoint_auth_method"`
	Scope                   string   `json:"scope"`
}

// Limits of a registration's metadata.
const (
	maxRedirectURIs   = 10
	maxRedirectURILen = 2000
	maxClientNameLen  = 100
	// defaultClientName is the name of a client that gave none.
	defaultClientName = "Unnamed application"
)

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

// parseRegistration validates a registration request and returns the
// metadata to register (grant types, response types, scope normalized).
func parseRegistration(body []byte) (*registrationReply, *oauthError) {
	var req registrationRequest
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&req); err != nil || dec.More() {
		return nil, oauthErr("invalid_client_metadata", "The body must be one JSON object of client metadata (RFC 7591).")
	}
	// Postgres cannot store a NUL; Go's decoder keeps \u0000 (and replaces
	// invalid UTF-8 itself).
	if field, bad := textclean.JSONField(body); bad {
		return nil, oauthErr("invalid_client_metadata", "The metadata field '"+field+"' holds a NUL character, which is not allowed.")
	}
	invalid := func(desc string) (*registrationReply, *oauthError) {
		return nil, oauthErr("invalid_client_metadata", desc)
	}
	if m := req.TokenEndpointAuthMethod; m != nil && *m != "none" {
		return invalid("Only public clients may register: token_endpoint_auth_method must be \"none\" (PKCE protects the codes).")
	}
	if len(req.RedirectURIs) == 0 || len(req.RedirectURIs) > maxRedirectURIs {
		return nil, oauthErr("invalid_redirect_uri", "redirect_uris must list 1 to "+strconv.Itoa(maxRedirectURIs)+" URIs.")
	}
	for _, u := range req.RedirectURIs {
		if err := validRedirectURI(u); err != nil {
			return nil, oauthErr("invalid_redirect_uri", "Redirect URI "+err.Error()+".")
		}
	}
	out := &registrationReply{RedirectURIs: slices.Compact(slices.Clone(req.RedirectURIs)), TokenEndpointAuthMethod: "none",
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

// clientBucket is the rate limit bucket of a request's client address:
// the IP, or its /64 for IPv6, where one host usually holds a whole /64.
func clientBucket(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return "oauth-register:" + host
	}
	ip = ip.Unmap()
	if ip.Is6() {
		p, _ := ip.Prefix(64)
		return "oauth-register:" + p.String()
	}
	return "oauth-register:" + ip.String()
}

// handleRegister registers a public client (RFC 7591 §3).
func (s *Server) handleRegister(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Access-Control-Allow-Origin", "*")
	if s.cfg.Limiter != nil {
		res, err := s.cfg.Limiter.AllowPerHour(r.Context(), clientBucket(r), s.cfg.OAuth.RegistrationsPerHour)
		if err != nil {
			s.log.Warn("rate limiter unavailable; registration allowed", "err", err)
		} else if !res.Allowed {
			secs := int64(res.RetryAfter.Seconds() + 0.999)
			w.Header().Set("Retry-After", strconv.FormatInt(max(secs, 1), 10))
			writeTokenError(w, &oauthError{Status: http.StatusTooManyRequests, Code: "rate_limit_exceeded",
				Description: "Too many client registrations from this address: " + strconv.Itoa(res.Limit) +
					" an hour. Retry after " + strconv.FormatInt(max(secs, 1), 10) + " s, or reuse the client_id registered before."})
			return
		}
	}
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/json" {
		writeTokenError(w, oauthErr("invalid_client_metadata", "Send the client metadata as application/json (RFC 7591)."))
		return
	}
	body, err := readLimited(w, r, 64<<10)
	if err != nil {
		writeTokenError(w, oauthErr("invalid_client_metadata", "The body could not be read, or is larger than 64 KiB."))
		return
	}
	reply, oerr := parseRegistration(body)
	if oerr != nil {
		writeTokenError(w, oerr)
		return
	}
	c, err := s.cfg.Store.RegisterOAuthClient(r.Context(), reply.ClientName, reply.RedirectURIs)
	if err != nil {
		s.log.Error("oauth register", "err", err)
		writeTokenError(w, &oauthError{Status: http.StatusInternalServerError, Code: "server_error", Description: "The server had an error."})
		return
	}
	reply.ClientID, reply.ClientIDIssuedAt = c.ID, c.CreatedAt.Unix()
	s.log.Info("oauth client registered", "client_id", c.ID, "client_name", c.Name, "redirect_uris", strings.Join(c.RedirectURIs, " "))
	writeToken(w, http.StatusCreated, reply)
}

// readLimited reads a request body of at most n bytes.
func readLimited(w http.ResponseWriter, r *http.Request, n int64) ([]byte, error) {
	var b bytes.Buffer
	_, err := b.ReadFrom(http.MaxBytesReader(w, r.Body, n))
	return b.Bytes(), err
}
