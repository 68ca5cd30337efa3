package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Ledger entry kinds. Each changes the account's balance and held amount
// by its (balance_delta, held_delta):
//
//	grant   (+n,  0)   credits bought or given
//	hold    (-n, +n)   reserved when a job's price is known
//	capture ( 0, -n)   the job succeeded: the reservation is spent
//	release (+n, -n)   the job failed or was canceled: money back
const (
	KindGrant   = "grant"
	KindHold    = "hold"
	KindCapture = "capture"
	KindRelease = "release"
)

// Balance is an account's credit position in media seconds.
type Balance struct {
	AccountID int64
	Available int64
	Held      int64
	// UsedThisMonth is the captured seconds since the start of the month (UTC).
	UsedThisMonth int64
	// Unpriced counts the account's running summary jobs whose price is
	// not known yet (no hold placed): admission keeps the smallest price
	// of each aside, so a burst of new videos cannot all start downloads
	// that the balance will refuse afterwards.
	Unpriced int64
}

func grantTx(ctx context.Context, tx pgx.Tx, accountID, seconds int64, note string) error {
	if _, err := tx.Exec(ctx, `INSERT INTO ledger_entries (account_id, kind, balance_delta, held_delta, note)
		VALUES ($1, 'grant', $2, 0, $3)`, accountID, seconds, note); err != nil {
		return err
	}
	tag, err := tx.Exec(ctx, `UPDATE accounts SET balance = balance + $2 WHERE id = $1`, accountID, seconds)
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 0 {
		return ErrNotFound
	}
	return nil
}

// Grant adds seconds to an account, as a new ledger entry.
func (s *Store) Grant(ctx context.Context, accountID, seconds int64, note string) error {
	if seconds <= 0 {
		return errors.New("grant: seconds must be positive")
	}
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error { return grantTx(ctx, tx, accountID, seconds, note) })
	if err != nil {
		return fmt.Errorf("grant: %w", err)
	}
	return nil
}

// Hold reserves seconds for a job. It is idempotent per job: a second call
// returns nil without a second entry. ErrInsufficientCredits when the
// balance does not cover it.
func (s *Store) Hold(ctx context.Context, accountID int64, jobID string, seconds int64) error {
	// Every job of a batch holds on its account's one row; one statement
	// per hold would queue them all on that row's lock. Concurrent holds
	// are combined instead: one statement, one lock, one commit.
	h := &holdReq{accountID: accountID, jobID: jobID, seconds: seconds}
	if err := s.holds.do(ctx, h); err != nil {
		return fmt.Errorf("hold: %w", err)
	}
	return h.err
}

// holdReq is one pending Hold.
type holdReq struct {
	accountID int64
	jobID     string
	seconds   int64
	err       error
}

// execHolds places a batch of holds in one statement. When it fails (an
// account the batch's sum overdraws, above all) each hold is placed alone,
// so a hold fails only for its own sake.
func (s *Store) execHolds(ctx context.Context, batch []*holdReq) {
	if len(batch) > 1 {
		if err := s.holdAll(ctx, batch); err == nil {
			return
		}
	}
	for _, h := range batch {
		h.err = s.holdAll(ctx, []*holdReq{h})
		if isCheckViolation(h.err) {
			h.err = ErrInsufficientCredits
		} else if h.err != nil {
			h.err = fmt.Errorf("hold: %w", h.err)
		}
	}
}

// holdAll is one statement: the ledger entries (a job held already, or
// ended already, is skipped: Hold is idempotent per job and never holds
// for a job nothing will settle), the jobs' cost, and each account's
// row updated once by its total, so its lock is held from that update to
// the commit, for no client round trip.
func (s *Store) holdAll(ctx context.Context, batch []*holdReq) error {
	accounts, jobIDs, seconds := make([]int64, len(batch)), make([]string, len(batch)), make([]int64, len(batch))
	for i, h := range batch {
		accounts[i], jobIDs[i], seconds[i] = h.accountID, h.jobID, h.seconds
	}
	_, err := s.pool.Exec(ctx, `WITH live AS (
			-- Only jobs still running are held, and their rows are locked
			-- against a concurrent Finish: either it ends the job first and
			-- no hold is placed, or it waits for this hold and releases it.
			SELECT r.a, r.j, r.n FROM unnest($1::bigint[], $2::uuid[], $3::bigint[]) AS r(a, j, n)
			JOIN jobs ON jobs.id = r.j AND jobs.state NOT IN ('succeeded','failed','canceled')
			FOR SHARE OF jobs
		), ins AS (
			INSERT INTO ledger_entries (account_id, job_id, kind, balance_delta, held_delta)
			SELECT a, j, 'hold', -n, n FROM live
			ON CONFLICT (job_id, kind) DO NOTHING
			RETURNING account_id, job_id, held_delta
		), job AS (
			UPDATE jobs SET cost_seconds = ins.held_delta FROM ins WHERE jobs.id = ins.job_id RETURNING 1
		)
		UPDATE accounts SET balance = balance - t.n, held = held + t.n
		FROM (SELECT account_id, sum(held_delta) AS n FROM ins GROUP BY account_id) t
		WHERE accounts.id = t.account_id`, accounts, jobIDs, seconds)
	return err
}

// Settle captures (success) or releases (failure, cancel) a job's hold,
// exactly once: a job with no hold, or already settled, is left alone and
// Settle reports false. Finish settles as part of ending a job; Settle is
// for the sweeper and for repairs.
func (s *Store) Settle(ctx context.Context, jobID string, capture bool) (bool, error) {
	settled := false
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var err error
		settled, err = settleTx(ctx, tx, jobID, capture)
		return err
	})
	if err != nil {
		return false, fmt.Errorf("settle: %w", err)
	}
	return settled, nil
}

func settleTx(ctx context.Context, tx pgx.Tx, jobID string, capture bool) (bool, error) {
	upd, err := settleEntry(ctx, tx, jobID, capture)
	if err != nil || upd == nil {
		return false, err
	}
	if _, err := tx.Exec(ctx, upd.sql, upd.args...); err != nil {
		return false, err
	}
	return true, nil
}

// statement is SQL with its arguments.
type statement struct {
	sql  string
	args []any
}

// settleEntry records the capture or release of a job's hold and returns
// the account update that completes it, for the caller to run last in the
// transaction; nil when the job has no hold or was settled already.
func settleEntry(ctx context.Context, tx pgx.Tx, jobID string, capture bool) (*statement, error) {
	return settleEntryCharge(ctx, tx, jobID, capture, nil)
}

// settleEntryCharge is settleEntry; on capture, charge (when not nil)
// says how much of the hold is captured, and the rest goes back to the
// balance in the same entry.
func settleEntryCharge(ctx context.Context, tx pgx.Tx, jobID string, capture bool, charge func(held int64) int64) (*statement, error) {
	kind := KindRelease
	if capture {
		kind = KindCapture
	}
	var accountID, held int64
	err := tx.QueryRow(ctx, `SELECT account_id, held_delta FROM ledger_entries WHERE job_id = $1 AND kind = 'hold' FOR UPDATE`, jobID).Scan(&accountID, &held)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var done bool
	if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM ledger_entries WHERE job_id = $1 AND kind IN ('capture','release'))`, jobID).Scan(&done); err != nil {
		return nil, err
	}
	if done {
		return nil, nil
	}
	bal := int64(0)
	switch {
	case !capture:
		bal = held
	case charge != nil:
		bal = held - min(max(charge(held), 0), held)
		if _, err := tx.Exec(ctx, `UPDATE jobs SET cost_seconds = $2 WHERE id = $1`, jobID, held-bal); err != nil {
			return nil, err
		}
	}
	if _, err := tx.Exec(ctx, `INSERT INTO ledger_entries (account_id, job_id, kind, balance_delta, held_delta)
		VALUES ($1, $2, $3, $4, $5)`, accountID, jobID, kind, bal, -held); err != nil {
		return nil, err
	}
	return &statement{`UPDATE accounts SET balance = balance + $2, held = held - $3 WHERE id = $1`, []any{accountID, bal, held}}, nil
}

// Balance returns an account's position.
func (s *Store) Balance(ctx context.Context, accountID int64) (*Balance, error) {
	b := &Balance{AccountID: accountID}
	monthStart := time.Now().UTC()
	monthStart = time.Date(monthStart.Year(), monthStart.Month(), 1, 0, 0, 0, 0, time.UTC)
	err := s.pool.QueryRow(ctx, `SELECT a.balance, a.held,
		coalesce((SELECT -sum(held_delta + balance_delta) FROM ledger_entries WHERE account_id = a.id AND kind = 'capture' AND created_at >= $2), 0),
		(SELECT count(*) FROM jobs WHERE account_id = a.id AND kind = 'summary' AND cost_seconds = 0
			AND state NOT IN ('succeeded','failed','canceled'))
		FROM accounts a WHERE a.id = $1`, accountID, monthStart).Scan(&b.Available, &b.Held, &b.UsedThisMonth, &b.Unpriced)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("balance: %w", err)
	}
	return b, nil
}

// LedgerDrift lists accounts whose balance or held amount differs from the
// sum of their ledger entries. It is empty when the books are right; tests
// and the sweeper check it.
func (s *Store) LedgerDrift(ctx context.Context) ([]int64, error) {
	rows, err := s.pool.Query(ctx, `SELECT a.id FROM accounts a
		LEFT JOIN (SELECT account_id, sum(balance_delta) b, sum(held_delta) h FROM ledger_entries GROUP BY account_id) l
		ON l.account_id = a.id
		WHERE a.balance <> coalesce(l.b, 0) OR a.held <> coalesce(l.h, 0)`)
	if err != nil {
		return nil, fmt.Errorf("ledger drift: %w", err)
	}
	return pgx.CollectRows(rows, pgx.RowTo[int64])
}
