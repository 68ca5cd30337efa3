package media_test

import (
	"context"
	"os/exec"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/recap/recap/media"
)

func TestParseExtraArgs(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in      string
		want    []string
		wantErr string
	}{
		{"", nil, ""},
		{`--js-runtimes node --extractor-args "youtube:player_client=web,mweb"`,
			[]string{"--js-runtimes", "node", "--extractor-args", "youtube:player_client=web,mweb"}, ""},
		{`--impersonate=chrome --add-headers 'Accept-Language: zh-CN'`,
			[]string{"--impersonate", "chrome", "--add-headers", "Accept-Language: zh-CN"}, ""},
		{`--sleep-requests 1.5 --concurrent-fragments 4`, []string{"--sleep-requests", "1.5", "--concurrent-fragments", "4"}, ""},
		{`--extractor-args youtube:lang=a\ b`, []string{"--extractor-args", "youtube:lang=a b"}, ""},
		{`--exec 'touch /tmp/x'`, nil, "not an allowed flag"},
		{`--output /etc/passwd`, nil, "not an allowed flag"},
		{`--no-check-certificates`, nil, "not an allowed flag"},
		{`--config-locations /tmp/evil.conf`, nil, "not an allowed flag"},
		{`--downloader aria2c`, nil, "not an allowed flag"},
		{`https://example.com/v`, nil, "not an allowed flag"},
		{`--js-runtimes`, nil, "needs a value"},
		{`--sleep-requests soon`, nil, "wants seconds"},
		{`--concurrent-fragments 0`, nil, "positive number"},
		{`--impersonate "chrome`, nil, "unterminated"},
	}
	for _, tt := range tests {
		got, err := media.ParseExtraArgs(tt.in)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("ParseExtraArgs(%q) = %q, %v; want an error containing %q", tt.in, got, err, tt.wantErr)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("ParseExtraArgs(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
	// The allow-list is enforced by New too, for callers that skip the parser.
	if _, err := media.New(media.Config{ExtraArgs: []string{"--exec", "id"}}); err == nil {
		t.Error("New accepted --exec")
	}
	// Behind the egress proxy, an operator --proxy must be an HTTP proxy
	// (see TestEgressUpstream).
	e := startEgress(t, media.NetPolicy{})
	if _, err := media.New(media.Config{Egress: e, ExtraArgs: []string{"--proxy", "socks5://10.0.0.1:1080"}}); err == nil {
		t.Error("New accepted a SOCKS --proxy behind the egress proxy")
	}
}

// The operator's flags reach yt-dlp: an impersonation target this yt-dlp
// does not know fails the run, and the error names it.
func TestExtraArgsReachYtDlp(t *testing.T) {
	t.Parallel()
	c, b := setup(t, media.Config{ExtraArgs: []string{"--impersonate", "no-such-browser-target"}})
	_, err := c.Resolve(context.Background(), b.host.PageURL())
	if err == nil || !strings.Contains(strings.ToLower(err.Error()), "impersonat") {
		t.Fatalf("Resolve with an unknown --impersonate target = %v, want yt-dlp's refusal", err)
	}
}

func TestYtDlpVersion(t *testing.T) {
	t.Parallel()
	c, _ := setup(t, media.Config{})
	ctx := context.Background()
	v, err := c.YtDlpVersion(ctx)
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("yt-dlp", "--version").Output()
	if err != nil {
		t.Fatal(err)
	}
	if want := strings.TrimSpace(string(out)); v.Version != want {
		t.Errorf("Version = %q, want %q", v.Version, want)
	}
	if v.Released.IsZero() || v.Released.After(time.Now()) || !strings.HasPrefix(v.Version, v.Released.Format("2006.01.02")) {
		t.Errorf("Released = %v for version %q", v.Released, v.Version)
	}
	if v.Stale(v.Released.Add(media.StaleAfter-time.Hour)) || !v.Stale(v.Released.Add(media.StaleAfter+time.Hour)) {
		t.Errorf("Stale is wrong around %v", media.StaleAfter)
	}
	if v.Age(v.Released.Add(48*time.Hour)) != 48*time.Hour {
		t.Errorf("Age = %v", v.Age(v.Released.Add(48*time.Hour)))
	}
}

// The installed yt-dlp accepts the installed deno as its JavaScript
// runtime (what YouTube needs since 2025.11), and says "none" when told
// to use none.
func TestJSRuntimeReported(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c, _ := setup(t, media.Config{})
	st, err := c.JSRuntime(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !st.Usable || !strings.HasPrefix(st.Runtime(), "deno-") || !strings.HasPrefix(st.Configured, "deno:/") {
		t.Errorf("JSRuntime = %+v, want a usable deno (scripts/install-worker-deps.sh installs it)", st)
	}
	none, _ := setup(t, media.Config{JSRuntime: media.JSRuntimeNone})
	st, err = none.JSRuntime(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Usable || st.Runtime() != "none" || st.Configured != "" {
		t.Errorf("JSRuntime with none = %+v", st)
	}
}
