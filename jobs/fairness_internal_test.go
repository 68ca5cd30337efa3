package jobs

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/recap/recap/internal/redistest"
)

// fakeClock is a clock a test moves by hand.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// crash stops a lease's renewals without giving the slot back, as a worker
// process that died would.
func (l *SlotLease) crash() {
	l.once.Do(func() {
		close(l.stop)
		<-l.done
	})
}

// TestAccountSlots: each account has Max slots across every AccountSlots
// on one Redis (two here, as two worker replicas); a stage that finds none
// is noted as waiting until it gets one; a released slot is free at once;
// accounts do not share slots.
func TestAccountSlots(t *testing.T) {
	t.Parallel()
	rdb := redistest.NewNamed(t, "slots")
	prefix := randName(t, "recap:ts") + ":"
	clock := &fakeClock{now: time.Now()}
	a := NewAccountSlots(AccountSlotsConfig{Redis: rdb, Prefix: prefix, Max: 2, Now: clock.Now})
	b := NewAccountSlots(AccountSlotsConfig{Redis: rdb, Prefix: prefix, Max: 2, Now: clock.Now})
	ctx := context.Background()
	const acct, other = 7, 8

	l1, _, err := a.Acquire(ctx, acct, "j1:resolve")
	if err != nil || l1 == nil {
		t.Fatalf("first slot: %v %v", l1, err)
	}
	l2, u, err := b.Acquire(ctx, acct, "j2:resolve")
	if err != nil || l2 == nil || u.Active != 2 {
		t.Fatalf("second slot (other replica): %v %+v %v", l2, u, err)
	}
	l3, u, err := a.Acquire(ctx, acct, "j3:resolve")
	if err != nil || l3 != nil || u != (SlotUsage{Active: 2, Waiting: 1}) {
		t.Fatalf("third slot: lease %v, usage %+v, err %v; want none, 2 active, 1 waiting", l3, u, err)
	}
	if w, err := a.Waiting(ctx, acct, "j3:resolve"); err != nil || !w {
		t.Fatalf("j3 waiting: %v %v", w, err)
	}
	// Another account is not affected.
	lo, _, err := a.Acquire(ctx, other, "k1:resolve")
	if err != nil || lo == nil {
		t.Fatalf("other account: %v %v", lo, err)
	}
	lo.Release()

	l1.Release()
	l1.Release() // once
	if u, err := b.Usage(ctx, acct); err != nil || u != (SlotUsage{Active: 1, Waiting: 1}) {
		t.Fatalf("after a release: %+v %v", u, err)
	}
	l3, u, err = a.Acquire(ctx, acct, "j3:resolve")
	if err != nil || l3 == nil || u != (SlotUsage{Active: 2, Waiting: 0}) {
		t.Fatalf("j3 again: lease %v, usage %+v, err %v; want a slot, no longer waiting", l3, u, err)
	}
	if w, _ := a.Waiting(ctx, acct, "j3:resolve"); w {
		t.Fatal("j3 still noted as waiting while it runs")
	}
	l2.Release()
	l3.Release()
	if u, err := a.Usage(ctx, acct); err != nil || u != (SlotUsage{}) {
		t.Fatalf("all released: %+v %v", u, err)
	}

	// A waiter that never comes back stops counting after waiterTTL.
	if l, _, _ := a.Acquire(ctx, acct, "x"); l == nil {
		t.Fatal("no slot")
	} else {
		defer l.Release()
	}
	if l, _, _ := a.Acquire(ctx, acct, "y"); l == nil {
		t.Fatal("no slot")
	} else {
		defer l.Release()
	}
	if l, _, _ := a.Acquire(ctx, acct, "gone"); l != nil {
		t.Fatal("a third slot")
	}
	clock.Add(waiterTTL + time.Second)
	if w, _ := a.Waiting(ctx, acct, "gone"); w {
		t.Fatal("a waiter past waiterTTL still waiting")
	}
}

// TestAccountSlotLeaseExpiry: a worker that dies holding a slot stops
// renewing it; the slot frees itself once its lease (TTL) runs out, and
// not before. A live holder renews its lease past the TTL.
func TestAccountSlotLeaseExpiry(t *testing.T) {
	t.Parallel()
	rdb := redistest.NewNamed(t, "slots")
	prefix := randName(t, "recap:ts") + ":"
	clock := &fakeClock{now: time.Now()}
	const ttl = 30 * time.Second
	s := NewAccountSlots(AccountSlotsConfig{Redis: rdb, Prefix: prefix, Max: 1, TTL: ttl, Now: clock.Now})
	ctx := context.Background()

	dead, _, err := s.Acquire(ctx, 1, "j1:transcript")
	if err != nil || dead == nil {
		t.Fatalf("acquire: %v %v", dead, err)
	}
	dead.crash()
	clock.Add(ttl - time.Second)
	if l, u, _ := s.Acquire(ctx, 1, "j2:transcript"); l != nil || u.Active != 1 {
		t.Fatalf("slot taken before the dead holder's lease ran out: %+v", u)
	}
	clock.Add(2 * time.Second)
	l, u, err := s.Acquire(ctx, 1, "j2:transcript")
	if err != nil || l == nil || u != (SlotUsage{Active: 1}) {
		t.Fatalf("after the lease ran out: lease %v, usage %+v, err %v", l, u, err)
	}
	l.Release()

	// A live holder's renewal (what its renew loop does every TTL/3,
	// called here by hand) keeps its slot past the first TTL.
	live, _, _ := s.Acquire(ctx, 1, "j3:summary")
	defer live.Release()
	clock.Add(ttl - time.Second)
	if err := live.renewOnce(ctx); err != nil {
		t.Fatal(err)
	}
	clock.Add(2 * time.Second)
	if l, _, _ := s.Acquire(ctx, 1, "j4:summary"); l != nil {
		l.Release()
		t.Fatal("a renewed lease expired")
	}
}
