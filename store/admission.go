package store

import (
	"context"
	"fmt"
	"math"

	"github.com/jackc/pgx/v5"
	"github.com/recap/recap"
)

// Admission is what a new job needs of its account's balance, checked and
// taken in the transaction that creates the job, under the account row's
// lock: concurrent requests of one account are admitted one at a time,
// so fifty requests sent at once cannot all pass a check made before any
// of them was recorded.
type Admission struct {
	// MinPrice, when set, is the smallest price of a video: the balance
	// must cover it for the new job beside MinPrice for each of the
	// account's running jobs that are not priced yet.
	MinPrice int64
	// Hold, when set, is placed on the new job at once (a job priced by
	// model tokens: its price is known before any work).
	Hold int64
}

// QuotaError is an admission the balance refused. It is
// ErrInsufficientCredits for errors.Is.
type QuotaError struct {
	// Available is the balance; Unpriced the account's running jobs not
	// priced yet.
	Available, Unpriced int64
	// MinPrice or Hold is what the new job needed (Admission's).
	MinPrice, Hold int64
}

func (e *QuotaError) Error() string {
	return fmt.Sprintf("insufficient credits: %d s available, %d unpriced jobs, %d s needed", e.Available, e.Unpriced, e.MinPrice+e.Hold)
}

// Unwrap makes a QuotaError an ErrInsufficientCredits.
func (e *QuotaError) Unwrap() error { return ErrInsufficientCredits }

// Check is the admission rule: nil when a balance with unpriced running
// jobs (see Unpriced) admits the new job, else the *QuotaError saying why.
// The store applies it under the account's lock; fakes apply it too.
func (a Admission) Check(balance, unpriced int64) error {
	if a.MinPrice > 0 && balance-a.MinPrice*unpriced < a.MinPrice {
		return &QuotaError{Available: balance, Unpriced: unpriced, MinPrice: a.MinPrice}
	}
	if a.Hold > 0 && balance < a.Hold {
		return &QuotaError{Available: balance, Hold: a.Hold}
	}
	return nil
}

// Unpriced reports whether a job counts against MinPrice admissions: a
// running summary job whose price is not known yet (the SQL of admitJob
// and Balance counts the same jobs).
func Unpriced(j *recap.Job) bool {
	return j.Kind == recap.KindSummary && j.CostSeconds == 0 && !recap.Terminal(j.State)
}

// AdmitJob creates a queued job as CreateJob does, once its admission
// holds; a *QuotaError when it does not.
func (s *Store) AdmitJob(ctx context.Context, j *recap.Job, a Admission) error {
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error { return admitJob(ctx, tx, j, a) })
}

// AdmitJob is Store.AdmitJob inside the transaction.
func (t *JobTx) AdmitJob(ctx context.Context, j *recap.Job, a Admission) error {
	return admitJob(ctx, t.tx, j, a)
}

func admitJob(ctx context.Context, tx pgx.Tx, j *recap.Job, a Admission) error {
	var balance int64
	// The lock first, alone: a statement that waited for it reads the
	// account as it is now, and the next statement (a new snapshot) sees
	// the jobs the transactions admitted before this one.
	if err := tx.QueryRow(ctx, `SELECT balance FROM accounts WHERE id = $1 FOR UPDATE`, j.AccountID).Scan(&balance); err != nil {
		return fmt.Errorf("admit job: %w", err)
	}
	var unpriced int64
	if a.MinPrice > 0 {
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM jobs WHERE account_id = $1 AND kind = 'summary' AND cost_seconds = 0
			AND state NOT IN ('succeeded','failed','canceled')`, j.AccountID).Scan(&unpriced); err != nil {
			return fmt.Errorf("admit job: %w", err)
		}
	}
	if err := a.Check(balance, unpriced); err != nil {
		return err
	}
	if err := createJobs(ctx, tx, []*recap.Job{j}); err != nil {
		return err
	}
	if a.Hold <= 0 {
		return nil
	}
	if _, err := tx.Exec(ctx, `INSERT INTO ledger_entries (account_id, job_id, kind, balance_delta, held_delta)
		VALUES ($1, $2, 'hold', $3, $4)`, j.AccountID, j.ID, -a.Hold, a.Hold); err != nil {
		return fmt.Errorf("admit job: hold: %w", err)
	}
	if _, err := tx.Exec(ctx, `UPDATE jobs SET cost_seconds = $2 WHERE id = $1`, j.ID, a.Hold); err != nil {
		return fmt.Errorf("admit job: hold: %w", err)
	}
	if _, err := tx.Exec(ctx, `UPDATE accounts SET balance = balance - $2, held = held + $2 WHERE id = $1`, j.AccountID, a.Hold); err != nil {
		if isCheckViolation(err) {
			return &QuotaError{Available: balance, Hold: a.Hold}
		}
		return fmt.Errorf("admit job: hold: %w", err)
	}
	j.CostSeconds = a.Hold
	return nil
}

// TokenCharge is what a token-priced job costs for the tokens it used, at
// price credit seconds per 1,000 tokens, whole seconds rounded up; never
// more than held (the hold is the most the caller agreed to pay). A job
// whose provider reported no usage is charged its hold.
func TokenCharge(price float64, promptTokens, completionTokens int, held int64) int64 {
	used := promptTokens + completionTokens
	if used <= 0 {
		return held
	}
	c := int64(math.Ceil(float64(used) / 1000 * price))
	return max(1, min(c, held))
}
