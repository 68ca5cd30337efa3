package jobs

import (
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"
	"time"

	"github.com/hibiken/asynq"
	"github.com/recap/recap"
	"github.com/redis/go-redis/v9"
)

// Fairness. Every stage run of a job holds one of its account's slots
// (MAX_ACTIVE_JOBS_PER_KEY) for as long as it runs, across every worker
// replica sharing one Redis. An account is the unit, not an API key: the
// credits, the jobs and the ledger belong to the account, and an account
// with five keys must not get five times the share.
//
// A stage whose account has no slot free does not wait in its worker
// slot: it returns a busyError, which asynq's IsFailure says is no failure
// (the retry count and the job's attempts stay as they were, no credit is
// touched) and whose RetryDelay puts the task back in the retry set for a
// short while. Its worker slot goes at once to the next task, another
// account's included. The task is the same asynq task all along (same id,
// same queue), so it cannot be lost or doubled.
//
// A slot is a lease in a sorted set (member: a random lease id, score: its
// expiry), renewed every TTL/3 while the stage runs and removed when it
// ends (success, failure, panic: a deferred release). A worker that dies
// holding one stops renewing it, and the lease expires within TTL (30s by
// default), before asynq itself hands the dead worker's task to another
// worker. This is the shape of asynq's x/rate Semaphore, which is not used
// as it is: it opens a Redis client per scope (here, per account), takes
// its cap at construction, leases a slot until the task's deadline (hours
// for a transcript stage, so a crashed worker's slot would stay taken that
// long), and keys leases by task id (a crashed task's own re-run could not
// get past its stale lease).

// errAccountBusy marks a stage run put back because its account's slots
// were all taken.
var errAccountBusy = errors.New("the account is running as many stages as it may at once")

// busyError is a stage run put back, waiting for its account's slot: no
// failure (IsFailure), retried after delay (RetryDelay).
type busyError struct {
	delay time.Duration
	err   error
}

func (e *busyError) Error() string { return e.err.Error() }
func (e *busyError) Unwrap() error { return e.err }

// Waiting stages check again after a delay that grows with how many of
// the account's stages are waiting per slot, so that a batch of ten
// thousand URLs does not spin the workers, while a slot that frees up is
// taken again within about waitBase/max.
const (
	waitBase = time.Second
	waitMax  = time.Minute
	// waiterTTL is how long a waiting stage counts as waiting after its
	// last check: past its longest delay, with room for asynq's forwarder.
	waiterTTL = 2*waitMax + 30*time.Second
)

// waitDelay is when a stage that found its account at its cap checks
// again: waitBase × (1 + waiting/max), at most waitMax, ±20% so that
// stages put back together spread out.
func waitDelay(u SlotUsage, limit int) time.Duration {
	d := waitBase + waitBase*time.Duration(u.Waiting)/time.Duration(max(limit, 1))
	d = min(d, waitMax)
	return time.Duration(float64(d) * (0.8 + 0.4*rand.Float64()))
}

// DefaultSlotTTL is how long an account slot outlives its holder's last
// renewal.
const DefaultSlotTTL = 30 * time.Second

// AccountSlotsConfig configures AccountSlots.
type AccountSlotsConfig struct {
	Redis redis.UniversalClient
	// Prefix namespaces the keys ("<Prefix>slots:{<account id>}" and its
	// ":waiting" set; one hash tag, so Redis Cluster keeps them together).
	Prefix string
	// Max is how many stages one account may run at once; 0 or less means
	// no cap.
	Max int
	// TTL is how long a slot outlives its holder's last renewal (default
	// DefaultSlotTTL); renewals come every TTL/3.
	TTL time.Duration
	// Now is the clock (default time.Now); tests move it.
	Now func() time.Time
}

// AccountSlots caps each account's running stages across every worker
// sharing one Redis: a counting semaphore per account, whose slots are
// leases that expire unless renewed.
type AccountSlots struct {
	rdb    redis.UniversalClient
	prefix string
	max    int
	ttl    time.Duration
	now    func() time.Time
}

// NewAccountSlots returns the slots; nil Redis or Max ≤ 0 caps nothing.
func NewAccountSlots(cfg AccountSlotsConfig) *AccountSlots {
	if cfg.TTL <= 0 {
		cfg.TTL = DefaultSlotTTL
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &AccountSlots{rdb: cfg.Redis, prefix: cfg.Prefix, max: cfg.Max, ttl: cfg.TTL, now: cfg.Now}
}

// Max is the cap per account; 0 means none (also on a nil *AccountSlots).
func (s *AccountSlots) Max() int {
	if s == nil || s.rdb == nil || s.max <= 0 {
		return 0
	}
	return s.max
}

// SlotUsage is an account's stages: running (holding a slot) and waiting
// for one (put back within the last few minutes and not yet run).
type SlotUsage struct {
	Active, Waiting int
}

func (s *AccountSlots) keys(accountID int64) (active, waiting string) {
	k := s.prefix + "slots:{" + strconv.FormatInt(accountID, 10) + "}"
	return k, k + ":waiting"
}

// slotAcquire drops expired leases and waiters, then adds a lease unless
// the account is at its cap; a stage that gets none is noted as waiting,
// one that gets one is not any more. KEYS: the leases, the waiters. ARGV:
// now (ms), the lease's expiry (ms), the cap, the lease id, the waiter,
// the waiter's expiry (ms), the keys' TTL (ms). Returns {got, active,
// waiting}.
var slotAcquire = redis.NewScript(`
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', ARGV[1])
local n = redis.call('ZCARD', KEYS[1])
if n >= tonumber(ARGV[3]) then
  redis.call('ZADD', KEYS[2], ARGV[6], ARGV[5])
  redis.call('PEXPIRE', KEYS[2], ARGV[7])
  return {0, n, redis.call('ZCARD', KEYS[2])}
end
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[4])
redis.call('PEXPIRE', KEYS[1], ARGV[7])
redis.call('ZREM', KEYS[2], ARGV[5])
return {1, n + 1, redis.call('ZCARD', KEYS[2])}
`)

// Acquire takes one of the account's slots for waiter (a stage of a job:
// TaskID). At the cap it returns a nil lease and notes waiter as waiting.
// Release the lease when the stage ends.
func (s *AccountSlots) Acquire(ctx context.Context, accountID int64, waiter string) (*SlotLease, SlotUsage, error) {
	b := make([]byte, 12)
	_, _ = crand.Read(b)
	id := hex.EncodeToString(b)
	active, waiting := s.keys(accountID)
	now := s.now()
	keyTTL := max(s.ttl, waiterTTL)
	res, err := slotAcquire.Run(ctx, s.rdb, []string{active, waiting}, now.UnixMilli(), now.Add(s.ttl).UnixMilli(), s.max, id,
		waiter, now.Add(waiterTTL).UnixMilli(), keyTTL.Milliseconds()).Int64Slice()
	if err != nil {
		return nil, SlotUsage{}, fmt.Errorf("account slots: %w", err)
	}
	if len(res) != 3 {
		return nil, SlotUsage{}, fmt.Errorf("account slots: unexpected reply %v", res)
	}
	u := SlotUsage{Active: int(res[1]), Waiting: int(res[2])}
	if res[0] != 1 {
		return nil, u, nil
	}
	l := &SlotLease{s: s, key: active, id: id, stop: make(chan struct{}), done: make(chan struct{})}
	go l.renew()
	return l, u, nil
}

// Usage returns an account's running and waiting stages.
func (s *AccountSlots) Usage(ctx context.Context, accountID int64) (SlotUsage, error) {
	active, waiting := s.keys(accountID)
	from := "(" + strconv.FormatInt(s.now().UnixMilli(), 10)
	pipe := s.rdb.Pipeline()
	a := pipe.ZCount(ctx, active, from, "+inf")
	w := pipe.ZCount(ctx, waiting, from, "+inf")
	if _, err := pipe.Exec(ctx); err != nil {
		return SlotUsage{}, fmt.Errorf("account slots: %w", err)
	}
	return SlotUsage{Active: int(a.Val()), Waiting: int(w.Val())}, nil
}

// Waiting reports whether waiter was put back for want of a slot recently
// and has not run since.
func (s *AccountSlots) Waiting(ctx context.Context, accountID int64, waiter string) (bool, error) {
	_, waiting := s.keys(accountID)
	sc, err := s.rdb.ZScore(ctx, waiting, waiter).Result()
	if errors.Is(err, redis.Nil) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("account slots: %w", err)
	}
	return int64(sc) > s.now().UnixMilli(), nil
}

// SlotLease is one running stage's slot.
type SlotLease struct {
	s       *AccountSlots
	key, id string
	stop    chan struct{}
	done    chan struct{}
	once    sync.Once
}

// renew pushes the lease's expiry forward every TTL/3 until it is
// released. A lease Redis lost (a flush) is added again.
func (l *SlotLease) renew() {
	defer close(l.done)
	every := l.s.ttl / 3
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-l.stop:
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), every)
		_ = l.renewOnce(ctx) // a missed renewal is retried at the next tick; the TTL allows two
		cancel()
	}
}

// renewOnce moves the lease's expiry to TTL from now.
func (l *SlotLease) renewOnce(ctx context.Context) error {
	pipe := l.s.rdb.Pipeline()
	pipe.ZAdd(ctx, l.key, redis.Z{Score: float64(l.s.now().Add(l.s.ttl).UnixMilli()), Member: l.id})
	pipe.PExpire(ctx, l.key, max(l.s.ttl, waiterTTL))
	_, err := pipe.Exec(ctx)
	return err
}

// Release gives the slot back (once; later calls do nothing). Should Redis
// be unreachable, the lease expires after its TTL.
func (l *SlotLease) Release() {
	l.once.Do(func() {
		close(l.stop)
		<-l.done // no renewal can add it back after the removal
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = l.s.rdb.ZRem(ctx, l.key, l.id).Err()
	})
}

// takeSlot takes a slot of the job's account for a run of stage st, and
// returns its release. At the cap it returns a *busyError instead, and
// the run must end at once, before it counts an attempt. When Redis fails
// the stage runs uncapped: an outage of the cap must not stop the work.
func (w *Worker) takeSlot(ctx context.Context, j *recap.Job, st *task) (func(), error) {
	s := w.cfg.Slots
	if s.Max() <= 0 {
		return func() {}, nil
	}
	waiter := TaskID(j.ID, st.typ)
	lease, u, err := s.Acquire(ctx, j.AccountID, waiter)
	if err != nil {
		w.logger(ctx, j.ID).Warn("account slots unavailable; the stage runs uncapped", "err", err)
		return func() {}, nil
	}
	if lease != nil {
		w.cfg.Metrics.AccountSlotHeld(1)
		return func() {
			lease.Release()
			w.cfg.Metrics.AccountSlotHeld(-1)
		}, nil
	}
	w.cfg.Metrics.AccountSlotWaiting(st.typ)
	be := &busyError{delay: waitDelay(u, s.Max()), err: fmt.Errorf("%s: %w", st.typ, errAccountBusy)}
	w.logger(ctx, j.ID).Debug("account at its cap; stage put back", "active", u.Active, "waiting", u.Waiting, "delay", be.delay)
	if lastTry(ctx) {
		// asynq archives a task whose retries are used up whatever its
		// error (IsFailure is not asked): end this task as done instead
		// (RevokeTask) and queue the stage again as a fresh task. Should
		// that fail, the reconciler finds the job without a task and
		// queues it.
		be.err = fmt.Errorf("%w: %w", be.err, asynq.RevokeTask)
		w.requeueRevoked(j, st, be.delay)
	}
	return nil, be
}

// lastTry reports whether the running task has no asynq retries left.
func lastTry(ctx context.Context) bool {
	n, ok1 := asynq.GetRetryCount(ctx)
	m, ok2 := asynq.GetMaxRetry(ctx)
	return ok1 && ok2 && n >= m
}

// requeueRevoked queues stage st of job j again after delay, once the
// revoked task it replaces is gone (until then its id is taken).
func (w *Worker) requeueRevoked(j *recap.Job, st *task, delay time.Duration) {
	w.running.Add(1)
	go func() {
		defer w.running.Done()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		for wait := 10 * time.Millisecond; ; wait = min(2*wait, time.Second) {
			err := w.q.enqueueTask(ctx, j, st, asynq.ProcessIn(delay))
			if err == nil || !errors.Is(err, asynq.ErrTaskIDConflict) {
				if err != nil {
					w.log.Warn("requeue a stage waiting for its account's slot; the reconciler will", "job_id", j.ID, "stage", st.typ, "err", err)
				}
				return
			}
			select {
			case <-ctx.Done():
				// Still taken: the revoked task lingers, or another copy
				// (a chained run's, the reconciler's) is queued already.
				return
			case <-time.After(wait):
			}
		}
	}()
}

// retryDelay wraps asynq's RetryDelayFunc: a run put back for want of an
// account slot comes back after its own short delay.
func retryDelay(next asynq.RetryDelayFunc) asynq.RetryDelayFunc {
	if next == nil {
		next = asynq.DefaultRetryDelayFunc
	}
	return func(n int, err error, t *asynq.Task) time.Duration {
		var be *busyError
		if errors.As(err, &be) {
			return be.delay
		}
		return next(n, err, t)
	}
}

// waitingForSlot reports whether a job's stage is waiting for an account
// slot: its task flits between retry and active, and the job row does not
// change meanwhile, which must not look stuck to the reconciler.
func (w *Worker) waitingForSlot(ctx context.Context, j *recap.Job, typ string) (bool, error) {
	if w.cfg.Slots.Max() <= 0 {
		return false, nil
	}
	return w.cfg.Slots.Waiting(ctx, j.AccountID, TaskID(j.ID, typ))
}
