package core

import (
	"strings"

	"github.com/recap/recap/summarize"
)

// PublicModel is the model name of the BibiGPT contract.
const PublicModel = "bibigpt"

// Model is one model a caller may name.
type Model struct {
	ID      string
	Created int64
	OwnedBy string
}

// modelCreated is the fixed creation time models report (OpenAI's model
// object requires one).
const modelCreated = 1700000000

// modelNames are the provider models this server runs: the offline
// summarizer, LLM_MODEL and LLM_MODELS.
func (s *Service) modelNames() []string {
	names := []string{summarize.ExtractiveModel}
	if s.cfg.DefaultModel != "" {
		names = append(names, s.cfg.DefaultModel)
	}
	for _, m := range s.cfg.Models {
		if m != "" && m != s.cfg.DefaultModel && m != summarize.ExtractiveModel {
			names = append(names, m)
		}
	}
	return names
}

// Models lists the models callers may name: "bibigpt" and "bibigpt/<m>"
// for every model the server runs.
func (s *Service) Models() []Model {
	out := []Model{{ID: PublicModel, Created: modelCreated, OwnedBy: "recap"}}
	for _, m := range s.modelNames() {
		out = append(out, Model{ID: PublicModel + "/" + m, Created: modelCreated, OwnedBy: "recap"})
	}
	return out
}

// Model returns the model named id, or a KindNotFound model_not_found.
func (s *Service) Model(id string) (Model, error) {
	for _, m := range s.Models() {
		if m.ID == id {
			return m, nil
		}
	}
	return Model{}, &Error{Kind: KindNotFound, Code: "model_not_found", Param: "model",
		Message: "The model '" + truncate(id, 140) + "' does not exist; GET /api/v1/models lists the models of this server."}
}

// ResolveModel maps the model a request names to the provider model its
// job uses. Only the models the server runs are accepted: a name outside
// LLM_MODEL, LLM_MODELS and the offline summarizer never reaches a
// provider.
func (s *Service) ResolveModel(m string) (string, error) {
	m = strings.TrimSpace(m)
	if m == "" || m == PublicModel {
		if s.cfg.DefaultModel == "" {
			return summarize.ExtractiveModel, nil
		}
		return s.cfg.DefaultModel, nil
	}
	name, prefixed := strings.CutPrefix(m, PublicModel+"/")
	for _, known := range s.modelNames() {
		if name == known {
			return known, nil
		}
	}
	if prefixed && name != "" && s.cfg.DefaultModel == "" {
		return "", Invalid("model_not_found", "model", "No language model is configured on this server; use '%s' or '%s/%s'.",
			PublicModel, PublicModel, summarize.ExtractiveModel)
	}
	if prefixed {
		return "", Invalid("model_not_found", "model", "The model %q does not exist; GET /api/v1/models lists the models of this server.", truncate(m, 140))
	}
	return "", &Error{Kind: KindNotFound, Code: "model_not_found", Param: "model",
		Message: "The model '" + truncate(m, 140) + "' does not exist; GET /api/v1/models lists the models of this server."}
}

// ReplyModel is the model named in replies: what the client asked for, but
// never hiding that the offline summarizer answered.
func ReplyModel(asked, used string) string {
	if used == summarize.ExtractiveModel {
		return PublicModel + "/" + summarize.ExtractiveModel
	}
	if asked == "" {
		return PublicModel
	}
	return asked
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
