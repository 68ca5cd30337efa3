package app

import (
	"time"

	"github.com/recap/recap/core"
	"github.com/recap/recap/jobs"
	"github.com/recap/recap/media"
)

// subscriptionsConfig turns subscriptions on for a use-case layer.
func subscriptionsConfig(cfg Config, d *Deps) core.SubscriptionsConfig {
	return core.SubscriptionsConfig{Store: d.Store, MinInterval: cfg.SubscriptionMinInterval, Metrics: d.Metrics, Logger: d.Log}
}

// subscriptionChecker is the use-case layer a worker's subscription
// checks run in: the API's, but listing sources with this worker's own
// yt-dlp rather than through the queue.
func subscriptionChecker(cfg Config, d *Deps, m *media.Client) *core.Service {
	return core.New(core.Config{
		Store:         d.Store,
		Jobs:          d.Jobs,
		Policy:        core.Policy{AllowPrivate: cfg.AllowPrivateNetworks, Allow: cfg.EgressAllow},
		DefaultModel:  cfg.LLMModel,
		Models:        cfg.LLMModels,
		Playlists:     jobs.LocalPlaylists{Lister: m},
		Subscriptions: subscriptionsConfig(cfg, d),
	})
}

// subscriptionTick is how often schedulers enqueue a check: every 5s, or
// as often as the shortest interval allows when that is shorter.
func subscriptionTick(cfg Config) time.Duration {
	return min(5*time.Second, max(time.Second, cfg.SubscriptionMinInterval))
}

// startSubscriptionScheduler starts this process's scheduler of
// subscription checks (every replica runs one; the task is unique) and
// returns its stop.
func startSubscriptionScheduler(cfg Config, d *Deps) (func(), error) {
	s, err := jobs.NewSubscriptionScheduler(jobs.SchedulerConfig{Redis: d.RedisOpt, QueuePrefix: cfg.QueuePrefix,
		Every: subscriptionTick(cfg), Logger: d.Log})
	if err != nil {
		return nil, err
	}
	if err := s.Start(); err != nil {
		return nil, err
	}
	return s.Shutdown, nil
}
