package jobs

import (
	"context"
	"errors"

	"github.com/recap/recap/media"
)

// Sentinel errors of URL admission.
var (
	// ErrURLNotAllowed: the URL's host resolves to a forbidden address.
	ErrURLNotAllowed = errors.New("url not allowed")
	// ErrBadURL: the URL is not an absolute http(s) URL.
	ErrBadURL = errors.New("bad url")
)

// CheckURL admits a video or image URL: http(s) only and, unless
// allowPrivate, a host that resolves to public addresses only.
func CheckURL(ctx context.Context, rawURL string, allowPrivate bool) error {
	return CheckURLPolicy(ctx, rawURL, URLPolicy{AllowPrivate: allowPrivate})
}

// URLPolicy decides which addresses may be fetched; the worker's egress
// proxy enforces the same policy at connection time.
type URLPolicy = media.NetPolicy

// CheckURLPolicy is CheckURL under a policy that may admit some internal
// ranges (EGRESS_ALLOW).
func CheckURLPolicy(ctx context.Context, rawURL string, p URLPolicy) error {
	err := p.CheckURL(ctx, rawURL)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, media.ErrURLNotAllowed):
		return ErrURLNotAllowed
	case errors.Is(err, media.ErrBadURL):
		return ErrBadURL
	}
	return err
}

// VideoKey is the canonical key of a video URL; it drives dedupe and caches.
func VideoKey(rawURL string) (string, error) {
	k, err := media.CanonicalKey(rawURL)
	if err != nil {
		return "", ErrBadURL
	}
	return k, nil
}
