package jobs

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"syscall"
	"time"

	"github.com/hibiken/asynq"

	"github.com/recap/recap"
	"github.com/recap/recap/store"
)

// TypeWebhook delivers a finished job to its webhook_url.
const TypeWebhook = "job:webhook"

// SignatureHeader carries "sha256=<hex HMAC-SHA256 of the body>" keyed with
// WEBHOOK_SECRET; TimestampHeader the delivery's Unix time.
const (
	SignatureHeader = "X-Recap-Signature"
	TimestampHeader = "X-Recap-Timestamp"
)

// Sign returns the signature header value of a webhook body.
func Sign(secret, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// webhookTask delivers an ended job: in the batch queue, a dozen retries
// with asynq's backoff, kept a day for inspection.
var webhookTask = task{typ: TypeWebhook, queue: QueueBatch, maxRetry: 12, retention: 24 * time.Hour,
	timeout: func(Timeouts) time.Duration { return 30 * time.Second }}

// enqueueWebhook schedules the delivery of an ended job, once per job.
func enqueueWebhook(ctx context.Context, q queueing, j *recap.Job) error {
	if j.WebhookURL == "" {
		return nil
	}
	return q.enqueue(context.WithoutCancel(ctx), j, &webhookTask)
}

// webhookClient refuses to connect to addresses the network policy forbids
// (EGRESS_ALLOW included) at dial time, so a webhook URL cannot be pointed
// at internal services.
func webhookClient(policy URLPolicy) *http.Client {
	d := &net.Dialer{Timeout: 10 * time.Second, Control: func(_, address string, _ syscall.RawConn) error {
		ap, err := netip.ParseAddrPort(address)
		if err != nil || !policy.Permits(ap.Addr()) {
			return fmt.Errorf("webhook: address %s not allowed: %w", address, ErrURLNotAllowed)
		}
		return nil
	}}
	tr := &http.Transport{DialContext: d.DialContext, Proxy: nil, ResponseHeaderTimeout: 20 * time.Second}
	return &http.Client{Transport: tr, Timeout: 30 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}
}

// deliverWebhook POSTs the job object, signed; non-2xx answers are retried
// with asynq's backoff.
func (w *Worker) deliverWebhook(ctx context.Context, t *asynq.Task) error {
	var p payload
	if err := json.Unmarshal(t.Payload(), &p); err != nil {
		return fmt.Errorf("webhook: %w", asynq.SkipRetry)
	}
	j, err := w.cfg.Store.Job(ctx, p.JobID)
	if err != nil {
		return fmt.Errorf("webhook: %w", err)
	}
	var sm *store.Summary
	if j.SummaryID != nil {
		if sm, err = w.cfg.Store.Summary(ctx, *j.SummaryID); err != nil {
			return fmt.Errorf("webhook: %w", err)
		}
	}
	body, _ := json.Marshal(ViewOf(j, sm))
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, j.WebhookURL, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("webhook: %v: %w", err, asynq.SkipRetry)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "Recap-Webhook/1")
	req.Header.Set(TimestampHeader, strconv.FormatInt(time.Now().Unix(), 10))
	req.Header.Set(SignatureHeader, Sign(w.cfg.WebhookSecret, body))
	res, err := w.webhooks.Do(req)
	if err != nil {
		if errors.Is(err, ErrURLNotAllowed) {
			return fmt.Errorf("webhook: %w: %w", err, asynq.SkipRetry)
		}
		return fmt.Errorf("webhook: %w", err)
	}
	defer res.Body.Close()
	io.Copy(io.Discard, io.LimitReader(res.Body, 1<<16)) //nolint:errcheck
	if res.StatusCode/100 != 2 {
		return fmt.Errorf("webhook: %s answered %d", j.WebhookURL, res.StatusCode)
	}
	w.log.Info("webhook delivered", "job_id", j.ID, "video_key", j.VideoKey, "status", res.StatusCode)
	return nil
}
