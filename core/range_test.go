package core_test

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/recap/recap"
	"github.com/recap/recap/core"
)

func TestParseTime(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		raw  string
		want float64
		ok   bool // present
		bad  bool
	}{
		{raw: ``},
		{raw: `null`},
		{raw: `0`, want: 0, ok: true},
		{raw: `90`, want: 90, ok: true},
		{raw: `754.5`, want: 754.5, ok: true},
		{raw: `1.23456`, want: 1.235, ok: true},
		{raw: `"90"`, want: 90, ok: true},
		{raw: `" 90.25 "`, want: 90.25, ok: true},
		{raw: `"12:34"`, want: 754, ok: true},
		{raw: `"00:05"`, want: 5, ok: true},
		{raw: `"90:00"`, want: 5400, ok: true},
		{raw: `"1:02:03"`, want: 3723, ok: true},
		{raw: `"1:02:03.5"`, want: 3723.5, ok: true},
		{raw: `-1`, bad: true},
		{raw: `"-1"`, bad: true},
		{raw: `"1:60"`, bad: true},
		{raw: `"1:5:60"`, bad: true},
		{raw: `"1:2:3:4"`, bad: true},
		{raw: `""`, bad: true},
		{raw: `"12:"`, bad: true},
		{raw: `":12"`, bad: true},
		{raw: `"1.5:00"`, bad: true},
		{raw: `"1e3"`, bad: true},
		{raw: `"12m"`, bad: true},
		{raw: `"."`, bad: true},
		{raw: `"5."`, bad: true},
		{raw: `true`, bad: true},
		{raw: `[1]`, bad: true},
		{raw: `{"s":1}`, bad: true},
		{raw: `1e10`, bad: true},
	} {
		got, ok, err := core.ParseTime("start", json.RawMessage(tc.raw))
		if tc.bad {
			var e *core.Error
			if !errors.As(err, &e) || e.Kind != core.KindInvalid || e.Param != "start" || e.Code != core.CodeInvalidTime {
				t.Errorf("ParseTime(%s) = %v, %v, %v; want invalid_time naming start", tc.raw, got, ok, err)
			}
			continue
		}
		if err != nil || ok != tc.ok || got != tc.want {
			t.Errorf("ParseTime(%s) = %v, %v, %v; want %v, %v", tc.raw, got, ok, err, tc.want, tc.ok)
		}
	}
}

func TestParseRange(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		start, end string
		want       recap.Range
		param      string // of the error, "" for none
	}{
		{want: recap.Range{}},
		{start: `30`, end: `"1:30"`, want: recap.Range{Start: 30, End: 90}},
		{start: `"0:30"`, want: recap.Range{Start: 30}},
		{end: `"2:00"`, want: recap.Range{End: 120}},
		{start: `0`, want: recap.Range{}},
		{start: `90`, end: `90`, param: "end"},
		{start: `90`, end: `30`, param: "end"},
		{end: `0`, param: "end"},
		{start: `"x"`, end: `30`, param: "start"},
		{start: `3`, end: `"x"`, param: "end"},
	} {
		r, err := core.ParseRange("start", "end", json.RawMessage(tc.start), json.RawMessage(tc.end))
		if tc.param != "" {
			var e *core.Error
			if !errors.As(err, &e) || e.Param != tc.param || e.Kind != core.KindInvalid {
				t.Errorf("ParseRange(%s, %s) = %v, %v; want an error naming %s", tc.start, tc.end, r, err, tc.param)
			}
			continue
		}
		if err != nil || r != tc.want {
			t.Errorf("ParseRange(%s, %s) = %v, %v; want %v", tc.start, tc.end, r, err, tc.want)
		}
	}
}

func TestCheckRangeIn(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		r     recap.Range
		dur   float64
		param string
	}{
		{r: recap.Range{Start: 30, End: 90}, dur: 100},
		{r: recap.Range{Start: 30, End: 100.5}, dur: 100}, // metadata durations are rounded
		{r: recap.Range{Start: 30, End: 90}, dur: 0},      // not known yet
		{r: recap.Range{Start: 30}, dur: 100},
		{r: recap.Range{Start: 100, End: 120}, dur: 100, param: "start"},
		{r: recap.Range{Start: 150}, dur: 100, param: "start"},
		{r: recap.Range{Start: 30, End: 200}, dur: 100, param: "end"},
	} {
		err := core.CheckRangeIn(tc.r, tc.dur, "start", "end")
		if tc.param == "" {
			if err != nil {
				t.Errorf("CheckRangeIn(%v, %v) = %v", tc.r, tc.dur, err)
			}
			continue
		}
		var e *core.Error
		if !errors.As(err, &e) || e.Param != tc.param || e.Code != recap.CodeInvalidRange || e.Kind != core.KindInvalid {
			t.Errorf("CheckRangeIn(%v, %v) = %v; want invalid_range naming %s", tc.r, tc.dur, err, tc.param)
		}
	}
}
