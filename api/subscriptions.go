package api

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gorilla/mux"

	"github.com/recap/recap/core"
)

// subscriptionRoutes serves the subscriptions resource under one base
// path: reads need the read scope, the rest write (requireScope).
func (s *Server) subscriptionRoutes(v1 *mux.Router) {
	v1.HandleFunc("/subscriptions", s.handleSubscribe).Methods(http.MethodPost)
	v1.HandleFunc("/subscriptions", s.handleListSubscriptions).Methods(http.MethodGet)
	v1.HandleFunc("/subscriptions/{id}", s.handleGetSubscription).Methods(http.MethodGet)
	v1.HandleFunc("/subscriptions/{id}", s.handlePatchSubscription).Methods(http.MethodPatch)
	v1.HandleFunc("/subscriptions/{id}", s.handleUnsubscribe).Methods(http.MethodDelete)
	v1.HandleFunc("/subscriptions/{id}/rotate_feed_token", s.handleRotateFeedToken).Methods(http.MethodPost)
}

// feedRoutes serves subscriptions' Atom feeds, read with the secret
// token in their URL instead of an Authorization header (feed readers
// send none).
func (s *Server) feedRoutes() {
	s.router.HandleFunc(core.FeedPathPrefix+"{token}", s.handleFeed).Methods(http.MethodGet, http.MethodHead)
}

type subscribeRequest struct {
	URL             string `json:"url"`
	IntervalSeconds *int   `json:"interval_seconds"`
	Limit           *int   `json:"limit"`
	Webhook         string `json:"webhook"`
	Prompt          string `json:"prompt"`
	Language        string `json:"language"`
	Model           string `json:"model"`
}

// withFeedURL completes a subscription's feed URL (shown when its token
// is made) with this server's base.
func (s *Server) withFeedURL(r *http.Request, sub *core.Subscription) *core.Subscription {
	if sub.FeedPath != "" {
		sub.FeedURL = s.publicBase(r) + sub.FeedPath
	}
	return sub
}

func decodeJSON(r *http.Request, v any) error {
	body, err := readBody(r)
	if err != nil {
		return err
	}
	if err := json.NewDecoder(bytes.NewReader(body)).Decode(v); err != nil {
		return badRequest("invalid_json", "", "The request body is not valid JSON: %v.", err)
	}
	return nil
}

func (s *Server) handleSubscribe(w http.ResponseWriter, r *http.Request) {
	var req subscribeRequest
	if err := decodeJSON(r, &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	sub, err := s.core.Subscribe(r.Context(), core.SubscribeRequest{Caller: caller(r), URL: req.URL, IntervalSeconds: req.IntervalSeconds,
		Limit: req.Limit, Webhook: req.Webhook, Prompt: req.Prompt, Language: req.Language, Model: req.Model})
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, s.withFeedURL(r, sub))
}

// handleListSubscriptions pages as GET /jobs does: limit, cursor,
// has_more and next_cursor.
func (s *Server) handleListSubscriptions(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	req := core.SubscriptionListRequest{Caller: caller(r), Cursor: q.Get("cursor")}
	if l := q.Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 {
			n = -1 // refused by the use case
		}
		req.Limit = n
	}
	p, err := s.core.ListSubscriptions(r.Context(), req)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	out := map[string]any{"object": "list", "data": p.Subscriptions, "has_more": p.HasMore}
	if p.HasMore {
		out["next_cursor"] = p.NextCursor
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) handleGetSubscription(w http.ResponseWriter, r *http.Request) {
	sub, err := s.core.GetSubscription(r.Context(), caller(r), mux.Vars(r)["id"])
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, sub)
}

type patchSubscriptionRequest struct {
	IntervalSeconds *int    `json:"interval_seconds"`
	State           *string `json:"state"`
}

func (s *Server) handlePatchSubscription(w http.ResponseWriter, r *http.Request) {
	var req patchSubscriptionRequest
	if err := decodeJSON(r, &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	sub, err := s.core.UpdateSubscription(r.Context(), caller(r), mux.Vars(r)["id"],
		core.SubscriptionPatch{IntervalSeconds: req.IntervalSeconds, State: req.State})
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, sub)
}

func (s *Server) handleUnsubscribe(w http.ResponseWriter, r *http.Request) {
	id := mux.Vars(r)["id"]
	if err := s.core.Unsubscribe(r.Context(), caller(r), id); err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"id": id, "object": "subscription", "deleted": true})
}

func (s *Server) handleRotateFeedToken(w http.ResponseWriter, r *http.Request) {
	sub, err := s.core.RotateFeedToken(r.Context(), caller(r), mux.Vars(r)["id"])
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, s.withFeedURL(r, sub))
}

// Atom (RFC 4287) as the feed writes it.
type atomFeed struct {
	XMLName xml.Name    `xml:"http://www.w3.org/2005/Atom feed"`
	ID      string      `xml:"id"`
	Title   string      `xml:"title"`
	Updated string      `xml:"updated"`
	Author  atomPerson  `xml:"author"`
	Links   []atomLink  `xml:"link"`
	Entries []atomEntry `xml:"entry"`
}

type atomPerson struct {
	Name string `xml:"name"`
}

type atomLink struct {
	Rel  string `xml:"rel,attr,omitempty"`
	Href string `xml:"href,attr"`
	Type string `xml:"type,attr,omitempty"`
}

type atomEntry struct {
	ID        string      `xml:"id"`
	Title     string      `xml:"title"`
	Published string      `xml:"published"`
	Updated   string      `xml:"updated"`
	Links     []atomLink  `xml:"link"`
	Content   atomContent `xml:"content"`
}

type atomContent struct {
	Type string `xml:"type,attr"`
	Body string `xml:",chardata"`
}

func atomTime(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// handleFeed writes a subscription's succeeded summaries as an Atom feed,
// newest first, each summary's markdown as HTML.
func (s *Server) handleFeed(w http.ResponseWriter, r *http.Request) {
	f, err := s.core.SubscriptionFeed(r.Context(), mux.Vars(r)["token"])
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	sub := f.Subscription
	self := s.publicBase(r) + r.URL.Path
	title := sub.Title
	if title == "" {
		title = sub.URL
	}
	out := atomFeed{ID: "urn:recap:subscription:" + sub.ID, Title: "Recap: " + title, Updated: atomTime(sub.CreatedAt),
		Author: atomPerson{Name: "Recap"},
		Links:  []atomLink{{Rel: "self", Href: self, Type: "application/atom+xml"}, {Rel: "alternate", Href: sub.URL}}}
	for _, v := range f.Jobs {
		updated := v.UpdatedAt
		if v.FinishedAt != nil {
			updated = *v.FinishedAt
		}
		if u := atomTime(updated); u > out.Updated {
			out.Updated = u
		}
		et := v.Title
		if et == "" {
			et = v.URL
		}
		summary := ""
		if v.Result != nil {
			summary = v.Result.Summary
		}
		out.Entries = append(out.Entries, atomEntry{ID: "urn:recap:job:" + v.ID, Title: et, Published: atomTime(v.CreatedAt),
			Updated: atomTime(updated), Links: []atomLink{{Rel: "alternate", Href: v.URL}},
			Content: atomContent{Type: "html", Body: markdownHTML(summary)}})
	}
	b, err := xml.MarshalIndent(out, "", "  ")
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "application/atom+xml; charset=utf-8")
	w.Header().Set("Cache-Control", "private, max-age=60")
	w.Header().Set("Referrer-Policy", "no-referrer") // the token is in the URL
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodHead {
		return
	}
	_, _ = w.Write([]byte(xml.Header))
	_, _ = w.Write(b)
}

// markdownHTML renders the markdown summaries are written in (headings,
// lists, paragraphs, **bold**, *italic*, `code`) as HTML. Everything is
// escaped first and no link or raw HTML is ever produced, so a summary
// cannot inject markup into a feed reader.
func markdownHTML(md string) string {
	var b strings.Builder
	list := ""
	closeList := func() {
		if list != "" {
			b.WriteString("</" + list + ">\n")
			list = ""
		}
	}
	var para []string
	flush := func() {
		if len(para) > 0 {
			b.WriteString("<p>" + strings.Join(para, "<br>") + "</p>\n")
			para = nil
		}
	}
	for _, line := range strings.Split(strings.ReplaceAll(md, "\r\n", "\n"), "\n") {
		t := strings.TrimSpace(line)
		switch {
		case t == "":
			flush()
			closeList()
		case strings.HasPrefix(t, "#"):
			flush()
			closeList()
			level := len(t) - len(strings.TrimLeft(t, "#"))
			level = min(level+1, 6) // the feed entry's title is the top heading
			tag := "h" + strconv.Itoa(level)
			b.WriteString("<" + tag + ">" + inlineHTML(strings.TrimSpace(strings.TrimLeft(t, "#"))) + "</" + tag + ">\n")
		case strings.HasPrefix(t, "- ") || strings.HasPrefix(t, "* ") || strings.HasPrefix(t, "+ "):
			flush()
			if list != "ul" {
				closeList()
				b.WriteString("<ul>\n")
				list = "ul"
			}
			b.WriteString("<li>" + inlineHTML(t[2:]) + "</li>\n")
		case orderedItem(t) > 0:
			flush()
			if list != "ol" {
				closeList()
				b.WriteString("<ol>\n")
				list = "ol"
			}
			b.WriteString("<li>" + inlineHTML(strings.TrimSpace(t[orderedItem(t):])) + "</li>\n")
		default:
			closeList()
			para = append(para, inlineHTML(t))
		}
	}
	flush()
	closeList()
	return b.String()
}

// orderedItem is the length of a "12. " or "12) " list marker starting
// t, or 0.
func orderedItem(t string) int {
	i := 0
	for i < len(t) && i < 9 && t[i] >= '0' && t[i] <= '9' {
		i++
	}
	if i == 0 || i+1 >= len(t) || (t[i] != '.' && t[i] != ')') || t[i+1] != ' ' {
		return 0
	}
	return i + 2
}

// inlineHTML escapes text and renders `code`, **bold** and *italic*.
func inlineHTML(s string) string {
	var b strings.Builder
	parts := strings.Split(s, "`")
	for i, p := range parts {
		esc := xmlEscape(p)
		if i%2 == 1 && i < len(parts)-1 {
			b.WriteString("<code>" + esc + "</code>")
			continue
		}
		if i%2 == 1 { // an unpaired backtick
			b.WriteString("`")
		}
		b.WriteString(emphasis(emphasis(esc, "**", "strong"), "*", "em"))
	}
	return b.String()
}

// emphasis wraps text between pairs of marker in tag.
func emphasis(s, marker, tag string) string {
	parts := strings.Split(s, marker)
	if len(parts) < 3 {
		return s
	}
	var b strings.Builder
	for i, p := range parts {
		switch {
		case i == 0:
		case i%2 == 1 && i < len(parts)-1:
			b.WriteString("<" + tag + ">")
		case i%2 == 0:
			b.WriteString("</" + tag + ">")
		default:
			b.WriteString(marker)
		}
		b.WriteString(p)
	}
	return b.String()
}

func xmlEscape(s string) string {
	var b bytes.Buffer
	_ = xml.EscapeText(&b, []byte(s))
	return b.String()
}
