package store

import (
	"context"
	"fmt"

	"github.com/recap/recap"
)

// ActiveJobCounts returns how many unfinished jobs are in each state; it
// reads the partial index of unfinished jobs, not the whole table.
func (s *Store) ActiveJobCounts(ctx context.Context) (map[string]int64, error) {
	out := map[string]int64{recap.StateQueued: 0, recap.StateResolving: 0, recap.StateTranscribing: 0, recap.StateSummarizing: 0}
	rows, err := s.pool.Query(ctx, `SELECT state, count(*) FROM jobs
		WHERE state NOT IN ('succeeded','failed','canceled') GROUP BY state`)
	if err != nil {
		return nil, fmt.Errorf("active job counts: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var state string
		var n int64
		if err := rows.Scan(&state, &n); err != nil {
			return nil, fmt.Errorf("active job counts: %w", err)
		}
		out[state] = n
	}
	return out, rows.Err()
}

// CreditTotals returns the media seconds held right now, and the ledger's
// totals by kind since the beginning: seconds granted, held, captured and
// released.
func (s *Store) CreditTotals(ctx context.Context) (held int64, byKind map[string]int64, err error) {
	if err := s.pool.QueryRow(ctx, `SELECT coalesce(sum(held), 0) FROM accounts`).Scan(&held); err != nil {
		return 0, nil, fmt.Errorf("credit totals: %w", err)
	}
	byKind = map[string]int64{KindGrant: 0, KindHold: 0, KindCapture: 0, KindRelease: 0}
	// A capture of a job priced by tokens takes part of its hold and gives
	// the rest back in the same entry (balance_delta > 0): that part counts
	// as released, so held = hold - capture - release still adds up.
	rows, err := s.pool.Query(ctx, `SELECT k, coalesce(sum(n), 0) FROM (
			SELECT kind AS k, CASE kind WHEN 'grant' THEN balance_delta WHEN 'capture' THEN abs(held_delta) - balance_delta
				ELSE abs(held_delta) END AS n FROM ledger_entries
			UNION ALL
			SELECT 'release', balance_delta FROM ledger_entries WHERE kind = 'capture' AND balance_delta > 0
		) t GROUP BY k`)
	if err != nil {
		return 0, nil, fmt.Errorf("credit totals: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var kind string
		var n int64
		if err := rows.Scan(&kind, &n); err != nil {
			return 0, nil, fmt.Errorf("credit totals: %w", err)
		}
		byKind[kind] = n
	}
	return held, byKind, rows.Err()
}
