package store_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/recap/recap"
	"github.com/recap/recap/store"
	"github.com/recap/recap/store/storetest"
)

func TestFiles(t *testing.T) {
	t.Parallel()
	s := storetest.New(t)
	ctx := context.Background()
	k1, _, err := s.CreateKey(ctx, store.NewKey{Name: "a", Seconds: 60})
	if err != nil {
		t.Fatal(err)
	}
	k2, _, err := s.CreateKey(ctx, store.NewKey{Name: "b", Seconds: 60})
	if err != nil {
		t.Fatal(err)
	}
	mk := func(id string, k *recap.Caller, exp *time.Time) *store.File {
		f := &store.File{ID: id, AccountID: k.AccountID, APIKeyID: k.ID, Filename: id + ".mp3", Purpose: "user_data", Bytes: 10,
			SHA256: "abc", MediaKind: "audio", Format: "mp3", Duration: 61, BlobKey: "files/" + id, ExpiresAt: exp}
		if err := s.CreateFile(ctx, f); err != nil {
			t.Fatal(err)
		}
		return f
	}
	past, future := time.Now().Add(-time.Minute), time.Now().Add(time.Hour)
	mk("file-1", k1, &future)
	mk("file-2", k1, nil)
	mk("file-3", k1, &past)
	mk("file-4", k2, nil)

	if f, err := s.AccountFile(ctx, k1.AccountID, "file-1"); err != nil || f.VideoKey() != "file:abc" || f.Duration != 61 {
		t.Fatalf("own file: %+v %v", f, err)
	}
	if _, err := s.AccountFile(ctx, k2.AccountID, "file-1"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("another account's file: %v", err)
	}
	if _, err := s.AccountFile(ctx, k1.AccountID, "file-3"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("expired file: %v", err)
	}
	list, err := s.ListFiles(ctx, store.FileFilter{AccountID: k1.AccountID, Limit: 1})
	if err != nil || len(list) != 1 || list[0].ID != "file-2" {
		t.Fatalf("first page: %+v %v", list, err)
	}
	list, err = s.ListFiles(ctx, store.FileFilter{AccountID: k1.AccountID, After: list[0].ID})
	if err != nil || len(list) != 1 || list[0].ID != "file-1" {
		t.Fatalf("second page (expired file-3 and file-4 left out): %+v %v", list, err)
	}
	if _, err := s.DeleteFile(ctx, k2.AccountID, "file-2"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("deleting another account's file: %v", err)
	}
	gone, err := s.DeleteExpiredFiles(ctx, 10)
	if err != nil || len(gone) != 1 || gone[0].ID != "file-3" || gone[0].BlobKey != "files/file-3" {
		t.Fatalf("expired: %+v %v", gone, err)
	}
	if f, err := s.DeleteFile(ctx, k1.AccountID, "file-2"); err != nil || f.ID != "file-2" {
		t.Fatalf("delete: %+v %v", f, err)
	}
	if _, err := s.File(ctx, "file-2"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("deleted file: %v", err)
	}
}
