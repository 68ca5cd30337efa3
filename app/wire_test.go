package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/packages/pagination"
	"github.com/openai/openai-go/v3/responses"

	"github.com/recap/recap/app/apptest"
)

// missingRequired lists the paths of the fields that typ, an openai-go
// response type, marks required (api:"required", or a constant such as
// "type": "message") and raw lacks, at any depth. openai-go's types are
// generated from OpenAI's reference, so this is the reference's list; a
// union (ResponseOutputItemUnion, ResponseStreamEventUnion, …) is checked
// as the variant its "type" names. Null counts as present: the reference
// has required fields that are nullable (error, instructions).
func missingRequired(t *testing.T, raw string, typ reflect.Type) []string {
	t.Helper()
	var v any
	dec := json.NewDecoder(strings.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, raw)
	}
	var out []string
	walkRequired("$", v, typ, &out)
	return out
}

func walkRequired(path string, v any, typ reflect.Type, out *[]string) {
	for typ.Kind() == reflect.Pointer {
		typ = typ.Elem()
	}
	switch typ.Kind() {
	case reflect.Slice, reflect.Array:
		arr, _ := v.([]any)
		for i, e := range arr {
			walkRequired(fmt.Sprintf("%s[%d]", path, i), e, typ.Elem(), out)
		}
	case reflect.Struct:
		obj, ok := v.(map[string]any)
		if !ok {
			return
		}
		if strings.HasSuffix(typ.Name(), "Union") {
			variant := unionVariant(typ, obj["type"])
			if variant == nil {
				if _, typed := obj["type"]; typed && len(unionVariants(typ)) > 0 {
					*out = append(*out, fmt.Sprintf("%s: type %v is none of %s's variants", path, obj["type"], typ.Name()))
				}
				return
			}
			typ = variant
		}
		for i := 0; i < typ.NumField(); i++ {
			f := typ.Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if name == "" || name == "-" {
				continue
			}
			val, present := obj[name]
			required := f.Tag.Get("api") == "required" || f.Tag.Get("default") != ""
			if required && !present {
				*out = append(*out, path+"."+name)
			}
			if present && val != nil {
				walkRequired(path+"."+name, val, f.Type, out)
			}
		}
	}
}

// unionVariants maps each "type" value of a union's variants (the
// structs its AsX methods return) to the variant.
func unionVariants(union reflect.Type) map[string]reflect.Type {
	out := map[string]reflect.Type{}
	for i := 0; i < union.NumMethod(); i++ {
		m := union.Method(i)
		if !strings.HasPrefix(m.Name, "As") || m.Type.NumIn() != 1 || m.Type.NumOut() != 1 {
			continue
		}
		vt := m.Type.Out(0)
		if vt.Kind() != reflect.Struct {
			continue
		}
		if f, ok := vt.FieldByName("Type"); ok && f.Tag.Get("default") != "" {
			out[f.Tag.Get("default")] = vt
		}
	}
	return out
}

func unionVariant(union reflect.Type, typ any) reflect.Type {
	s, ok := typ.(string)
	if !ok {
		return nil
	}
	return unionVariants(union)[s]
}

func typeOf[T any]() reflect.Type { return reflect.TypeFor[T]() }

// checkRequired fails the test when raw lacks a field typ requires.
func checkRequired(t *testing.T, what, raw string, typ reflect.Type) {
	t.Helper()
	if raw == "" {
		t.Fatalf("%s: no JSON to check", what)
	}
	if m := missingRequired(t, raw, typ); len(m) > 0 {
		t.Errorf("%s lacks fields OpenAI's reference requires (%s): %v\n%s", what, typ.Name(), m, raw)
	}
}

// TestMissingRequiredFinds: the check itself finds what it must, in a
// message item, through the union of output items, and in a stream event.
func TestMissingRequiredFinds(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		raw  string
		typ  reflect.Type
		want []string
	}{
		{`{"id":"r","object":"response","created_at":1,"model":"m","output":[{"type":"message","id":"m","status":"completed","role":"assistant",` +
			`"content":[{"type":"output_text","text":"hi"}]}],"error":null,"incomplete_details":null,"instructions":null,"metadata":{},` +
			`"parallel_tool_calls":false,"temperature":null,"tool_choice":"none","tools":[],"top_p":null,"access_programs":{"cyber":"standard"}}`,
			typeOf[responses.Response](), []string{"$.output[0].content[0].annotations"}},
		{`{"type":"response.output_item.added","sequence_number":3,"output_index":0,"item":{"type":"reasoning","id":"rs"}}`,
			typeOf[responses.ResponseStreamEventUnion](), []string{"$.item.summary"}},
		{`{"type":"response.created","sequence_number":0}`, typeOf[responses.ResponseStreamEventUnion](), []string{"$.response"}},
		{`{"id":"c","object":"chat.completion","created":1,"model":"m","choices":[{"index":0,"finish_reason":"stop","message":{"role":"assistant"}}]}`,
			typeOf[openai.ChatCompletion](), []string{"$.choices[0].logprobs", "$.choices[0].message.content", "$.choices[0].message.refusal"}},
	} {
		got := missingRequired(t, c.raw, c.typ)
		slices.Sort(got)
		if !slices.Equal(got, c.want) {
			t.Errorf("missingRequired(%s) = %v, want %v", c.raw, got, c.want)
		}
	}
}

// TestWireRequiredFields: every reply of the OpenAI-shaped routes, read
// by openai-go, carries every field OpenAI's reference marks required:
// chat completions and their chunks, models, Responses and each of their
// stream events, files and transcriptions.
func TestWireRequiredFields(t *testing.T) {
	t.Parallel()
	e := apptest.Start(t, apptest.Options{STT: true})
	ctx := context.Background()
	c := v1Client(e, e.Key)

	t.Run("chat", func(t *testing.T) {
		resp, err := c.Chat.Completions.New(ctx, userMessage(e.Host.PageURL()))
		if err != nil {
			t.Fatal(err)
		}
		checkRequired(t, "chat.completion", resp.RawJSON(), typeOf[openai.ChatCompletion]())
		stream := c.Chat.Completions.NewStreaming(ctx, userMessage("In three lines "+e.Host.PageURL()))
		n := 0
		for stream.Next() {
			checkRequired(t, "chat.completion.chunk", stream.Current().RawJSON(), typeOf[openai.ChatCompletionChunk]())
			n++
		}
		if err := stream.Err(); err != nil || n < 3 {
			t.Fatalf("stream: %d chunks, %v", n, err)
		}
	})
	t.Run("models", func(t *testing.T) {
		page, err := c.Models.List(ctx)
		if err != nil {
			t.Fatal(err)
		}
		checkRequired(t, "model list", page.RawJSON(), typeOf[pagination.Page[openai.Model]]())
		m, err := c.Models.Get(ctx, "bibigpt")
		if err != nil {
			t.Fatal(err)
		}
		checkRequired(t, "model", m.RawJSON(), typeOf[openai.Model]())
	})
	t.Run("responses", func(t *testing.T) {
		r, err := c.Responses.New(ctx, responses.ResponseNewParams{Model: "bibigpt",
			Input: responses.ResponseNewParamsInputUnion{OfString: openai.String("Summarize " + e.Host.PageURL())}})
		if err != nil {
			t.Fatal(err)
		}
		checkRequired(t, "response", r.RawJSON(), typeOf[responses.Response]())
		// A fresh prompt, so the job runs and the stream has progress
		// (a reasoning item) before the message.
		stream := c.Responses.NewStreaming(ctx, responses.ResponseNewParams{Model: "bibigpt",
			Input: responses.ResponseNewParamsInputUnion{OfString: openai.String("The main claims of " + e.Host.PageURL())}})
		seen := map[string]bool{}
		for stream.Next() {
			ev := stream.Current()
			seen[ev.Type] = true
			checkRequired(t, ev.Type, ev.RawJSON(), typeOf[responses.ResponseStreamEventUnion]())
		}
		if err := stream.Err(); err != nil {
			t.Fatal(err)
		}
		for _, typ := range []string{"response.created", "response.reasoning_summary_part.added", "response.reasoning_summary_text.done",
			"response.output_item.added", "response.content_part.added", "response.output_text.delta", "response.completed"} {
			if !seen[typ] {
				t.Errorf("no %s event: the check did not see it", typ)
			}
		}
	})
	t.Run("files", func(t *testing.T) {
		f, err := e.Client.Files.New(ctx, openai.FileNewParams{File: openai.File(bytes.NewReader(talkWebm(t)), "talk.webm", "audio/webm"),
			Purpose: openai.FilePurposeUserData})
		if err != nil {
			t.Fatal(err)
		}
		checkRequired(t, "file", f.RawJSON(), typeOf[openai.FileObject]())
		got, err := e.Client.Files.Get(ctx, f.ID)
		if err != nil {
			t.Fatal(err)
		}
		checkRequired(t, "file", got.RawJSON(), typeOf[openai.FileObject]())
		page, err := e.Client.Files.List(ctx, openai.FileListParams{})
		if err != nil {
			t.Fatal(err)
		}
		checkRequired(t, "file list", page.RawJSON(), typeOf[pagination.CursorPage[openai.FileObject]]())
		del, err := e.Client.Files.Delete(ctx, f.ID)
		if err != nil {
			t.Fatal(err)
		}
		checkRequired(t, "file deleted", del.RawJSON(), typeOf[openai.FileDeleted]())
	})
	t.Run("transcriptions", func(t *testing.T) {
		params := func(format openai.AudioResponseFormat) openai.AudioTranscriptionNewParams {
			return openai.AudioTranscriptionNewParams{File: openai.File(bytes.NewReader(talkWebm(t)), "talk.webm", "audio/webm"),
				Model: openai.AudioModel("whisper-1"), ResponseFormat: format}
		}
		r, err := e.Client.Audio.Transcriptions.New(ctx, params(openai.AudioResponseFormatJSON))
		if err != nil {
			t.Fatal(err)
		}
		checkRequired(t, "transcription", r.RawJSON(), typeOf[openai.Transcription]())
		p := params(openai.AudioResponseFormatVerboseJSON)
		p.TimestampGranularities = []string{"segment"}
		v, err := e.Client.Audio.Transcriptions.New(ctx, p, option.WithMaxRetries(0))
		if err != nil {
			t.Fatal(err)
		}
		checkRequired(t, "verbose transcription", v.RawJSON(), typeOf[openai.TranscriptionVerbose]())
	})
}
