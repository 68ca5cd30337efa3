// Package apptest starts a whole Recap (API and worker) in-process on the
// machine's real Postgres and Redis, with a loopback video host and the
// fake OpenAI-compatible server, for end-to-end tests.
package apptest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"github.com/recap/recap"
	"github.com/recap/recap/app"
	"github.com/recap/recap/internal/redistest"
	"github.com/recap/recap/media/mediatest"
	"github.com/recap/recap/store"
	"github.com/recap/recap/store/storetest"
	"github.com/recap/recap/summarize/summarizetest"
)

// DefaultRedisURL is used when TEST_REDIS_URL is unset.
const DefaultRedisURL = redistest.DefaultURL

// RedisURL returns the test Redis URL (redistest.URL).
func RedisURL() string { return redistest.URL() }

// Options tune an environment.
type Options struct {
	// Configure edits the configuration before anything starts.
	Configure func(*app.Config)
	// NoLLM leaves LLM_BASE_URL unset (offline summarizer).
	NoLLM bool
	// STT points STT_BASE_URL at the fake server.
	STT bool
	// NoWorker starts the API only.
	NoWorker bool
	// Minutes credited to the default key (default 600).
	Minutes int64
	// LLMDelay is the fake server's per-call delay.
	LLMDelay time.Duration
	// Log, when set, receives the environment's logs (JSON lines).
	Log io.Writer
}

// Env is a running Recap.
type Env struct {
	Config app.Config
	Deps   *app.Deps
	Store  *store.Store
	Fake   *summarizetest.Server
	Host   *mediatest.Host
	// URL is the API's base URL (…/api/v1), Key the default key's secret.
	URL    string
	Key    string
	KeyRow *recap.Caller
	Client openai.Client
	Server *httptest.Server
	Worker *app.WorkerHandle
	// LossyEvents lets CheckInvariants accept a job whose stream lacks its
	// final event (a Redis failover may lose the last writes to the old
	// master; followers then end from the job row). Never more than one.
	LossyEvents bool
}

// Start brings up an environment, torn down when the test ends.
func Start(t testing.TB, opts Options) *Env {
	t.Helper()
	st, dbURL := storetest.NewWithURL(t)
	fake := summarizetest.New(t, summarizetest.Options{Delay: opts.LLMDelay})
	host := mediatest.NewHost(t)
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	cfg, err := app.Load(func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	cfg.DatabaseURL = dbURL
	cfg.RedisURL = RedisURL()
	cfg.AllowPrivateNetworks = true
	cfg.QueuePrefix = "t" + hex.EncodeToString(b) + ":"
	cfg.LLMModel = "fake-model"
	cfg.LLMBaseURL = fake.URL()
	cfg.LLMAPIKey = "test"
	cfg.TempDir = t.TempDir()
	// Uploads live in memory, shared by the API and workers of this Deps.
	cfg.DataDir, cfg.BlobURL = cfg.TempDir, "mem://"
	if opts.NoLLM {
		cfg.LLMBaseURL, cfg.LLMModel = "", ""
	}
	if opts.STT {
		cfg.STTBaseURL = fake.URL()
		cfg.STTAPIKey = "test"
	}
	if opts.Configure != nil {
		opts.Configure(&cfg)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if os.Getenv("RECAP_TEST_LOG") != "" {
		log = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	if opts.Log != nil {
		log = slog.New(slog.NewJSONHandler(opts.Log, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	ctx := context.Background()
	d, err := app.Connect(ctx, cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Close)
	e := &Env{Config: cfg, Deps: d, Store: st, Fake: fake, Host: host}
	if !opts.NoWorker {
		e.Worker = e.StartWorker(t)
	}
	e.Server = httptest.NewServer(app.NewAPI(cfg, d))
	t.Cleanup(e.Server.Close)
	e.URL = e.Server.URL + "/api/v1"
	minutes := opts.Minutes
	if minutes == 0 {
		minutes = 600
	}
	e.KeyRow, e.Key = e.NewKey(t, "test", minutes)
	e.Client = e.ClientFor(e.Key)
	return e
}

// StartWorker starts one more worker on the environment's queues.
func (e *Env) StartWorker(t testing.TB) *app.WorkerHandle {
	t.Helper()
	w, err := app.StartWorker(e.Config, e.Deps)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Stop)
	return w
}

// NewKey creates a key with an account holding minutes of credit.
func (e *Env) NewKey(t testing.TB, name string, minutes int64) (*recap.Caller, string) {
	t.Helper()
	k, secret, err := e.Store.CreateKey(context.Background(), store.NewKey{Name: name, Seconds: minutes * 60})
	if err != nil {
		t.Fatal(err)
	}
	return k, secret
}

// ClientFor returns an openai-go client for the API with this key and no
// retries (tests count requests). It speaks to /v1, the OpenAI path: the
// BibiGPT path (/api/v1, e.URL) writes errors in the seed's shape, which
// OpenAI's SDKs do not read.
func (e *Env) ClientFor(secret string, opts ...option.RequestOption) openai.Client {
	base := []option.RequestOption{option.WithBaseURL(e.Server.URL + "/v1/"), option.WithAPIKey(secret), option.WithMaxRetries(0)}
	return openai.NewClient(append(base, opts...)...)
}
