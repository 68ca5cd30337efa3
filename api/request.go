package api

import (
	"bytes"
	"encoding/json"
	"regexp"
	"strings"
	"unicode/utf8"

	"github.com/recap/recap/core"
)

// Request limits; each over-limit request gets a 400 naming the limit.
const (
	MaxBodyBytes    = 1 << 20
	MaxURLLength    = core.MaxURLLength
	MaxMessages     = 100
	MaxParts        = 50
	MaxPromptRunes  = core.MaxPromptRunes
	MaxImages       = core.MaxImages
	MaxHistoryRunes = core.MaxHistoryRunes
)

// chatRequest is the body of POST /api/v1/chat/completions: OpenAI's chat
// completion request plus Recap's extension fields (which OpenAI SDKs send
// as extra body fields). Unknown fields are ignored, as OpenAI does.
type chatRequest struct {
	Model          string        `json:"model"`
	Messages       []chatMessage `json:"messages"`
	Stream         bool          `json:"stream"`
	AudioLanguage  string        `json:"audio_language"`
	OutputLanguage string        `json:"output_language"`
	Refresh        bool          `json:"refresh"`
	StreamOptions  *struct {
		IncludeUsage bool `json:"include_usage"`
	} `json:"stream_options"`
	ResponseFormat json.RawMessage `json:"response_format"`
	// Start and End ask for part of the video (core.ParseTime reads them).
	Start json.RawMessage `json:"start"`
	End   json.RawMessage `json:"end"`
	// Frames asks for a JPEG at each highlight (core.ParseFrames reads it).
	Frames json.RawMessage `json:"frames"`
}

type chatMessage struct {
	Role    string          `json:"role"`
	Content json.RawMessage `json:"content"`
}

// contentPart is one element of an array content; video_url and image_url
// are either a string (BibiGPT) or an object {url} (OpenAI).
type contentPart struct {
	Type     string          `json:"type"`
	Text     string          `json:"text"`
	VideoURL json.RawMessage `json:"video_url"`
	ImageURL json.RawMessage `json:"image_url"`
	// File is OpenAI's file part: {"file_id"} of an upload, or inline
	// {"file_data": "data:…;base64,…", "filename"}.
	File *struct {
		FileID   string `json:"file_id"`
		FileData string `json:"file_data"`
		Filename string `json:"filename"`
	} `json:"file"`
	// FileID and FileData are the Responses API's input_file fields.
	FileID   string `json:"file_id"`
	FileData string `json:"file_data"`
}

// parsedMessage is a message reduced to what Recap uses.
type parsedMessage struct {
	Role   string
	Text   string
	Video  string // explicit video_url part
	Images []string
}

// Parsed is a validated chat completion request.
type Parsed struct {
	Model          string
	Stream         bool
	AudioLanguage  string
	OutputLanguage string
	Refresh        bool
	IncludeUsage   bool
	// URL is the video to summarize ("" for images only, or a follow-up
	// whose video is in an earlier message: then FollowUp is set).
	URL      string
	Prompt   string
	Images   []string
	FollowUp bool
	// History is the conversation before the latest user message.
	History []historyMessage
	// Format asks for JSON instead of markdown (api/format.go).
	Format *core.ResponseFormat
	// Start and End are the part of the video asked for, as sent.
	Start, End json.RawMessage
	// Frames is the frames field as sent (checked to be a boolean).
	Frames json.RawMessage
}

type historyMessage struct {
	Role    string
	Content string
}

var urlRE = regexp.MustCompile(`https?://[^\s<>"'\x60]+`)

// ParseChatRequest validates a chat completion body. It never panics; every
// problem is an *Error with status 400.
func ParseChatRequest(body []byte) (*Parsed, error) {
	if len(body) > MaxBodyBytes {
		return nil, badRequest("request_too_large", "", "The request body is larger than the limit of %d bytes.", MaxBodyBytes)
	}
	var req chatRequest
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&req); err != nil {
		return nil, badRequest("invalid_json", "", "The request body is not valid JSON: %v.", err)
	}
	if dec.More() {
		return nil, badRequest("invalid_json", "", "The request body has data after the JSON object.")
	}
	return parseChat(req)
}

// parseChat validates a decoded chat request (or a Responses request in
// its shape).
func parseChat(req chatRequest) (*Parsed, error) {
	if len(req.Messages) == 0 {
		return nil, badRequest("missing_messages", "messages", "'messages' must hold at least one message.")
	}
	if len(req.Messages) > MaxMessages {
		return nil, badRequest("too_many_messages", "messages", "'messages' holds %d messages; the limit is %d.", len(req.Messages), MaxMessages)
	}
	for _, f := range []struct{ name, v string }{{"audio_language", req.AudioLanguage}, {"output_language", req.OutputLanguage}} {
		if err := core.CheckLanguage(f.name, f.v); err != nil {
			return nil, asAPIError(err)
		}
	}
	msgs := make([]parsedMessage, 0, len(req.Messages))
	for i, m := range req.Messages {
		pm, err := parseMessage(i, m)
		if err != nil {
			return nil, err
		}
		msgs = append(msgs, pm)
	}
	p := &Parsed{Model: strings.TrimSpace(req.Model), Stream: req.Stream, Refresh: req.Refresh,
		AudioLanguage: core.NormLang(req.AudioLanguage), OutputLanguage: core.NormLang(req.OutputLanguage),
		IncludeUsage: req.StreamOptions != nil && req.StreamOptions.IncludeUsage, Start: req.Start, End: req.End, Frames: req.Frames}
	var err error
	if _, err = core.ParseFrames("frames", req.Frames); err != nil {
		return nil, asAPIError(err)
	}
	if p.Format, err = parseChatFormat(req.ResponseFormat); err != nil {
		return nil, err
	}

	last := -1
	for i := len(msgs) - 1; i >= 0; i-- {
		if msgs[i].Role == "user" {
			last = i
			break
		}
	}
	if last < 0 {
		return nil, badRequest("missing_user_message", "messages", "'messages' must hold a message with role 'user'.")
	}
	cur := msgs[last]
	video, prompt, err := videoAndPrompt(last, cur)
	if err != nil {
		return nil, err
	}
	if utf8.RuneCountInString(prompt) > MaxPromptRunes {
		return nil, badRequest("prompt_too_long", "messages", "The prompt is %d characters long; the limit is %d.", utf8.RuneCountInString(prompt), MaxPromptRunes)
	}
	p.URL, p.Prompt, p.Images = video, prompt, cur.Images
	if len(p.Images) > MaxImages {
		return nil, badRequest("too_many_images", "messages", "The message holds %d images; the limit is %d.", len(p.Images), MaxImages)
	}
	if p.URL == "" && len(p.Images) == 0 {
		// A follow-up: the video is in an earlier message of the conversation.
		for i := last - 1; i >= 0 && p.URL == ""; i-- {
			if msgs[i].Role != "user" {
				continue
			}
			v, _, err := videoAndPrompt(i, msgs[i])
			if err != nil {
				return nil, err
			}
			p.URL = v
		}
		if p.URL == "" || strings.TrimSpace(p.Prompt) == "" {
			return nil, badRequest("missing_video_url", "messages",
				"No video URL found: send a 'video_url' part, or put an http(s) URL of a video in the message text.")
		}
		p.FollowUp = true
		total := 0
		for _, m := range msgs[:last] {
			if m.Role == "system" || m.Role == "user" || m.Role == "assistant" {
				total += utf8.RuneCountInString(m.Text)
				p.History = append(p.History, historyMessage{Role: m.Role, Content: m.Text})
			}
		}
		if total > MaxHistoryRunes {
			return nil, badRequest("conversation_too_long", "messages", "The conversation is %d characters long; the limit is %d.", total, MaxHistoryRunes)
		}
	}
	return p, nil
}

func parseMessage(i int, m chatMessage) (parsedMessage, error) {
	pm := parsedMessage{Role: m.Role}
	switch m.Role {
	case "system", "user", "assistant", "developer", "tool":
	default:
		return pm, badRequest("invalid_role", "messages["+itoa(i)+"].role", "Message %d has role %q; use 'system', 'user' or 'assistant'.", i, m.Role)
	}
	raw := bytes.TrimSpace(m.Content)
	if len(raw) == 0 || string(raw) == "null" {
		if m.Role == "assistant" || m.Role == "tool" {
			return pm, nil
		}
		return pm, badRequest("missing_content", "messages["+itoa(i)+"].content", "Message %d has no content.", i)
	}
	var parts []contentPart
	switch raw[0] {
	case '"':
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return pm, badRequest("invalid_content", "messages["+itoa(i)+"].content", "Message %d has invalid content.", i)
		}
		pm.Text = s
		return pm, nil
	case '[':
		if err := json.Unmarshal(raw, &parts); err != nil {
			return pm, badRequest("invalid_content", "messages["+itoa(i)+"].content", "Message %d has invalid content parts: %v.", i, err)
		}
	case '{':
		var one contentPart
		if err := json.Unmarshal(raw, &one); err != nil {
			return pm, badRequest("invalid_content", "messages["+itoa(i)+"].content", "Message %d has an invalid content part: %v.", i, err)
		}
		parts = []contentPart{one}
	default:
		return pm, badRequest("invalid_content", "messages["+itoa(i)+"].content", "Message %d content must be a string or an array of parts.", i)
	}
	if len(parts) > MaxParts {
		return pm, badRequest("too_many_parts", "messages["+itoa(i)+"].content", "Message %d has %d content parts; the limit is %d.", i, len(parts), MaxParts)
	}
	var texts []string
	for j, part := range parts {
		param := "messages[" + itoa(i) + "].content[" + itoa(j) + "]"
		switch part.Type {
		case "text", "input_text", "output_text":
			texts = append(texts, part.Text)
		case "video_url":
			u, err := partURL(part.VideoURL)
			if err != nil || u == "" {
				return pm, badRequest("invalid_video_url", param+".video_url", "'video_url' must be a URL string or an object {\"url\": ...}.")
			}
			if pm.Video == "" {
				pm.Video = u
			}
		case "file", "input_file":
			// The file stands where a video URL would: core takes a file id
			// or a data: URL as the video reference.
			ref, err := filePart(part, param)
			if err != nil {
				return pm, err
			}
			if pm.Video == "" {
				pm.Video = ref
			}
		case "image_url", "input_image":
			u, err := partURL(part.ImageURL)
			if err != nil || u == "" {
				return pm, badRequest("invalid_image_url", param+".image_url", "'image_url' must be a URL string or an object {\"url\": ...}.")
			}
			if err := checkURLSyntax(u, param+".image_url", true); err != nil {
				return pm, err
			}
			pm.Images = append(pm.Images, u)
		default:
			return pm, badRequest("invalid_content_type", param+".type", "Content part type %q is not supported; use 'text', 'video_url', 'file' or 'image_url'.", part.Type)
		}
	}
	pm.Text = strings.Join(texts, "\n")
	return pm, nil
}

func partURL(raw json.RawMessage) (string, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return "", nil
	}
	if raw[0] == '"' {
		var s string
		err := json.Unmarshal(raw, &s)
		return strings.TrimSpace(s), err
	}
	var o struct {
		URL string `json:"url"`
	}
	err := json.Unmarshal(raw, &o)
	return strings.TrimSpace(o.URL), err
}

// videoAndPrompt finds a message's video URL (its video_url part, else the
// first http(s) URL of its text) and the rest of its text as the prompt.
func videoAndPrompt(i int, m parsedMessage) (string, string, error) {
	text := m.Text
	video := m.Video
	if video == "" {
		if loc := urlRE.FindStringIndex(text); loc != nil {
			video = strings.TrimRight(text[loc[0]:loc[1]], ".,;:!?)]}。，！？")
			text = text[:loc[0]] + text[loc[0]+len(video):]
		}
	} else if strings.TrimSpace(text) == video {
		text = ""
	}
	if video != "" && !core.IsFileRef(video) && !core.IsFileData(video) {
		if err := checkURLSyntax(video, "messages["+itoa(i)+"].content", false); err != nil {
			return "", "", err
		}
	}
	return video, strings.TrimSpace(text), nil
}

// checkURLSyntax refuses what is not an absolute http(s) URL (the use
// cases' rule, as an API error).
func checkURLSyntax(raw, param string, image bool) error {
	if err := core.CheckURLSyntax(raw, param, image); err != nil {
		return asAPIError(err)
	}
	return nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

func itoa(i int) string {
	b, _ := json.Marshal(i)
	return string(b)
}

// filePart reads a `file` content part: an uploaded file's id, or inline
// base64 content as a data: URL (within the request body's limit).
func filePart(part contentPart, param string) (string, error) {
	f := part.File
	if f == nil && (part.FileID != "" || part.FileData != "") {
		f = &struct {
			FileID   string `json:"file_id"`
			FileData string `json:"file_data"`
			Filename string `json:"filename"`
		}{FileID: part.FileID, FileData: part.FileData}
	}
	if f == nil {
		return "", badRequest("invalid_file", param+".file", "A 'file' part needs an object {\"file_id\": \"file-…\"} or {\"file_data\": \"data:audio/…;base64,…\"}.")
	}
	id, data := strings.TrimSpace(f.FileID), strings.TrimSpace(f.FileData)
	switch {
	case id != "" && data != "":
		return "", badRequest("invalid_file", param+".file", "Send either 'file_id' or 'file_data', not both.")
	case id != "":
		if !core.IsFileRef(id) || len(id) > 64 {
			return "", badRequest("invalid_file_id", param+".file.file_id", "%q is not a file id (they look like 'file-…').", truncate(id, 70))
		}
		return id, nil
	case data != "":
		if !strings.HasPrefix(data, "data:") {
			// Bare base64, as some clients send it: the content is probed
			// anyway, so the type in the data URL is only a hint.
			data = "data:application/octet-stream;base64," + data
		}
		return data, nil
	}
	return "", badRequest("invalid_file", param+".file", "A 'file' part needs 'file_id' or 'file_data'.")
}
