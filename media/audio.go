package media

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/recap/recap"
)

var progressRE = regexp.MustCompile(`^\[download\]\s+([0-9]+(?:\.[0-9]+)?)%`)

// sizePollInterval is how often DownloadAudio measures what yt-dlp has
// written; a download can overshoot MaxFileSize by what arrives in one
// interval before it is killed.
const sizePollInterval = 200 * time.Millisecond

// DownloadAudio downloads the best audio-only format (else the best
// format) of url into a new directory under dir and returns the file's
// path. progress, if non-nil, receives the download percentage (0–100).
// Media longer than MaxDuration (when the site reports a duration) is
// ErrMediaTooLong, a live stream ErrLive, more than MaxFileSize bytes
// ErrTooLarge — enforced by yt-dlp and, for streams without a length, by
// watching the bytes written and killing yt-dlp's process group. info,
// when it carries yt-dlp's JSON that has not expired (Info.Fresh), spares
// yt-dlp extracting the page again; nil extracts url.
func (c *Client) DownloadAudio(ctx context.Context, url string, info *Info, dir string, progress func(float64)) (string, error) {
	out, err := os.MkdirTemp(dir, "audio-")
	if err != nil {
		return "", fmt.Errorf("download: %w", err)
	}
	path, err := c.download(ctx, url, info, dir, out, audioFormat, "audio", progress)
	if err != nil {
		os.RemoveAll(out)
		return "", err
	}
	return path, nil
}

// DownloadVideo downloads the smallest format of url that has a picture
// (for frames at a summary's moments) into a new directory under dir,
// under the same limits, egress guard and confinement as DownloadAudio.
// The whole file is downloaded: --download-sections would hand the media
// URL to ffmpeg, which the confinement keeps off the network. Media
// without any video format is ErrNoFrame.
func (c *Client) DownloadVideo(ctx context.Context, url string, info *Info, dir string) (string, error) {
	out, err := os.MkdirTemp(dir, "video-")
	if err != nil {
		return "", fmt.Errorf("download video: %w", err)
	}
	path, err := c.download(ctx, url, info, dir, out, videoFormat, "video", nil)
	if err != nil {
		os.RemoveAll(out)
		if strings.Contains(err.Error(), "Requested format is not available") {
			return "", fmt.Errorf("download video: %w (no video format)", ErrNoFrame)
		}
		return "", err
	}
	return path, nil
}

// frameWidth is the widest a frame is kept (ExtractFrame scales down).
const frameWidth = 640

// Frame returns a JPEG of the local media file at sec seconds, at most
// 640 pixels wide (ExtractFrame with the client's ffmpeg).
func (c *Client) Frame(ctx context.Context, path string, sec float64) ([]byte, error) {
	return ExtractFrame(ctx, c.cfg.FFmpegPath, path, sec, frameWidth)
}

var errSizeExceeded = fmt.Errorf("download: %w", ErrTooLarge)

func (c *Client) download(ctx context.Context, url string, info *Info, dir, out, format, name string, progress func(float64)) (string, error) {
	maxSecs := int64(c.cfg.MaxDuration / time.Second)
	cmd := c.ytdlp().
		// Formats a native downloader fetches over HTTP(S) only (see
		// confine.go); the base options keep ffmpeg off the network.
		Format(format).
		Newline().
		NoMtime().
		MaxFileSize(strconv.FormatInt(c.cfg.MaxFileSize, 10)).
		// Two filters so the refusal says which one failed: a live stream
		// stops the run (exit 101), a long video is skipped.
		BreakMatchFilters("!is_live").
		MatchFilters(fmt.Sprintf("duration<?%d", maxSecs)).
		FFmpegLocation(c.cfg.FFmpegPath).
		Output(filepath.Join(out, name+".%(ext)s"))

	dctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	watchDone := make(chan struct{})
	go func() {
		defer close(watchDone)
		t := time.NewTicker(sizePollInterval)
		defer t.Stop()
		for {
			select {
			case <-dctx.Done():
				return
			case <-t.C:
				if dirSize(out) > c.cfg.MaxFileSize {
					cancel(errSizeExceeded)
					return
				}
			}
		}
	}()

	var tooLarge, filtered, lastPct atomic.Value
	lastPct.Store(-1.0)
	positional, loaded, err := useInfo(cmd, info, url, dir)
	if err != nil {
		return "", fmt.Errorf("download: %w", err)
	}
	onLine := func(line string) {
		switch {
		case strings.Contains(line, "larger than max-filesize"):
			tooLarge.Store(line)
		case strings.Contains(line, "does not pass filter"):
			filtered.Store(line)
		}
		if m := progressRE.FindStringSubmatch(line); m != nil && progress != nil {
			if p, err := strconv.ParseFloat(m[1], 64); err == nil {
				p = math.Max(0, math.Min(100, p))
				if p != lastPct.Load().(float64) {
					lastPct.Store(p)
					progress(p)
				}
			}
		}
	}
	res := c.runYtDlp(dctx, c.cfg.MaxFileSize+pageBytes, url, cmd, positional, onLine)
	if loaded && urlsRefused(res) && dctx.Err() == nil {
		// The kept info JSON's URLs were refused (expired, or bound to
		// another session): extract the page again, once.
		c.log.Info("media: kept info JSON refused; extracting the page again", "err", lastErrorLine(res.stderr))
		positional, _, _ = useInfo(cmd, nil, url, dir)
		res = c.runYtDlp(dctx, c.cfg.MaxFileSize+pageBytes, url, cmd, positional, onLine)
	}
	cancel(nil)
	<-watchDone

	if res.denied != "" && res.err != nil && ctx.Err() == nil {
		return "", ytdlpError("download", res)
	}
	if errors.Is(context.Cause(dctx), errSizeExceeded) && ctx.Err() == nil {
		return "", fmt.Errorf("download: %w: more than %d bytes", ErrTooLarge, c.cfg.MaxFileSize)
	}
	if v, ok := filtered.Load().(string); ok {
		if strings.Contains(v, "is_live") {
			return "", fmt.Errorf("download: %w", ErrLive)
		}
		return "", fmt.Errorf("download: %w: longer than %s", ErrMediaTooLong, c.cfg.MaxDuration)
	}
	if _, ok := tooLarge.Load().(string); ok || strings.Contains(res.stderr, "larger than max-filesize") {
		return "", fmt.Errorf("download: %w: more than %d bytes", ErrTooLarge, c.cfg.MaxFileSize)
	}
	if res.err != nil {
		return "", ytdlpError("download", res)
	}
	path, err := findDownloaded(out, name)
	if err != nil {
		return "", fmt.Errorf("download: %w", err)
	}
	// What a URL served as media may be a playlist naming local files
	// (see sniff.go): refuse it now, before anything opens it.
	if err := sniffMedia(path); err != nil {
		return "", fmt.Errorf("download: %w", err)
	}
	if st, err := os.Stat(path); err == nil && st.Size() > c.cfg.MaxFileSize {
		return "", fmt.Errorf("download: %w: %d bytes", ErrTooLarge, st.Size())
	}
	if progress != nil && lastPct.Load().(float64) != 100 {
		progress(100)
	}
	return path, nil
}

func findDownloaded(dir, name string) (string, error) {
	matches, _ := filepath.Glob(filepath.Join(dir, name+".*"))
	for _, m := range matches {
		switch filepath.Ext(m) {
		case ".part", ".ytdl", ".temp", ".json":
			continue
		}
		if st, err := os.Stat(m); err == nil && st.Mode().IsRegular() && st.Size() > 0 {
			return m, nil
		}
	}
	return "", errors.New("yt-dlp produced no media file")
}

func dirSize(dir string) int64 {
	var n int64
	_ = filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		if d.Type().IsRegular() {
			if info, err := d.Info(); err == nil {
				n += info.Size()
			}
		}
		return nil
	})
	return n
}

// localInput names a local file for ffmpeg/ffprobe so that a path can never
// be read as a URL or protocol ("http:…", "concat:…").
func localInput(path string) (string, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", err
	}
	return "file:" + abs, nil
}

// Probe returns the duration of a local media file in seconds. When the
// container does not record one, the file is demuxed to measure it. A
// file that is no media ffprobe may read (a playlist, a manifest, a page;
// see sniff.go) is ErrNotMedia.
func (c *Client) Probe(ctx context.Context, path string) (float64, error) {
	in, err := mediaInput(path)
	if err != nil {
		return 0, fmt.Errorf("probe: %w", err)
	}
	res := c.run(ctx, c.cfg.FFprobePath, append(append([]string{"-v", "error"}, mediaInputArgs()...),
		"-show_entries", "format=duration", "-of", "default=noprint_wrappers=1:nokey=1",
		in,
	), nil)
	if res.err != nil {
		if ctx.Err() == nil && notMediaLog(res.stderr) {
			return 0, fmt.Errorf("probe: %w (%s)", ErrNotMedia, lastErrorLine(res.stderr))
		}
		return 0, fmt.Errorf("probe: ffprobe: %s: %w", lastErrorLine(res.stderr), res.err)
	}
	if d, err := strconv.ParseFloat(strings.TrimSpace(string(res.stdout)), 64); err == nil && d > 0 && !math.IsInf(d, 0) {
		return d, nil
	}
	// No duration in the header (e.g. a live-recorded WebM): count it.
	res = c.run(ctx, c.cfg.FFmpegPath, append(append([]string{"-nostdin", "-hide_banner"}, mediaInputArgs()...),
		"-i", in, "-map", "0:a:0", "-c", "copy", "-f", "null", "-",
	), nil)
	if res.err != nil {
		return 0, fmt.Errorf("probe: ffmpeg: %s: %w", lastErrorLine(res.stderr), res.err)
	}
	d, ok := lastTime(res.stderr)
	if !ok {
		return 0, errors.New("probe: duration unknown")
	}
	return d, nil
}

var timeRE = regexp.MustCompile(`time=(\d+):(\d{2}):(\d{2}(?:\.\d+)?)`)

func lastTime(log string) (float64, bool) {
	all := timeRE.FindAllStringSubmatch(log, -1)
	if len(all) == 0 {
		return 0, false
	}
	m := all[len(all)-1]
	h, _ := strconv.ParseFloat(m[1], 64)
	mi, _ := strconv.ParseFloat(m[2], 64)
	s, _ := strconv.ParseFloat(m[3], 64)
	return h*3600 + mi*60 + s, true
}

// speechArgs returns the ffmpeg output options for compact speech audio
// chosen by the output file's extension: mono, 16 kHz, 24 kb/s Opus in Ogg
// (or WebM), or 32 kb/s MP3.
func speechArgs(out string) ([]string, error) {
	common := []string{"-vn", "-sn", "-dn", "-map", "0:a:0", "-ac", "1", "-ar", "16000", "-map_metadata", "-1"}
	switch strings.ToLower(filepath.Ext(out)) {
	case ".ogg", ".opus", ".oga", ".webm":
		// Complexity 5 encodes about twice as fast as the default 10 with no
		// difference that matters to speech recognition.
		return append(common, "-c:a", "libopus", "-b:a", "24k", "-application", "voip", "-compression_level", "5"), nil
	case ".mp3":
		return append(common, "-c:a", "libmp3lame", "-b:a", "32k"), nil
	}
	return nil, fmt.Errorf("unsupported output format %q (use .ogg or .mp3)", filepath.Ext(out))
}

// ConvertForSpeech converts a local media file into compact speech audio
// for speech-to-text: mono, 16 kHz, low-bitrate Opus in .ogg (or MP3 when
// out ends in .mp3). ffmpeg reads the one local file with MediaFormats'
// demuxers only.
func (c *Client) ConvertForSpeech(ctx context.Context, in, out string) error {
	if err := c.encode(ctx, in, out, -1, -1); err != nil {
		return fmt.Errorf("convert: %w", err)
	}
	return nil
}

// encode runs ffmpeg from in to out, optionally cutting [start, start+dur).
func (c *Client) encode(ctx context.Context, in, out string, start, dur float64) error {
	src, err := mediaInput(in)
	if err != nil {
		return err
	}
	dst, err := localInput(out)
	if err != nil {
		return err
	}
	opts, err := speechArgs(out)
	if err != nil {
		return err
	}
	args := append([]string{"-nostdin", "-hide_banner", "-loglevel", "error"}, mediaInputArgs()...)
	args = append(args, "-y")
	if start >= 0 {
		args = append(args, "-ss", formatSeconds(start), "-t", formatSeconds(dur))
	}
	args = append(args, "-i", src)
	args = append(args, opts...)
	args = append(args, dst)
	res := c.run(ctx, c.cfg.FFmpegPath, args, nil)
	if res.err != nil {
		return fmt.Errorf("ffmpeg: %s: %w", lastErrorLine(res.stderr), res.err)
	}
	return nil
}

func formatSeconds(s float64) string {
	return strconv.FormatFloat(s, 'f', 6, 64)
}

// Chunk is one piece of a split audio file.
type Chunk struct {
	Index    int
	Path     string
	Offset   float64 // seconds from the start of the original file
	Duration float64 // seconds
}

const (
	// MaxChunkBytes keeps each chunk under the 25 MB upload limit of
	// OpenAI-compatible speech-to-text services, with headroom.
	MaxChunkBytes = 24 << 20
	// chunkBytesPerSecond bounds the size of a chunk as SplitAudio encodes
	// it (24 kb/s Opus plus generous container overhead).
	chunkBytesPerSecond = 24000 / 8 * 3 / 2
	// silenceSearch is the fraction of a window, at its end, searched for a
	// silence to cut at.
	silenceSearch = 0.25
)

// SplitAudio cuts a local audio file, or its section (the zero Range: all
// of it; an End of 0 or past the audio's end: to its end), into
// consecutive chunks that cover it entirely, each at most maxChunk seconds
// (default 600) and MaxChunkBytes. The chunks are cut from the section
// alone, and their Offsets are still times in the whole file, so what is
// transcribed from them lands at the media's own times.
// Each cut is placed in the middle of the longest silence (ffmpeg
// silencedetect) ending the final quarter of its window, or at the window's
// end when there is none, so words are rarely split. Chunks are re-encoded
// as speech Ogg/Opus (as ConvertForSpeech does) with sample-accurate
// seeking, so Offset is exactly where the chunk starts in the original;
// pass the downloaded file directly rather than converting it first.
func (c *Client) SplitAudio(ctx context.Context, path, dir string, maxChunk float64, section recap.Range) ([]Chunk, error) {
	if maxChunk <= 0 {
		maxChunk = 600
	}
	window := math.Min(maxChunk, float64(MaxChunkBytes)/chunkBytesPerSecond)
	total, err := c.Probe(ctx, path)
	if err != nil {
		return nil, fmt.Errorf("split: %w", err)
	}
	from, to := section.Start, section.EndIn(total)
	if !section.IsZero() && from >= to {
		return nil, fmt.Errorf("split: the section %s–%s is outside the audio (%s long)",
			formatSeconds(section.Start), formatSeconds(section.EndIn(math.Inf(1))), formatSeconds(total))
	}
	var silences []silence
	if to-from > window {
		all, err := c.silences(ctx, path)
		if err != nil {
			return nil, fmt.Errorf("split: %w", err)
		}
		for _, s := range all {
			if s.end > from && s.start < to {
				silences = append(silences, silence{s.start - from, s.end - from})
			}
		}
	}
	cuts := planCuts(to-from, window, silences)
	chunks := make([]Chunk, len(cuts)-1)
	for i := range chunks {
		chunks[i] = Chunk{
			Index:    i,
			Path:     filepath.Join(dir, fmt.Sprintf("chunk-%04d.ogg", i)),
			Offset:   from + cuts[i],
			Duration: cuts[i+1] - cuts[i],
		}
	}
	if err := c.encodeChunks(ctx, path, chunks); err != nil {
		return nil, fmt.Errorf("split: %w", err)
	}
	return chunks, nil
}

// silence is a quiet interval of the audio.
type silence struct{ start, end float64 }

func (s silence) mid() float64 { return (s.start + s.end) / 2 }

// planCuts returns the cut points, starting at 0 and ending at total. Each
// cut is the middle of the longest silence whose middle lies in the last
// quarter of the window (the later one on ties), else the window's end.
func planCuts(total, window float64, silences []silence) []float64 {
	cuts := []float64{0}
	pos := 0.0
	for total-pos > window {
		end := pos + window
		lo := max(pos, end-window*silenceSearch)
		cut, best := end, -1.0
		for _, s := range silences {
			m := s.mid()
			if m <= lo || m > end {
				continue
			}
			if d := s.end - s.start; d >= best {
				cut, best = m, d
			}
		}
		cuts = append(cuts, cut)
		pos = cut
	}
	return append(cuts, total)
}

var (
	silenceStartRE = regexp.MustCompile(`silence_start: (-?[0-9.]+)`)
	silenceEndRE   = regexp.MustCompile(`silence_end: (-?[0-9.]+)`)
)

// silences returns the silences in path, in order.
func (c *Client) silences(ctx context.Context, path string) ([]silence, error) {
	in, err := mediaInput(path)
	if err != nil {
		return nil, err
	}
	var found []silence
	var start float64
	open := false
	cmd := append(append([]string{"-nostdin", "-hide_banner", "-nostats"}, mediaInputArgs()...),
		"-i", in, "-map", "0:a:0", "-af", "silencedetect=noise=-35dB:d=0.3", "-f", "null", "-")
	res := c.runStderrLines(ctx, c.cfg.FFmpegPath, cmd, func(line string) {
		if m := silenceStartRE.FindStringSubmatch(line); m != nil {
			if v, err := strconv.ParseFloat(m[1], 64); err == nil {
				start, open = math.Max(0, v), true
			}
		}
		if m := silenceEndRE.FindStringSubmatch(line); m != nil && open {
			if v, err := strconv.ParseFloat(m[1], 64); err == nil {
				found = append(found, silence{start, max(start, v)})
				open = false
			}
		}
	})
	if res.err != nil {
		return nil, fmt.Errorf("silencedetect: %s: %w", lastErrorLine(res.stderr), res.err)
	}
	slices.SortFunc(found, func(a, b silence) int { return cmp.Compare(a.start, b.start) })
	return found, nil
}

func (c *Client) encodeChunks(ctx context.Context, path string, chunks []Chunk) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	sem := make(chan struct{}, max(1, min(4, runtime.NumCPU())))
	var wg sync.WaitGroup
	var once sync.Once
	var firstErr error
	for i := range chunks {
		ch := chunks[i]
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				return
			}
			defer func() { <-sem }()
			err := c.encode(ctx, path, ch.Path, ch.Offset, ch.Duration)
			if err == nil {
				if st, serr := os.Stat(ch.Path); serr != nil {
					err = serr
				} else if st.Size() > MaxChunkBytes {
					err = fmt.Errorf("chunk %d is %d bytes, over %d", ch.Index, st.Size(), MaxChunkBytes)
				}
			}
			if err != nil {
				once.Do(func() { firstErr = fmt.Errorf("chunk %d: %w", ch.Index, err); cancel() })
			}
		}()
	}
	wg.Wait()
	if firstErr == nil && ctx.Err() != nil {
		return ctx.Err()
	}
	return firstErr
}
