package store_test

import (
	"context"
	"io/fs"
	"slices"
	"sort"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/recap/recap"
	recapsql "github.com/recap/recap/sql"
	"github.com/recap/recap/store"
	"github.com/recap/recap/store/storetest"
)

// rangesMigration is the migration that made the range a field.
const rangesMigration = "170_ranges.sql"

// TestRangesMigration: rows written while a range travelled packed in the
// language ("en#t=30-90") come out of the migration as the language and
// the range, each found under its own key and never as the whole video's;
// the migration may run again.
func TestRangesMigration(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	u := storetest.NewURL(t)

	// The schema as it was before the migration, as Store.Migrate leaves it.
	conn, err := pgx.Connect(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	exec := func(sql string, args ...any) {
		t.Helper()
		if _, err := conn.Exec(ctx, sql, args...); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	exec(`CREATE TABLE schema_migrations (name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())`)
	names, err := fs.Glob(recapsql.Migrations, "*.sql")
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(names)
	if !slices.Contains(names, rangesMigration) {
		t.Fatalf("no %s in %v", rangesMigration, names)
	}
	for _, name := range names {
		if name >= rangesMigration {
			break
		}
		body, err := fs.ReadFile(recapsql.Migrations, name)
		if err != nil {
			t.Fatal(err)
		}
		exec(string(body))
		exec(`INSERT INTO schema_migrations (name) VALUES ($1)`, name)
	}

	// What the packing wrote: a whole transcript and two ranged ones (one
	// running to the end, in the video's own language ""), a summary of
	// each, unfinished chunks of the whole video and of a range, and jobs.
	const key = "generic:packed"
	exec(`INSERT INTO accounts (id, name) VALUES (1, 'a')`)
	exec(`INSERT INTO videos (key, url, duration) VALUES ($1, 'https://example.com/v', 240)`, key)
	exec(`INSERT INTO transcripts (id, video_key, language, source, segments, duration) VALUES
		(1, $1, 'en', 'subtitles', '[{"start":0,"end":240,"text":"whole"}]', 240),
		(2, $1, 'en#t=30-90', 'subtitles', '[{"start":30,"end":90,"text":"part"}]', 240),
		(3, $1, '#t=60.5-', 'speech_to_text', '[{"start":60.5,"end":240,"text":"tail"}]', 240)`, key)
	exec(`INSERT INTO summaries (id, transcript_id, prompt_hash, model, markdown) VALUES
		(1, 1, 'p', 'm', 'whole summary'), (2, 2, 'p', 'm', 'part summary')`)
	exec(`INSERT INTO transcript_chunks (video_key, language, chunk_index, chunk_offset, chunk_duration, segments) VALUES
		($1, 'en', 0, 0, 120, '[]'), ($1, 'en#t=30-90', 0, 30, 60, '[]')`, key)
	const whole, part, tail = "00000000-0000-0000-0000-000000000001", "00000000-0000-0000-0000-000000000002", "00000000-0000-0000-0000-000000000003"
	exec(`INSERT INTO jobs (id, account_id, video_key, audio_language, transcript_id, summary_id) VALUES
		($1, 1, $4, 'en', 1, 1), ($2, 1, $4, 'en#t=30-90', 2, 2), ($3, 1, $4, '#t=60.5-', 3, NULL)`, whole, part, tail, key)

	s, err := store.Open(ctx, store.Config{URL: u, MaxConns: 4})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		id   string
		lang string
		r    recap.Range
	}{
		{whole, "en", recap.Range{}},
		{part, "en", recap.Range{Start: 30, End: 90}},
		{tail, "", recap.Range{Start: 60.5}},
	} {
		j, err := s.Job(ctx, tc.id)
		if err != nil {
			t.Fatal(err)
		}
		if j.AudioLanguage != tc.lang || j.Range != tc.r {
			t.Errorf("job %s: language %q, range %+v; want %q, %+v", tc.id, j.AudioLanguage, j.Range, tc.lang, tc.r)
		}
		tr, err := s.Transcript(ctx, *j.TranscriptID)
		if err != nil {
			t.Fatal(err)
		}
		if tr.Language != tc.lang || tr.Range != tc.r {
			t.Errorf("transcript %d: language %q, range %+v; want %q, %+v", tr.ID, tr.Language, tr.Range, tc.lang, tc.r)
		}
	}

	// Each transcript under its own key, the whole video's only as such.
	for _, tc := range []struct {
		lang string
		r    recap.Range
		want int64 // 0: none
	}{
		{"en", recap.Range{}, 1},
		{"en", recap.Range{Start: 30, End: 90}, 2},
		{"", recap.Range{Start: 60.5}, 3},
		{"", recap.Range{}, 0},
		{"en", recap.Range{Start: 30}, 0},
	} {
		tr, err := s.LatestRangeTranscript(ctx, key, tc.lang, tc.r)
		switch {
		case tc.want == 0 && err != store.ErrNotFound:
			t.Errorf("transcript %q %+v: %v %v; want none", tc.lang, tc.r, tr, err)
		case tc.want != 0 && (err != nil || tr.ID != tc.want):
			t.Errorf("transcript %q %+v: %v %v; want %d", tc.lang, tc.r, tr, err, tc.want)
		}
	}
	if tr, err := s.LatestTranscript(ctx, key, "en"); err != nil || tr.ID != 1 {
		t.Errorf("whole transcript: %v %v", tr, err)
	}
	if langs, err := s.TranscriptLanguages(ctx, key); err != nil || !slices.Equal(langs, []string{"en"}) {
		t.Errorf("transcript languages %q %v; want only the whole video's [en]", langs, err)
	}

	// The summary cache tells the range from the whole video.
	for _, tc := range []struct {
		r    recap.Range
		want int64
	}{{recap.Range{}, 1}, {recap.Range{Start: 30, End: 90}, 2}} {
		sm, err := s.CachedSummary(ctx, key, "en", tc.r, "p", "m", "")
		if err != nil || sm.ID != tc.want {
			t.Errorf("cached summary %+v: %v %v; want %d", tc.r, sm, err, tc.want)
		}
	}
	if sm, err := s.CachedSummary(ctx, key, "en", recap.Range{Start: 30, End: 91}, "p", "m", ""); err != store.ErrNotFound {
		t.Errorf("cached summary of another range: %v %v", sm, err)
	}

	// Chunks of the whole video and of the range, apart.
	for _, tc := range []struct {
		r      recap.Range
		offset float64
	}{{recap.Range{}, 0}, {recap.Range{Start: 30, End: 90}, 30}} {
		cs, err := s.Chunks(ctx, key, "en", tc.r)
		if err != nil || len(cs) != 1 || cs[0].Offset != tc.offset {
			t.Errorf("chunks %+v: %+v %v; want one at %v", tc.r, cs, err, tc.offset)
		}
	}
	if err := s.DeleteChunks(ctx, key, "en", recap.Range{Start: 30, End: 90}); err != nil {
		t.Fatal(err)
	}
	if cs, err := s.Chunks(ctx, key, "en", recap.Range{}); err != nil || len(cs) != 1 {
		t.Errorf("the whole video's chunks after the range's were deleted: %+v %v", cs, err)
	}

	// Nothing packed is left, and the migration runs again without change.
	var packed int
	if err := s.Pool().QueryRow(ctx, `SELECT (SELECT count(*) FROM jobs WHERE audio_language LIKE '%#t=%')
		+ (SELECT count(*) FROM transcripts WHERE language LIKE '%#t=%')
		+ (SELECT count(*) FROM transcript_chunks WHERE language LIKE '%#t=%')`).Scan(&packed); err != nil || packed != 0 {
		t.Errorf("%d packed rows left (%v)", packed, err)
	}
	body, err := fs.ReadFile(recapsql.Migrations, rangesMigration)
	if err != nil {
		t.Fatal(err)
	}
	exec(string(body))
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	if j, err := s.Job(ctx, part); err != nil || j.AudioLanguage != "en" || j.Range != (recap.Range{Start: 30, End: 90}) {
		t.Errorf("after the migration ran again: %+v %v", j, err)
	}
}

// TestJobRange: a job's range is written and read back by every path that
// makes a job.
func TestJobRange(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := storetest.New(t)
	var acct int64
	if err := s.Pool().QueryRow(ctx, `INSERT INTO accounts (name) VALUES ('a') RETURNING id`).Scan(&acct); err != nil {
		t.Fatal(err)
	}
	r := recap.Range{Start: 12.5, End: 70}
	one := &recap.Job{AccountID: acct, URL: "https://example.com/a", VideoKey: "generic:a", AudioLanguage: "en", Range: r}
	if err := s.CreateJob(ctx, one); err != nil {
		t.Fatal(err)
	}
	batch := []*recap.Job{
		{AccountID: acct, URL: "https://example.com/b", VideoKey: "generic:b", Range: recap.Range{Start: 30}},
		{AccountID: acct, URL: "https://example.com/c", VideoKey: "generic:c"},
	}
	if err := s.CreateJobs(ctx, batch); err != nil {
		t.Fatal(err)
	}
	for _, want := range append([]*recap.Job{one}, batch...) {
		j, err := s.Job(ctx, want.ID)
		if err != nil {
			t.Fatal(err)
		}
		if j.Range != want.Range || j.AudioLanguage != want.AudioLanguage {
			t.Errorf("job %s: %q %+v; want %q %+v", j.ID, j.AudioLanguage, j.Range, want.AudioLanguage, want.Range)
		}
	}
}
