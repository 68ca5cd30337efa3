package core

import (
	"context"
	"errors"

	"github.com/recap/recap/jobs"
)

// Policy is the one network policy for every URL Recap or its providers
// will fetch: videos, images and webhooks. It is the policy the worker's
// egress proxy enforces at connection time (ALLOW_PRIVATE_NETWORKS,
// EGRESS_ALLOW); checking it at admission refuses a request before any
// work is queued.
type Policy = jobs.URLPolicy

// URL purposes, for the messages of refused URLs.
const (
	purposeVideo   = "video"
	purposeImage   = "image"
	purposeWebhook = "webhook"
)

// admit checks where a URL about to be fetched points (DNS included).
func (s *Service) admit(ctx context.Context, rawURL, param, purpose string) error {
	err := jobs.CheckURLPolicy(ctx, rawURL, s.cfg.Policy)
	if err == nil {
		return nil
	}
	switch purpose {
	case purposeImage:
		return Invalid("url_not_allowed", param, "The image URL %q is not allowed or could not be resolved.", truncate(rawURL, 100))
	case purposeWebhook:
		return Invalid("url_not_allowed", param, "The webhook URL is not allowed or could not be resolved.")
	}
	switch {
	case errors.Is(err, jobs.ErrURLNotAllowed):
		return Invalid("url_not_allowed", param, "The URL %q points at a private, loopback or link-local address, which this server does not fetch.", truncate(rawURL, 100))
	case errors.Is(err, jobs.ErrBadURL):
		return Invalid("invalid_url", param, "%q is not an http(s) URL.", truncate(rawURL, 100))
	}
	return Invalid("invalid_url", param, "The host of %q could not be resolved.", truncate(rawURL, 100))
}

// videoKey returns the canonical key of a video URL. It touches no
// network: a cache hit never needs to.
func videoKey(rawURL, param string) (string, error) {
	key, err := jobs.VideoKey(rawURL)
	if err != nil {
		return "", Invalid("invalid_url", param, "%q is not an http(s) URL.", truncate(rawURL, 100))
	}
	return key, nil
}

// admitWebhook checks a job's webhook_url (none is fine) under the network
// policy for webhooks.
func (s *Service) admitWebhook(ctx context.Context, url string) error {
	if url == "" {
		return nil
	}
	return s.admit(ctx, url, "webhook_url", purposeWebhook)
}
