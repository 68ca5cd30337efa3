package store_test

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/recap/recap"
	"github.com/recap/recap/store"
)

func TestBatch(t *testing.T) {
	t.Parallel()
	s, k := setup(t, 10)
	ctx := context.Background()
	other, _, err := s.CreateKey(ctx, store.NewKey{Name: "other", Seconds: 600})
	if err != nil || other.AccountID == k.AccountID {
		t.Fatalf("second account: %v, %v", other, err)
	}
	list := []*recap.Job{
		{AccountID: k.AccountID, APIKeyID: k.ID, URL: "https://example.com/1", Queue: "batch"},
		{AccountID: k.AccountID, APIKeyID: k.ID, URL: "https://example.com/2", Queue: "batch"},
		{AccountID: k.AccountID, APIKeyID: k.ID, URL: "https://example.com/3", Queue: "batch"},
	}
	b := &store.Batch{AccountID: k.AccountID, APIKeyID: k.ID, SourceURL: "https://example.com/feed.rss", Title: "Pod", Entries: 7}
	if err := s.CreateBatch(ctx, b, list); err != nil {
		t.Fatal(err)
	}
	if b.ID == "" || b.CreatedAt.IsZero() || len(b.JobIDs) != 3 {
		t.Fatalf("created batch %+v", b)
	}
	for i, j := range list {
		if j.ID == "" || b.JobIDs[i] != j.ID {
			t.Fatalf("job %d id %q, batch lists %v", i, j.ID, b.JobIDs)
		}
	}
	got, err := s.AccountBatch(ctx, k.AccountID, b.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.SourceURL != b.SourceURL || got.Title != "Pod" || got.Entries != 7 || !slices.Equal(got.JobIDs, b.JobIDs) || got.APIKeyID != k.ID {
		t.Errorf("read back %+v, want %+v", got, b)
	}
	if again, err := s.AccountBatchOf(ctx, k.AccountID, list[0].ID); err != nil || again.ID != b.ID {
		t.Errorf("AccountBatchOf(first job) = %v, %v", again, err)
	}
	for _, tc := range []struct {
		name    string
		account int64
		id      string
	}{
		{"other account", other.AccountID, b.ID},
		{"not a uuid", k.AccountID, "../x"},
		{"unknown", k.AccountID, "00000000-0000-0000-0000-000000000000"},
	} {
		if _, err := s.AccountBatch(ctx, tc.account, tc.id); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("%s: AccountBatch = %v, want ErrNotFound", tc.name, err)
		}
	}
	if _, err := s.AccountBatchOf(ctx, k.AccountID, list[1].ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("AccountBatchOf(second job) = %v, want ErrNotFound", err)
	}
	// All or none: a job that cannot be stored leaves no batch and no job.
	bad := []*recap.Job{{AccountID: k.AccountID, URL: "https://example.com/ok"}, {AccountID: -1, URL: "https://example.com/x"}}
	if err := s.CreateBatch(ctx, &store.Batch{AccountID: k.AccountID}, bad); err == nil {
		t.Fatal("a batch with a job of no account was stored")
	}
	var n int
	if err := s.Pool().QueryRow(ctx, `SELECT count(*) FROM jobs WHERE url = 'https://example.com/ok'`).Scan(&n); err != nil || n != 0 {
		t.Errorf("%d jobs of a failed batch stored (%v)", n, err)
	}
	if err := s.CreateBatch(ctx, &store.Batch{AccountID: k.AccountID}, nil); err == nil {
		t.Error("an empty batch was stored")
	}
}
