// Package summarize turns timestamped transcripts into markdown summaries
// (overview, chapters, highlights) and answers follow-up questions about them.
//
// Two implementations share one method set: LLM talks to any
// OpenAI-compatible chat completion service and handles transcripts of any
// length by token-budgeted map-reduce; Extractive runs offline and
// deterministically by picking representative transcript moments.
package summarize

import (
	"cmp"
	"errors"
	"math"
	"slices"
	"strings"
	"unicode"

	"github.com/recap/recap"
)

// Request asks for a summary of one video.
type Request struct {
	Title string
	// Duration in seconds, 0 if unknown (then the last segment's end is used).
	// For part of a video it is where the part ends.
	Duration float64
	// Start is where the part of the video the transcript covers begins
	// (a request's start); 0 for a whole video. The prompt names the part,
	// and chapters begin at Start.
	Start float64
	// Segments may be empty when the request holds only images.
	Segments []recap.Segment
	// Prompt is a custom user prompt; "" asks for the default summary.
	Prompt string
	// Model overrides Config.Model when not empty.
	Model string
	// OutputLanguage is the language of the summary; "" means the language
	// of Prompt if any, else the language of the transcript.
	OutputLanguage string
	// Images are image URLs sent to the model as vision content parts.
	Images []string
	// Format asks for a JSON answer instead of markdown; nil means
	// markdown, unless Prompt carries a format (see WithFormat).
	Format *Format
}

// Usage counts what the provider billed across every call of one operation.
type Usage struct {
	PromptTokens, CompletionTokens, Calls int
}

// Result is a finished summary or answer.
type Result struct {
	// Markdown is the authoritative text. It equals the concatenation of the
	// deltas passed to onDelta, except when the model's chapter list had to
	// be repaired (the repaired list replaces it here).
	Markdown string
	Chapters []recap.Chapter
	Model    string
	Usage    Usage
	// Truncated reports that some input had to be cut or split to fit the
	// budget; the markdown then carries a visible note saying so.
	Truncated bool
	// Highlights are the markdown's lines that begin with a timestamp,
	// each with the transcript span supporting it.
	Highlights []recap.Highlight
	// Grounding counts the timestamps checked against the transcript; nil
	// when there was no transcript to check against (images only).
	Grounding *recap.Grounding
}

// Question is a follow-up question about a video already transcribed.
type Question struct {
	Title                 string
	Segments              []recap.Segment
	History               []recap.Message
	Question              string
	Model, OutputLanguage string
}

var (
	// ErrPermanent wraps provider errors that retrying cannot fix (4xx other
	// than 408, 409 and 429): bad request, auth, unknown model.
	ErrPermanent = errors.New("permanent provider error")
	// ErrEmpty means there was nothing to summarize or ask about.
	ErrEmpty = errors.New("nothing to summarize")
	// ErrEmptyAnswer means the model's answer had no substance: it was
	// empty, or held headings only once grounding had taken out what no
	// transcript moment supports. Retrying the same call is unlikely to
	// help; the job fails rather than succeeding with nothing.
	ErrEmptyAnswer = errors.New("the model's answer has no content")
)

// longMedia is the duration from which summaries carry chapters even when
// the transcript fits one call.
const longMedia = 20 * 60

// FormatTimestamp renders seconds as "[mm:ss]" under an hour and
// "[h:mm:ss]" from an hour on, the form used in transcripts fed to models
// and in summaries.
func FormatTimestamp(sec float64) string {
	return "[" + recap.Clock(sec) + "]"
}

// EstimateTokens is a conservative, offline estimate of how many tokens s
// costs in a BPE tokenizer such as cl100k/o200k: one token per ideographic,
// kana or hangul rune, one per two other non-ASCII runes (Cyrillic, Greek,
// Arabic... are split finely), and one per three ASCII bytes, which
// overestimates the usual ~4 characters per token of English text so a
// budget computed from it is not exceeded in practice.
func EstimateTokens(s string) int {
	var ascii, wide, other int
	for _, r := range s {
		switch {
		case r < 0x80:
			ascii++
		case isCJK(r):
			wide++
		default:
			other++
		}
	}
	return wide + (other+1)/2 + (ascii+2)/3
}

func isCJK(r rune) bool {
	return unicode.Is(unicode.Han, r) || unicode.Is(unicode.Hiragana, r) ||
		unicode.Is(unicode.Katakana, r) || unicode.Is(unicode.Hangul, r)
}

// detectScript names the language a text is most likely in, judged by its
// script alone; it returns "" when the script does not pin the language
// down (Latin script, or no letters).
func detectScript(s string) string {
	var han, kana, hangul, cyr, arabic, greek, hebrew, deva, thai, latin int
	n := 0
	for _, r := range s {
		if n > 20000 {
			break
		}
		if !unicode.IsLetter(r) {
			continue
		}
		n++
		switch {
		case unicode.Is(unicode.Hiragana, r) || unicode.Is(unicode.Katakana, r):
			kana++
		case unicode.Is(unicode.Han, r):
			han++
		case unicode.Is(unicode.Hangul, r):
			hangul++
		case unicode.Is(unicode.Cyrillic, r):
			cyr++
		case unicode.Is(unicode.Arabic, r):
			arabic++
		case unicode.Is(unicode.Greek, r):
			greek++
		case unicode.Is(unicode.Hebrew, r):
			hebrew++
		case unicode.Is(unicode.Devanagari, r):
			deva++
		case unicode.Is(unicode.Thai, r):
			thai++
		case unicode.Is(unicode.Latin, r):
			latin++
		}
	}
	if n == 0 {
		return ""
	}
	// Kana marks Japanese even when kanji dominate.
	if kana > 0 && kana*10 >= han {
		return "Japanese"
	}
	best, name := latin, ""
	for _, c := range []struct {
		n    int
		name string
	}{{han, "Chinese"}, {hangul, "Korean"}, {cyr, "the Cyrillic-script language of the text (e.g. Russian, Ukrainian)"}, {arabic, "the Arabic-script language of the text"}, {greek, "Greek"}, {hebrew, "Hebrew"}, {deva, "the Devanagari-script language of the text (e.g. Hindi)"}, {thai, "Thai"}} {
		if c.n > best {
			best, name = c.n, c.name
		}
	}
	return name
}

// languageInstruction tells the model which language to write in.
func languageInstruction(output, prompt, transcript string) string {
	if output != "" {
		return "Write the answer in " + output + "."
	}
	if strings.TrimSpace(prompt) != "" {
		if lang := detectScript(prompt); lang != "" {
			return "Write the answer in " + lang + ", the language of the user's instructions."
		}
		return "Write the answer in the language of the user's instructions."
	}
	if lang := detectScript(transcript); lang != "" {
		return "Write the answer in " + lang + ", the language of the transcript."
	}
	return "Write the answer in the language of the transcript."
}

// effectiveDuration is the media duration, falling back to the end of the
// last segment when it is unknown.
func effectiveDuration(d float64, segs []recap.Segment) float64 {
	end := 0.0
	for _, s := range segs {
		end = math.Max(end, math.Max(s.End, s.Start))
	}
	return math.Max(d, end)
}

// transcriptLine is how a segment is shown to a model: "[12:34] text",
// or "[12:34] Alice: text" when the speaker is known.
func transcriptLine(s recap.Segment) string {
	text := strings.Join(strings.Fields(s.Text), " ")
	if sp := strings.Join(strings.Fields(s.Speaker), " "); sp != "" {
		text = sp + ": " + text
	}
	return FormatTimestamp(s.Start) + " " + text
}

// cleanSegments drops empty segments and orders the rest by time, so every
// later step may assume a clean, sorted transcript.
func cleanSegments(in []recap.Segment) []recap.Segment {
	out := make([]recap.Segment, 0, len(in))
	for _, s := range in {
		if strings.TrimSpace(s.Text) == "" {
			continue
		}
		if s.End < s.Start {
			s.End = s.Start
		}
		out = append(out, s)
	}
	slices.SortStableFunc(out, func(a, b recap.Segment) int { return cmp.Compare(a.Start, b.Start) })
	return out
}
