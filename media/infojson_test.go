package media_test

import (
	"strconv"
	"testing"
	"time"

	"github.com/recap/recap/media"
)

func TestInfoExpiry(t *testing.T) {
	t.Parallel()
	now := time.Now()
	soon := strconv.FormatInt(now.Add(2*time.Minute).Unix(), 10)
	later := strconv.FormatInt(now.Add(5*time.Hour).Unix(), 10)
	past := strconv.FormatInt(now.Add(-time.Hour).Unix(), 10)
	tests := []struct {
		name    string
		raw     string
		expires bool
		fresh   bool
	}{
		{"none kept", "", false, false},
		{"no signed urls", `{"formats":[{"url":"http://127.0.0.1/talk.webm"}]}`, false, true},
		{"query expire later", `{"formats":[{"url":"https://r1.googlevideo.com/videoplayback?expire=` + later + `&sig=x"}]}`, true, true},
		{"query expire soon", `{"formats":[{"url":"https://r1.googlevideo.com/videoplayback?expire=` + soon + `&sig=x"}]}`, true, false},
		{"path expire past", `{"formats":[{"manifest_url":"https://manifest.googlevideo.com/api/manifest/hls_variant/expire/` + past + `/ei/x"}]}`, true, false},
		{"earliest wins", `{"formats":[{"url":"https://a/v?expire=` + later + `"},{"url":"https://a/v?expire=` + past + `"}]}`, true, false},
		{"subtitle url", `{"subtitles":{"en":[{"url":"https://a/sub.vtt?Expires=` + soon + `"}]}}`, true, false},
		{"not json", `{`, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var info media.Info
			if tt.raw != "" {
				info.SetRawInfo([]byte(tt.raw))
			}
			if _, ok := info.Expiry(); ok != tt.expires {
				t.Errorf("Expiry found = %v, want %v", ok, tt.expires)
			}
			if got := info.Fresh(now); got != tt.fresh {
				t.Errorf("Fresh = %v, want %v", got, tt.fresh)
			}
		})
	}
}
