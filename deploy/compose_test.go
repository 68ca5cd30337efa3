package deploy

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

// The repository root, where docker-compose.yml and the Dockerfile live.
const root = ".."

// composeFile is the part of the Compose specification Recap's file uses.
type composeFile struct {
	Services map[string]service `yaml:"services"`
	Volumes  map[string]any     `yaml:"volumes"`
}

type service struct {
	Image       string            `yaml:"image"`
	Build       *build            `yaml:"build"`
	Command     any               `yaml:"command"`
	Entrypoint  any               `yaml:"entrypoint"`
	Environment map[string]string `yaml:"environment"`
	Healthcheck *healthcheck      `yaml:"healthcheck"`
	DependsOn   map[string]struct {
		Condition string `yaml:"condition"`
	} `yaml:"depends_on"`
	Volumes         []string `yaml:"volumes"`
	Restart         string   `yaml:"restart"`
	StopGracePeriod string   `yaml:"stop_grace_period"`
}

type build struct {
	Context string            `yaml:"context"`
	Target  string            `yaml:"target"`
	Args    map[string]string `yaml:"args"`
}

type healthcheck struct {
	Test    []string `yaml:"test"`
	Disable bool     `yaml:"disable"`
}

func loadCompose(t *testing.T, path string) composeFile {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var c composeFile
	if err := yaml.Unmarshal(b, &c); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if len(c.Services) == 0 {
		t.Fatalf("%s: no services", path)
	}
	return c
}

// words flattens a command (string or list) to its words.
func words(v any) []string {
	switch c := v.(type) {
	case string:
		return strings.Fields(c)
	case []any:
		var out []string
		for _, w := range c {
			out = append(out, strings.Fields(fmt.Sprint(w))...)
		}
		return out
	}
	return nil
}

// oneShot reports whether a service is a task other services wait for to
// complete (the migrations), which has no health to check.
func oneShot(c composeFile, name string) bool {
	for _, s := range c.Services {
		if d, ok := s.DependsOn[name]; ok && d.Condition == "service_completed_successfully" {
			return c.Services[name].Restart == "no"
		}
	}
	return false
}

// composeProblems is every rule docker-compose.yml must follow.
func composeProblems(c composeFile, dockerTargets []string) report {
	var r report
	for name, s := range c.Services {
		if s.Image == "" && s.Build == nil {
			r.add("service %s neither builds nor names an image", name)
		}
		if s.Build != nil && !slices.Contains(dockerTargets, s.Build.Target) {
			r.add("service %s builds target %q, which the Dockerfile lacks (it has %v)", name, s.Build.Target, dockerTargets)
		}
		cmd := strings.Join(append(words(s.Entrypoint), words(s.Command)...), " ")
		for _, bad := range []string{"go run", "go build", "apt-get", "apt ", "pip install", "curl ", "wget "} {
			if strings.Contains(cmd+" ", bad) {
				t := strings.TrimSpace(bad)
				r.add("service %s runs %q at start-up: %s", name, t, cmd)
			}
		}
		if oneShot(c, name) {
			continue
		}
		if s.Healthcheck == nil || s.Healthcheck.Disable || len(s.Healthcheck.Test) < 2 || s.Healthcheck.Test[0] == "NONE" {
			r.add("service %s has no health check", name)
		}
		for dep, d := range s.DependsOn {
			if _, ok := c.Services[dep]; !ok {
				r.add("service %s depends on %s, which does not exist", name, dep)
			}
			if d.Condition == "service_started" || d.Condition == "" {
				r.add("service %s waits only for %s to start, not to be healthy", name, dep)
			}
		}
	}
	return r
}

// dockerfileTargets lists the stage names of the Dockerfile.
func dockerfileTargets(t *testing.T) []string {
	t.Helper()
	var out []string
	for _, in := range dockerfile(t) {
		if f := strings.Fields(in); f[0] == "FROM" && len(f) == 4 && strings.EqualFold(f[2], "AS") {
			out = append(out, f[3])
		}
	}
	return out
}

// dockerfile returns the Dockerfile's instructions, continuation lines
// joined and comments dropped.
func dockerfile(t *testing.T) []string {
	t.Helper()
	f, err := os.Open(filepath.Join(root, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []string
	cur := ""
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if strings.HasSuffix(line, "\\") {
			cur += strings.TrimSuffix(line, "\\") + " "
			continue
		}
		out = append(out, cur+line)
		cur = ""
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestCompose: every service builds or names an image and has a health
// check (but the one-shot migration), nothing is installed or compiled at
// start-up, api and worker start after the migrations and share the data
// volume (uploads), and the worker gets longer than its drain to stop.
func TestCompose(t *testing.T) {
	t.Parallel()
	c := loadCompose(t, filepath.Join(root, "docker-compose.yml"))
	targets := dockerfileTargets(t)
	composeProblems(c, targets).check(t)

	for _, name := range []string{"api", "worker", "postgres", "redis", "migrate"} {
		if _, ok := c.Services[name]; !ok {
			t.Errorf("no %s service", name)
		}
	}
	m := c.Services["migrate"]
	if !oneShot(c, "migrate") || !slices.Contains(words(m.Command), "migrate") {
		t.Errorf("migrate is not a one-shot `api migrate` the others wait for: %+v", m)
	}
	blob := func(s service) string {
		for _, v := range s.Volumes {
			if parts := strings.Split(v, ":"); len(parts) >= 2 && parts[1] == s.Environment["DATA_DIR"] {
				return parts[0]
			}
		}
		return ""
	}
	ab, wb := blob(c.Services["api"]), blob(c.Services["worker"])
	if _, declared := c.Volumes[ab]; ab == "" || ab != wb || !declared {
		t.Errorf("api (%q) and worker (%q) do not share a named volume at DATA_DIR", ab, wb)
	}
	for _, name := range []string{"api", "worker"} {
		s := c.Services[name]
		if s.Healthcheck == nil {
			continue // reported above
		}
		if got := strings.Join(s.Healthcheck.Test, " "); !strings.Contains(got, "healthcheck") {
			t.Errorf("%s's health check %q does not use the binary's own probe", name, got)
		}
		if s.DependsOn["migrate"].Condition != "service_completed_successfully" {
			t.Errorf("%s does not wait for the migrations", name)
		}
	}
	w := c.Services["worker"]
	grace, err := time.ParseDuration(w.StopGracePeriod)
	if err != nil {
		t.Fatalf("worker stop_grace_period %q: %v", w.StopGracePeriod, err)
	}
	// Through the x-recap-env merge; the worker's default is 30 s.
	drain := 30 * time.Second
	if v, ok := w.Environment["SHUTDOWN_TIMEOUT_SECONDS"]; ok {
		if drain, err = time.ParseDuration(v + "s"); err != nil {
			t.Fatalf("SHUTDOWN_TIMEOUT_SECONDS %q: %v", v, err)
		}
	} else {
		t.Error("the worker's environment lacks the shared settings (x-recap-env not merged)")
	}
	if grace <= drain {
		t.Errorf("worker stop_grace_period %s is not longer than SHUTDOWN_TIMEOUT_SECONDS %s", grace, drain)
	}
	// The yt-dlp the compose file asks for by default is the image's.
	if w.Build == nil {
		t.Fatal("the worker is not built from the Dockerfile")
	}
	if got, want := w.Build.Args["YTDLP_VERSION"], "${YTDLP_VERSION:-"+dockerArg(t, "YTDLP_VERSION")+"}"; got != want {
		t.Errorf("compose builds yt-dlp %q, the Dockerfile pins %q", got, want)
	}
	if got, want := w.Build.Args["DENO_VERSION"], "${DENO_VERSION:-"+dockerArg(t, "DENO_VERSION")+"}"; got != want {
		t.Errorf("compose builds deno %q, the Dockerfile pins %q", got, want)
	}
}

// TestComposeRulesCatchMistakes: the rules fail the old file's faults.
func TestComposeRulesCatchMistakes(t *testing.T) {
	t.Parallel()
	var c composeFile
	err := yaml.Unmarshal([]byte(`
services:
  api:
    image: golang:1.26-bookworm
    command: ["go", "run", "./cmd/api"]
  worker:
    image: golang:1.26-bookworm
    command: ["sh", "-c", "apt-get install -y yt-dlp && go run ./cmd/worker"]
    healthcheck:
      test: ["CMD", "true"]
    depends_on:
      api:
        condition: service_started
  nothing:
    healthcheck:
      test: ["CMD", "true"]
`), &c)
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Join(composeProblems(c, []string{"api", "worker"}), "\n")
	for _, want := range []string{`service api runs "go run"`, "service api has no health check", `service worker runs "apt-get"`,
		`service worker runs "go run"`, "service worker waits only for api to start", "service nothing neither builds nor names an image"} {
		if !strings.Contains(got, want) {
			t.Errorf("not caught: %s\n(found:\n%s)", want, got)
		}
	}
}

// dockerArg is the default of a build argument of the Dockerfile.
func dockerArg(t *testing.T, name string) string {
	t.Helper()
	for _, in := range dockerfile(t) {
		if v, ok := strings.CutPrefix(in, "ARG "+name+"="); ok {
			return strings.TrimSpace(v)
		}
	}
	t.Fatalf("the Dockerfile has no ARG %s with a default", name)
	return ""
}

// TestDockerfile: the api and worker targets run as non-root with a
// health check, the worker's yt-dlp is pinned by a build argument, and
// what the images run to install and build is a script that .ci/run runs
// too, so CI proves what the images do.
func TestDockerfile(t *testing.T) {
	t.Parallel()
	ins := dockerfile(t)
	type stage struct {
		from, user, healthcheck, entrypoint string
		runs                                []string
	}
	stages := map[string]*stage{}
	var cur *stage
	for _, in := range ins {
		f := strings.Fields(in)
		switch strings.ToUpper(f[0]) {
		case "FROM":
			cur = &stage{from: f[1]}
			if len(f) == 4 {
				stages[f[3]] = cur
			}
		case "USER":
			cur.user = f[1]
		case "HEALTHCHECK":
			cur.healthcheck = in
		case "ENTRYPOINT":
			cur.entrypoint = in
		case "RUN":
			cur.runs = append(cur.runs, in)
		}
	}
	ci, err := os.ReadFile(filepath.Join(root, ".ci", "run"))
	if err != nil {
		t.Fatal(err)
	}
	script := regexp.MustCompile(`scripts/[a-z0-9-]+\.sh`)
	var used []string
	for name, s := range stages {
		for _, run := range s.runs {
			used = append(used, script.FindAllString(run, -1)...)
			if strings.Contains(run, "apt-get install") {
				t.Errorf("stage %s installs packages outside a script: %s", name, run)
			}
		}
	}
	for _, name := range []string{"api", "worker"} {
		s := stages[name]
		if s == nil {
			t.Errorf("no %s target", name)
			continue
		}
		if u := strings.Split(s.user, ":")[0]; u == "" || u == "0" || u == "root" {
			t.Errorf("%s runs as %q", name, s.user)
		}
		if !strings.Contains(s.healthcheck, name+`", "healthcheck"]`) {
			t.Errorf("%s: health check %q is not the binary's own probe", name, s.healthcheck)
		}
		if !strings.Contains(s.entrypoint, "/usr/local/bin/"+name) {
			t.Errorf("%s: entrypoint %q", name, s.entrypoint)
		}
	}
	if !strings.Contains(stages["api"].from, "distroless/static") {
		t.Errorf("the api image is based on %q, not a minimal static base", stages["api"].from)
	}
	if dockerArg(t, "YTDLP_VERSION") == "" {
		t.Error("yt-dlp is not pinned")
	}
	// Today's YouTube needs yt-dlp ≥ 2025.11.12 with a JavaScript runtime:
	// Debian 13's backports build, and deno pinned beside it.
	if v := dockerArg(t, "YTDLP_VERSION"); v < "2025.11.12" || !strings.Contains(v, "bpo13") {
		t.Errorf("yt-dlp %q: want a trixie-backports build of 2025.11.12 or later", v)
	}
	if dockerArg(t, "DENO_VERSION") == "" {
		t.Error("deno (yt-dlp's JavaScript runtime) is not pinned")
	}
	if from := stages["worker"].from; !strings.Contains(from, "debian:") || dockerArg(t, "WORKER_DEBIAN_RELEASE") != "trixie" {
		t.Errorf("the worker image is based on %q (WORKER_DEBIAN_RELEASE %q), not Debian 13 (trixie)", from, dockerArg(t, "WORKER_DEBIAN_RELEASE"))
	}
	slices.Sort(used)
	used = slices.Compact(used)
	for _, want := range []string{"scripts/build-binaries.sh", "scripts/install-worker-deps.sh"} {
		if !slices.Contains(used, want) {
			t.Errorf("the Dockerfile does not run %s", want)
		}
	}
	for _, s := range used {
		fi, err := os.Stat(filepath.Join(root, s))
		if err != nil || fi.Mode()&0o111 == 0 {
			t.Errorf("%s, run by the Dockerfile, is missing or not executable", s)
		}
		if !strings.Contains(string(ci), s) {
			t.Errorf("%s runs in the image build but not in .ci/run", s)
		}
	}
	// The pin CI installs is the image's.
	for _, arg := range []string{"YTDLP_VERSION", "DENO_VERSION"} {
		if !strings.Contains(string(ci), arg) {
			t.Errorf(".ci/run does not install the image's pinned %s", arg)
		}
	}
}

// TestNoMirrorHost: no script, image or CI file names a package mirror;
// apt's sources come from the machine (scripts/apt-backports.sh).
func TestNoMirrorHost(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob(filepath.Join(root, "scripts", "*"))
	if err != nil {
		t.Fatal(err)
	}
	files = append(files, filepath.Join(root, "Dockerfile"), filepath.Join(root, "docker-compose.yml"), filepath.Join(root, ".ci", "run"))
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if m := mirrorURL.Find(b); m != nil {
			t.Errorf("%s names a package mirror: %s", f, m)
		}
	}
	// The pattern finds the lines the old files had (the host is spelled
	// in pieces so that this file does not name it either).
	for _, line := range []string{
		"echo 'deb http://deb." + "debian.org/debian bookworm-backports main' > x.list",
		"URIs: https://mirrors.example" + ".edu/ubuntu",
	} {
		if !mirrorURL.MatchString(line) {
			t.Errorf("a mirror went unnoticed in %q", line)
		}
	}
}

// mirrorURL matches a URL naming a Debian or Ubuntu package mirror.
var mirrorURL = regexp.MustCompile(`(?i)https?://\S*(debian|ubuntu|archive|mirror)\S*\.(org|com|net|edu)`)
