package web_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/recap/recap/app"
	"github.com/recap/recap/app/apptest"
	"github.com/recap/recap/media/mediatest"
	"github.com/recap/recap/web"
)

var chromiumPath = func() string {
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return "/usr/bin/chromium"
}()

// browser is one headless Chromium tab and what the page did in it.
type browser struct {
	ctx context.Context
	mu  sync.Mutex
	// dialogs are alert/confirm/prompt calls (an XSS payload's usual proof).
	dialogs []string
	// exceptions are uncaught JavaScript errors of the page.
	exceptions []string
	// console holds console.error lines (CSP violations are reported there).
	console []string
}

// newBrowser starts Chromium with a temporary profile; it stops with t.
func newBrowser(t *testing.T) *browser {
	t.Helper()
	if _, err := os.Stat(chromiumPath); err != nil {
		t.Skipf("web page browser test skipped: %s is not installed (apt-get install chromium)", chromiumPath)
	}
	// The profile is removed by hand, not by t.TempDir: Chromium's helper
	// processes (crashpad, zygote) may still write into it for a moment
	// after the browser exits, and t.TempDir fails the test when its
	// removal finds the directory refilled.
	profile, err := os.MkdirTemp("", "recap-chromium-")
	if err != nil {
		t.Fatal(err)
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromiumPath),
		chromedp.Flag("headless", true),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("autoplay-policy", "no-user-gesture-required"),
		chromedp.UserDataDir(profile),
		chromedp.WindowSize(1280, 900),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelTab := chromedp.NewContext(actx)
	ctx, cancelTime := context.WithTimeout(ctx, 3*time.Minute)
	t.Cleanup(func() {
		cancelTime()
		cancelTab()
		cancelAlloc()
		for i := 0; i < 50; i++ {
			if os.RemoveAll(profile) == nil {
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
		t.Logf("chromium profile %s left behind", profile)
	})
	b := &browser{ctx: ctx}
	chromedp.ListenTarget(ctx, func(ev any) {
		b.mu.Lock()
		defer b.mu.Unlock()
		switch ev := ev.(type) {
		case *page.EventJavascriptDialogOpening:
			b.dialogs = append(b.dialogs, ev.Message)
			go chromedp.Run(ctx, page.HandleJavaScriptDialog(false)) //nolint:errcheck
		case *runtime.EventExceptionThrown:
			b.exceptions = append(b.exceptions, ev.ExceptionDetails.Error())
		case *runtime.EventConsoleAPICalled:
			if ev.Type == runtime.APITypeError {
				var parts []string
				for _, a := range ev.Args {
					parts = append(parts, string(a.Value)+a.Description)
				}
				b.console = append(b.console, strings.Join(parts, " "))
			}
		}
	})
	if err := chromedp.Run(ctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return b
}

func (b *browser) run(t *testing.T, what string, actions ...chromedp.Action) {
	t.Helper()
	if err := chromedp.Run(b.ctx, actions...); err != nil {
		t.Fatalf("%s: %v\n%s", what, err, b.report())
	}
}

func (b *browser) report() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return fmt.Sprintf("dialogs: %q\nexceptions: %q\nconsole errors: %q", b.dialogs, b.exceptions, b.console)
}

// waitFor resolves when the JavaScript condition holds, checking it at
// every change of the document (a MutationObserver), not on a timer.
func waitFor(cond string) chromedp.Action {
	expr := `new Promise((resolve) => {
  const check = () => { try { return !!(` + cond + `); } catch (e) { return false; } };
  if (check()) return resolve(true);
  const o = new MutationObserver(() => { if (check()) { o.disconnect(); resolve(true); } });
  o.observe(document, { subtree: true, childList: true, attributes: true, characterData: true });
})`
	var ok bool
	return chromedp.Evaluate(expr, &ok, func(p *runtime.EvaluateParams) *runtime.EvaluateParams { return p.WithAwaitPromise(true) })
}

func eval(expr string, out any) chromedp.Action { return chromedp.Evaluate(expr, out) }

// screenshot saves a full-page PNG as a test artifact (go test -artifacts
// keeps them).
func screenshot(t *testing.T, b *browser, name string, width, height int64) {
	t.Helper()
	var png []byte
	b.run(t, "screenshot "+name, chromedp.EmulateViewport(width, height), chromedp.FullScreenshot(&png, 100))
	path := filepath.Join(t.ArtifactDir(), name)
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s (%d bytes)", path, len(png))
}

// The hostile lines ride in the prompt: the fake LLM echoes every
// timestamped input line as a highlight, so the summary holds them.
const hostilePrompt = "[00:02] <img src=x onerror=alert(1)> image\n" +
	"[00:03] <script>alert(2)</script> script\n" +
	"[00:04] [click](javascript:alert(3)) link\n" +
	"[00:05] [safe](https://example.com/ok) fine"

func TestPageSummarizesInBrowser(t *testing.T) {
	t.Parallel()
	e := apptest.Start(t, apptest.Options{})
	b := newBrowser(t)
	page := e.Server.URL + "/"
	video := e.Host.PageURL()

	b.run(t, "load the page", chromedp.Navigate(page), waitFor(`document.body.dataset.ready === 'true'`),
		// Record what the page's CSP refuses, were anything to try.
		eval(`window.__violations = []; document.addEventListener('securitypolicyviolation', (e) => window.__violations.push(e.violatedDirective + ' ' + e.blockedURI)); true`, nil),
		chromedp.SendKeys(`input[name="url"]`, video),
		chromedp.SendKeys(`input[name="key"]`, e.Key),
		chromedp.SetValue(`textarea[name="prompt"]`, hostilePrompt),
		chromedp.Click(`#submit`),
		waitFor(`!document.getElementById('dl-md').disabled`),
	)

	var summary string
	b.run(t, "read the summary", chromedp.Text(`#summary`, &summary))
	for _, want := range []string{"Highlights", "Welcome to the Recap test video", "<img src=x onerror=alert(1)>", "<script>alert(2)</script>", "click"} {
		if !strings.Contains(summary, want) {
			t.Errorf("summary lacks %q:\n%s", want, summary)
		}
	}

	t.Run("timestamps link to their moment", func(t *testing.T) {
		var links []struct{ Text, Href, T string }
		b.run(t, "links", eval(`[...document.querySelectorAll('#summary a.ts')].map((a) => ({Text: a.textContent, Href: a.href, T: a.dataset.t}))`, &links))
		seen := map[string]bool{}
		for _, l := range links {
			sec := clockSeconds(t, l.Text)
			if want := fmt.Sprintf("%s#t=%d", video, sec); l.Href != want {
				t.Errorf("timestamp %s links to %s, want %s", l.Text, l.Href, want)
			}
			seen[l.Text] = true
		}
		for _, ts := range []string{"00:01", "00:08", "00:14", "00:02", "00:05"} {
			if !seen[ts] {
				t.Errorf("no link for [%s]; links: %+v", ts, links)
			}
		}
	})

	t.Run("hostile markup runs nothing", func(t *testing.T) {
		var res struct {
			Imgs, Scripts, JSLinks, Links int
			Violations                    []string
			Safe                          string
		}
		b.run(t, "inspect", eval(`({
			Imgs: document.querySelectorAll('#summary img').length,
			Scripts: document.querySelectorAll('#summary script').length,
			JSLinks: [...document.querySelectorAll('a[href]')].filter((a) => !/^(https?:|blob:)/.test(a.href)).length,
			Links: document.querySelectorAll('#summary a:not(.ts)').length,
			Safe: (document.querySelector('#summary a:not(.ts)') || {}).href || '',
			Violations: window.__violations,
		})`, &res))
		if res.Imgs != 0 || res.Scripts != 0 || res.JSLinks != 0 {
			t.Errorf("hostile markup became elements: %+v", res)
		}
		if res.Links != 1 || res.Safe != "https://example.com/ok" {
			t.Errorf("the one http(s) link: %+v", res)
		}
		if len(res.Violations) != 0 {
			t.Errorf("CSP violations: %v", res.Violations)
		}
		if r := b.report(); strings.Contains(r, "dialogs: [\"") || strings.Contains(r, "exceptions: [\"") {
			t.Errorf("the page ran something:\n%s", r)
		}
	})

	screenshot(t, b, "page-desktop.png", 1280, 900)
	screenshot(t, b, "page-phone.png", 390, 844)
	b.run(t, "desktop again", chromedp.EmulateViewport(1280, 900))

	t.Run("dark scheme", func(t *testing.T) {
		var light, dark string
		bg := `getComputedStyle(document.body).backgroundColor`
		b.run(t, "light", eval(bg, &light))
		b.run(t, "dark", emulation.SetEmulatedMedia().WithFeatures([]*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: "dark"}}),
			eval(bg, &dark))
		screenshot(t, b, "page-dark.png", 1280, 900)
		b.run(t, "light again", emulation.SetEmulatedMedia().WithFeatures([]*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: "light"}}),
			chromedp.EmulateViewport(1280, 900))
		if light == dark {
			t.Errorf("prefers-color-scheme: dark changes nothing (background %s)", light)
		}
	})

	t.Run("phone width has no sideways scroll", func(t *testing.T) {
		var wide bool
		b.run(t, "width", chromedp.EmulateViewport(390, 844),
			eval(`document.documentElement.scrollWidth > document.documentElement.clientWidth + 1`, &wide),
			chromedp.EmulateViewport(1280, 900))
		if wide {
			t.Error("the page scrolls sideways at 390 px")
		}
	})

	t.Run("transcript tab", func(t *testing.T) {
		var first struct{ Text, Href string }
		var n int
		b.run(t, "transcript",
			chromedp.Focus(`#tab-summary`),
			chromedp.KeyEvent(kb.ArrowRight), // the tab list is keyboard driven
			waitFor(`document.querySelectorAll('#transcript li').length > 0`),
			eval(`document.querySelectorAll('#transcript li').length`, &n),
			eval(`(() => { const a = document.querySelector('#transcript li:nth-child(2) a.ts'); return {Text: a.textContent, Href: a.href}; })()`, &first))
		if n != 3 {
			t.Errorf("transcript lines: %d, want 3", n)
		}
		if first.Text != "00:08" || first.Href != video+"#t=8" {
			t.Errorf("second transcript line: %+v", first)
		}
	})

	t.Run("mind map tab", func(t *testing.T) {
		// The API's markmap of the job on screen (the caller's newest).
		mm := markmapOf(t, e)
		var want int // one list item per heading and per bullet
		for _, line := range strings.Split(mm, "\n") {
			if strings.HasPrefix(line, "#") || strings.HasPrefix(strings.TrimSpace(line), "- ") {
				want++
			}
		}
		var tree struct {
			Items, Folds, Open int
			Root               string
			Stamp              struct{ Text, Href string }
			Labels             []string
		}
		read := eval(`(() => {
			const t = document.querySelector('#mindmap .mindmap-tree');
			const a = t.querySelector('a.ts');
			return {
				Items: t.querySelectorAll('li').length,
				Folds: t.querySelectorAll('details').length,
				Open: t.querySelectorAll('details[open]').length,
				Root: t.querySelector(':scope > li > details > summary').textContent,
				Stamp: a ? {Text: a.textContent, Href: a.href} : {},
				Labels: [...t.querySelectorAll('.mm-label')].map((l) => l.textContent),
			};
		})()`, &tree)
		b.run(t, "open the mind map",
			waitFor(`!document.getElementById('tab-mindmap').hidden`),
			chromedp.Click(`#tab-mindmap`),
			waitFor(`!document.getElementById('panel-mindmap').hidden && document.getElementById('panel-summary').hidden`),
			read)
		if tree.Items != want || want < 3 {
			t.Errorf("the tree has %d items, the markmap %d headings and bullets:\n%s\nlabels %q", tree.Items, want, mm, tree.Labels)
		}
		if title := strings.TrimPrefix(strings.SplitN(strings.SplitN(mm, "\n# ", 2)[1], "\n", 2)[0], "# "); tree.Root != title {
			t.Errorf("root %q, want the markmap's title %q", tree.Root, title)
		}
		if tree.Folds == 0 || tree.Open == 0 {
			t.Errorf("no collapsible levels: %+v", tree)
		}
		if tree.Stamp.Href != video+"#t="+fmt.Sprint(clockSeconds(t, tree.Stamp.Text)) {
			t.Errorf("a timestamp in the tree links to %+v", tree.Stamp)
		}
		for _, l := range tree.Labels {
			if strings.Contains(l, "**") || strings.HasPrefix(l, "#") {
				t.Errorf("markdown left in a label: %q", l)
			}
		}
		// Folding: a click on the root's summary closes the whole tree.
		var visible int
		b.run(t, "fold", chromedp.Click(`#mindmap .mindmap-tree > li > details > summary`),
			eval(`[...document.querySelectorAll('#mindmap .mm-label')].filter((l) => l.checkVisibility()).length`, &visible))
		if visible != 1 {
			t.Errorf("%d labels visible after folding the root, want 1", visible)
		}
		b.run(t, "unfold", chromedp.Click(`#mindmap .mindmap-tree > li > details > summary`), chromedp.Click(`#tab-summary`))
	})

	t.Run("follow-up question", func(t *testing.T) {
		before := len(e.Fake.Requests())
		var answer string
		b.run(t, "ask", chromedp.Click(`#tab-summary`),
			chromedp.SendKeys(`#question`, "What comes [00:14] last?"),
			chromedp.SendKeys(`#question`, kb.Enter),
			waitFor(`!document.getElementById('ask').disabled && document.querySelector('.thread .answer').textContent.length > 0`),
			chromedp.Text(`.thread .answer`, &answer))
		reqs := e.Fake.Requests()
		if len(reqs) <= before {
			t.Fatal("the follow-up reached no model")
		}
		last := reqs[len(reqs)-1].Text()
		if !strings.Contains(last, "What comes [00:14] last?") || !strings.Contains(last, "Highlights") {
			t.Errorf("the follow-up did not carry the question and the summary:\n%s", last)
		}
		if !strings.Contains(answer, "00:14") {
			t.Errorf("answer: %q", answer)
		}
	})

	t.Run("recent jobs", func(t *testing.T) {
		var states []string
		b.run(t, "jobs", chromedp.Click(`#refresh-jobs`),
			waitFor(`document.querySelectorAll('#jobs .state-succeeded').length > 0`),
			eval(`[...document.querySelectorAll('#jobs .state')].map((s) => s.textContent)`, &states))
		if len(states) == 0 || states[len(states)-1] != "succeeded" {
			t.Errorf("job states: %v", states)
		}
	})

	t.Run("errors as the API words them", func(t *testing.T) {
		want := apiError(t, e.URL+"/chat/completions", "rcp_not_a_key")
		var got string
		b.run(t, "bad key", chromedp.SetValue(`#key`, "rcp_not_a_key"), chromedp.Click(`#submit`),
			waitFor(`!document.getElementById('error').hidden`), chromedp.Text(`#error`, &got))
		if got != want {
			t.Errorf("error shown %q, the API says %q", got, want)
		}
	})
}

func TestPagePlaysDirectMedia(t *testing.T) {
	t.Parallel()
	e := apptest.Start(t, apptest.Options{STT: true})
	b := newBrowser(t)
	media := e.Host.MediaURL()
	var kind string
	var links []struct{ Text, Href, T string }
	b.run(t, "summarize the media file", chromedp.Navigate(e.Server.URL+"/"), waitFor(`document.body.dataset.ready === 'true'`),
		chromedp.SendKeys(`#url`, media), chromedp.SendKeys(`#key`, e.Key), chromedp.Click(`#submit`),
		waitFor(`!document.getElementById('dl-md').disabled`),
		eval(`document.getElementById('media').tagName`, &kind),
		eval(`[...document.querySelectorAll('#summary a.ts')].map((a) => ({Text: a.textContent, Href: a.href, T: a.dataset.t}))`, &links))
	if kind != "VIDEO" {
		t.Fatalf("player: %q, want a <video>", kind)
	}
	var target *struct{ Text, Href, T string }
	for i, l := range links {
		if want := fmt.Sprintf("%s#t=%d", media, clockSeconds(t, l.Text)); l.Href != want {
			t.Errorf("timestamp %s links to %s, want %s", l.Text, l.Href, want)
		}
		if l.T != "0" && target == nil {
			target = &links[i]
		}
	}
	if target == nil {
		t.Fatalf("no timestamp past 0 to seek to: %+v", links)
	}
	var at float64
	var url string
	b.run(t, "seek", chromedp.Click(`#summary a.ts[data-t="`+target.T+`"]`),
		eval(`document.getElementById('media').currentTime`, &at), chromedp.Location(&url))
	if want := float64(clockSeconds(t, target.Text)); at != want {
		t.Errorf("player at %.1f s after clicking %s, want %.0f", at, target.Text, want)
	}
	if url != e.Server.URL+"/" {
		t.Errorf("clicking a timestamp left the page for %s", url)
	}
}

func TestPageSignsInWithOAuth(t *testing.T) {
	t.Parallel()
	e := apptest.Start(t, apptest.Options{NoWorker: true})
	// The page's own URL is the client's redirect URI: the listener is
	// opened first to know it.
	srv := httptest.NewUnstartedServer(nil)
	pageURL := "http://" + srv.Listener.Addr().String() + "/"
	c, _, err := e.Store.CreateOAuthClient(context.Background(), "Recap web page", []string{pageURL}, false)
	if err != nil {
		t.Fatal(err)
	}
	cfg := e.Config
	cfg.WebOAuthClientID = c.ID
	srv.Config.Handler = app.NewAPI(cfg, e.Deps)
	srv.Start()
	t.Cleanup(srv.Close)

	b := newBrowser(t)
	var signedIn bool
	var jobsText string
	b.run(t, "sign in", chromedp.Navigate(pageURL), waitFor(`document.body.dataset.ready === 'true'`),
		chromedp.Click(`#sign-in`),
		chromedp.WaitVisible(`input[name="api_key"]`),
		chromedp.SendKeys(`input[name="api_key"]`, e.Key),
		chromedp.Click(`button[value="approve"]`),
		chromedp.WaitVisible(`#signed-in`),
		waitFor(`document.body.dataset.ready === 'true'`),
		eval(`!document.getElementById('signed-in').hidden && document.getElementById('key-row').hidden`, &signedIn),
		waitFor(`!document.getElementById('jobs-status').textContent.startsWith('Paste')`),
		chromedp.Text(`#jobs-status`, &jobsText))
	if !signedIn {
		t.Fatalf("not signed in\n%s", b.report())
	}
	var loc string
	b.run(t, "location", chromedp.Location(&loc))
	if loc != pageURL {
		t.Errorf("the code stayed in the address bar: %s", loc)
	}
	// The access token works: the jobs list answered (no jobs yet).
	if jobsText != "No jobs yet." {
		t.Errorf("jobs with the access token: %q", jobsText)
	}
	var stored string
	b.run(t, "storage", eval(`localStorage.getItem('recap.key') || ''`, &stored))
	if stored != "" {
		t.Error("signing in stored a key in localStorage")
	}
}

func TestPageHeaders(t *testing.T) {
	t.Parallel()
	e := apptest.Start(t, apptest.Options{NoWorker: true})
	resp, err := http.Get(e.Server.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("GET /: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	csp := resp.Header.Get("Content-Security-Policy")
	for _, d := range []string{"script-src 'self'", "style-src 'self'", "connect-src 'self'", "default-src 'none'", "frame-ancestors 'none'"} {
		if !strings.Contains(csp, d) {
			t.Errorf("CSP %q lacks %q", csp, d)
		}
	}
	if strings.Contains(csp, "unsafe-") {
		t.Errorf("CSP allows unsafe sources: %q", csp)
	}
	for _, forbidden := range []string{"<script>", " style=", "onclick", "http://", "https://cdn"} {
		if strings.Contains(string(body), forbidden) {
			t.Errorf("the page holds %q", forbidden)
		}
	}
	// The API is unchanged beside the page.
	resp, err = http.Get(e.Server.URL + "/nope")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 404 || resp.Header.Get("Content-Type") != "application/json" {
		t.Errorf("GET /nope: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	if csp != web.CSP {
		t.Errorf("CSP %q, want web.CSP", csp)
	}
}

// apiError is the message the API answers a chat completion with key.
func apiError(t *testing.T, endpoint, key string) string {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, endpoint, strings.NewReader(`{"model":"bibigpt","messages":[{"role":"user","content":"https://example.com/v"}]}`))
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	// /api/v1 answers in the seed's shape: "error" is the message.
	var body struct {
		Error string `json:"error"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || body.Error == "" {
		t.Fatalf("API error reply: %v", err)
	}
	return body.Error
}

func clockSeconds(t *testing.T, s string) int {
	t.Helper()
	total := 0
	for _, p := range strings.Split(s, ":") {
		var n int
		if _, err := fmt.Sscanf(p, "%d", &n); err != nil {
			t.Fatalf("timestamp %q: %v", s, err)
		}
		total = total*60 + n
	}
	return total
}

// markmapOf fetches the markmap of the default key's newest job.
func markmapOf(t *testing.T, e *apptest.Env) string {
	t.Helper()
	get := func(path string) []byte {
		req, _ := http.NewRequest(http.MethodGet, e.URL+path, nil)
		req.Header.Set("Authorization", "Bearer "+e.Key)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		if res.StatusCode != 200 {
			t.Fatalf("GET %s: %d %s", path, res.StatusCode, b)
		}
		return b
	}
	var list struct {
		Data []struct {
			ID string `json:"id"`
		} `json:"data"`
	}
	if err := json.Unmarshal(get("/jobs?limit=1"), &list); err != nil || len(list.Data) != 1 {
		t.Fatalf("jobs: %+v %v", list, err)
	}
	return string(get("/jobs/" + list.Data[0].ID + "/chapters?format=markmap"))
}

// TestPageShowsFrames: with "Pictures at the highlights" ticked, the page
// asks for frames and shows each of the job's JPEGs under its highlight,
// fetched with the key into a blob: URL (an <img src> could not send it).
func TestPageShowsFrames(t *testing.T) {
	t.Parallel()
	e := apptest.Start(t, apptest.Options{})
	e.Host.Serve("/clip.webm", mediatest.FileHandler(mediatest.VideoClip(t), "video/webm"))
	e.Host.Serve("/clip.vtt", mediatest.BytesHandler("clip.vtt", "text/vtt", mediatest.VideoClipVTT(), time.Unix(0, 0)))
	e.Host.Serve("/clip.html", mediatest.PageHandler("Clip", "/clip.webm", "/clip.vtt"))
	b := newBrowser(t)
	b.run(t, "summarize with frames", chromedp.Navigate(e.Server.URL+"/"), waitFor(`document.body.dataset.ready === 'true'`),
		eval(`window.__violations = []; document.addEventListener('securitypolicyviolation', (e) => window.__violations.push(e.violatedDirective + ' ' + e.blockedURI)); true`, nil),
		chromedp.SendKeys(`input[name="url"]`, e.Host.URL("/clip.html")),
		chromedp.SendKeys(`input[name="key"]`, e.Key),
		chromedp.Click(`#frames`),
		chromedp.Click(`#submit`),
		waitFor(`!document.getElementById('dl-md').disabled`),
		waitFor(`(() => { const i = [...document.querySelectorAll('#summary img.frame')]; return i.length > 0 && i.every((x) => x.src.startsWith('blob:')); })()`),
	)
	var widths []int
	b.run(t, "decode the frames", chromedp.Evaluate(`Promise.all([...document.querySelectorAll('#summary img.frame')].map((i) => i.decode().then(() => i.naturalWidth)))`,
		&widths, func(p *runtime.EvaluateParams) *runtime.EvaluateParams { return p.WithAwaitPromise(true) }))
	var hls int
	b.run(t, "count highlights", eval(`[...document.querySelectorAll('#summary li')].filter((li) => li.querySelector('a.ts')).length`, &hls))
	if len(widths) == 0 || len(widths) != min(hls, 20) {
		t.Fatalf("%d frames shown for %d highlights", len(widths), hls)
	}
	for i, w := range widths {
		if w != 320 { // the clip is 320×240; frames are never upscaled
			t.Errorf("frame %d is %d px wide, want 320", i+1, w)
		}
	}
	var violations []string
	b.run(t, "csp", eval(`window.__violations`, &violations))
	if len(violations) > 0 {
		t.Errorf("the page's CSP refused: %v", violations)
	}
	screenshot(t, b, "page-frames.png", 1280, 900)
}
