package jobs_test

import (
	"reflect"
	"testing"

	"github.com/recap/recap"
	"github.com/recap/recap/jobs"
)

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
