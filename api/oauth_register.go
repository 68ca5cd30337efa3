package api

// Dynamic client registration (RFC 7591), for clients that configure
// themselves, such as an MCP client meeting Recap for the first time:
//
//	POST /api/auth/register   {"redirect_uris": [...], "client_name": ..., ...}
//
// Which clients may register (public ones, with https or loopback
// redirect URIs) is core.RegisterClient's decision; this door limits
// registrations per client address (OAuthConfig.RegistrationsPerHour) and
// reads the metadata. A registration that is never used to obtain tokens
// expires (store.UnusedClientTTL). The consent page tells the person that
// such a client named itself.

import (
	"bytes"
	"encoding/json"
	"mime"
	"net"
	"net/http"
	"net/netip"
	"strconv"

	"github.com/recap/recap/core"
	"github.com/recap/recap/textclean"
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

// parseRegistration reads a registration request's client metadata
// (core.RegisterClient checks it).
func parseRegistration(body []byte) (core.ClientRegistration, *oauthError) {
	var req registrationRequest
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&req); err != nil || dec.More() {
		return core.ClientRegistration{}, oauthErr("invalid_client_metadata", "The body must be one JSON object of client metadata (RFC 7591).")
	}
	// Postgres cannot store a NUL; Go's decoder keeps \u0000 (and replaces
	// invalid UTF-8 itself).
	if field, bad := textclean.JSONField(body); bad {
		return core.ClientRegistration{}, oauthErr("invalid_client_metadata", "The metadata field '"+field+"' holds a NUL character, which is not allowed.")
	}
	return core.ClientRegistration{RedirectURIs: req.RedirectURIs, TokenEndpointAuthMethod: req.TokenEndpointAuthMethod,
		GrantTypes: req.GrantTypes, ResponseTypes: req.ResponseTypes, ClientName: req.ClientName, Scope: req.Scope}, nil
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
	req, oerr := parseRegistration(body)
	if oerr != nil {
		writeTokenError(w, oerr)
		return
	}
	c, err := s.core.RegisterClient(r.Context(), req)
	if err != nil {
		writeTokenError(w, fromOAuth(err))
		return
	}
	writeToken(w, http.StatusCreated, registrationReply{ClientID: c.ClientID, ClientIDIssuedAt: c.IssuedAt.Unix(),
		ClientName: c.ClientName, RedirectURIs: c.RedirectURIs, GrantTypes: c.GrantTypes, ResponseTypes: c.ResponseTypes,
		TokenEndpointAuthMethod: c.TokenEndpointAuthMethod, Scope: c.Scope})
}

// readLimited reads a request body of at most n bytes.
func readLimited(w http.ResponseWriter, r *http.Request, n int64) ([]byte, error) {
	var b bytes.Buffer
	_, err := b.ReadFrom(http.MaxBytesReader(w, r.Body, n))
	return b.Bytes(), err
}
