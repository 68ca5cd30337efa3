package jobs

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/recap/recap"
	"github.com/recap/recap/internal/redistest"
	"github.com/recap/recap/media"
	"github.com/recap/recap/media/mediatest"
	"github.com/recap/recap/store/storetest"
	"github.com/recap/recap/summarize/summarizetest"
)

// BenchmarkTranscribeLongAudio transcribes one hour of audio in 2-minute
// chunks through the fake speech-to-text server with 300 ms per call, at
// STT_CONCURRENCY 1 and 8. The audio is split once, outside the timing:
// this measures the transcription stage's parallelism.
//
//	go test ./jobs -run '^$' -bench TranscribeLongAudio -benchtime 1x
func BenchmarkTranscribeLongAudio(b *testing.B) {
	st := storetest.New(b)
	fake := summarizetest.New(b, summarizetest.Options{Delay: 300 * time.Millisecond})
	m, err := media.New(media.Config{TempDir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	rdb := redistest.New(b)
	audio := mediatest.GenerateLongAudio(b, 60)
	chunks, err := m.SplitAudio(context.Background(), audio, b.TempDir(), 120, recap.Range{})
	if err != nil {
		b.Fatal(err)
	}
	for _, conc := range []int{1, 8} {
		b.Run(fmt.Sprintf("concurrency=%d", conc), func(b *testing.B) {
			w := NewWorker(WorkerConfig{Store: st, STTConcurrency: conc, Events: NewEvents(EventsConfig{Redis: rdb, Prefix: "recap:bench:"}),
				Transcriber: media.NewTranscriber(media.TranscriberConfig{BaseURL: fake.URL(), APIKey: "x"}),
				Logger:      slog.New(slog.NewTextHandler(io.Discard, nil))})
			for i := 0; b.Loop(); i++ {
				key := fmt.Sprintf("bench:%d:%d:%d", conc, i, time.Now().UnixNano())
				segs, err := w.transcribeChunks(context.Background(), "", key, "", recap.Range{}, chunks)
				if err != nil {
					b.Fatal(err)
				}
				if len(segs) == 0 {
					b.Fatal("no segments")
				}
			}
			b.ReportMetric(float64(len(chunks)), "chunks")
		})
	}
}
