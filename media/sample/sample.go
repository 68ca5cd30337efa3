// Package sample holds the sample talk: a short spoken talk (talk.webm) and
// its English subtitles (talk.en.vtt), made by scripts/gen-testdata.sh. The
// media tests and the end-to-end tests serve these files from this
// directory (mediatest.SampleDir), and `api demo` summarizes the embedded
// copy when given no URL, so an installed binary can run the demo anywhere.
package sample

import "embed"

// File names of the talk and its subtitles inside FS and SampleDir.
const (
	Media     = "talk.webm"
	Subtitles = "talk.en.vtt"
)

// FS holds talk.webm and talk.en.vtt at its root.
//
//go:embed talk.webm talk.en.vtt
var FS embed.FS
