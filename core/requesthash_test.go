package core

import (
	"testing"

	"github.com/recap/recap/store"
)

// TestRequestHash: the same request hashes the same; any field that makes
// it another request, and moving text from one field to the next, hashes
// differently.
func TestRequestHash(t *testing.T) {
	base := store.Job{Kind: "summary", VideoKey: "generic:v", URL: "https://example.com/v", Prompt: "ab", Model: "m",
		Images: []string{"https://example.com/a.png"}}
	same := base
	same.Images = []string{"https://example.com/a.png"}
	if requestHash(&base) != requestHash(&same) {
		t.Fatal("equal requests hash differently")
	}
	if h := requestHash(&base); len(h) != 64 {
		t.Fatalf("hash %q: want 64 hex digits", h)
	}
	variants := map[string]func(j *store.Job){
		"kind":        func(j *store.Job) { j.Kind = "answer" },
		"video":       func(j *store.Job) { j.VideoKey = "generic:w" },
		"url":         func(j *store.Job) { j.URL += "?x" },
		"prompt":      func(j *store.Job) { j.Prompt = "a" },
		"shifted":     func(j *store.Job) { j.Prompt, j.Model = "a", "bm" },
		"model":       func(j *store.Job) { j.Model = "n" },
		"audio":       func(j *store.Job) { j.AudioLanguage = "en" },
		"output":      func(j *store.Job) { j.OutputLanguage = "zh" },
		"no images":   func(j *store.Job) { j.Images = nil },
		"two images":  func(j *store.Job) { j.Images = append([]string{}, "https://example.com/a.png", "") },
		"history":     func(j *store.Job) { j.History = []store.Message{{Role: "user", Content: "q"}} },
		"frames":      func(j *store.Job) { j.Frames = true },
		"image moved": func(j *store.Job) { j.Images = nil; j.OutputLanguage = "https://example.com/a.png" },
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
