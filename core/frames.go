package core

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strconv"

	"github.com/recap/recap"
	"github.com/recap/recap/jobs"
	"github.com/recap/recap/store"
)

// CodeInvalidFrames is a frames field that is not a boolean.
const CodeInvalidFrames = "invalid_frames"

// MaxFrames bounds the frames of one job (jobs.MaxFrames).
const MaxFrames = jobs.MaxFrames

// ParseFrames reads the frames extension field: true, false, null or
// absent (false). Anything else is KindInvalid naming param.
func ParseFrames(param string, raw json.RawMessage) (bool, error) {
	raw = bytes.TrimSpace(raw)
	switch string(raw) {
	case "", "null", "false":
		return false, nil
	case "true":
		return true, nil
	}
	return false, Invalid(CodeInvalidFrames, param, "'%s' must be a boolean (true asks for a JPEG at each highlight's moment).", param)
}

// Frame returns JPEG n of the caller's job (frames: true); anyone
// else's job, a job without frames, and a number that names none are
// KindNotFound alike.
func (s *Service) Frame(ctx context.Context, c *recap.Caller, jobID, n string) (*store.Frame, error) {
	j, err := s.Job(ctx, c, jobID)
	if err != nil {
		return nil, err
	}
	num, err := strconv.Atoi(n)
	if err != nil || num < 1 || num > MaxFrames || !j.Frames {
		if r := []rune(n); len(r) > 12 {
			n = string(r[:12]) + "…"
		}
		return nil, NotFound("frame_not_found", "Job %s has no frame %q (frames are numbered from 1, one per highlight).", j.ID, n)
	}
	f, err := s.cfg.Store.JobFrame(ctx, j.ID, num)
	if errors.Is(err, store.ErrNotFound) {
		return nil, NotFound("frame_not_found", "Job %s has no frame %d.", j.ID, num)
	}
	return f, err
}

// parseExtras reads the extension fields every summary door shares: a
// range (start, end) and frames, each error naming its field.
func parseExtras(start, end, frames json.RawMessage) (recap.Range, bool, error) {
	rng, err := ParseRange("start", "end", start, end)
	if err != nil {
		return recap.Range{}, false, err
	}
	f, err := ParseFrames("frames", frames)
	return rng, f, err
}
