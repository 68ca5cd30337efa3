package jobs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/hibiken/asynq"
)

// TypeSubscriptionsCheck checks the subscriptions that are due: a
// periodic task every replica's scheduler enqueues, unique while one is
// waiting or running, so that replicas do not pile up checks. The check
// itself claims subscriptions with FOR UPDATE SKIP LOCKED, so even two
// checks at once never take one subscription twice.
const TypeSubscriptionsCheck = "subscriptions:check"

// Subscription check bounds.
const (
	// subscriptionsPerCheck bounds how many subscriptions one task checks;
	// the next tick takes the rest.
	subscriptionsPerCheck = 100
	// subscriptionsCheckTimeout bounds one task.
	subscriptionsCheckTimeout = 10 * time.Minute
	// subscriptionsUnique is how long a check's uniqueness lock lasts
	// should its worker die without releasing it.
	subscriptionsUnique = time.Minute
)

// SubscriptionChecker checks due subscriptions (a *core.Service).
type SubscriptionChecker interface {
	CheckSubscriptions(ctx context.Context, max int) (int, error)
}

// SubscriptionsHandler is the worker's handler of TypeSubscriptionsCheck.
// A failed check is not retried: the next tick is the retry.
func SubscriptionsHandler(c SubscriptionChecker, log *slog.Logger) asynq.Handler {
	return asynq.HandlerFunc(func(ctx context.Context, _ *asynq.Task) error {
		n, err := c.CheckSubscriptions(ctx, subscriptionsPerCheck)
		if err != nil {
			log.Warn("subscriptions: check", "checked", n, "err", err)
			return fmt.Errorf("%s: %w: %w", TypeSubscriptionsCheck, err, asynq.SkipRetry)
		}
		if n > 0 {
			log.Debug("subscriptions: checked", "checked", n)
		}
		return nil
	})
}

// SchedulerConfig configures the subscriptions' scheduler.
type SchedulerConfig struct {
	Redis       asynq.RedisConnOpt
	QueuePrefix string
	// Every is how often a check is enqueued (at least 1s).
	Every  time.Duration
	Logger *slog.Logger
}

// NewSubscriptionScheduler returns an asynq scheduler (shown in asynqmon
// with its enqueues) that enqueues TypeSubscriptionsCheck every
// cfg.Every. Every replica may run one: the task is unique per queue
// while one waits or runs, and a duplicate enqueue is expected, not
// logged.
func NewSubscriptionScheduler(cfg SchedulerConfig) (*asynq.Scheduler, error) {
	every := max(cfg.Every.Round(time.Second), time.Second)
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	s := asynq.NewScheduler(cfg.Redis, &asynq.SchedulerOpts{
		Logger:   schedulerLogger{log},
		LogLevel: asynq.WarnLevel,
		PostEnqueueFunc: func(_ *asynq.TaskInfo, err error) {
			if err != nil && !errors.Is(err, asynq.ErrDuplicateTask) && !errors.Is(err, asynq.ErrTaskIDConflict) {
				log.Warn("subscriptions: enqueue check", "err", err)
			}
		},
	})
	_, err := s.Register(fmt.Sprintf("@every %s", every), asynq.NewTask(TypeSubscriptionsCheck, nil),
		asynq.Queue(cfg.QueuePrefix+QueueInteractive),
		asynq.Unique(subscriptionsUnique),
		asynq.MaxRetry(0),
		asynq.Timeout(subscriptionsCheckTimeout))
	if err != nil {
		return nil, fmt.Errorf("subscriptions scheduler: %w", err)
	}
	return s, nil
}

// schedulerLogger routes the scheduler's own logs through slog.
type schedulerLogger struct{ l *slog.Logger }

func (a schedulerLogger) Debug(args ...any) { a.l.Debug(fmt.Sprint(args...)) }
func (a schedulerLogger) Info(args ...any)  { a.l.Info(fmt.Sprint(args...)) }
func (a schedulerLogger) Warn(args ...any)  { a.l.Warn(fmt.Sprint(args...)) }
func (a schedulerLogger) Error(args ...any) { a.l.Error(fmt.Sprint(args...)) }
func (a schedulerLogger) Fatal(args ...any) { a.l.Error(fmt.Sprint(args...)) }

// LocalPlaylists lists playlists in this process (a worker's yt-dlp),
// with ExpandPlaylist's errors: what a check running on a worker uses
// instead of asking another worker through the queue.
type LocalPlaylists struct{ Lister PlaylistLister }

// ExpandPlaylist lists up to limit entries; a failure the site reported
// is a *recap.ErrorInfo, as Client.ExpandPlaylist's.
func (l LocalPlaylists) ExpandPlaylist(ctx context.Context, url string, limit int) (*Playlist, error) {
	ctx, cancel := context.WithTimeout(ctx, playlistTimeout)
	defer cancel()
	pl, err := l.Lister.Playlist(ctx, url, limit)
	if err != nil {
		if ctx.Err() != nil && !errors.Is(err, context.DeadlineExceeded) {
			return nil, fmt.Errorf("expand playlist: %w", err)
		}
		return nil, playlistFailure(err)
	}
	return pl, nil
}
