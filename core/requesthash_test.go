package core

import (
	"testing"

	"github.com/recap/recap"
)

// TestRequestHash: the same request hashes the same; any field that makes
// it another request, and moving text from one field to the next, hashes
// differently.
func TestRequestHash(t *testing.T) {
	base := recap.Job{Kind: "summary", VideoKey: "generic:v", URL: "https://example.com/v", Prompt: "ab", Model: "m",
		Images: []string{"https://example.com/a.png"}}
	same := base
	same.Images = []string{"https://example.com/a.png"}
	if requestHash(&base) != requestHash(&same) {
		t.Fatal("equal requests hash differently")
	}
	if h := requestHash(&base); len(h) != 64 {
		t.Fatalf("hash %q: want 64 hex digits", h)
	}
	variants := map[string]func(j *recap.Job){
		"kind":        func(j *recap.Job) { j.Kind = "answer" },
		"video":       func(j *recap.Job) { j.VideoKey = "generic:w" },
		"url":         func(j *recap.Job) { j.URL += "?x" },
		"prompt":      func(j *recap.Job) { j.Prompt = "a" },
		"shifted":     func(j *recap.Job) { j.Prompt, j.Model = "a", "bm" },
		"model":       func(j *recap.Job) { j.Model = "n" },
		"audio":       func(j *recap.Job) { j.AudioLanguage = "en" },
		"output":      func(j *recap.Job) { j.OutputLanguage = "zh" },
		"no images":   func(j *recap.Job) { j.Images = nil },
		"two images":  func(j *recap.Job) { j.Images = append([]string{}, "https://example.com/a.png", "") },
		"history":     func(j *recap.Job) { j.History = []recap.Message{{Role: "user", Content: "q"}} },
		"frames":      func(j *recap.Job) { j.Frames = true },
		"image moved": func(j *recap.Job) { j.Images = nil; j.OutputLanguage = "https://example.com/a.png" },
	}
	seen := map[string]string{requestHash(&base): "base"}
	for name, change := range variants {
		j := base
		j.Images = append([]string{}, base.Images...)
		change(&j)
		h := requestHash(&j)
		if prev, ok := seen[h]; ok {
			t.Errorf("%s hashes as %s", name, prev)
		}
		seen[h] = name
	}
}
