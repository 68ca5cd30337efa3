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
)

// KindTranscript is the kind of a job that ends with its transcript (a
// POST /audio/transcriptions), without a summary.
const KindTranscript = "transcript"

// FileKeyPrefix starts the video key of an uploaded file's content.
const FileKeyPrefix = "file:"

// Files gives the stages the uploaded files jobs are made of.
type Files interface {
	// File returns an uploaded file (store.ErrNotFound once deleted or
	// expired).
	File(ctx context.Context, id string) (*store.File, error)
	// Fetch copies the file's content into dir and returns its path.
	Fetch(ctx context.Context, f *store.File, dir string) (string, error)
	// Subtitles returns the text subtitles a fetched file carries in lang
	// (media.ErrNoSubtitles when none).
	Subtitles(ctx context.Context, path, lang string) ([]recap.Segment, error)
}

// isFileJob reports whether a job is made of an uploaded file (its URL is
// the file's id, its video key the content's hash).
func isFileJob(j *recap.Job) bool { return strings.HasPrefix(j.VideoKey, FileKeyPrefix) }

// resolveInfo learns a job's media metadata: from yt-dlp for a URL, from
// the probe at upload for a file.
func (w *Worker) resolveInfo(ctx context.Context, j *recap.Job) (*media.Info, error) {
	if !isFileJob(j) {
		info, err := w.cfg.Media.Resolve(ctx, j.URL)
		if err != nil {
			return nil, mediaError(err)
		}
		return info, nil
	}
	f, err := w.jobFile(ctx, j)
	if err != nil {
		return nil, err
	}
	return &media.Info{ID: f.SHA256, Extractor: "upload", Title: f.Filename, Duration: f.Duration}, nil
}

func (w *Worker) jobFile(ctx context.Context, j *recap.Job) (*store.File, error) {
	if w.cfg.Files == nil {
		return nil, permanent(recap.CodeUnsupportedURL, "this worker has no file storage configured (BLOB_URL)", nil)
	}
	f, err := w.cfg.Files.File(ctx, j.URL)
	if errors.Is(err, store.ErrNotFound) {
		return nil, permanent(recap.CodeFileNotFound, "the uploaded file "+j.URL+" was deleted or has expired", err)
	}
	return f, err
}

// fileTranscript makes the transcript of an uploaded file: its own text
// subtitles when it has them (not for a transcription request, which asks
// for speech-to-text), else speech-to-text of its audio.
func (w *Worker) fileTranscript(ctx context.Context, j *recap.Job, v *store.Video) (*recap.Transcript, error) {
	f, err := w.jobFile(ctx, j)
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp(w.cfg.TempDir, "recap-job-")
	if err != nil {
		return nil, fmt.Errorf("file transcript: %w", err)
	}
	defer os.RemoveAll(dir)
	w.publish(ctx, j.ID, recap.Event{Type: recap.EventProgress, Message: "Reading the uploaded file…"})
	path, err := w.cfg.Files.Fetch(ctx, f, dir)
	if errors.Is(err, store.ErrNotFound) {
		return nil, permanent(recap.CodeFileNotFound, "the uploaded file "+j.URL+" was deleted or has expired", err)
	}
	if err != nil {
		return nil, fmt.Errorf("fetch file: %w", err)
	}
	if j.Kind != KindTranscript && f.Subtitles {
		segs, err := w.cfg.Files.Subtitles(ctx, path, j.AudioLanguage)
		if err == nil && len(segs) > 0 {
			return &recap.Transcript{VideoKey: j.VideoKey, Language: j.AudioLanguage, Source: "subtitles",
				Segments: toStoreSegments(segs, 0), Duration: transcriptDuration(v.Duration, segs)}, nil
		}
		if err != nil && !errors.Is(err, media.ErrNoSubtitles) {
			w.logger(ctx, j.ID).Warn("file subtitles", "err", err)
		}
	}
	if w.cfg.Transcriber == nil {
		return nil, permanent(recap.CodeNoTranscript, "this file has no subtitles"+langNote(j.AudioLanguage)+
			" and no speech-to-text service is configured: set STT_BASE_URL (and STT_API_KEY) on the worker", nil)
	}
	return w.transcribeLocal(ctx, j, v, dir, path)
}

// finishTranscript ends a transcription job once its transcript is
// stored: its result is the transcript, read with the job.
func (w *Worker) finishTranscript(ctx context.Context, j *recap.Job) error {
	return w.succeed(ctx, j, nil, &recap.Result{Model: j.Model})
}
