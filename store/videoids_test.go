package store_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/recap/recap/store"
	"github.com/recap/recap/store/storetest"
)

// TestClaimVideoRace: twelve URL forms of one video claim its
// extractor_key + id at once; exactly one owns it, the others become its
// aliases, and only the owner has a video row.
func TestClaimVideoRace(t *testing.T) {
	t.Parallel()
	s := storetest.New(t)
	ctx := context.Background()
	const n = 12
	owners := make([]string, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			v := &store.Video{Key: fmt.Sprintf("generic:form%d", i), URL: fmt.Sprintf("https://b23.tv/code%d", i), Title: "t"}
			owners[i], errs[i] = s.ClaimVideo(ctx, v, "BiliBili", "BV1xx411c7mD")
		}()
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
		if owners[i] != owners[0] {
			t.Fatalf("form %d joined %s, form 0 %s", i, owners[i], owners[0])
		}
	}
	for i := range n {
		key := fmt.Sprintf("generic:form%d", i)
		_, verr := s.Video(ctx, key)
		alias, aerr := s.VideoAlias(ctx, key)
		switch {
		case key == owners[0]:
			if verr != nil || !errors.Is(aerr, store.ErrNotFound) {
				t.Fatalf("owner %s: video %v, alias %q %v", key, verr, alias, aerr)
			}
		case !errors.Is(verr, store.ErrNotFound) || alias != owners[0]:
			t.Fatalf("form %s: video row %v, alias %q %v", key, verr, alias, aerr)
		}
	}
	// The same id under another extractor is another video.
	other, err := s.ClaimVideo(ctx, &store.Video{Key: "generic:other", URL: "https://x.test/BV1xx411c7mD"}, "Youtube", "BV1xx411c7mD")
	if err != nil || other != "generic:other" {
		t.Fatalf("another extractor's id: owner %q, %v", other, err)
	}
}
