package jobs

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"sort"
	"sync"
	"time"

	"github.com/recap/recap"
	"github.com/recap/recap/media"
	"github.com/recap/recap/store"
)

// speechToText downloads the audio, converts it to a compact speech
// format, cuts it into chunks at silences and transcribes them in
// parallel. Every finished chunk is stored, so a retry after a crash only
// sends the chunks still missing.
func (w *Worker) speechToText(ctx context.Context, j *recap.Job, v *store.Video, info *media.Info) (*recap.Transcript, error) {
	dir, err := os.MkdirTemp(w.cfg.TempDir, "recap-job-")
	if err != nil {
		return nil, fmt.Errorf("stt: %w", err)
	}
	defer os.RemoveAll(dir)

	w.publish(ctx, j.ID, recap.Event{Type: recap.EventProgress, Message: "Downloading audio… 0%"})
	tick := newThrottle(time.Second)
	path, err := w.cfg.Media.DownloadAudio(ctx, j.URL, info, dir, func(pct float64) {
		if tick.ok() {
			w.publish(ctx, j.ID, recap.Event{Type: recap.EventProgress, Percent: pct, Message: fmt.Sprintf("Downloading audio… %.0f%%", pct)})
		}
	})
	if err != nil {
		return nil, mediaError(err)
	}
	return w.transcribeLocal(ctx, j, v, dir, path)
}

// transcribeLocal measures, prices and transcribes a local media file (a
// download, or an uploaded file) in dir.
func (w *Worker) transcribeLocal(ctx context.Context, j *recap.Job, v *store.Video, dir, path string) (*recap.Transcript, error) {
	dur, err := w.cfg.Media.Probe(ctx, path)
	if err != nil {
		return nil, mediaError(err)
	}
	if v.Duration <= 0 {
		// The metadata had no duration (generic pages, direct files): keep
		// the measured one with the video for later jobs.
		if err := w.cfg.Store.SetVideoDuration(ctx, v.Key, dur); err != nil {
			return nil, err
		}
	}
	// Refuse, price and record before spending anything on speech-to-text.
	if err := w.measured(ctx, j, dur); err != nil {
		return nil, err
	}
	// SplitAudio encodes each chunk straight to compact speech (mono 16 kHz
	// Opus), so the download is decoded once and nothing is encoded twice.
	// Only a ranged job's range goes to speech-to-text: the audio is cut
	// into chunks within it, each at its offset in the video. (yt-dlp's
	// --download-sections would hand the media URL to ffmpeg, which the
	// confinement keeps off the network; see media/confine.go.)
	w.publish(ctx, j.ID, recap.Event{Type: recap.EventProgress, Message: "Preparing audio for transcription…"})
	chunks, err := w.cfg.Media.SplitAudio(ctx, path, dir, w.cfg.STTChunkSeconds, j.Range)
	if err != nil {
		return nil, mediaError(err)
	}
	// A transcription request's prompt (POST /audio/transcriptions) goes
	// to the speech-to-text service with every chunk. Chunks are cached by
	// video and language, not prompt: a recording transcribed before is
	// reused as it is.
	sttCtx := ctx
	if j.Kind == KindTranscript {
		sttCtx = media.WithSTTPrompt(ctx, j.Prompt)
	}
	all, err := w.transcribeChunks(sttCtx, j.ID, j.VideoKey, j.AudioLanguage, j.Range, chunks)
	if err != nil {
		return nil, err
	}
	return &recap.Transcript{VideoKey: j.VideoKey, Language: j.AudioLanguage, Range: j.Range, Source: "speech_to_text", Segments: all,
		Duration: dur}, nil
}

// transcribeChunks sends the chunks (of the range rng of a video) not
// stored yet to speech-to-text,
// STTConcurrency at a time, stores each as it finishes, and stitches all
// of them in order with their time offsets.
func (w *Worker) transcribeChunks(ctx context.Context, jobID, videoKey, lang string, rng recap.Range, chunks []media.Chunk) ([]recap.Segment, error) {
	done, err := w.cfg.Store.Chunks(ctx, videoKey, lang, rng)
	if err != nil {
		return nil, err
	}
	results := make([][]recap.Segment, len(chunks))
	var todo []media.Chunk
	for i, c := range chunks {
		if d, ok := done[c.Index]; ok && math.Abs(d.Offset-c.Offset) < 0.5 {
			results[i] = d.Segments
			continue
		}
		todo = append(todo, c)
	}
	pos := make(map[int]int, len(chunks))
	for i, c := range chunks {
		pos[c.Index] = i
	}
	var (
		mu       sync.Mutex
		finished = len(chunks) - len(todo)
		firstErr error
	)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	sem := make(chan struct{}, w.cfg.STTConcurrency)
	var wg sync.WaitGroup
	one := func(ctx context.Context, c media.Chunk) {
		defer wg.Done()
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			return
		}
		defer func() { <-sem }()
		segs, err := w.cfg.Transcriber.Transcribe(ctx, c.Path, lang)
		var abs []recap.Segment
		if err == nil {
			abs = cleanSegments(clampSegments(toStoreSegments(segs, c.Offset), c.Offset, c.Offset+c.Duration))
			err = w.cfg.Store.SaveChunk(ctx, videoKey, lang, rng, store.Chunk{Index: c.Index, Offset: c.Offset, Duration: c.Duration, Segments: abs})
		}
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			if firstErr == nil {
				firstErr = err
				cancel()
			}
			return
		}
		results[pos[c.Index]] = abs
		finished++
		pct := 100 * float64(finished) / float64(len(chunks))
		w.publish(ctx, jobID, recap.Event{Type: recap.EventProgress, Percent: pct, Message: fmt.Sprintf("Transcribing… %.0f%%", pct)})
	}
	if d, ok := diarizerOf(w.cfg.Transcriber); ok && d.Diarizes() && len(chunks) > 1 {
		// Each chunk's speakers are labelled on their own: the first
		// chunk is transcribed first, and clips of its speakers go with
		// the others, so a speaker keeps one label through the recording.
		if len(todo) > 0 && todo[0].Index == chunks[0].Index {
			wg.Add(1)
			one(ctx, todo[0])
			todo = todo[1:]
		}
		if first := results[0]; first != nil {
			rel := make([]recap.Segment, len(first))
			for i, s := range first {
				rel[i] = recap.Segment{Start: s.Start - chunks[0].Offset, End: s.End - chunks[0].Offset, Text: s.Text, Speaker: s.Speaker}
			}
			ks, err := d.SpeakerReferences(ctx, chunks[0].Path, rel)
			if err != nil {
				// Labels stay per chunk: worse, not wrong.
				w.log.Warn("speaker references", "job", jobID, "err", err)
			}
			ctx = media.WithKnownSpeakers(ctx, ks)
		}
	}
	for _, c := range todo {
		wg.Add(1)
		go one(ctx, c)
	}
	wg.Wait()
	if firstErr != nil {
		if errors.Is(firstErr, media.ErrSTTPermanent) {
			return nil, permanent(recap.CodeTranscription, "the speech-to-text service refused the audio: "+firstErr.Error(), firstErr)
		}
		return nil, &Error{Code: recap.CodeUpstream, Message: "speech-to-text failed: " + firstErr.Error(), Err: firstErr}
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var all []recap.Segment
	for _, r := range results {
		all = append(all, r...)
	}
	sort.SliceStable(all, func(a, b int) bool { return all[a].Start < all[b].Start })
	return all, nil
}

// diarizer is a Transcriber that labels speakers and can cut reference
// clips of them (media.Transcriber with diarized_json).
type diarizer interface {
	Diarizes() bool
	SpeakerReferences(ctx context.Context, path string, segs []recap.Segment) (media.KnownSpeakers, error)
}

// diarizerOf finds the diarizer behind t, through the metrics wrapper.
func diarizerOf(t Transcriber) (diarizer, bool) {
	if o, ok := t.(observedTranscriber); ok {
		t = o.Transcriber
	}
	d, ok := t.(diarizer)
	return d, ok
}

// clampSegments keeps a chunk's segments inside the chunk and in order, so
// stitched chunks never overlap even when a service rounds generously.
func clampSegments(segs []recap.Segment, from, to float64) []recap.Segment {
	out := segs[:0]
	prev := from
	for _, s := range segs {
		s.Start = math.Max(s.Start, prev)
		s.End = math.Min(s.End, to)
		if s.End < s.Start {
			s.End = s.Start
		}
		if s.Text == "" {
			continue
		}
		out = append(out, s)
		prev = s.End
	}
	return out
}

// throttle lets one call through per interval.
type throttle struct {
	mu    sync.Mutex
	every time.Duration
	last  time.Time
}

func newThrottle(every time.Duration) *throttle { return &throttle{every: every} }

func (t *throttle) ok() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if time.Since(t.last) < t.every {
		return false
	}
	t.last = time.Now()
	return true
}
