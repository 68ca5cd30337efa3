package api

import (
	"crypto/sha256"
	"net/http"

	"github.com/recap/recap/core"
)

// MaxIdempotencyKey bounds the Idempotency-Key header.
const MaxIdempotencyKey = 255

// idempotencyKey returns the request's Idempotency-Key ("" when absent):
// 1 to 255 printable ASCII characters.
func idempotencyKey(r *http.Request) (string, error) {
	vs := r.Header.Values("Idempotency-Key")
	if len(vs) == 0 {
		return "", nil
	}
	k := vs[0]
	bad := len(vs) > 1 || k == "" || len(k) > MaxIdempotencyKey
	for i := 0; i < len(k) && !bad; i++ {
		bad = k[i] < 0x20 || k[i] > 0x7e
	}
	if bad {
		return "", badRequest("invalid_idempotency_key", "Idempotency-Key",
			"The Idempotency-Key header must be one value of 1 to %d printable ASCII characters.", MaxIdempotencyKey)
	}
	return k, nil
}

// idempotency is the request's Idempotency-Key with what it stands for:
// the route and the exact body bytes, so the key used for another request
// (or on another route) is refused rather than silently answered. The
// /v1 and /api/v1 forms of a route are one route.
func idempotency(r *http.Request, body []byte) (core.Idempotency, error) {
	k, err := idempotencyKey(r)
	if err != nil || k == "" {
		return core.Idempotency{}, err
	}
	h := sha256.New()
	h.Write([]byte(r.Method + " " + canonicalPath(r.URL.Path) + "\n"))
	h.Write(body)
	return core.Idempotency{Key: k, Digest: h.Sum(nil)}, nil
}

// replayed marks a reply that repeats an earlier request's.
func replayed(w http.ResponseWriter) { w.Header().Set("Idempotent-Replayed", "true") }
