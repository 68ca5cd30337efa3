package media

import (
	"context"
	"errors"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/recap/recap/media/mediatest"
)

// needJail returns a jailer, skipping the test where namespaces cannot be
// made (not root); the CI runs as root, where it must work.
func needJail(t *testing.T) (*jailer, string) {
	t.Helper()
	ffmpeg, err := exec.LookPath("ffmpeg")
	if err != nil {
		t.Fatal(err)
	}
	j, err := newJailer(ffmpeg)
	if err != nil {
		if os.Geteuid() == 0 {
			t.Fatalf("running as root, yet no namespace: %v", err)
		}
		t.Skipf("network namespaces need root here: %v", err)
	}
	return j, ffmpeg
}

// The namespace alone stops the bypass of issue 12: ffmpeg without any
// protocol whitelist, told to open httpproxy://, tcp:// and http:// URLs
// on a forbidden host, reaches nothing; its one way out is the egress
// proxy, which still works and still applies the policy.
func TestJailStopsDirectConnections(t *testing.T) {
	t.Parallel()
	j, ffmpeg := needJail(t)
	if !j.userNS {
		t.Log("no user namespace here: the jailed process keeps its capabilities")
	}
	e, err := StartEgress(EgressConfig{Policy: NetPolicy{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}}})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	host := mediatest.NewHost(t)
	inside := mediatest.NewHostAt(t, "127.0.0.2")

	ffmpegRun := func(t *testing.T, in string) error {
		run, err := e.Begin(0)
		if err != nil {
			t.Fatal(err)
		}
		defer run.End()
		out := filepath.Join(t.TempDir(), "out.webm")
		cmd := exec.Command(ffmpeg, "-nostdin", "-hide_banner", "-loglevel", "error", "-i", in, "-c", "copy", out)
		// What yt-dlp gives the ffmpeg it delegates to.
		cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "http_proxy=" + run.ProxyURL()}
		cmd.SysProcAttr = sysProcAttr()
		var stderr strings.Builder
		cmd.Stderr = &stderr
		ln, err := j.start(cmd, e.Addr(), (*exec.Cmd).Start)
		if err != nil {
			t.Fatal(err)
		}
		e.serveJailed(ln)
		defer ln.Close()
		if err := cmd.Wait(); err != nil {
			return errors.New(strings.TrimSpace(stderr.String()))
		}
		return nil
	}
	for _, in := range []string{
		"httpproxy://" + inside.Addr() + "/x.ts",
		"tcp://" + inside.Addr(),
		"http://" + inside.Addr() + mediatest.MediaPath,
		"rtmp://" + inside.Addr() + "/live/x",
	} {
		if err := ffmpegRun(t, in); err == nil {
			t.Errorf("ffmpeg -i %s succeeded inside the namespace", in)
		}
	}
	if err := ffmpegRun(t, host.MediaURL()); err != nil {
		t.Errorf("ffmpeg through the egress proxy: %v", err)
	}
	if host.Hits(mediatest.MediaPath) == 0 {
		t.Error("the allowed host saw no request: the proxy listener inside the namespace is not the way out")
	}
	if n := inside.Conns(); n != 0 {
		t.Fatalf("the forbidden host accepted %d connections", n)
	}
}

// A namespace that cannot be set up fails the start: the process never
// runs outside it.
func TestJailFailsClosed(t *testing.T) {
	t.Parallel()
	j, ffmpeg := needJail(t)
	cmd := exec.Command(ffmpeg, "-version")
	cmd.SysProcAttr = sysProcAttr()
	if _, err := j.start(cmd, "127.0.0.1:99999", (*exec.Cmd).Start); !errors.Is(err, errNoIsolation) {
		t.Fatalf("start with an impossible listener = %v, want errNoIsolation", err)
	}
	if cmd.Process != nil {
		t.Fatal("the process started although its namespace was not ready")
	}

	// IsolationRequired refuses a client whose namespaces cannot be
	// checked; auto falls back to the allow-lists.
	if _, err := New(Config{FFmpegPath: "/bin/false", Isolation: IsolationRequired}); err == nil || !strings.Contains(err.Error(), "DOWNLOAD_NETNS=on") {
		t.Fatalf("New(IsolationRequired) with a failing probe = %v, want a refusal naming DOWNLOAD_NETNS", err)
	}
	c, err := New(Config{FFmpegPath: "/bin/false"})
	if err != nil {
		t.Fatal(err)
	}
	if c.Isolated() {
		t.Fatal("a failed probe left the client isolated")
	}
	c, err = New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	if !c.Isolated() {
		t.Fatal("namespaces work here, yet the client is not isolated")
	}
	if err := c.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// BenchmarkJailStart measures what a namespace adds to starting a process
// (ffmpeg -version): go test -run XXX -bench JailStart ./media/
func BenchmarkJailStart(b *testing.B) {
	ffmpeg, err := exec.LookPath("ffmpeg")
	if err != nil {
		b.Fatal(err)
	}
	j, err := newJailer(ffmpeg)
	if err != nil {
		b.Skip(err)
	}
	for _, mode := range []string{"plain", "netns", "netns+listener"} {
		b.Run(mode, func(b *testing.B) {
			for b.Loop() {
				cmd := exec.Command(ffmpeg, "-hide_banner", "-version")
				cmd.SysProcAttr = sysProcAttr()
				var ln interface{ Close() error }
				switch mode {
				case "plain":
					if err := cmd.Start(); err != nil {
						b.Fatal(err)
					}
				default:
					listen := ""
					if mode == "netns+listener" {
						listen = "127.0.0.1:4000"
					}
					l, err := j.start(cmd, listen, (*exec.Cmd).Start)
					if err != nil {
						b.Fatal(err)
					}
					if l != nil {
						ln = l
					}
				}
				if err := cmd.Wait(); err != nil {
					b.Fatal(err)
				}
				if ln != nil {
					ln.Close()
				}
			}
		})
	}
}
