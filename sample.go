// Package recap is the module root. It holds the sample talk that
// `api demo` summarizes when given no URL: the same files the tests serve
// (testdata/, made by scripts/gen-testdata.sh), embedded so an installed
// binary can run the demo anywhere.
package recap

import "embed"

// Sample holds testdata/talk.webm (a short spoken talk) and
// testdata/talk.en.vtt (its English subtitles).
//
//go:embed testdata/talk.webm testdata/talk.en.vtt
var Sample embed.FS
