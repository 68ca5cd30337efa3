# Recap — the two commands: `make demo` (or `make run`) and `make test`.
GO ?= go

.PHONY: run api worker migrate test test-deps test-only race vet lint fuzz bench demo deps

demo: deps     ## summarize the sample talk, offline, with a progress bar per stage
	$(GO) run ./cmd/api demo $(URL)

deps:           ## install yt-dlp, ffmpeg and PostgreSQL when missing (apt; prints the brew line on macOS)
	@scripts/demo-deps.sh

run:            ## API + worker in one process (embedded Redis, private Postgres when unset)
	$(GO) run ./cmd/api dev

api:
	$(GO) run ./cmd/api

worker:
	$(GO) run ./cmd/worker

migrate:
	$(GO) run ./cmd/api migrate

test: test-deps ## the test command CI runs: installs what is missing, then test-only with PostgreSQL and Redis (private ones for the run when none answers)
	$(GO) run ./cmd/testenv -- $(MAKE) --no-print-directory test-only

test-deps:      ## install what the tests need when missing (sudo when not root; prints the brew line on macOS)
	@scripts/test-deps.sh

PKGS ?= ./...
test-only:      ## the tests alone, on TEST_DATABASE_URL / TEST_REDIS_URL (default 127.0.0.1:5432 and :6379)
	$(GO) test -race -timeout 20m $(PKGS)
	cd deploy && $(GO) test -timeout 5m ./...   # compose, Dockerfile, kustomize (a module of its own)

vet:
	$(GO) vet ./...
	gofmt -l . | (! grep .)

lint: vet
	$(GO) run honnef.co/go/tools/cmd/staticcheck@latest ./...

FUZZTIME ?= 30s
fuzz:           ## each fuzzer for FUZZTIME (their seed corpora also run in `make test`)
	$(GO) test ./api   -run '^$$' -fuzz '^FuzzParseChatRequest$$' -fuzztime $(FUZZTIME)
	$(GO) test ./media -run '^$$' -fuzz '^FuzzCanonicalKey$$'      -fuzztime $(FUZZTIME)
	$(GO) test ./media -run '^$$' -fuzz '^FuzzParseHostIP$$'       -fuzztime $(FUZZTIME)
	$(GO) test ./media -run '^$$' -fuzz '^FuzzParseVTT$$'          -fuzztime $(FUZZTIME)
	$(GO) test ./media -run '^$$' -fuzz '^FuzzParseSRT$$'          -fuzztime $(FUZZTIME)
	$(GO) test ./textclean -run '^$$' -fuzz '^FuzzClean$$'     -fuzztime $(FUZZTIME)
	$(GO) test ./mcp   -run '^$$' -fuzz '^FuzzGuard$$'             -fuzztime $(FUZZTIME)
	$(GO) test ./api   -run '^$$' -fuzz '^FuzzQueryText$$'         -fuzztime $(FUZZTIME)

bench:
	$(GO) test -run '^$$' -bench . -benchtime 1x ./summarize/ ./jobs/
