package media_test

import (
	"context"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"

	"github.com/recap/recap"
	"github.com/recap/recap/media"
	"github.com/recap/recap/media/mediatest"
)

func TestSplitAudio(t *testing.T) {
	t.Parallel()
	c, _ := setup(t, media.Config{})
	long := mediatest.GenerateLongAudio(t, 25)
	talk := filepath.Join(mediatest.SampleDir(), "talk.webm")
	tests := []struct {
		name       string
		path       string
		maxChunk   float64
		wantChunks int
	}{
		{"25 minutes in 10 minute chunks", long, 600, 3},
		{"short file fits one chunk", talk, 600, 1},
		{"short file in 5 s chunks", talk, 5, 5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			total, err := c.Probe(ctx, tt.path)
			if err != nil {
				t.Fatal(err)
			}
			dir := t.TempDir()
			chunks, err := c.SplitAudio(ctx, tt.path, dir, tt.maxChunk, recap.Range{})
			if err != nil {
				t.Fatal(err)
			}
			if len(chunks) < tt.wantChunks || len(chunks) > tt.wantChunks+1 {
				t.Fatalf("got %d chunks, want about %d: %+v", len(chunks), tt.wantChunks, chunks)
			}
			var sum float64
			for i, ch := range chunks {
				if ch.Index != i {
					t.Errorf("chunk %d has index %d", i, ch.Index)
				}
				if i == 0 && ch.Offset != 0 {
					t.Errorf("first chunk starts at %v", ch.Offset)
				}
				if i > 0 {
					prev := chunks[i-1]
					if math.Abs(prev.Offset+prev.Duration-ch.Offset) > 1e-6 {
						t.Errorf("chunk %d starts at %.6f, previous ends at %.6f", i, ch.Offset, prev.Offset+prev.Duration)
					}
				}
				if ch.Duration <= 0 || ch.Duration > tt.maxChunk+1e-9 {
					t.Errorf("chunk %d lasts %.3f s, max %.0f", i, ch.Duration, tt.maxChunk)
				}
				st, err := os.Stat(ch.Path)
				if err != nil {
					t.Fatal(err)
				}
				if filepath.Dir(ch.Path) != dir || st.Size() > media.MaxChunkBytes {
					t.Errorf("chunk %d: %s, %d bytes", i, ch.Path, st.Size())
				}
				got, err := c.Probe(ctx, ch.Path)
				if err != nil {
					t.Fatal(err)
				}
				if math.Abs(got-ch.Duration) > 0.1 {
					t.Errorf("chunk %d file lasts %.3f s, Chunk says %.3f", i, got, ch.Duration)
				}
				sum += ch.Duration
			}
			if math.Abs(sum-total) > 1e-6 {
				t.Errorf("chunks cover %.6f s of %.6f", sum, total)
			}
			if tt.path == long {
				// Every cut but the last end falls in a silence: the end
				// of each chunk is quiet.
				for _, ch := range chunks[:len(chunks)-1] {
					if ch.Duration >= tt.maxChunk-1e-6 {
						t.Errorf("chunk %d was cut at the window's end, not at a silence", ch.Index)
					}
					if v := maxVolume(t, ch.Path, ch.Duration-0.3); v > -35 {
						t.Errorf("chunk %d ends with sound (max volume %.1f dB in its last 0.3 s)", ch.Index, v)
					}
				}
			}
		})
	}
}

var maxVolumeRE = regexp.MustCompile(`max_volume: (-?[0-9.]+|-inf) dB`)

// maxVolume measures the loudest sample of path from `from` seconds on.
func maxVolume(t *testing.T, path string, from float64) float64 {
	t.Helper()
	out, err := exec.Command("ffmpeg", "-nostdin", "-hide_banner", "-ss", strconv.FormatFloat(from, 'f', 3, 64),
		"-i", path, "-af", "volumedetect", "-f", "null", "-").CombinedOutput()
	if err != nil {
		t.Fatalf("ffmpeg volumedetect: %v: %s", err, out)
	}
	m := maxVolumeRE.FindSubmatch(out)
	if m == nil {
		t.Fatalf("no max_volume in %s", out)
	}
	if string(m[1]) == "-inf" {
		return math.Inf(-1)
	}
	v, _ := strconv.ParseFloat(string(m[1]), 64)
	return v
}

// TestSplitAudioSection: with a section, the chunks cover that part only,
// at offsets in the whole file, cut at silences inside it.
func TestSplitAudioSection(t *testing.T) {
	t.Parallel()
	c, _ := setup(t, media.Config{})
	long := mediatest.GenerateLongAudio(t, 4)
	ctx := context.Background()
	for _, tc := range []struct {
		name               string
		start, end, chunk  float64
		wantFrom, wantTo   float64
		minChunks, maxChks int
	}{
		{"one chunk", 60, 115, 600, 60, 115, 1, 1},
		{"several chunks", 30, 200, 60, 30, 200, 3, 4},
		{"end past the file", 200, 900, 600, 200, 240, 1, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			chunks, err := c.SplitAudio(ctx, long, t.TempDir(), tc.chunk, recap.Range{Start: tc.start, End: tc.end})
			if err != nil {
				t.Fatal(err)
			}
			if len(chunks) < tc.minChunks || len(chunks) > tc.maxChks {
				t.Fatalf("%d chunks: %+v", len(chunks), chunks)
			}
			if chunks[0].Offset != tc.wantFrom {
				t.Errorf("first chunk at %v, want %v", chunks[0].Offset, tc.wantFrom)
			}
			last := chunks[len(chunks)-1]
			if math.Abs(last.Offset+last.Duration-tc.wantTo) > 0.1 {
				t.Errorf("last chunk ends at %v, want %v", last.Offset+last.Duration, tc.wantTo)
			}
			for i, ch := range chunks {
				got, err := c.Probe(ctx, ch.Path)
				if err != nil {
					t.Fatal(err)
				}
				if math.Abs(got-ch.Duration) > 0.1 {
					t.Errorf("chunk %d file lasts %.3f s, Chunk says %.3f", i, got, ch.Duration)
				}
			}
		})
	}
	if _, err := c.SplitAudio(ctx, long, t.TempDir(), 600, recap.Range{Start: 300, End: 400}); err == nil {
		t.Error("a section past the end of the audio was split")
	}
}
