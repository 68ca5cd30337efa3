package core

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/recap/recap"
	"github.com/recap/recap/jobs"
	"github.com/recap/recap/store"
)

// Subscription limits and defaults.
const (
	// DefaultSubscriptionInterval is how often a subscription is checked
	// when its creator does not say (never below the server's floor).
	DefaultSubscriptionInterval = time.Hour
	// MaxSubscriptionInterval bounds interval_seconds.
	MaxSubscriptionInterval = 30 * 24 * time.Hour
	// DefaultSubscriptionLimit is how many entries the first check
	// summarizes when the creator does not say.
	DefaultSubscriptionLimit = 10
	// MaxSubscriptionLimit bounds limit.
	MaxSubscriptionLimit = 100
	// subscriptionWindow is how many of the source's newest entries every
	// check lists: the first check records the ones past its limit as
	// seen, so that later checks take only what appears afterwards.
	subscriptionWindow = 50
	// subscriptionLease is how long a claimed check keeps other replicas
	// off its subscription; a checker that dies frees it after this.
	subscriptionLease = 5 * time.Minute
	// subscriptionJobsShown bounds the jobs GET and the feed show.
	subscriptionJobsShown = 50
	// feedTokenPrefix starts every feed token.
	feedTokenPrefix = "rfeed_"
)

// Reasons a subscription is paused (paused_reason).
const (
	PausedByOwner      = "owner"
	PausedNoCredit     = recap.CodeInsufficientQuota
	PausedKeyRevoked   = "key_revoked"
	codeSourceInternal = "internal_error"
)

// SubscriptionStore is the persistence of subscriptions (a *store.Store).
type SubscriptionStore interface {
	Key(ctx context.Context, id int64) (*recap.Caller, error)
	CreateSubscription(ctx context.Context, sub *store.Subscription, feedToken []byte) error
	AccountSubscription(ctx context.Context, accountID int64, id string) (*store.Subscription, error)
	SubscriptionByFeedToken(ctx context.Context, tokenHash []byte) (*store.Subscription, error)
	ListSubscriptions(ctx context.Context, f store.SubscriptionFilter) ([]store.Subscription, error)
	UpdateSubscription(ctx context.Context, accountID int64, id string, u store.SubscriptionUpdate) (*store.Subscription, error)
	SetFeedToken(ctx context.Context, accountID int64, id string, tokenHash []byte) (*store.Subscription, error)
	DeleteSubscription(ctx context.Context, accountID int64, id string) error
	ClaimDueSubscriptions(ctx context.Context, limit int, lease time.Duration) ([]store.Subscription, error)
	HasEntries(ctx context.Context, subID string) (bool, error)
	SeenEntries(ctx context.Context, subID string, keys []string) (map[string]bool, error)
	MarkEntriesSeen(ctx context.Context, subID string, entries []store.SubscriptionEntry) error
	SubscriptionJobIDs(ctx context.Context, subID string, limit int) ([]string, error)
	FinishSubscriptionCheck(ctx context.Context, id, title string) error
	FailSubscriptionCheck(ctx context.Context, id, code, msg string, maxBackoff time.Duration) error
	PauseSubscription(ctx context.Context, id, code, msg string) error
	PauseAccountSubscriptions(ctx context.Context, accountID int64, code, msg string) (int64, error)
	SubscriptionStates(ctx context.Context) (map[string]int64, error)
}

// SubscriptionMetrics counts checks (a *metrics.Metrics).
type SubscriptionMetrics interface {
	SubscriptionCheck(outcome string)
	SubscriptionEntries(n int)
	SubscriptionStates(byState map[string]int64)
}

// Outcomes of a check, as SubscriptionMetrics counts them.
const (
	CheckOK     = "ok"
	CheckFailed = "failed"
	CheckPaused = "paused"
)

// SubscriptionsConfig turns subscriptions on (Store set).
type SubscriptionsConfig struct {
	Store SubscriptionStore
	// MinInterval is the server's floor on interval_seconds
	// (SUBSCRIPTION_MIN_INTERVAL_SECONDS, default 300s).
	MinInterval time.Duration
	// MaxBackoff caps a failing source's back-off (default 6h, never below
	// the subscription's interval).
	MaxBackoff time.Duration
	Metrics    SubscriptionMetrics
	Logger     *slog.Logger
}

func (c SubscriptionsConfig) withDefaults() SubscriptionsConfig {
	if c.MinInterval <= 0 {
		c.MinInterval = 300 * time.Second
	}
	if c.MaxBackoff <= 0 {
		c.MaxBackoff = 6 * time.Hour
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

// Subscription is a subscription as its owner sees it.
type Subscription struct {
	ID              string `json:"id"`
	Object          string `json:"object"`
	URL             string `json:"url"`
	Title           string `json:"title"`
	IntervalSeconds int    `json:"interval_seconds"`
	Limit           int    `json:"limit"`
	Webhook         string `json:"webhook,omitempty"`
	Prompt          string `json:"prompt,omitempty"`
	Language        string `json:"language,omitempty"`
	Model           string `json:"model,omitempty"`
	// State is active, failing (the last check failed; retried after a
	// back-off) or paused (PausedReason says why).
	State        string `json:"state"`
	PausedReason string `json:"paused_reason,omitempty"`
	// FeedURL is the Atom feed of the subscription's summaries, readable
	// without a key. Its token is shown when made (creation, rotation)
	// only: the server keeps its hash.
	FeedURL string `json:"feed_url,omitempty"`
	// FeedPath is FeedURL without the server's base, for the door to
	// complete.
	FeedPath      string     `json:"-"`
	CreatedAt     time.Time  `json:"created_at"`
	LastCheckedAt *time.Time `json:"last_checked_at"`
	// NextCheckAt is null while paused.
	NextCheckAt   *time.Time `json:"next_check_at"`
	LastError     *string    `json:"last_error"`
	LastErrorCode string     `json:"last_error_code,omitempty"`
	Failures      int        `json:"failures"`
	// Jobs are the jobs the subscription created, newest first (GET of
	// one subscription only).
	Jobs []recap.View `json:"jobs,omitempty"`
}

// FeedPathPrefix is where feeds are served; the token follows.
const FeedPathPrefix = "/feeds/"

func subscriptionOf(sub *store.Subscription) *Subscription {
	out := &Subscription{ID: sub.ID, Object: "subscription", URL: sub.URL, Title: sub.Title, IntervalSeconds: sub.IntervalSeconds,
		Limit: sub.FirstLimit, Webhook: sub.WebhookURL, Prompt: sub.Prompt, Language: sub.Language, Model: sub.Model,
		State: sub.State, CreatedAt: sub.CreatedAt, LastCheckedAt: sub.LastCheckedAt, LastErrorCode: sub.LastErrorCode,
		Failures: sub.Failures}
	if sub.State == store.SubscriptionPaused {
		out.PausedReason = sub.PausedReason
	} else {
		next := sub.NextCheckAt
		out.NextCheckAt = &next
	}
	if sub.LastError != "" {
		msg := sub.LastError
		out.LastError = &msg
	}
	return out
}

// SubscribeRequest asks to follow a playlist, channel or feed.
type SubscribeRequest struct {
	Caller *recap.Caller
	URL    string
	// IntervalSeconds is how often to check; nil means
	// DefaultSubscriptionInterval (or the server's floor, if higher).
	IntervalSeconds *int
	// Limit bounds how many entries the first check summarizes; nil
	// means DefaultSubscriptionLimit.
	Limit    *int
	Webhook  string
	Prompt   string
	Language string
	Model    string
}

var errSubscriptionsOff = &Error{Kind: KindInternal, Code: "subscriptions_unavailable", Message: "This server does not run subscriptions."}

func (s *Service) subs() (SubscriptionsConfig, error) {
	c := s.cfg.Subscriptions
	if c.Store == nil {
		return c, errSubscriptionsOff
	}
	return c.withDefaults(), nil
}

func (s *Service) checkInterval(param string, v *int, def time.Duration) (int, error) {
	c, _ := s.subs()
	floor := int(c.MinInterval / time.Second)
	if v == nil {
		return max(int(def/time.Second), floor), nil
	}
	if *v < floor || *v > int(MaxSubscriptionInterval/time.Second) {
		return 0, Invalid("invalid_interval", param, "'%s' must be from %d (this server's floor) to %d seconds; it is %d.",
			param, floor, int(MaxSubscriptionInterval/time.Second), *v)
	}
	return *v, nil
}

// Subscribe validates a subscription, lists its source once (refusing
// what is not a playlist, channel or feed), and stores it due at once;
// the scheduler's first check summarizes up to limit newest entries.
func (s *Service) Subscribe(ctx context.Context, r SubscribeRequest) (*Subscription, error) {
	c, err := s.subs()
	if err != nil {
		return nil, err
	}
	if r.Caller == nil {
		return nil, &Error{Kind: KindInternal, Code: "internal_error", Message: "The request has no caller."}
	}
	interval, err := s.checkInterval("interval_seconds", r.IntervalSeconds, DefaultSubscriptionInterval)
	if err != nil {
		return nil, err
	}
	limit := DefaultSubscriptionLimit
	if r.Limit != nil {
		if limit = *r.Limit; limit < 1 || limit > MaxSubscriptionLimit {
			return nil, Invalid("invalid_limit", "limit", "'limit' must be between 1 and %d; it is %d.", MaxSubscriptionLimit, limit)
		}
	}
	src := strings.TrimSpace(r.URL)
	if err := CheckURLSyntax(src, "url", false); err != nil {
		return nil, err
	}
	if err := CheckText("prompt", r.Prompt); err != nil {
		return nil, err
	}
	if n := utf8.RuneCountInString(r.Prompt); n > MaxPromptRunes {
		return nil, Invalid("prompt_too_long", "prompt", "The prompt is %d characters long; the limit is %d.", n, MaxPromptRunes)
	}
	if err := CheckLanguage("language", r.Language); err != nil {
		return nil, err
	}
	if r.Webhook != "" {
		if err := CheckURLSyntax(r.Webhook, "webhook", false); err != nil {
			return nil, err
		}
		if err := s.admit(ctx, r.Webhook, "webhook", purposeWebhook); err != nil {
			return nil, err
		}
	}
	if _, err := s.ResolveModel(r.Model); err != nil {
		return nil, err
	}
	if err := s.admit(ctx, src, "url", purposeVideo); err != nil {
		return nil, err
	}
	title := ""
	if s.cfg.Playlists != nil {
		// One short listing now: a URL that is one video, or unreachable,
		// is refused here rather than failing every check.
		pl, err := s.cfg.Playlists.ExpandPlaylist(ctx, src, 1)
		if err != nil {
			e := As(playlistError(err))
			if e.Param == "playlist" {
				e.Param = "url"
			}
			if e.Code == recap.CodeNotAPlaylist {
				e.Message = "No playlist, channel or feed was found at this URL; a subscription follows one of those."
			}
			return nil, e
		}
		title = siteText(pl.Title, 300)
	}
	token, hash := newFeedToken()
	sub := &store.Subscription{AccountID: r.Caller.AccountID, APIKeyID: r.Caller.ID, URL: src, Title: title, IntervalSeconds: interval,
		FirstLimit: limit, WebhookURL: r.Webhook, Prompt: strings.TrimSpace(r.Prompt), Language: NormLang(r.Language),
		Model: strings.TrimSpace(r.Model)}
	if err := c.Store.CreateSubscription(ctx, sub, hash); err != nil {
		return nil, err
	}
	out := subscriptionOf(sub)
	out.FeedPath = FeedPathPrefix + token
	return out, nil
}

// newFeedToken returns a new feed token and its sha256.
func newFeedToken() (string, []byte) {
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	token := feedTokenPrefix + base64.RawURLEncoding.EncodeToString(b)
	return token, feedTokenHash(token)
}

func feedTokenHash(token string) []byte {
	h := sha256.Sum256([]byte(token))
	return h[:]
}

func errNoSubscription(id string) error {
	return NotFound("subscription_not_found", "No subscription %q.", truncate(id, 64))
}

func (s *Service) ownSubscription(ctx context.Context, c *recap.Caller, id string) (*store.Subscription, error) {
	cfg, err := s.subs()
	if err != nil {
		return nil, err
	}
	sub, err := cfg.Store.AccountSubscription(ctx, c.AccountID, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, errNoSubscription(id)
	}
	return sub, err
}

// GetSubscription returns the caller's subscription with the jobs it
// created, newest first.
func (s *Service) GetSubscription(ctx context.Context, c *recap.Caller, id string) (*Subscription, error) {
	sub, err := s.ownSubscription(ctx, c, id)
	if err != nil {
		return nil, err
	}
	out := subscriptionOf(sub)
	list, err := s.subscriptionJobs(ctx, sub)
	if err != nil {
		return nil, err
	}
	out.Jobs = make([]recap.View, 0, len(list))
	for i := range list {
		v, err := s.View(ctx, &list[i])
		if err != nil {
			return nil, err
		}
		out.Jobs = append(out.Jobs, v)
	}
	return out, nil
}

func (s *Service) subscriptionJobs(ctx context.Context, sub *store.Subscription) ([]recap.Job, error) {
	c, _ := s.subs()
	ids, err := c.Store.SubscriptionJobIDs(ctx, sub.ID, subscriptionJobsShown)
	if err != nil {
		return nil, err
	}
	return s.cfg.Store.AccountJobs(ctx, sub.AccountID, ids)
}

// SubscriptionListRequest pages through the caller's subscriptions,
// newest first, as ListRequest does jobs.
type SubscriptionListRequest struct {
	Caller *recap.Caller
	// Limit is the page size, 1 to 100 (0: 20).
	Limit int
	// Cursor is a page's NextCursor.
	Cursor string
}

// SubscriptionPage is one page of subscriptions.
type SubscriptionPage struct {
	Subscriptions []*Subscription
	HasMore       bool
	NextCursor    string
}

// ListSubscriptions returns a page of the caller's subscriptions.
func (s *Service) ListSubscriptions(ctx context.Context, r SubscriptionListRequest) (*SubscriptionPage, error) {
	c, err := s.subs()
	if err != nil {
		return nil, err
	}
	f := store.SubscriptionFilter{AccountID: r.Caller.AccountID, Limit: 20}
	pg, err := readPage(r.Limit, r.Cursor)
	if err != nil {
		return nil, err
	}
	f.Limit, f.BeforeTime, f.BeforeID = pg.limit, pg.beforeTime, pg.beforeID
	list, err := c.Store.ListSubscriptions(ctx, f)
	if err != nil {
		return nil, err
	}
	p := &SubscriptionPage{HasMore: len(list) == f.Limit, Subscriptions: make([]*Subscription, 0, len(list))}
	if p.HasMore {
		list = list[:f.Limit-1]
	}
	for i := range list {
		p.Subscriptions = append(p.Subscriptions, subscriptionOf(&list[i]))
	}
	if p.HasMore {
		last := list[len(list)-1]
		p.NextCursor = EncodeCursor(&recap.Job{ID: last.ID, CreatedAt: last.CreatedAt})
	}
	return p, nil
}

// SubscriptionPatch changes a subscription; nil fields stay.
type SubscriptionPatch struct {
	IntervalSeconds *int
	// State "paused" pauses, "active" resumes (due at once).
	State *string
}

// UpdateSubscription changes the caller's subscription's interval, or
// pauses or resumes it.
func (s *Service) UpdateSubscription(ctx context.Context, c *recap.Caller, id string, p SubscriptionPatch) (*Subscription, error) {
	cfg, err := s.subs()
	if err != nil {
		return nil, err
	}
	var u store.SubscriptionUpdate
	if p.IntervalSeconds != nil {
		v, err := s.checkInterval("interval_seconds", p.IntervalSeconds, 0)
		if err != nil {
			return nil, err
		}
		u.IntervalSeconds = &v
	}
	if p.State != nil {
		var pause bool
		switch *p.State {
		case store.SubscriptionPaused:
			pause, u.PausedReason = true, PausedByOwner
		case store.SubscriptionActive:
		default:
			return nil, Invalid("invalid_state", "state", "'state' must be \"active\" (resume) or \"paused\".")
		}
		u.Pause = &pause
	}
	sub, err := cfg.Store.UpdateSubscription(ctx, c.AccountID, id, u)
	if errors.Is(err, store.ErrNotFound) {
		return nil, errNoSubscription(id)
	}
	if err != nil {
		return nil, err
	}
	return subscriptionOf(sub), nil
}

// RotateFeedToken gives the caller's subscription's feed a new token;
// the old feed URL stops working at once.
func (s *Service) RotateFeedToken(ctx context.Context, c *recap.Caller, id string) (*Subscription, error) {
	cfg, err := s.subs()
	if err != nil {
		return nil, err
	}
	token, hash := newFeedToken()
	sub, err := cfg.Store.SetFeedToken(ctx, c.AccountID, id, hash)
	if errors.Is(err, store.ErrNotFound) {
		return nil, errNoSubscription(id)
	}
	if err != nil {
		return nil, err
	}
	out := subscriptionOf(sub)
	out.FeedPath = FeedPathPrefix + token
	return out, nil
}

// Unsubscribe deletes the caller's subscription: it is never checked
// again. The jobs it created stay.
func (s *Service) Unsubscribe(ctx context.Context, c *recap.Caller, id string) error {
	cfg, err := s.subs()
	if err != nil {
		return err
	}
	if err := cfg.Store.DeleteSubscription(ctx, c.AccountID, id); errors.Is(err, store.ErrNotFound) {
		return errNoSubscription(id)
	} else if err != nil {
		return err
	}
	return nil
}

// Feed is what a subscription's Atom feed shows.
type Feed struct {
	Subscription *Subscription
	// Jobs are the subscription's succeeded jobs, newest first.
	Jobs []recap.View
}

// SubscriptionFeed returns the feed whose token this is; an unknown
// token is not found, whoever asks.
func (s *Service) SubscriptionFeed(ctx context.Context, token string) (*Feed, error) {
	cfg, err := s.subs()
	if err != nil {
		return nil, err
	}
	if !strings.HasPrefix(token, feedTokenPrefix) || len(token) > 100 {
		return nil, NotFound("feed_not_found", "No such feed.")
	}
	sub, err := cfg.Store.SubscriptionByFeedToken(ctx, feedTokenHash(token))
	if errors.Is(err, store.ErrNotFound) {
		return nil, NotFound("feed_not_found", "No such feed.")
	}
	if err != nil {
		return nil, err
	}
	list, err := s.subscriptionJobs(ctx, sub)
	if err != nil {
		return nil, err
	}
	out := &Feed{Subscription: subscriptionOf(sub)}
	for i := range list {
		if list[i].State != recap.StateSucceeded {
			continue
		}
		v, err := s.View(ctx, &list[i])
		if err != nil {
			return nil, err
		}
		out.Jobs = append(out.Jobs, v)
	}
	return out, nil
}

// CheckSubscriptions checks subscriptions that are due, one claim at a
// time, until none is due, max were checked or ctx ends, and returns how
// many it checked. Any number of replicas may run it at once: each claim
// skips rows another holds.
func (s *Service) CheckSubscriptions(ctx context.Context, max int) (int, error) {
	c, err := s.subs()
	if err != nil {
		return 0, err
	}
	n := 0
	for n < max && ctx.Err() == nil {
		list, err := c.Store.ClaimDueSubscriptions(ctx, 1, subscriptionLease)
		if err != nil {
			return n, err
		}
		if len(list) == 0 {
			break
		}
		for i := range list {
			s.checkSubscription(ctx, c, &list[i])
			n++
		}
	}
	if c.Metrics != nil {
		if st, err := c.Store.SubscriptionStates(ctx); err == nil {
			c.Metrics.SubscriptionStates(st)
		}
	}
	return n, nil
}

// checkSubscription lists a claimed subscription's source and makes a
// job for each entry it has not seen, then records the outcome.
func (s *Service) checkSubscription(ctx context.Context, c SubscriptionsConfig, sub *store.Subscription) {
	log := c.Logger.With("subscription_id", sub.ID)
	outcome := CheckOK
	defer func() {
		if c.Metrics != nil {
			c.Metrics.SubscriptionCheck(outcome)
		}
	}()
	fail := func(code, msg string) {
		outcome = CheckFailed
		log.Info("subscription check failed", "code", code, "err", msg)
		if err := c.Store.FailSubscriptionCheck(ctx, sub.ID, code, msg, c.MaxBackoff); err != nil {
			log.Error("subscription: record failure", "err", err)
		}
	}
	key, err := c.Store.Key(ctx, sub.APIKeyID)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		fail(codeSourceInternal, "Reading the subscription's key failed; it will be tried again.")
		return
	}
	if key == nil || key.RevokedAt != nil {
		outcome = CheckPaused
		if err := c.Store.PauseSubscription(ctx, sub.ID, PausedKeyRevoked, "The API key that made this subscription was revoked."); err != nil {
			log.Error("subscription: pause", "err", err)
		}
		return
	}
	if bal, err := s.cfg.Store.Balance(ctx, sub.AccountID); err != nil {
		fail(codeSourceInternal, "Reading the balance failed; it will be tried again.")
		return
	} else if bal.Available < MinPrice {
		s.pauseNoCredit(ctx, c, sub, bal.Available)
		outcome = CheckPaused
		return
	}
	model, err := s.ResolveModel(sub.Model)
	if err != nil {
		e := As(err)
		fail(e.Code, e.Message)
		return
	}
	if s.cfg.Playlists == nil {
		fail(errSubscriptionsOff.Code, "This server does not expand playlists.")
		return
	}
	first, err := c.Store.HasEntries(ctx, sub.ID)
	if err != nil {
		fail(codeSourceInternal, "Reading the subscription's entries failed; it will be tried again.")
		return
	}
	first = !first
	pl, err := s.cfg.Playlists.ExpandPlaylist(ctx, sub.URL, min(max(sub.FirstLimit, subscriptionWindow), MaxPlaylistLimit))
	if err != nil {
		e := As(playlistError(err))
		fail(e.Code, e.Message)
		return
	}
	// The entries, newest first as the source lists them, with their keys;
	// those admission refuses are recorded as seen with the reason.
	var fresh, skipped []store.SubscriptionEntry
	admitted, inList := map[string]bool{}, map[string]bool{}
	var keys []string
	all := make([]store.SubscriptionEntry, 0, len(pl.Entries))
	for i, e := range pl.Entries {
		vk, err := s.admitEntry(ctx, e.URL, "entries["+strconv.Itoa(i)+"]", admitted)
		if err != nil {
			if vk, kerr := videoKey(e.URL, "url"); kerr == nil && !inList[vk] {
				inList[vk] = true
				skipped = append(skipped, store.SubscriptionEntry{VideoKey: vk, URL: e.URL, Title: siteText(e.Title, 300), SkipCode: As(err).Code})
			}
			continue
		}
		if inList[vk] {
			continue
		}
		inList[vk] = true
		keys = append(keys, vk)
		all = append(all, store.SubscriptionEntry{VideoKey: vk, URL: e.URL, Title: siteText(e.Title, 300)})
	}
	seen, err := c.Store.SeenEntries(ctx, sub.ID, keys)
	if err != nil {
		fail(codeSourceInternal, "Reading the subscription's entries failed; it will be tried again.")
		return
	}
	for _, e := range all {
		switch {
		case seen[e.VideoKey]:
		case first && len(fresh) >= sub.FirstLimit:
			// Older than what the first check summarizes: seen, so that
			// later checks take only entries that appear afterwards.
			e.SkipCode = "before_subscription"
			skipped = append(skipped, e)
		default:
			fresh = append(fresh, e)
		}
	}
	if len(skipped) > 0 {
		if err := c.Store.MarkEntriesSeen(ctx, sub.ID, skipped); err != nil {
			fail(codeSourceInternal, "Recording the subscription's entries failed; it will be tried again.")
			return
		}
	}
	// Oldest first, so that jobs are made in the order the source published.
	slices.Reverse(fresh)
	made := 0
	for _, e := range fresh {
		err := s.subscriptionJob(ctx, key, sub, model, e)
		switch {
		case err == nil:
			made++
			continue
		case errors.Is(err, store.ErrEntrySeen):
			continue // another checker made it first
		}
		if ce := As(err); ce.Kind == KindQuota {
			if bal, berr := s.cfg.Store.Balance(ctx, sub.AccountID); berr == nil && bal.Available < MinPrice {
				s.pauseNoCredit(ctx, c, sub, bal.Available)
				outcome = CheckPaused
				break
			}
			// The balance covers more once running jobs are priced: the
			// rest are new again at the next check.
			log.Info("subscription: balance covers no more jobs now", "made", made, "left", len(fresh)-made)
			break
		}
		log.Error("subscription: create job", "video_key", e.VideoKey, "err", err)
		fail(codeSourceInternal, "Creating a job for an entry failed; it will be tried again.")
		if c.Metrics != nil {
			c.Metrics.SubscriptionEntries(made)
		}
		return
	}
	if c.Metrics != nil {
		c.Metrics.SubscriptionEntries(made)
	}
	if outcome == CheckPaused {
		return
	}
	if err := c.Store.FinishSubscriptionCheck(ctx, sub.ID, siteText(pl.Title, 300)); err != nil {
		log.Error("subscription: record check", "err", err)
	}
	log.Info("subscription checked", "entries", len(pl.Entries), "new_jobs", made)
}

func (s *Service) pauseNoCredit(ctx context.Context, c SubscriptionsConfig, sub *store.Subscription, available int64) {
	msg := fmt.Sprintf("Paused: the balance of %d s cannot cover a video (at least %d s); resume after more credit is granted.",
		max(available, 0), MinPrice)
	if _, err := c.Store.PauseAccountSubscriptions(ctx, sub.AccountID, PausedNoCredit, msg); err != nil {
		c.Logger.Error("subscription: pause for credit", "subscription_id", sub.ID, "err", err)
	}
}

// subscriptionJob makes the job of one new entry through the jobs API's
// own path (startBatch: balance, admission, queueing), in a transaction
// that also records the entry as seen. The entry's row is unique per
// subscription: should another checker have made its job first, this one
// rolls back with store.ErrEntrySeen. The idempotency key, derived from
// the subscription and the entry, makes a concurrent attempt wait for
// the first and replay it.
func (s *Service) subscriptionJob(ctx context.Context, key *recap.Caller, sub *store.Subscription, model string, e store.SubscriptionEntry) error {
	j := &recap.Job{AccountID: sub.AccountID, APIKeyID: key.ID, Queue: jobs.QueueBatch, URL: e.URL, VideoKey: e.VideoKey,
		Prompt: sub.Prompt, Model: model, OutputLanguage: sub.Language, WebhookURL: sub.WebhookURL}
	j.RequestHash = requestHash(j)
	digest := sha256.Sum256([]byte(sub.ID + "\x00" + e.VideoKey))
	br := BatchRequest{Caller: key,
		Idempotency: Idempotency{Key: "subscription:" + sub.ID + ":" + hex.EncodeToString(digest[:16]), Digest: digest[:]},
		inTx: func(ctx context.Context, tx *store.JobTx, list []*recap.Job) error {
			return tx.AddSubscriptionEntry(ctx, sub.ID, e, list[0].ID)
		}}
	b, err := s.startBatch(ctx, br, []*recap.Job{j}, nil)
	if err != nil {
		return err
	}
	if b.Replayed {
		return store.ErrEntrySeen
	}
	return nil
}
