package jobs_test

import (
	"reflect"
	"testing"

	"github.com/recap/recap"
	"github.com/recap/recap/jobs"
)

func TestWithRangeRoundTrip(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		lang string
		r    recap.Range
		want string
	}{
		{"en", recap.Range{}, "en"},
		{"", recap.Range{Start: 30, End: 90}, "#t=30-90"},
		{"zh-Hans", recap.Range{Start: 754.5, End: 3723.25}, "zh-Hans#t=754.5-3723.25"},
		{"en", recap.Range{Start: 30}, "en#t=30-"},
		{"en", recap.Range{End: 60}, "en#t=0-60"},
	} {
		got := jobs.WithRange(tc.lang, tc.r)
		if got != tc.want {
			t.Errorf("WithRange(%q, %v) = %q; want %q", tc.lang, tc.r, got, tc.want)
		}
		lang, r := jobs.SplitRange(got)
		if lang != tc.lang || r != tc.r {
			t.Errorf("SplitRange(%q) = %q, %v; want %q, %v", got, lang, r, tc.lang, tc.r)
		}
	}
}

func TestCutSegments(t *testing.T) {
	t.Parallel()
	segs := []recap.Segment{{Start: 0, End: 10, Text: "a"}, {Start: 10, End: 20, Text: "b"}, {Start: 20, End: 30, Text: "c"},
		{Start: 30, End: 30, Text: "d"}, {Start: 40, End: 50, Text: "e"}}
	text := func(ss []recap.Segment) (out []string) {
		for _, s := range ss {
			out = append(out, s.Text)
		}
		return out
	}
	for _, tc := range []struct {
		r    recap.Range
		want []string
	}{
		{recap.Range{}, []string{"a", "b", "c", "d", "e"}},
		{recap.Range{Start: 15, End: 25}, []string{"b", "c"}},
		{recap.Range{Start: 10, End: 20}, []string{"b"}},
		{recap.Range{Start: 30, End: 35}, []string{"d"}},
		{recap.Range{Start: 35}, []string{"e"}},
		{recap.Range{Start: 31, End: 39}, nil},
	} {
		if got := text(jobs.CutSegments(segs, tc.r)); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("CutSegments(%v) = %v; want %v", tc.r, got, tc.want)
		}
	}
}
