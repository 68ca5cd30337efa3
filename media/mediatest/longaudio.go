package mediatest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
)

// longAudioVersion is part of the cache file name; bump it when the
// generated content changes.
const longAudioVersion = "v1"

var longAudioMu sync.Mutex

// LongAudioUnitSeconds is roughly the period of the speech/silence pattern
// in GenerateLongAudio's output (each unit ends with 4 s of silence).
const LongAudioUnitSeconds = 13.4

// GenerateLongAudio returns the path of an Ogg/Opus file of exactly
// minutes minutes: espeak-ng speech followed by 4 s of silence, repeated.
// It is built once per length (about half a second for 30 minutes: one
// short unit is encoded and then stream-copied in a loop) and cached under
// os.TempDir(), shared by tests and test processes; callers must not
// modify it.
func GenerateLongAudio(t testing.TB, minutes int) string {
	t.Helper()
	if minutes <= 0 {
		t.Fatalf("mediatest: GenerateLongAudio(%d): minutes must be positive", minutes)
	}
	longAudioMu.Lock()
	defer longAudioMu.Unlock()

	dir := filepath.Join(os.TempDir(), "recap-mediatest-"+longAudioVersion)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatalf("mediatest: %v", err)
	}
	out := filepath.Join(dir, fmt.Sprintf("long-%dm.ogg", minutes))
	if st, err := os.Stat(out); err == nil && st.Size() > 0 {
		return out
	}
	unit, err := longAudioUnit(dir)
	if err != nil {
		t.Fatalf("mediatest: %v", err)
	}
	tmp, err := os.CreateTemp(dir, "long-*.ogg.tmp")
	if err != nil {
		t.Fatalf("mediatest: %v", err)
	}
	tmp.Close()
	defer os.Remove(tmp.Name())
	if err := run("ffmpeg", "-nostdin", "-loglevel", "error", "-y",
		"-stream_loop", "-1", "-i", unit, "-t", strconv.Itoa(minutes*60),
		"-c", "copy", "-f", "ogg", tmp.Name()); err != nil {
		t.Fatalf("mediatest: %v", err)
	}
	if err := os.Rename(tmp.Name(), out); err != nil {
		t.Fatalf("mediatest: %v", err)
	}
	return out
}

// longAudioUnit encodes one speech+silence unit, cached next to the output.
func longAudioUnit(dir string) (string, error) {
	unit := filepath.Join(dir, "unit.ogg")
	if st, err := os.Stat(unit); err == nil && st.Size() > 0 {
		return unit, nil
	}
	work, err := os.MkdirTemp(dir, "unit-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(work)
	wav := filepath.Join(work, "s.wav")
	if err := run("espeak-ng", "-v", "en-us", "-s", "160", "-w", wav,
		"This is part of a long lecture about distributed systems. "+
			"We discuss queues, retries and idempotent workers. Then we take a short pause."); err != nil {
		return "", err
	}
	tmp := filepath.Join(work, "unit.ogg")
	if err := run("ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-i", wav,
		"-af", "apad=pad_dur=4", "-ac", "1", "-ar", "16000",
		"-c:a", "libopus", "-b:a", "12k", "-application", "voip", tmp); err != nil {
		return "", err
	}
	return unit, os.Rename(tmp, unit)
}

func run(name string, args ...string) error {
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s: %v: %s", name, err, out)
	}
	return nil
}
