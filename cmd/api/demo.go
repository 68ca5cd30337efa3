package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"

	"github.com/recap/recap"
	"github.com/recap/recap/app"
	"github.com/recap/recap/media/sample"
)

// demoOptions configure one demo run.
type demoOptions struct {
	// URL is the video to summarize; empty: the sample talk.
	URL string
	// Dir is dev mode's state directory (.recap).
	Dir string
	// Stdout gets the summary; Stderr the progress.
	Stdout, Stderr io.Writer
}

// demo summarizes one video with dev mode's services, showing each stage's
// progress and printing the markdown summary at the end.
func demo(ctx context.Context, cfg app.Config, o demoOptions) error {
	// Not private: the postgres account must reach pg/ inside it (which is).
	if err := os.MkdirAll(o.Dir, 0o755); err != nil {
		return err
	}
	logf, err := os.OpenFile(filepath.Join(o.Dir, "demo.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer logf.Close()
	log := app.NewLogger(cfg, logf)
	cfg.ListenAddr = "127.0.0.1:0"
	target := o.URL
	if target == "" {
		url, stop, err := serveSample()
		if err != nil {
			return err
		}
		defer stop()
		target = url
		// The sample is served on loopback, which the API refuses otherwise.
		cfg.AllowPrivateNetworks = true
		fmt.Fprintln(o.Stderr, "Summarizing the sample talk shipped in media/sample/ (pass a URL to summarize another video).")
	}
	var services []string
	if cfg.RedisURL == "" {
		services = append(services, "embedded Redis")
	}
	if cfg.DatabaseURL == "" {
		services = append(services, "a private PostgreSQL in "+filepath.Join(o.Dir, "pg"))
	}
	if len(services) > 0 {
		fmt.Fprintf(o.Stderr, "Starting Recap with %s (log: %s)…\n", strings.Join(services, " and "), logf.Name())
	}
	d, err := app.StartDev(ctx, cfg, log, app.DevOptions{Dir: o.Dir})
	if err != nil {
		return err
	}
	defer d.Close()
	id, err := submitJob(ctx, d.URL, d.Key, target)
	if err != nil {
		return err
	}
	p := newProgress(o.Stderr)
	var result *recap.Result
	err = d.Deps.Events.Follow(ctx, id, "0", 15*time.Second, nil, func(ev recap.Event) error {
		p.event(ev)
		switch ev.Type {
		case recap.EventResult:
			result = ev.Result
		case recap.EventError:
			return fmt.Errorf("the job %s: %s (%s)", ev.State, ev.Error.Message, ev.Error.Code)
		}
		return nil
	})
	p.stop()
	if err != nil {
		return err
	}
	if result == nil {
		return errors.New("the job ended without a result")
	}
	fmt.Fprintf(o.Stderr, "\nSummary by %s:\n\n", result.Model)
	fmt.Fprintln(o.Stdout, strings.TrimSpace(result.Markdown))
	return nil
}

// serveSample serves the embedded sample talk on loopback as a page with a
// <video> and a subtitle <track>, which yt-dlp's generic extractor reads.
func serveSample() (string, func(), error) {
	page := `<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>` + html.EscapeString(sampleTitle) + `</title></head>
<body><h1>` + html.EscapeString(sampleTitle) + `</h1>
<video controls src="talk.webm"><track kind="subtitles" src="talk.en.vtt" srclang="en" label="English"></video>
</body></html>
`
	mux := http.NewServeMux()
	mux.HandleFunc("/talk.html", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		io.WriteString(w, page) //nolint:errcheck
	})
	files := http.FileServerFS(sample.FS)
	mux.Handle("/"+sample.Media, files)
	mux.Handle("/"+sample.Subtitles, files)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln) //nolint:errcheck
	return "http://" + ln.Addr().String() + "/talk.html", func() { srv.Close() }, nil
}

const sampleTitle = "Recap sample talk"

// submitJob creates the job through the API, as any client would.
func submitJob(ctx context.Context, base, key, url string) (string, error) {
	body, _ := json.Marshal(map[string]any{"urls": []string{url}})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/api/v1/jobs", bytes.NewReader(body))
	if err != nil {
		return "", err
	}
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer res.Body.Close()
	var out struct {
		Data  []recap.View `json:"data"`
		Error *struct {
			Message string `json:"message"`
		} `json:"error"`
	}
	if err := json.NewDecoder(res.Body).Decode(&out); err != nil {
		return "", fmt.Errorf("submit: %s: %w", res.Status, err)
	}
	if out.Error != nil {
		return "", fmt.Errorf("submit: %s", out.Error.Message)
	}
	if len(out.Data) != 1 {
		return "", fmt.Errorf("submit: %s: no job in the reply", res.Status)
	}
	return out.Data[0].ID, nil
}

// stageNames are the running states as the progress shows them.
var stageNames = map[string]string{
	recap.StateQueued:       "Queued",
	recap.StateResolving:    "Resolving the video",
	recap.StateTranscribing: "Getting the transcript",
	recap.StateSummarizing:  "Summarizing",
}

// progress shows a job's events: a progress bar per stage on a terminal,
// one line per step elsewhere (pipes, CI logs).
type progress struct {
	w     io.Writer
	tty   bool
	bar   *progressbar.ProgressBar
	began time.Time
	stage string
	msg   string
	words int
	start time.Time
}

func newProgress(w io.Writer) *progress {
	f, ok := w.(*os.File)
	return &progress{w: w, tty: ok && term.IsTerminal(int(f.Fd())), start: time.Now()}
}

func (p *progress) event(ev recap.Event) {
	switch ev.Type {
	case recap.EventState:
		if name, ok := stageNames[ev.State]; ok && ev.State != p.stage {
			p.begin(ev.State, name)
		}
	case recap.EventPriced:
		if n := ev.CostSeconds / 60; n == 1 {
			p.note("costs 1 minute of credit")
		} else if n > 1 {
			p.note(fmt.Sprintf("costs %d minutes of credit", n))
		}
	case recap.EventProgress:
		if p.bar != nil && ev.Percent > 0 {
			if p.bar.GetMax() != 100 {
				p.bar.ChangeMax(100)
			}
			p.bar.Set(int(ev.Percent)) //nolint:errcheck
		}
		if msg := strings.TrimSuffix(ev.Message, "…"); msg != "" && msg != p.msg && msg != stageNames[p.stage] {
			p.msg = msg
			p.note(msg)
		}
	case recap.EventDelta:
		p.words += len(strings.Fields(ev.Text))
		if p.bar != nil {
			p.bar.Describe(fmt.Sprintf("%-24s %d words", stageNames[p.stage], p.words))
		}
	case recap.EventResult:
		p.end()
		cached := ""
		if ev.Result != nil && ev.Result.Cached {
			cached = " (from the summary cache)"
		}
		fmt.Fprintf(p.w, "Done in %s%s.\n", time.Since(p.start).Round(100*time.Millisecond), cached)
	case recap.EventError:
		p.end()
	}
}

func (p *progress) begin(state, name string) {
	p.end()
	p.stage, p.msg, p.began = state, "", time.Now()
	if !p.tty {
		fmt.Fprintf(p.w, "• %s\n", name)
		return
	}
	// A spinner until the stage reports a percentage, then a bar; a finished
	// stage is replaced by a line with its time.
	p.bar = progressbar.NewOptions(-1, progressbar.OptionSetWriter(p.w), progressbar.OptionSetDescription(fmt.Sprintf("%-24s", name)),
		progressbar.OptionSetWidth(30), progressbar.OptionSetPredictTime(false), progressbar.OptionClearOnFinish())
	p.bar.RenderBlank() //nolint:errcheck
}

// note shows a step within a stage.
func (p *progress) note(s string) {
	if p.bar != nil {
		p.bar.Describe(fmt.Sprintf("%-24s %s", stageNames[p.stage], s))
		return
	}
	fmt.Fprintf(p.w, "    %s\n", s)
}

func (p *progress) end() {
	if p.bar != nil {
		p.bar.Finish() //nolint:errcheck
		p.bar = nil
		fmt.Fprintf(p.w, "\r✓ %-24s %s\n", stageNames[p.stage], time.Since(p.began).Round(100*time.Millisecond))
	}
}

func (p *progress) stop() { p.end() }
