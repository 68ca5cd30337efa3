package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// Subscription states.
const (
	// SubscriptionActive is checked every interval.
	SubscriptionActive = "active"
	// SubscriptionFailing had its last check fail; it is checked again
	// after a back-off that grows with each failure.
	SubscriptionFailing = "failing"
	// SubscriptionPaused is not checked until its owner resumes it.
	SubscriptionPaused = "paused"
)

// ErrEntrySeen means a subscription has already seen an entry: the
// transaction that would have made a second job for it must roll back.
var ErrEntrySeen = errors.New("subscription entry already seen")

// Subscription follows a playlist, channel or feed for its account.
type Subscription struct {
	ID              string
	AccountID       int64
	APIKeyID        int64
	URL             string
	Title           string
	IntervalSeconds int
	// FirstLimit bounds how many entries the first check summarizes.
	FirstLimit    int
	WebhookURL    string
	Prompt        string
	Language      string
	Model         string
	State         string
	PausedReason  string
	Failures      int
	LastError     string
	LastErrorCode string
	Checks        int64
	CreatedAt     time.Time
	UpdatedAt     time.Time
	LastCheckedAt *time.Time
	NextCheckAt   time.Time
}

// SubscriptionEntry is one entry of a subscription's source.
type SubscriptionEntry struct {
	VideoKey string
	URL      string
	Title    string
	// SkipCode, for an entry seen but not summarized, says why.
	SkipCode string
}

const subscriptionColumns = `id, account_id, api_key_id, url, title, interval_seconds, first_limit, webhook_url, prompt,
	language, model, state, paused_reason, failures, last_error, last_error_code, checks, created_at, updated_at,
	last_checked_at, next_check_at`

func scanSubscription(row pgx.Row) (*Subscription, error) {
	var s Subscription
	err := row.Scan(&s.ID, &s.AccountID, &s.APIKeyID, &s.URL, &s.Title, &s.IntervalSeconds, &s.FirstLimit, &s.WebhookURL,
		&s.Prompt, &s.Language, &s.Model, &s.State, &s.PausedReason, &s.Failures, &s.LastError, &s.LastErrorCode, &s.Checks,
		&s.CreatedAt, &s.UpdatedAt, &s.LastCheckedAt, &s.NextCheckAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, ErrNotFound
	}
	return &s, err
}

func collectSubscriptions(rows pgx.Rows) ([]Subscription, error) {
	defer rows.Close()
	var out []Subscription
	for rows.Next() {
		s, err := scanSubscription(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, *s)
	}
	return out, rows.Err()
}

// CreateSubscription stores a new subscription, due at once, and sets its
// id and timestamps. feedToken is the sha256 of its feed's secret token.
func (s *Store) CreateSubscription(ctx context.Context, sub *Subscription, feedToken []byte) error {
	sub.ID = uuid.NewString()
	row := s.pool.QueryRow(ctx, `INSERT INTO subscriptions (id, account_id, api_key_id, url, title, interval_seconds, first_limit,
		webhook_url, prompt, language, model, feed_token_sha256)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING `+subscriptionColumns,
		sub.ID, sub.AccountID, sub.APIKeyID, sub.URL, sub.Title, sub.IntervalSeconds, sub.FirstLimit, sub.WebhookURL,
		sub.Prompt, sub.Language, sub.Model, feedToken)
	out, err := scanSubscription(row)
	if err != nil {
		return fmt.Errorf("create subscription: %w", err)
	}
	*sub = *out
	return nil
}

// AccountSubscription returns the account's subscription; another
// account's, or a malformed id, is ErrNotFound.
func (s *Store) AccountSubscription(ctx context.Context, accountID int64, id string) (*Subscription, error) {
	if !validUUID(id) {
		return nil, ErrNotFound
	}
	sub, err := scanSubscription(s.pool.QueryRow(ctx, `SELECT `+subscriptionColumns+` FROM subscriptions
		WHERE id = $1 AND account_id = $2`, id, accountID))
	if err != nil && !errors.Is(err, ErrNotFound) {
		return nil, fmt.Errorf("subscription: %w", err)
	}
	return sub, err
}

// SubscriptionByFeedToken returns the subscription whose feed token has
// this sha256.
func (s *Store) SubscriptionByFeedToken(ctx context.Context, tokenHash []byte) (*Subscription, error) {
	sub, err := scanSubscription(s.pool.QueryRow(ctx, `SELECT `+subscriptionColumns+` FROM subscriptions
		WHERE feed_token_sha256 = $1`, tokenHash))
	if err != nil && !errors.Is(err, ErrNotFound) {
		return nil, fmt.Errorf("subscription by feed token: %w", err)
	}
	return sub, err
}

// SubscriptionFilter pages through an account's subscriptions, newest
// first, as JobFilter does jobs.
type SubscriptionFilter struct {
	AccountID int64
	Limit     int
	// Before is the cursor: subscriptions strictly older than
	// (CreatedAt, ID).
	BeforeTime *time.Time
	BeforeID   string
}

// ListSubscriptions returns an account's subscriptions newest first.
func (s *Store) ListSubscriptions(ctx context.Context, f SubscriptionFilter) ([]Subscription, error) {
	if f.Limit <= 0 || f.Limit > 1000 {
		f.Limit = 100
	}
	q := `SELECT ` + subscriptionColumns + ` FROM subscriptions WHERE account_id = $1`
	args := []any{f.AccountID, f.Limit}
	if f.BeforeTime != nil && validUUID(f.BeforeID) {
		q += ` AND (created_at, id) < ($3, $4)`
		args = append(args, *f.BeforeTime, f.BeforeID)
	}
	rows, err := s.pool.Query(ctx, q+` ORDER BY created_at DESC, id DESC LIMIT $2`, args...)
	if err != nil {
		return nil, fmt.Errorf("list subscriptions: %w", err)
	}
	out, err := collectSubscriptions(rows)
	if err != nil {
		return nil, fmt.Errorf("list subscriptions: %w", err)
	}
	return out, nil
}

// SubscriptionUpdate is what an owner may change; nil fields stay.
type SubscriptionUpdate struct {
	IntervalSeconds *int
	// Pause pauses (true, with PausedReason) or resumes (false) the
	// subscription; a resumed one is due at once.
	Pause        *bool
	PausedReason string
}

// UpdateSubscription applies u to the account's subscription and returns
// it as it is now.
func (s *Store) UpdateSubscription(ctx context.Context, accountID int64, id string, u SubscriptionUpdate) (*Subscription, error) {
	if !validUUID(id) {
		return nil, ErrNotFound
	}
	var pause, resume bool
	if u.Pause != nil {
		pause, resume = *u.Pause, !*u.Pause
	}
	// A new interval takes effect from the last check; resuming clears the
	// failures and makes the subscription due now.
	sub, err := scanSubscription(s.pool.QueryRow(ctx, `UPDATE subscriptions SET
		interval_seconds = coalesce($3, interval_seconds),
		next_check_at = CASE
			WHEN $5 THEN now()
			WHEN $3::integer IS NOT NULL AND state = 'active' THEN least(next_check_at, coalesce(last_checked_at, created_at) + make_interval(secs => $3))
			ELSE next_check_at END,
		state = CASE WHEN $4 THEN 'paused' WHEN $5 THEN 'active' ELSE state END,
		paused_reason = CASE WHEN $4 THEN $6 WHEN $5 THEN '' ELSE paused_reason END,
		failures = CASE WHEN $5 THEN 0 ELSE failures END,
		updated_at = now()
		WHERE id = $1 AND account_id = $2 RETURNING `+subscriptionColumns,
		id, accountID, u.IntervalSeconds, pause, resume, u.PausedReason))
	if err != nil && !errors.Is(err, ErrNotFound) {
		return nil, fmt.Errorf("update subscription: %w", err)
	}
	return sub, err
}

// SetFeedToken replaces the account's subscription's feed token hash.
func (s *Store) SetFeedToken(ctx context.Context, accountID int64, id string, tokenHash []byte) (*Subscription, error) {
	if !validUUID(id) {
		return nil, ErrNotFound
	}
	sub, err := scanSubscription(s.pool.QueryRow(ctx, `UPDATE subscriptions SET feed_token_sha256 = $3, updated_at = now()
		WHERE id = $1 AND account_id = $2 RETURNING `+subscriptionColumns, id, accountID, tokenHash))
	if err != nil && !errors.Is(err, ErrNotFound) {
		return nil, fmt.Errorf("rotate feed token: %w", err)
	}
	return sub, err
}

// DeleteSubscription deletes the account's subscription and the entries
// it saw (its jobs stay). A check running meanwhile makes no job after
// the delete commits: its entries' rows would name a deleted row.
func (s *Store) DeleteSubscription(ctx context.Context, accountID int64, id string) error {
	if !validUUID(id) {
		return ErrNotFound
	}
	tag, err := s.pool.Exec(ctx, `DELETE FROM subscriptions WHERE id = $1 AND account_id = $2`, id, accountID)
	if err != nil {
		return fmt.Errorf("delete subscription: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return ErrNotFound
	}
	return nil
}

// ClaimDueSubscriptions takes up to limit subscriptions whose check is
// due, skipping rows another checker holds (FOR UPDATE SKIP LOCKED), and
// moves their next check a lease ahead: no other replica takes them while
// this one checks, and should it die, they are due again when the lease
// ends. The check's outcome (FinishSubscriptionCheck and friends) sets
// the real next check.
func (s *Store) ClaimDueSubscriptions(ctx context.Context, limit int, lease time.Duration) ([]Subscription, error) {
	rows, err := s.pool.Query(ctx, `UPDATE subscriptions SET next_check_at = now() + make_interval(secs => $2), checks = checks + 1
		WHERE id IN (SELECT id FROM subscriptions WHERE state <> 'paused' AND next_check_at <= now()
			ORDER BY next_check_at LIMIT $1 FOR UPDATE SKIP LOCKED)
		RETURNING `+subscriptionColumns, limit, lease.Seconds())
	if err != nil {
		return nil, fmt.Errorf("claim subscriptions: %w", err)
	}
	out, err := collectSubscriptions(rows)
	if err != nil {
		return nil, fmt.Errorf("claim subscriptions: %w", err)
	}
	return out, nil
}

// SeenEntries returns which of these video keys the subscription has seen.
func (s *Store) SeenEntries(ctx context.Context, subID string, keys []string) (map[string]bool, error) {
	rows, err := s.pool.Query(ctx, `SELECT video_key FROM subscription_entries WHERE subscription_id = $1 AND video_key = ANY($2)`,
		subID, keys)
	if err != nil {
		return nil, fmt.Errorf("seen entries: %w", err)
	}
	defer rows.Close()
	out := map[string]bool{}
	for rows.Next() {
		var k string
		if err := rows.Scan(&k); err != nil {
			return nil, fmt.Errorf("seen entries: %w", err)
		}
		out[k] = true
	}
	return out, rows.Err()
}

// HasEntries reports whether the subscription has seen any entry: a
// check that finds none is its first.
func (s *Store) HasEntries(ctx context.Context, subID string) (bool, error) {
	var ok bool
	err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM subscription_entries WHERE subscription_id = $1)`, subID).Scan(&ok)
	if err != nil {
		return false, fmt.Errorf("subscription entries: %w", err)
	}
	return ok, nil
}

// MarkEntriesSeen records entries the subscription will not summarize
// (each with its SkipCode), unless already seen.
func (s *Store) MarkEntriesSeen(ctx context.Context, subID string, entries []SubscriptionEntry) error {
	for _, e := range entries {
		if _, err := s.pool.Exec(ctx, `INSERT INTO subscription_entries (subscription_id, video_key, url, title, skip_code)
			VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING`, subID, e.VideoKey, e.URL, e.Title, e.SkipCode); err != nil {
			return fmt.Errorf("mark entries seen: %w", err)
		}
	}
	return nil
}

// AddSubscriptionEntry records, inside the transaction that created the
// entry's job, that the subscription has seen the entry. An entry seen
// before is ErrEntrySeen: the caller rolls the job back. A concurrent
// transaction adding the same entry blocks here until the other ends.
func (t *JobTx) AddSubscriptionEntry(ctx context.Context, subID string, e SubscriptionEntry, jobID string) error {
	tag, err := t.tx.Exec(ctx, `INSERT INTO subscription_entries (subscription_id, video_key, url, title, job_id)
		VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING`, subID, e.VideoKey, e.URL, e.Title, jobID)
	if err != nil {
		return fmt.Errorf("add subscription entry: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return ErrEntrySeen
	}
	return nil
}

// SubscriptionJobIDs returns the ids of up to limit jobs the
// subscription created, newest first.
func (s *Store) SubscriptionJobIDs(ctx context.Context, subID string, limit int) ([]string, error) {
	rows, err := s.pool.Query(ctx, `SELECT job_id::text FROM subscription_entries WHERE subscription_id = $1 AND job_id IS NOT NULL
		ORDER BY created_at DESC, video_key LIMIT $2`, subID, limit)
	if err != nil {
		return nil, fmt.Errorf("subscription jobs: %w", err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("subscription jobs: %w", err)
	}
	return ids, nil
}

// FinishSubscriptionCheck records a successful check: the source's
// title, no error, and the next check an interval from now. A
// subscription paused meanwhile stays paused.
func (s *Store) FinishSubscriptionCheck(ctx context.Context, id, title string) error {
	_, err := s.pool.Exec(ctx, `UPDATE subscriptions SET title = CASE WHEN $2 = '' THEN title ELSE $2 END,
		state = CASE WHEN state = 'paused' THEN state ELSE 'active' END, failures = 0, last_error = '', last_error_code = '',
		last_checked_at = now(), next_check_at = now() + make_interval(secs => interval_seconds), updated_at = now()
		WHERE id = $1`, id, title)
	if err != nil {
		return fmt.Errorf("finish subscription check: %w", err)
	}
	return nil
}

// FailSubscriptionCheck records a failed check: state failing, the error,
// and the next check after an exponential back-off (the interval times
// 2^failures) capped at maxBackoff (or the interval, when longer).
func (s *Store) FailSubscriptionCheck(ctx context.Context, id, code, msg string, maxBackoff time.Duration) error {
	_, err := s.pool.Exec(ctx, `UPDATE subscriptions SET
		state = CASE WHEN state = 'paused' THEN state ELSE 'failing' END, failures = failures + 1,
		last_error = $3, last_error_code = $2, last_checked_at = now(),
		next_check_at = now() + make_interval(secs => least(interval_seconds::float8 * power(2, least(failures + 1, 20)),
			greatest(interval_seconds::float8, $4))),
		updated_at = now()
		WHERE id = $1`, id, code, msg, maxBackoff.Seconds())
	if err != nil {
		return fmt.Errorf("fail subscription check: %w", err)
	}
	return nil
}

// PauseAccountSubscriptions pauses every subscription of the account
// that is not paused yet, saying why (code and message), and returns how
// many it paused.
func (s *Store) PauseAccountSubscriptions(ctx context.Context, accountID int64, code, msg string) (int64, error) {
	tag, err := s.pool.Exec(ctx, `UPDATE subscriptions SET state = 'paused', paused_reason = $2, last_error_code = $2,
		last_error = $3, last_checked_at = now(), updated_at = now()
		WHERE account_id = $1 AND state <> 'paused'`, accountID, code, msg)
	if err != nil {
		return 0, fmt.Errorf("pause subscriptions: %w", err)
	}
	return tag.RowsAffected(), nil
}

// PauseSubscription pauses one subscription, saying why.
func (s *Store) PauseSubscription(ctx context.Context, id, code, msg string) error {
	_, err := s.pool.Exec(ctx, `UPDATE subscriptions SET state = 'paused', paused_reason = $2, last_error_code = $2,
		last_error = $3, last_checked_at = now(), updated_at = now() WHERE id = $1`, id, code, msg)
	if err != nil {
		return fmt.Errorf("pause subscription: %w", err)
	}
	return nil
}

// SubscriptionStates counts all subscriptions by state.
func (s *Store) SubscriptionStates(ctx context.Context) (map[string]int64, error) {
	rows, err := s.pool.Query(ctx, `SELECT state, count(*) FROM subscriptions GROUP BY state`)
	if err != nil {
		return nil, fmt.Errorf("subscription states: %w", err)
	}
	defer rows.Close()
	out := map[string]int64{SubscriptionActive: 0, SubscriptionFailing: 0, SubscriptionPaused: 0}
	for rows.Next() {
		var st string
		var n int64
		if err := rows.Scan(&st, &n); err != nil {
			return nil, fmt.Errorf("subscription states: %w", err)
		}
		out[st] = n
	}
	return out, rows.Err()
}
