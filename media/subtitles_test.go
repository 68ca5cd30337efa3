package media_test

import (
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/recap/recap"
	"github.com/recap/recap/media"
	"github.com/recap/recap/media/mediatest"
)

func TestParseVTT(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   string
		want []recap.Segment
	}{
		{
			name: "basic with ids and settings",
			in: "WEBVTT\n\n1\n00:00:01.500 --> 00:00:04.000 align:start position:0%\nHello world\n\n" +
				"intro-2\n00:00:04.000 --> 00:00:06.250 line:90%\nSecond line\nwraps here\n",
			want: []recap.Segment{{Start: 1.5, End: 4, Text: "Hello world"}, {Start: 4, End: 6.25, Text: "Second line wraps here"}},
		},
		{
			name: "hours optional and long hours",
			in:   "WEBVTT\n\n01:02.003 --> 01:03.5\nshort\n\n123:00:00.000 --> 123:00:01.000\nlong\n",
			want: []recap.Segment{{Start: 62.003, End: 63.5, Text: "short"}, {Start: 442800, End: 442801, Text: "long"}},
		},
		{
			name: "header text, NOTE, STYLE, REGION blocks",
			in: "WEBVTT - Kind: captions\nLanguage: en\n\nNOTE this is a comment\nspanning lines --> not a cue\n\n" +
				"STYLE\n::cue { color: red }\n\nREGION\nid:fred\n\nNOTE\n\n00:00:00.000 --> 00:00:01.000\nkept\n",
			want: []recap.Segment{{Start: 0, End: 1, Text: "kept"}},
		},
		{
			name: "inline tags and entities",
			in: "WEBVTT\n\n00:00:00.000 --> 00:00:02.000\n<v Roger Bingham>We are <b>in</b> New&nbsp;York&amp;co &lt;3\n\n" +
				"00:00:02.000 --> 00:00:03.000\nhello<00:00:02.480><c> world</c><c.colorE5E5E5> again</c> &#39;x&#39;\n",
			want: []recap.Segment{{Start: 0, End: 2, Text: "We are in New York&co <3"}, {Start: 2, End: 3, Text: "hello world again 'x'"}},
		},
		{
			name: "crlf, bom, blank text cues dropped",
			in:   "\ufeffWEBVTT\r\n\r\n00:00:00.000 --> 00:00:01.000\r\n \r\n\r\n00:00:01.000 --> 00:00:02.000\r\ntext\r\n",
			want: []recap.Segment{{Start: 1, End: 2, Text: "text"}},
		},
		{
			name: "end before start clamped",
			in:   "WEBVTT\n\n00:00:05.000 --> 00:00:04.000\nodd\n",
			want: []recap.Segment{{Start: 5, End: 5, Text: "odd"}},
		},
		{
			name: "bad timing skipped",
			in:   "WEBVTT\n\n00:00:xx.000 --> 00:00:04.000\nbad\n\n00:61:00.000 --> 00:62:00.000\nbad minutes\n\n00:00:01.000 --> 00:00:02.000\ngood\n",
			want: []recap.Segment{{Start: 1, End: 2, Text: "good"}},
		},
		{name: "empty", in: "", want: nil},
		{name: "header only", in: "WEBVTT\n", want: nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := media.ParseVTT([]byte(tt.in))
			if err != nil {
				t.Fatalf("ParseVTT: %v", err)
			}
			assertSegments(t, got, tt.want)
		})
	}
}

func TestParseVTTNoHeader(t *testing.T) {
	t.Parallel()
	if _, err := media.ParseVTT([]byte("1\n00:00:01,000 --> 00:00:02,000\nsrt really\n")); err == nil {
		t.Fatal("ParseVTT accepted a file without WEBVTT header")
	}
}

func TestParseVTTTestdata(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile(filepath.Join(mediatest.SampleDir(), "talk.en.vtt"))
	if err != nil {
		t.Fatal(err)
	}
	segs, err := media.ParseVTT(data)
	if err != nil {
		t.Fatal(err)
	}
	if len(segs) != 3 || !strings.HasPrefix(segs[0].Text, "Welcome to the Recap test video") || segs[0].Start != 1.5 {
		t.Fatalf("unexpected segments: %+v", segs)
	}
}

func TestParseSRT(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   string
		want []recap.Segment
	}{
		{
			name: "basic",
			in:   "1\n00:00:01,000 --> 00:00:02,500\nHello\n\n2\n00:00:02,500 --> 00:00:05,000\nTwo\nlines\n",
			want: []recap.Segment{{Start: 1, End: 2.5, Text: "Hello"}, {Start: 2.5, End: 5, Text: "Two lines"}},
		},
		{
			name: "tags, coordinates, crlf, bom",
			in:   "\ufeff1\r\n00:00:01,000 --> 00:00:02,000 X1:100 X2:200 Y1:1 Y2:2\r\n<i>It's</i> <font color=\"#fff\">{\\an8}fine</font>\r\n",
			want: []recap.Segment{{Start: 1, End: 2, Text: "It's fine"}},
		},
		{
			name: "no index, dot separator, extra blank lines",
			in:   "\n\n00:01:00.100 --> 00:01:01.200\nno index\n\n\n\n10\n01:00:00,000 --> 01:00:01,000\nhour\n",
			want: []recap.Segment{{Start: 60.1, End: 61.2, Text: "no index"}, {Start: 3600, End: 3601, Text: "hour"}},
		},
		{name: "empty", in: "", want: nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := media.ParseSRT([]byte(tt.in))
			if err != nil {
				t.Fatalf("ParseSRT: %v", err)
			}
			assertSegments(t, got, tt.want)
		})
	}
	if _, err := media.ParseSRT([]byte("just some text\nwith no cues\n")); err == nil {
		t.Error("ParseSRT accepted text without cues")
	}
}

// youtubeAuto is the shape of YouTube's automatic captions: each line is
// shown as it is spoken, then repeated above the next one, with 10 ms
// snapshot cues in between.
const youtubeAuto = `WEBVTT
Kind: captions
Language: en

00:00:00.000 --> 00:00:02.350 align:start position:0%
 
hello<00:00:00.480><c> everyone</c><00:00:00.960><c> and</c><00:00:01.200><c> welcome</c>

00:00:02.350 --> 00:00:02.360 align:start position:0%
hello everyone and welcome
 

00:00:02.360 --> 00:00:05.000 align:start position:0%
hello everyone and welcome
to<00:00:02.800><c> the</c><c> show</c>

00:00:05.000 --> 00:00:05.010 align:start position:0%
to the show
 

00:00:05.010 --> 00:00:07.000 align:start position:0%
to the show
today<c> we</c><c> talk</c>
`

func TestDedupeCaptions(t *testing.T) {
	t.Parallel()
	segs, err := media.ParseVTT([]byte(youtubeAuto))
	if err != nil {
		t.Fatal(err)
	}
	got := media.DedupeCaptions(segs)
	want := []recap.Segment{
		{Start: 0, End: 2.35, Text: "hello everyone and welcome"},
		{Start: 2.36, End: 5, Text: "to the show"},
		{Start: 5.01, End: 7, Text: "today we talk"},
	}
	assertSegments(t, got, want)

	tests := []struct {
		name string
		in   []recap.Segment
		want []recap.Segment
	}{
		{"empty", nil, []recap.Segment{}},
		{"no overlap kept", []recap.Segment{{Start: 0, End: 1, Text: "a b"}, {Start: 1, End: 2, Text: "c d"}}, []recap.Segment{{Start: 0, End: 1, Text: "a b"}, {Start: 1, End: 2, Text: "c d"}}},
		{"partial overlap", []recap.Segment{{Start: 0, End: 1, Text: "a b c"}, {Start: 1, End: 2, Text: "b c d"}}, []recap.Segment{{Start: 0, End: 1, Text: "a b c"}, {Start: 1, End: 2, Text: "d"}}},
		{"exact repeat dropped", []recap.Segment{{Start: 0, End: 1, Text: "a b"}, {Start: 1, End: 2, Text: "a b"}, {Start: 2, End: 3, Text: "c"}}, []recap.Segment{{Start: 0, End: 1, Text: "a b"}, {Start: 2, End: 3, Text: "c"}}},
		{"overlap not at start kept", []recap.Segment{{Start: 0, End: 1, Text: "a b"}, {Start: 1, End: 2, Text: "c a b"}}, []recap.Segment{{Start: 0, End: 1, Text: "a b"}, {Start: 1, End: 2, Text: "c a b"}}},
	}
	for _, tt := range tests {
		got := media.DedupeCaptions(tt.in)
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s: DedupeCaptions = %+v, want %+v", tt.name, got, tt.want)
		}
	}
}

func assertSegments(t *testing.T, got, want []recap.Segment) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d segments %+v, want %d %+v", len(got), got, len(want), want)
	}
	for i := range got {
		if math.Abs(got[i].Start-want[i].Start) > 1e-9 || math.Abs(got[i].End-want[i].End) > 1e-9 || got[i].Text != want[i].Text {
			t.Errorf("segment %d = %+v, want %+v", i, got[i], want[i])
		}
	}
}

func checkSegmentsSane(t *testing.T, segs []recap.Segment) {
	t.Helper()
	for i, s := range segs {
		if math.IsNaN(s.Start) || math.IsNaN(s.End) || math.IsInf(s.Start, 0) || math.IsInf(s.End, 0) || s.Start < 0 || s.End < s.Start {
			t.Fatalf("segment %d has bad times: %+v", i, s)
		}
		if s.Text == "" || s.Text != strings.TrimSpace(s.Text) || strings.ContainsAny(s.Text, "\n\r") {
			t.Fatalf("segment %d has bad text: %q", i, s.Text)
		}
	}
}

func FuzzParseVTT(f *testing.F) {
	f.Add([]byte(youtubeAuto))
	f.Add([]byte("WEBVTT\n\n1\n00:00:01.500 --> 00:00:04.000 align:start\n<v A>Hi &amp; bye\n"))
	f.Add([]byte("WEBVTT\n\nNOTE x\n\nSTYLE\n::cue{}\n\n01:02.003 --> 01:03.5\nshort\n"))
	f.Add([]byte("WEBVTT\r\n\r\n00:00:00.000 --> 00:00:00.000\r\n<c>\r\n"))
	if data, err := os.ReadFile(filepath.Join(mediatest.SampleDir(), "talk.en.vtt")); err == nil {
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		segs, err := media.ParseVTT(data)
		if err != nil {
			return
		}
		checkSegmentsSane(t, segs)
		checkSegmentsSane(t, media.DedupeCaptions(segs))
		if segs, _, err := media.ParseSubtitles("vtt", data); err == nil {
			checkSegmentsSane(t, segs)
		}
	})
}

func FuzzParseSRT(f *testing.F) {
	f.Add([]byte("1\n00:00:01,000 --> 00:00:02,500\nHello\n\n2\n00:00:02,500 --> 00:00:05,000\nTwo\nlines\n"))
	f.Add([]byte("\ufeff1\r\n00:00:01,000 --> 00:00:02,000 X1:1\r\n<i>It's</i> {\\an8}fine\r\n"))
	f.Add([]byte("00:01:00.100 --> 00:01:01.200\n\n\n"))
	f.Add([]byte("garbage"))
	f.Fuzz(func(t *testing.T, data []byte) {
		segs, err := media.ParseSRT(data)
		if err != nil {
			return
		}
		checkSegmentsSane(t, segs)
		if segs, _, err := media.ParseSubtitles("srt", data); err == nil {
			checkSegmentsSane(t, segs)
		}
	})
}
