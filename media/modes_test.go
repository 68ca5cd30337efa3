package media_test

import (
	"context"
	"os"
	"testing"

	"github.com/recap/recap/media"
)

// extractorModes are the two ways yt-dlp runs: a process per run and the
// warm pool. The tests of what a yt-dlp run may reach run in both.
var extractorModes = []media.ExtractorMode{media.ExtractorCLI, media.ExtractorPool}

// defaultMode is the mode of every other test's client:
// RECAP_TEST_EXTRACTOR_MODE=pool runs the whole package through the pool.
func defaultMode(t *testing.T) media.ExtractorMode {
	t.Helper()
	m, err := media.ParseExtractorMode(os.Getenv("RECAP_TEST_EXTRACTOR_MODE"))
	if err != nil {
		t.Fatal(err)
	}
	if os.Getenv("RECAP_TEST_EXTRACTOR_MODE") == "" {
		return media.ExtractorCLI
	}
	return m
}

// setupMode is setup with yt-dlp running in mode.
func setupMode(t *testing.T, cfg media.Config, mode media.ExtractorMode) (*media.Client, *bundle) {
	t.Helper()
	c, b := setup(t, cfg)
	useMode(t, c, mode)
	return c, b
}

// useMode starts a pool of one process for c in pool mode, closed with
// the test.
func useMode(t *testing.T, c *media.Client, mode media.ExtractorMode) {
	t.Helper()
	if mode != media.ExtractorPool {
		return
	}
	p, err := c.StartPool(context.Background(), media.PoolConfig{Size: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
}
