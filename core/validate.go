package core

import (
	"net/url"
	"regexp"
	"strings"

	"github.com/recap/recap/textclean"
)

// Request limits; each over-limit request gets a KindInvalid error naming
// the limit.
const (
	MaxURLLength    = 2048
	MaxPromptRunes  = 8000
	MaxImages       = 8
	MaxHistoryRunes = 64000
	// MaxBatchURLs bounds one batch of jobs.
	MaxBatchURLs = 1000
)

var langRE = regexp.MustCompile(`^[A-Za-z]{2,3}([-_][A-Za-z0-9]{2,8})*$`)

// CheckLanguage refuses what is not a language code ("" and "auto" mean
// detect).
func CheckLanguage(param, v string) error {
	if v != "" && v != "auto" && !langRE.MatchString(v) {
		return Invalid("invalid_language", param, "'%s' must be a language code such as 'en' or 'zh-Hans'.", param)
	}
	return nil
}

// NormLang normalizes a language code: "auto" is "", "_" is "-".
func NormLang(s string) string {
	s = strings.TrimSpace(s)
	if s == "auto" {
		return ""
	}
	return strings.ReplaceAll(s, "_", "-")
}

// CheckText refuses text Postgres cannot store (a NUL character) or that
// is not UTF-8, naming the field: every text that reaches the database is
// checked here, at the edge, so none can fail there.
func CheckText(param, s string) error {
	if textclean.Valid(s) {
		return nil
	}
	if strings.IndexByte(s, 0) >= 0 {
		return Invalid("invalid_text", param, "'%s' contains a NUL character (\\u0000), which is not allowed.", param)
	}
	return Invalid("invalid_text", param, "'%s' is not valid UTF-8.", param)
}

// CheckURLSyntax refuses what is not an absolute http(s) URL (for images,
// a data:image/ URL too). Where the host points is checked separately,
// when the URL is about to be fetched.
func CheckURLSyntax(raw, param string, image bool) error {
	if err := CheckText(param, raw); err != nil {
		return err
	}
	if image && strings.HasPrefix(raw, "data:image/") {
		return nil
	}
	if len(raw) > MaxURLLength {
		return Invalid("url_too_long", param, "The URL is %d characters long; the limit is %d.", len(raw), MaxURLLength)
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Hostname() == "" {
		return Invalid("invalid_url", param, "%q is not an http(s) URL.", truncate(raw, 100))
	}
	return nil
}
