package jobs

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/recap/recap"
	"github.com/recap/recap/media"
	"github.com/recap/recap/store"
	"github.com/recap/recap/summarize"
)

// MaxFrames bounds the frames one job makes: the first MaxFrames
// highlights get one each.
const MaxFrames = 20

// FrameMaker downloads a video's picture and cuts frames out of it
// (*media.Client).
type FrameMaker interface {
	// DownloadVideo downloads a small format with a picture; media
	// without one is media.ErrNoFrame.
	DownloadVideo(ctx context.Context, url string, info *media.Info, dir string) (string, error)
	// Frame is a JPEG of the local file at sec seconds (media.ErrNoFrame
	// when it has no picture there).
	Frame(ctx context.Context, path string, sec float64) ([]byte, error)
}

// FrameStore keeps a job's frames (*store.Store); a Store without it
// makes no frames.
type FrameStore interface {
	SaveFrames(ctx context.Context, jobID string, frames []store.Frame, note string) error
}

// FramePath is where frame n of a job is served; the markdown links it.
func FramePath(jobID string, n int) string {
	return fmt.Sprintf("/api/v1/jobs/%s/frames/%d.jpg", jobID, n)
}

// frames makes a JPEG at each of the first MaxFrames highlights' moments
// for a job that asked for them (frames: true), stores them with the
// job, and returns the markdown with an image line after each highlight's
// line. Frames are extras: media without a picture, or a video that
// cannot be downloaded, leaves the job's summary as it is, with a note on
// the job saying why it has no frames.
func (w *Worker) frames(ctx context.Context, j *recap.Job, hls []recap.Highlight, md string) (string, error) {
	fs, ok := w.cfg.Store.(FrameStore)
	if !ok || w.cfg.Frames == nil {
		return md, nil
	}
	if len(hls) > MaxFrames {
		hls = hls[:MaxFrames]
	}
	made, note, err := w.cutFrames(ctx, j, hls)
	if err != nil {
		return "", err
	}
	if err := fs.SaveFrames(ctx, j.ID, made, note); err != nil {
		return "", err
	}
	j.FrameCount, j.FramesNote = len(made), note
	return withFrameLinks(md, j.ID, hls, made), nil
}

// cutFrames downloads the video and cuts the frames; note says why none
// were made. Only a canceled run is an error.
func (w *Worker) cutFrames(ctx context.Context, j *recap.Job, hls []recap.Highlight) ([]store.Frame, string, error) {
	if len(hls) == 0 {
		return nil, "the summary has no timestamped highlights to take frames at", nil
	}
	dir, err := os.MkdirTemp(w.cfg.TempDir, "recap-frames-")
	if err != nil {
		return nil, "", fmt.Errorf("frames: %w", err)
	}
	defer os.RemoveAll(dir)
	w.publish(ctx, j.ID, recap.Event{Type: recap.EventProgress, Message: "Downloading the video for frames…"})
	path, err := w.cfg.Frames.DownloadVideo(ctx, j.URL, nil, dir)
	switch {
	case ctx.Err() != nil:
		return nil, "", ctx.Err()
	case errors.Is(err, media.ErrNoFrame):
		return nil, "the media has no video stream (audio only), so it has no frames", nil
	case err != nil:
		w.log.Warn("frames: download", "job", j.ID, "err", err)
		return nil, "the video could not be downloaded for frames: " + mediaError(err).Error(), nil
	}
	var made []store.Frame
	noPicture := 0
	for i, h := range hls {
		b, err := w.cfg.Frames.Frame(ctx, path, h.Start)
		switch {
		case ctx.Err() != nil:
			return nil, "", ctx.Err()
		case errors.Is(err, media.ErrNoFrame):
			noPicture++
			continue
		case err != nil:
			w.log.Warn("frames: extract", "job", j.ID, "at", h.Start, "err", err)
			continue
		}
		made = append(made, store.Frame{N: i + 1, Start: h.Start, JPEG: b})
	}
	switch {
	case len(made) > 0:
		return made, "", nil
	case noPicture == len(hls):
		return nil, "the media has no video stream (audio only), so it has no frames", nil
	default:
		return nil, "no frame could be cut from the video", nil
	}
}

// withFrameLinks puts an image line after each highlight's line of md,
// for the highlights a frame was made for. Highlights are in the
// markdown's order; one whose line is not found gets its image at the end.
func withFrameLinks(md, jobID string, hls []recap.Highlight, made []store.Frame) string {
	if len(made) == 0 {
		return md
	}
	byN := make(map[int]bool, len(made))
	for _, f := range made {
		byN[f.N] = true
	}
	lines := strings.Split(md, "\n")
	after := make(map[int][]string)
	var rest []string
	at := 0
	for i, h := range hls {
		n := i + 1
		if !byN[n] {
			continue
		}
		img := fmt.Sprintf("![frame %d](%s)", n, FramePath(jobID, n))
		text := strings.TrimSpace(h.Text)
		found := -1
		for k := at; k < len(lines) && text != ""; k++ {
			if rest, ok := summarize.HighlightText(lines[k]); ok && strings.HasPrefix(rest, text) {
				found = k
				break
			}
		}
		if found < 0 {
			rest = append(rest, img)
			continue
		}
		indent := ""
		if t := strings.TrimLeft(lines[found], " \t"); strings.HasPrefix(t, "- ") || strings.HasPrefix(t, "* ") {
			// Indented under the list item, the image stays in it.
			indent = lines[found][:len(lines[found])-len(t)] + "  "
		}
		after[found] = append(after[found], indent+img)
		at = found
	}
	var b strings.Builder
	for k, l := range lines {
		if k > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(l)
		for _, img := range after[k] {
			b.WriteString("\n" + img)
		}
	}
	if len(rest) > 0 {
		b.WriteString("\n\n" + strings.Join(rest, "\n"))
	}
	return b.String()
}
