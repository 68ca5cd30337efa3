package core

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"mime"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/recap/recap"
	"github.com/recap/recap/blob"
	"github.com/recap/recap/jobs"
	"github.com/recap/recap/media"
	"github.com/recap/recap/store"
)

// FileStore is the persistence of uploaded files (a *store.Store).
type FileStore interface {
	CreateFile(ctx context.Context, f *store.File) error
	File(ctx context.Context, id string) (*store.File, error)
	AccountFile(ctx context.Context, accountID int64, id string) (*store.File, error)
	ListFiles(ctx context.Context, f store.FileFilter) ([]store.File, error)
	DeleteFile(ctx context.Context, accountID int64, id string) (*store.File, error)
	DeleteExpiredFiles(ctx context.Context, limit int) ([]store.File, error)
}

// FilesConfig configures uploads; a nil Bucket turns them off.
type FilesConfig struct {
	Store  FileStore
	Bucket *blob.Bucket
	// MaxBytes caps one upload (MAX_UPLOAD_BYTES, default 2 GiB).
	MaxBytes int64
	// TTL is how long an upload is kept (FILE_TTL_HOURS); 0 keeps it
	// until deleted.
	TTL time.Duration
	// TempDir holds uploads while they are probed ("" for the system's).
	TempDir string
	// FFprobePath and FFmpegPath name the binaries ("" for PATH).
	FFprobePath string
	FFmpegPath  string
}

// DefaultMaxUploadBytes is MAX_UPLOAD_BYTES's default: 2 GiB.
const DefaultMaxUploadBytes = 2 << 30

// File purposes: what a client uploads for, and what Recap keeps the
// uploads of transcription requests under.
const (
	PurposeUserData      = "user_data"
	PurposeTranscription = "transcription"
)

// FileIDPrefix starts every file id, as OpenAI's do.
const FileIDPrefix = "file-"

// IsFileRef reports whether a video reference names an uploaded file (by
// id, as a `file` content part does) rather than a URL.
func IsFileRef(ref string) bool {
	return strings.HasPrefix(ref, FileIDPrefix) && !strings.ContainsAny(ref, "/:?#")
}

// IsFileData reports whether a video reference is inline content (a `file`
// part's file_data, as a data: URL).
func IsFileData(ref string) bool { return strings.HasPrefix(ref, "data:") }

var (
	errUploadsOff = &Error{Kind: KindInvalid, Code: "uploads_disabled", Param: "file",
		Message: "File uploads are turned off on this server (no BLOB_URL)."}
	errNoFile = &Error{Kind: KindNotFound, Code: "file_not_found", Param: "file_id", Message: "No such file."}
)

// Upload is one file to store: its content arrives as a stream.
type Upload struct {
	Caller   *recap.Caller
	Filename string
	Purpose  string
	// Body is read to its end (or the size cap) and never held in memory.
	Body io.Reader
}

// CreateFile stores an upload: streamed to a local file (hashed on the
// way, stopped past MaxBytes), probed by its content, then copied to the
// bucket. What is not audio or video is refused with KindInvalid.
func (s *Service) CreateFile(ctx context.Context, u Upload) (*store.File, error) {
	fc := s.cfg.Files
	if fc.Bucket == nil {
		return nil, errUploadsOff
	}
	if u.Caller == nil {
		return nil, &Error{Kind: KindInternal, Code: "internal_error", Message: "The request has no caller."}
	}
	if u.Purpose != PurposeTranscription { // set by Recap itself, never by a caller
		if err := CheckPurpose(u.Purpose); err != nil {
			return nil, err
		}
	}
	name, err := cleanFilename(u.Filename)
	if err != nil {
		return nil, err
	}
	tmp, err := os.CreateTemp(fc.TempDir, "recap-upload-")
	if err != nil {
		return nil, fmt.Errorf("upload: %w", err)
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	max := fc.maxBytes()
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(tmp, h), io.LimitReader(u.Body, max+1))
	if err != nil {
		// A door that caps the whole request reports it as KindTooLarge.
		var e *Error
		if errors.As(err, &e) && e.Kind == KindTooLarge {
			return nil, ErrTooLarge(max)
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, Invalid("upload_interrupted", "file", "The upload could not be read to its end: %v.", err)
	}
	if n > max {
		return nil, ErrTooLarge(max)
	}
	if n == 0 {
		return nil, Invalid("empty_file", "file", "The file is empty.")
	}
	if err := tmp.Sync(); err != nil {
		return nil, fmt.Errorf("upload: %w", err)
	}
	info, err := media.ProbeFile(ctx, fc.FFprobePath, tmp.Name())
	if err != nil {
		if errors.Is(err, media.ErrNotMedia) {
			return nil, Invalid("unsupported_file", "file", "%q is not an audio or video file Recap can read (its content was checked, not its name).", name)
		}
		return nil, err
	}
	if info.Duration <= 0 {
		if info.Duration, err = media.MeasureDuration(ctx, fc.FFmpegPath, tmp.Name()); err != nil {
			return nil, Invalid("unsupported_file", "file", "The length of %q could not be measured: it is not a playable audio or video file.", name)
		}
	}
	id, err := newFileID()
	if err != nil {
		return nil, err
	}
	f := &store.File{ID: id, AccountID: u.Caller.AccountID, APIKeyID: u.Caller.ID, Filename: name, Purpose: u.Purpose, Bytes: n,
		SHA256: hex.EncodeToString(h.Sum(nil)), MediaKind: info.Kind, Format: info.Format, Duration: info.Duration,
		Subtitles: len(info.Subtitles) > 0, BlobKey: "files/" + id}
	if fc.TTL > 0 {
		exp := time.Now().Add(fc.TTL)
		f.ExpiresAt = &exp
	}
	if _, err := tmp.Seek(0, io.SeekStart); err != nil {
		return nil, fmt.Errorf("upload: %w", err)
	}
	ctype := mime.TypeByExtension(filepath.Ext(name))
	if ctype == "" {
		ctype = "application/octet-stream"
	}
	if _, err := fc.Bucket.Put(ctx, f.BlobKey, ctype, tmp); err != nil {
		return nil, err
	}
	if err := fc.Store.CreateFile(ctx, f); err != nil {
		_ = fc.Bucket.Delete(context.WithoutCancel(ctx), f.BlobKey)
		return nil, err
	}
	return f, nil
}

func (fc FilesConfig) maxBytes() int64 {
	if fc.MaxBytes <= 0 {
		return DefaultMaxUploadBytes
	}
	return fc.MaxBytes
}

// MaxUploadBytes is the size cap of one upload.
func (s *Service) MaxUploadBytes() int64 { return s.cfg.Files.maxBytes() }

// ErrTooLarge is the error of an upload over max bytes (KindTooLarge:
// 413 at the HTTP door).
func ErrTooLarge(max int64) *Error {
	return &Error{Kind: KindTooLarge, Code: "file_too_large", Param: "file", NoRetry: true,
		Message: fmt.Sprintf("The file is larger than this server's limit of %s (MAX_UPLOAD_BYTES).", humanBytes(max))}
}

func humanBytes(n int64) string {
	switch {
	case n >= 1<<30 && n%(1<<30) == 0:
		return fmt.Sprintf("%d GiB", n>>30)
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	}
	return fmt.Sprintf("%d bytes", n)
}

// cleanFilename keeps a display name: its base, valid UTF-8, no control
// characters, at most 255 bytes. It names nothing on disk.
func cleanFilename(name string) (string, error) {
	name = strings.TrimSpace(name)
	if i := strings.LastIndexAny(name, `/\`); i >= 0 {
		name = name[i+1:]
	}
	if name == "" {
		return "upload", nil
	}
	if !utf8.ValidString(name) || strings.ContainsFunc(name, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return "", Invalid("invalid_filename", "file", "The file name must be printable UTF-8 text.")
	}
	if len(name) > 255 {
		return "", Invalid("invalid_filename", "file", "The file name is %d bytes long; the limit is 255.", len(name))
	}
	return name, nil
}

func newFileID() (string, error) {
	var b [12]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("file id: %w", err)
	}
	return FileIDPrefix + hex.EncodeToString(b[:]), nil
}

// checkFileID refuses what cannot be a file id, before any lookup.
func checkFileID(id, param string) error {
	if !IsFileRef(id) || len(id) > 64 {
		return Invalid("invalid_file_id", param, "%q is not a file id (they look like 'file-…').", truncate(id, 70))
	}
	return nil
}

// File returns the caller's file; another account's is KindNotFound.
func (s *Service) File(ctx context.Context, c *recap.Caller, id string) (*store.File, error) {
	if s.cfg.Files.Bucket == nil {
		return nil, errUploadsOff
	}
	if err := checkFileID(id, "file_id"); err != nil {
		return nil, errNoFile
	}
	f, err := s.cfg.Files.Store.AccountFile(ctx, c.AccountID, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, errNoFile
	}
	return f, err
}

// FileList is a page of files.
type FileList struct {
	Files   []store.File
	HasMore bool
}

// ListFilesRequest asks for a page of the caller's files.
type ListFilesRequest struct {
	Caller  *recap.Caller
	Purpose string
	After   string
	Limit   int
	// Order is "desc" (newest first, the default) or "asc".
	Order string
}

// ListFiles lists the caller's files that have not expired.
func (s *Service) ListFiles(ctx context.Context, r ListFilesRequest) (*FileList, error) {
	if s.cfg.Files.Bucket == nil {
		return nil, errUploadsOff
	}
	if r.Limit == 0 {
		r.Limit = 10000
	}
	if r.Limit < 1 || r.Limit > 10000 {
		return nil, Invalid("invalid_limit", "limit", "'limit' must be between 1 and 10000.")
	}
	if r.Order != "" && r.Order != "asc" && r.Order != "desc" {
		return nil, Invalid("invalid_order", "order", "'order' must be 'asc' or 'desc'.")
	}
	if r.After != "" {
		if err := checkFileID(r.After, "after"); err != nil {
			return nil, err
		}
	}
	if len(r.Purpose) > 40 {
		return nil, Invalid("invalid_purpose", "purpose", "'purpose' is too long.")
	}
	list, err := s.cfg.Files.Store.ListFiles(ctx, store.FileFilter{AccountID: r.Caller.AccountID, Purpose: r.Purpose,
		After: r.After, Limit: r.Limit + 1, Ascending: r.Order == "asc"})
	if err != nil {
		return nil, err
	}
	out := &FileList{Files: list}
	if len(list) > r.Limit {
		out.Files, out.HasMore = list[:r.Limit], true
	}
	return out, nil
}

// DeleteFile deletes the caller's file and its content. Jobs that have
// already read it are unaffected; one that has not fails with
// file_not_found.
func (s *Service) DeleteFile(ctx context.Context, c *recap.Caller, id string) (*store.File, error) {
	if s.cfg.Files.Bucket == nil {
		return nil, errUploadsOff
	}
	if err := checkFileID(id, "file_id"); err != nil {
		return nil, errNoFile
	}
	f, err := s.cfg.Files.Store.DeleteFile(ctx, c.AccountID, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, errNoFile
	}
	if err != nil {
		return nil, err
	}
	if err := s.cfg.Files.Bucket.Delete(context.WithoutCancel(ctx), f.BlobKey); err != nil {
		return nil, err
	}
	return f, nil
}

// PurgeExpiredFiles deletes the files whose FILE_TTL_HOURS have passed,
// rows and content, and returns how many. Safe to run on every replica at
// once (each row is claimed by one).
func (s *Service) PurgeExpiredFiles(ctx context.Context) (int, error) {
	if s.cfg.Files.Bucket == nil {
		return 0, nil
	}
	total := 0
	for {
		list, err := s.cfg.Files.Store.DeleteExpiredFiles(ctx, 100)
		if err != nil {
			return total, err
		}
		for _, f := range list {
			if err := s.cfg.Files.Bucket.Delete(ctx, f.BlobKey); err != nil {
				return total, err
			}
			total++
		}
		if len(list) < 100 {
			return total, nil
		}
	}
}

// fileJob points a summary job at an uploaded file instead of a URL: a
// file id of the caller's (r.URL a `file` part's file_id), or inline
// content (a data: URL, a part's file_data) stored as a file first. The
// job's URL is the file id; its video key is the content's hash, so the
// same recording uploaded twice is one transcript.
func (s *Service) fileJob(ctx context.Context, r *SummarizeRequest, j *recap.Job) error {
	var f *store.File
	var err error
	if IsFileData(r.URL) {
		data, name, derr := decodeFileData(r.URL, r.param())
		if derr != nil {
			return derr
		}
		f, err = s.CreateFile(ctx, Upload{Caller: r.Caller, Filename: name, Purpose: PurposeUserData, Body: strings.NewReader(data)})
	} else {
		f, err = s.File(ctx, r.Caller, r.URL)
	}
	if err != nil {
		return reparam(err, r.param())
	}
	j.URL, j.VideoKey, j.Title = f.ID, f.VideoKey(), f.Filename
	return nil
}

// decodeFileData decodes a data: URL (data:<type>;base64,<data>).
func decodeFileData(u, param string) (string, string, error) {
	meta, data, ok := strings.Cut(strings.TrimPrefix(u, "data:"), ",")
	if !ok || !strings.HasSuffix(meta, ";base64") {
		return "", "", Invalid("invalid_file_data", param, "'file_data' must be a base64 data URL (data:audio/mpeg;base64,…).")
	}
	b, err := base64.StdEncoding.DecodeString(data)
	if err != nil {
		return "", "", Invalid("invalid_file_data", param, "'file_data' is not valid base64.")
	}
	name := "upload"
	if exts, _ := mime.ExtensionsByType(strings.TrimSuffix(meta, ";base64")); len(exts) > 0 {
		name += exts[0]
	}
	return string(b), name, nil
}

// WorkerFiles gives the pipeline's stages the uploaded files their jobs
// are made of (jobs.Files).
type WorkerFiles struct {
	Store       FileStore
	Bucket      *blob.Bucket
	FFprobePath string
	FFmpegPath  string
}

var _ jobs.Files = (*WorkerFiles)(nil)

// File returns an uploaded file by id (store.ErrNotFound once deleted or
// expired).
func (w *WorkerFiles) File(ctx context.Context, id string) (*store.File, error) {
	return w.Store.File(ctx, id)
}

// Fetch copies the file's content into dir.
func (w *WorkerFiles) Fetch(ctx context.Context, f *store.File, dir string) (string, error) {
	path, err := w.Bucket.Download(ctx, f.BlobKey, dir, "upload"+safeExt(f.Filename))
	if errors.Is(err, blob.ErrNotFound) {
		return "", fmt.Errorf("%w: %w", store.ErrNotFound, err)
	}
	return path, err
}

// Subtitles returns the text subtitles a fetched file carries in lang
// (media.ErrNoSubtitles when none).
func (w *WorkerFiles) Subtitles(ctx context.Context, path, lang string) ([]recap.Segment, error) {
	info, err := media.ProbeFile(ctx, w.FFprobePath, path)
	if err != nil {
		return nil, err
	}
	return media.FileSubtitles(ctx, w.FFmpegPath, path, info.Subtitles, lang)
}

// safeExt keeps a file name's extension when it is short and plain (a
// hint for speech-to-text services; the content was probed).
func safeExt(name string) string {
	ext := strings.ToLower(filepath.Ext(name))
	if len(ext) < 2 || len(ext) > 6 || strings.ContainsFunc(ext[1:], func(r rune) bool { return (r < 'a' || r > 'z') && (r < '0' || r > '9') }) {
		return ""
	}
	return ext
}

// FileJSON is a file object as OpenAI's Files API writes it.
type FileJSON struct {
	ID        string `json:"id"`
	Object    string `json:"object"`
	Bytes     int64  `json:"bytes"`
	CreatedAt int64  `json:"created_at"`
	ExpiresAt *int64 `json:"expires_at,omitempty"`
	Filename  string `json:"filename"`
	Purpose   string `json:"purpose"`
	Status    string `json:"status"`
	// Recap's additions: what probing found.
	MediaKind string  `json:"media_kind"`
	Format    string  `json:"format"`
	Duration  float64 `json:"duration"`
	SHA256    string  `json:"sha256"`
}

// FileObject is f in the Files API's shape.
func FileObject(f *store.File) FileJSON {
	o := FileJSON{ID: f.ID, Object: "file", Bytes: f.Bytes, CreatedAt: f.CreatedAt.Unix(), Filename: f.Filename,
		Purpose: f.Purpose, Status: "processed", MediaKind: f.MediaKind, Format: f.Format, Duration: f.Duration, SHA256: f.SHA256}
	if f.ExpiresAt != nil {
		e := f.ExpiresAt.Unix()
		o.ExpiresAt = &e
	}
	return o
}

// batchParam names the i-th video of a batch for errors: urls[i], then
// files[i-len(urls)].
func batchParam(r *BatchRequest, i int) string {
	if i < len(r.URLs) {
		return "urls[" + strconv.Itoa(i) + "]"
	}
	return "files[" + strconv.Itoa(i-len(r.URLs)) + "]"
}

// checkBatchRef checks a batch entry's syntax: a file id or inline
// content (always, for a `files` entry), else a URL.
func checkBatchRef(ref, param string, file bool) error {
	switch {
	case IsFileData(ref):
		return nil
	case IsFileRef(ref) || file:
		return checkFileID(ref, param)
	}
	return CheckURLSyntax(ref, param, false)
}

// batchFile resolves a batch entry that is a file: the caller's upload by
// id, or inline content stored as an upload first. It returns the job's
// URL (the file id), video key (the content's hash) and title (the file
// name).
func (s *Service) batchFile(ctx context.Context, c *recap.Caller, ref, param string) (string, string, string, error) {
	var f *store.File
	var err error
	if IsFileData(ref) {
		data, name, derr := decodeFileData(ref, param)
		if derr != nil {
			return "", "", "", derr
		}
		f, err = s.CreateFile(ctx, Upload{Caller: c, Filename: name, Purpose: PurposeUserData, Body: strings.NewReader(data)})
	} else {
		f, err = s.File(ctx, c, ref)
	}
	if err != nil {
		return "", "", "", reparam(err, param)
	}
	return f.ID, f.VideoKey(), f.Filename, nil
}

// reparam points a file error at the field the file came from.
func reparam(err error, param string) error {
	var e *Error
	if errors.As(err, &e) && (e.Param == "file" || e.Param == "file_id" || e == errNoFile) {
		e2 := *e
		e2.Param = param
		return &e2
	}
	return err
}

// CheckPurpose checks a caller's file purpose: user_data is the one an
// upload may name.
func CheckPurpose(purpose string) error {
	switch purpose {
	case PurposeUserData:
		return nil
	case "":
		return Invalid("missing_purpose", "purpose", "'purpose' is required; the one supported purpose is 'user_data'.")
	}
	return Invalid("invalid_purpose", "purpose", "'purpose' %q is not supported; the one supported purpose is 'user_data' (audio or video to summarize or transcribe).", truncate(purpose, 40))
}
