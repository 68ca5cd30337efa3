package redistest_test

import (
	"context"
	"strings"
	"testing"

	"github.com/recap/recap/internal/redistest"
)

func TestPrefixCleanedUp(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rdb := redistest.New(t)
	var prefix string
	t.Run("inner", func(t *testing.T) {
		prefix = redistest.Prefix(t, "tr")
		if !strings.HasPrefix(prefix, "tr") || !strings.HasSuffix(prefix, ":") {
			t.Fatalf("prefix %q", prefix)
		}
		for _, k := range []string{prefix + "a", "recap:" + prefix + "b", "asynq:{" + prefix + "interactive}:t"} {
			if err := rdb.Set(ctx, k, "1", 0).Err(); err != nil {
				t.Fatal(err)
			}
		}
	})
	keys, err := rdb.Keys(ctx, "*"+prefix+"*").Result()
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 0 {
		t.Fatalf("left behind: %v", keys)
	}
}
