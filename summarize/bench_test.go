package summarize

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/recap/recap/summarize/summarizetest"
)

// BenchmarkSummarizeLong summarizes a 3-hour transcript (a segment every
// 5 s) through the fake server with 300 ms per call, sequentially and
// with 8 parallel map calls. Run it with
//
//	go test ./summarize -run '^$' -bench SummarizeLong -benchtime 1x
func BenchmarkSummarizeLong(b *testing.B) {
	const dur = 3 * 3600
	segs := longTranscript(dur, 14)
	for _, conc := range []int{1, 8} {
		b.Run(fmt.Sprintf("concurrency=%d", conc), func(b *testing.B) {
			fake := summarizetest.New(b, summarizetest.Options{Delay: 300 * time.Millisecond})
			l := New(Config{BaseURL: fake.URL(), Model: "bench", Concurrency: conc, ContextTokens: 2000})
			b.ResetTimer()
			start := time.Now()
			for b.Loop() {
				if _, err := l.Summarize(context.Background(), Request{Duration: dur, Segments: segs}, nil); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(time.Since(start).Seconds()/float64(b.N), "wall-s/op")
			b.ReportMetric(float64(fake.ChatCalls())/float64(b.N), "calls/op")
		})
	}
}
