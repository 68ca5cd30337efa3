package api

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/gorilla/mux"

	"github.com/recap/recap/core"
	"github.com/recap/recap/textclean"
)

// Multipart limits besides the file itself.
const (
	maxFormFieldBytes = 64 << 10
	maxFormParts      = 32
	// formSlack is what a multipart body may hold besides the file.
	formSlack = 1 << 20
)

// multipartForm walks a multipart body part by part, so the file part is
// streamed (to the use case) and never held in memory. onFile is called
// with the file part; other fields are collected, each at most
// maxFormFieldBytes.
func (s *Server) multipartForm(w http.ResponseWriter, r *http.Request, onFile func(name string, body io.Reader) error) (map[string][]string, error) {
	max := s.core.MaxUploadBytes()
	if r.ContentLength > max+formSlack {
		return nil, core.ErrTooLarge(max)
	}
	r.Body = http.MaxBytesReader(w, r.Body, max+formSlack)
	mr, err := r.MultipartReader()
	if err != nil {
		return nil, badRequest("invalid_multipart", "", "The request must be multipart/form-data with a 'file' field.")
	}
	fields := map[string][]string{}
	seenFile := false
	for n := 0; ; n++ {
		if n >= maxFormParts {
			return nil, badRequest("invalid_multipart", "", "The form has more than %d fields.", maxFormParts)
		}
		p, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, formError(err, max)
		}
		name := p.FormName()
		if name == "file" {
			if seenFile {
				return nil, badRequest("invalid_multipart", "file", "Send one 'file' field.")
			}
			seenFile = true
			if err := onFile(p.FileName(), capped{r: p, max: max}); err != nil {
				return nil, err
			}
			continue
		}
		v, err := io.ReadAll(io.LimitReader(p, maxFormFieldBytes+1))
		if err != nil {
			return nil, formError(err, max)
		}
		if len(v) > maxFormFieldBytes {
			return nil, badRequest("invalid_multipart", name, "The field %q is larger than %d bytes.", truncate(name, 40), maxFormFieldBytes)
		}
		if !textclean.Valid(name) || !textclean.Valid(string(v)) {
			name = textclean.String(name)
			return nil, core.Invalid("invalid_text", name, "The field '%s' holds a NUL character or invalid UTF-8, which is not allowed.", name)
		}
		fields[name] = append(fields[name], string(v))
	}
	return fields, nil
}

// capped reports the request's size cap, met while the file streams, as
// the use cases' KindTooLarge.
type capped struct {
	r   io.Reader
	max int64
}

func (c capped) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	var mb *http.MaxBytesError
	if err != nil && errors.As(err, &mb) {
		err = core.ErrTooLarge(c.max)
	}
	return n, err
}

func formError(err error, max int64) error {
	var mb *http.MaxBytesError
	if errors.As(err, &mb) {
		return core.ErrTooLarge(max)
	}
	return badRequest("invalid_multipart", "", "The multipart body could not be read: %v.", err)
}

func field(f map[string][]string, name string) string {
	if v := f[name]; len(v) > 0 {
		return strings.TrimSpace(v[0])
	}
	return ""
}

// handleCreateFile is POST /files (OpenAI's Files API): multipart `file`
// and `purpose` (user_data), in either order.
func (s *Server) handleCreateFile(w http.ResponseWriter, r *http.Request) {
	c := caller(r)
	var f *core.FileJSON
	purpose := ""
	fields, err := s.multipartForm(w, r, func(name string, body io.Reader) error {
		created, err := s.core.CreateFile(r.Context(), core.Upload{Caller: c, Filename: name, Purpose: core.PurposeUserData, Body: body})
		if err != nil {
			return err
		}
		o := core.FileObject(created)
		f = &o
		return nil
	})
	if err == nil {
		purpose = field(fields, "purpose")
		switch {
		case f == nil:
			err = badRequest("missing_file", "file", "Send the audio or video as the multipart 'file' field.")
		default:
			err = core.CheckPurpose(purpose)
		}
	}
	if err != nil {
		if f != nil { // the form was wrong after the file was stored
			_, _ = s.core.DeleteFile(r.Context(), c, f.ID)
		}
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, f)
}

// handleListFiles is GET /files: ?purpose, ?limit, ?after, ?order.
func (s *Server) handleListFiles(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	req := core.ListFilesRequest{Caller: caller(r), Purpose: q.Get("purpose"), After: q.Get("after"), Order: q.Get("order")}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			s.writeError(w, r, badRequest("invalid_limit", "limit", "'limit' must be a number."))
			return
		}
		req.Limit = n
	}
	list, err := s.core.ListFiles(r.Context(), req)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	data := make([]core.FileJSON, 0, len(list.Files))
	for i := range list.Files {
		data = append(data, core.FileObject(&list.Files[i]))
	}
	body := map[string]any{"object": "list", "data": data, "has_more": list.HasMore, "first_id": nil, "last_id": nil}
	if len(data) > 0 {
		body["first_id"], body["last_id"] = data[0].ID, data[len(data)-1].ID
	}
	writeJSON(w, http.StatusOK, body)
}

// handleGetFile is GET /files/{id}.
func (s *Server) handleGetFile(w http.ResponseWriter, r *http.Request) {
	f, err := s.core.File(r.Context(), caller(r), mux.Vars(r)["id"])
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, core.FileObject(f))
}

// handleDeleteFile is DELETE /files/{id}.
func (s *Server) handleDeleteFile(w http.ResponseWriter, r *http.Request) {
	f, err := s.core.DeleteFile(r.Context(), caller(r), mux.Vars(r)["id"])
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"id": f.ID, "object": "file", "deleted": true})
}

// jobFiles reads the jobs API's `files`: each a file id string, or a file
// part ({"file_id": …} or {"file_data": …}, bare or as OpenAI's
// {"type": "file", "file": {…}}). It returns file ids and data: URLs for
// the use case.
func jobFiles(raw []json.RawMessage) ([]string, error) {
	out := make([]string, 0, len(raw))
	for i, m := range raw {
		param := "files[" + strconv.Itoa(i) + "]"
		var id string
		if json.Unmarshal(m, &id) == nil {
			out = append(out, strings.TrimSpace(id))
			continue
		}
		var part contentPart
		if err := json.Unmarshal(m, &part); err != nil {
			return nil, badRequest("invalid_file", param, "Each of 'files' is a file id or a file part {\"file_id\": \"file-…\"}.")
		}
		if part.Type != "" && part.Type != "file" && part.Type != "input_file" {
			return nil, badRequest("invalid_file", param+".type", "A file part's type is 'file'.")
		}
		ref, err := filePart(part, param)
		if err != nil {
			return nil, err
		}
		out = append(out, ref)
	}
	return out, nil
}
