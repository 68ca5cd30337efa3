package media

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"image"
	_ "image/gif" // checkDecodes
	_ "image/jpeg"
	_ "image/png"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"syscall"
	"time"
)

// Image errors: the caller's image is the cause, retrying cannot help.
var (
	// ErrNotImage is a response whose bytes are not PNG, JPEG, GIF or WebP,
	// or do not decode as what they claim to be.
	ErrNotImage = errors.New("not a PNG, JPEG, GIF or WebP image")
	// ErrImageTooLarge is an image past the size cap.
	ErrImageTooLarge = errors.New("image too large")
	// ErrImageRefused is an image host's 4xx answer other than 408 and
	// 429 (gone, forbidden, not found): asking again gets the same.
	ErrImageRefused = errors.New("the image host refused the image")
	// ErrImageRedirects is a redirect loop (a URL redirecting to itself or
	// back to one already visited) or a longer chain than is followed.
	ErrImageRedirects = errors.New("the image URL redirects in a loop or too often")
)

// ImagePermanent reports whether an image fetch's error is the image's
// own (refused, not an image, too large, a redirect loop): no retry can
// succeed, and the request is at fault. Anything else (a 5xx, 408, 429, a
// time-out, a reset connection) may pass and is worth retrying. A host
// the network policy forbids is ErrURLNotAllowed, classified apart.
func ImagePermanent(err error) bool {
	return errors.Is(err, ErrNotImage) || errors.Is(err, ErrImageTooLarge) ||
		errors.Is(err, ErrImageRefused) || errors.Is(err, ErrImageRedirects)
}

// ImageFetcher fetches images the caller named by URL, so the model
// provider never follows a URL itself: the provider's fetcher would go
// wherever a redirect points, from inside its own network. Every
// connection, the first and each redirect's, is checked against the
// network policy when it is dialed (the address actually connected to,
// so DNS rebinding gains nothing); the bytes are capped and sniffed, and
// come back as a data URL.
type ImageFetcher struct {
	client   *http.Client
	maxBytes int64
}

// ImageFetcherConfig configures an ImageFetcher.
type ImageFetcherConfig struct {
	// Policy decides which addresses may be connected to.
	Policy NetPolicy
	// MaxBytes caps one image (default 10 MiB).
	MaxBytes int64
	// Timeout bounds one fetch, redirects included (default 30 s).
	Timeout time.Duration
}

// maxImageRedirects is how many redirects an image fetch follows.
const maxImageRedirects = 3

// NewImageFetcher returns an ImageFetcher.
func NewImageFetcher(cfg ImageFetcherConfig) *ImageFetcher {
	if cfg.MaxBytes <= 0 {
		cfg.MaxBytes = 10 << 20
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 30 * time.Second
	}
	policy := cfg.Policy
	d := &net.Dialer{Timeout: 10 * time.Second, Control: func(_, address string, _ syscall.RawConn) error {
		ap, err := netip.ParseAddrPort(address)
		if err != nil || !policy.Permits(ap.Addr()) {
			return fmt.Errorf("%w: image host %s", ErrURLNotAllowed, address)
		}
		return nil
	}}
	tr := &http.Transport{DialContext: d.DialContext, Proxy: nil, ResponseHeaderTimeout: 20 * time.Second,
		MaxIdleConnsPerHost: 2, IdleConnTimeout: 30 * time.Second}
	client := &http.Client{Transport: tr, Timeout: cfg.Timeout, CheckRedirect: func(req *http.Request, via []*http.Request) error {
		for _, prev := range via {
			if prev.URL.String() == req.URL.String() {
				return fmt.Errorf("%w: %s redirects back to itself", ErrImageRedirects, redacted(req.URL))
			}
		}
		if len(via) > maxImageRedirects {
			return fmt.Errorf("%w: more than %d redirects", ErrImageRedirects, maxImageRedirects)
		}
		if req.URL.Scheme != "http" && req.URL.Scheme != "https" {
			return fmt.Errorf("%w: image redirect to a %s: URL", ErrURLNotAllowed, req.URL.Scheme)
		}
		return nil
	}}
	return &ImageFetcher{client: client, maxBytes: cfg.MaxBytes}
}

// imageTypes are the image formats models take, by sniffed type.
var imageTypes = map[string]bool{"image/png": true, "image/jpeg": true, "image/gif": true, "image/webp": true}

// DataURL returns the image at rawURL as a data: URL. A data: URL is
// returned as it is once its type and size are checked.
func (f *ImageFetcher) DataURL(ctx context.Context, rawURL string) (string, error) {
	if rest, ok := strings.CutPrefix(rawURL, "data:"); ok {
		meta, payload, ok := strings.Cut(rest, ",")
		mime, _, _ := strings.Cut(meta, ";")
		if !ok || !imageTypes[strings.ToLower(mime)] {
			return "", ErrNotImage
		}
		if int64(base64.StdEncoding.DecodedLen(len(payload))) > f.maxBytes {
			return "", fmt.Errorf("%w: over %d bytes", ErrImageTooLarge, f.maxBytes)
		}
		return rawURL, nil
	}
	if _, err := parseHTTPURL(rawURL); err != nil {
		return "", fmt.Errorf("image: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return "", fmt.Errorf("image: %w", err)
	}
	req.Header.Set("Accept", "image/png,image/jpeg,image/gif,image/webp")
	req.Header.Set("User-Agent", "Recap-Image/1")
	res, err := f.client.Do(req)
	if err != nil {
		return "", fmt.Errorf("image: %w", err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		host := res.Request.URL.Host // after redirects
		if res.StatusCode >= 400 && res.StatusCode < 500 && res.StatusCode != http.StatusRequestTimeout && res.StatusCode != http.StatusTooManyRequests {
			return "", fmt.Errorf("%w: %s answered %s", ErrImageRefused, host, res.Status)
		}
		return "", fmt.Errorf("image: %s answered %s", host, res.Status)
	}
	if res.ContentLength > f.maxBytes {
		return "", fmt.Errorf("%w: %d bytes, the limit is %d", ErrImageTooLarge, res.ContentLength, f.maxBytes)
	}
	b, err := io.ReadAll(io.LimitReader(res.Body, f.maxBytes+1))
	if err != nil {
		return "", fmt.Errorf("image: %w", err)
	}
	if int64(len(b)) > f.maxBytes {
		return "", fmt.Errorf("%w: over %d bytes", ErrImageTooLarge, f.maxBytes)
	}
	// The type is what the bytes are, never what the server claims.
	mime := http.DetectContentType(b)
	if !imageTypes[mime] {
		return "", fmt.Errorf("%w (the bytes are %s)", ErrNotImage, mime)
	}
	if err := checkDecodes(mime, b); err != nil {
		return "", err
	}
	return "data:" + mime + ";base64," + base64.StdEncoding.EncodeToString(b), nil
}

// checkDecodes reads the header of a PNG, JPEG or GIF the way a decoder
// does, so a truncated or corrupt file (right magic bytes, broken after)
// fails here as the caller's error rather than at the model provider.
// WebP, which the standard library does not decode, is left to the
// signature check.
func checkDecodes(mime string, b []byte) error {
	if mime == "image/webp" {
		return nil
	}
	if _, _, err := image.DecodeConfig(bytes.NewReader(b)); err != nil {
		return fmt.Errorf("%w: the %s does not decode: %v", ErrNotImage, mime, err)
	}
	return nil
}

// redacted is a URL without its query, for messages.
func redacted(u *url.URL) string {
	c := *u
	c.RawQuery, c.User = "", nil
	return c.String()
}
