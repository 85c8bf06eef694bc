package fakes

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"time"
)

// Lob fakes POST /v1/letters and /v1/postcards. It requires HTTP Basic auth
// with the API key as user, a JSON body with what Lob requires (to, from for
// letters, file or front and back, color for letters, use_type), checks
// addresses and metadata the way Lob does, honours Idempotency-Key by
// answering a repeated key with the first object, answers errors in Lob's
// shape {error: {message, status_code, code}}, and records accepted mail.
// An address whose first line contains UNDELIVERABLE fails Lob's
// deliverability check (422).
type Lob struct {
	apiKey   string
	rec      *Recorder
	Failures Failures
	mu       sync.Mutex
	seen     map[string][]byte // resource + idempotency key -> first answer
	created  int
	lose     int
}

// LoseAnswers makes the next n requests create their piece but answer 502,
// as when the answer is lost on the way back: only the Idempotency-Key
// saves the retry from printing a second piece.
func (f *Lob) LoseAnswers(n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lose += n
}

// NewLob returns a Lob fake accepting apiKey.
func NewLob(apiKey string, rec *Recorder) *Lob {
	return &Lob{apiKey: apiKey, rec: rec, seen: map[string][]byte{}}
}

// Created counts the pieces created (repeats of an idempotency key do not
// count).
func (f *Lob) Created() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.created
}

type lobAddress struct {
	Name    string `json:"name"`
	Company string `json:"company"`
	Line1   string `json:"address_line1"`
	Line2   string `json:"address_line2"`
	City    string `json:"address_city"`
	State   string `json:"address_state"`
	Zip     string `json:"address_zip"`
	Country string `json:"address_country"`
}

type lobRequest struct {
	Description    string            `json:"description"`
	To             *lobAddress       `json:"to"`
	From           *lobAddress       `json:"from"`
	File           string            `json:"file"`
	Color          *bool             `json:"color"`
	Front          string            `json:"front"`
	Back           string            `json:"back"`
	Size           string            `json:"size"`
	UseType        *string           `json:"use_type"`
	MergeVariables map[string]any    `json:"merge_variables"`
	Metadata       map[string]string `json:"metadata"`
}

var (
	usZipRe   = regexp.MustCompile(`^\d{5}(-\d{4})?$`)
	usStateRe = regexp.MustCompile(`^[a-zA-Z]{2}$`)
)

func (f *Lob) fail(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, map[string]any{"error": map[string]any{"message": msg, "status_code": status, "code": code}})
}

func (f *Lob) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	kind := strings.TrimSuffix(strings.TrimPrefix(r.URL.Path, "/v1/"), "s") // letter or postcard
	if r.Method != http.MethodPost {
		f.fail(w, http.StatusMethodNotAllowed, "bad_request", "method not allowed")
		return
	}
	if user, _, ok := r.BasicAuth(); !ok || user != f.apiKey {
		f.fail(w, http.StatusUnauthorized, "unauthorized", "Your API key is not valid. Please sign up on lob.com to get a valid api key.")
		return
	}
	key := r.Header.Get("Idempotency-Key")
	if len(key) > 256 {
		f.fail(w, http.StatusUnprocessableEntity, "invalid", "Idempotency-Key must be no longer than 256 characters")
		return
	}
	if key != "" {
		f.mu.Lock()
		first, ok := f.seen[kind+"\x00"+key]
		f.mu.Unlock()
		if ok {
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write(first)
			return
		}
	}
	if status, ok := f.Failures.next(); ok {
		code := "internal_server_error"
		if status == http.StatusTooManyRequests {
			code = "rate_limit_exceeded"
		} else if status < 500 {
			code = "invalid"
		}
		f.fail(w, status, code, fmt.Sprintf("forced failure %d", status))
		return
	}
	if !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		f.fail(w, http.StatusUnprocessableEntity, "invalid", "this fake accepts application/json bodies")
		return
	}
	raw, err := io.ReadAll(io.LimitReader(r.Body, 10<<20))
	if err != nil {
		f.fail(w, http.StatusBadRequest, "bad_request", "could not read the body")
		return
	}
	var req lobRequest
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		f.fail(w, http.StatusUnprocessableEntity, "invalid", "request body is invalid: "+err.Error())
		return
	}
	if msg := validateLob(kind, &req); msg != "" {
		f.fail(w, http.StatusUnprocessableEntity, "invalid", msg)
		return
	}
	if strings.Contains(strings.ToUpper(req.To.Line1), "UNDELIVERABLE") {
		f.fail(w, http.StatusUnprocessableEntity, "failed_deliverability_strictness", "address is undeliverable")
		return
	}

	prefix := map[string]string{"letter": "ltr_", "postcard": "psc_"}[kind]
	id := prefix + randomHex(12)
	now := time.Now().UTC()
	obj := map[string]any{
		"id": id, "object": kind, "description": req.Description, "to": req.To, "from": req.From,
		"metadata": orEmpty(req.Metadata), "merge_variables": req.MergeVariables, "use_type": *req.UseType,
		"url":                    fmt.Sprintf("https://lob-assets.example/%s.pdf", id),
		"carrier":                "USPS",
		"expected_delivery_date": now.AddDate(0, 0, 5).Format("2006-01-02"),
		"date_created":           now.Format(time.RFC3339), "date_modified": now.Format(time.RFC3339),
		"send_date": now.Format(time.RFC3339), "deleted": false,
	}
	answer, _ := json.Marshal(obj)
	html, back, text := req.File, "", htmlToText(req.File)
	if kind == "postcard" {
		html, back = req.Front, req.Back
		text = htmlToText(req.Front) + "\n\n" + htmlToText(req.Back)
	}
	f.mu.Lock()
	if key != "" {
		f.seen[kind+"\x00"+key] = answer
	}
	f.created++
	lose := f.lose > 0
	if lose {
		f.lose--
	}
	f.mu.Unlock()
	f.rec.add(Message{
		Channel: "mail", To: formatLobAddress(req.To), Subject: kind + ": " + req.Description,
		Text: text, HTML: html, Back: back, Headers: map[string]string{}, SentAt: now,
		Provider: "lob", ProviderMessageID: id,
		CustomerID: req.Metadata["customer_id"], Journey: req.Metadata["journey"], Step: req.Metadata["step"], MessageID: req.Metadata["message_id"],
	})
	if lose {
		http.Error(w, "<html>502 Bad Gateway</html>", http.StatusBadGateway)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(answer)
}

func orEmpty(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return m
}

func validateLob(kind string, req *lobRequest) string {
	if req.To == nil {
		return "to is required"
	}
	if msg := checkLobAddress("to", req.To); msg != "" {
		return msg
	}
	international := req.To.Country != "" && req.To.Country != "US"
	switch kind {
	case "letter":
		if req.From == nil {
			return "from is required"
		}
		if req.File == "" {
			return "file is required"
		}
		if req.Color == nil {
			return "color is required"
		}
	case "postcard":
		if req.Front == "" {
			return "front is required"
		}
		if req.Back == "" {
			return "back is required"
		}
		if international && req.From == nil {
			return "from is required when the to address is international"
		}
		if international && req.Size != "" && req.Size != "4x6" {
			return "only 4x6 postcards can be sent to international destinations"
		}
		if req.Size != "" && req.Size != "4x6" && req.Size != "6x9" && req.Size != "6x11" {
			return "size must be one of 4x6, 6x9, 6x11"
		}
	}
	if req.From != nil {
		if msg := checkLobAddress("from", req.From); msg != "" {
			return msg
		}
		if kind == "letter" && req.From.Country != "" && req.From.Country != "US" {
			return "from must be a US address"
		}
	}
	if req.UseType == nil {
		return "use_type is required"
	}
	if *req.UseType != "marketing" && *req.UseType != "operational" {
		return "use_type must be one of marketing, operational"
	}
	if len(req.Metadata) > 20 {
		return "metadata must have at most 20 keys"
	}
	for k, v := range req.Metadata {
		if len(k) > 40 || len(v) > 500 || strings.ContainsAny(k+v, `"\`) {
			return "metadata keys must be at most 40 characters, values at most 500, and neither may contain \" or \\"
		}
	}
	if b, _ := json.Marshal(req.MergeVariables); len(b) > 25000 {
		return "merge_variables must be no longer than 25,000 characters"
	}
	if len(req.Description) > 255 {
		return "description must be no longer than 255 characters"
	}
	return ""
}

func checkLobAddress(field string, a *lobAddress) string {
	switch {
	case a.Name == "" && a.Company == "":
		return field + ".name or " + field + ".company is required"
	case len([]rune(a.Name)) > 40:
		return field + ".name must be no longer than 40 characters"
	case a.Line1 == "":
		return field + ".address_line1 is required"
	}
	if a.Country == "" || a.Country == "US" {
		switch {
		case len(a.Line1) > 64:
			return field + ".address_line1 must be no longer than 64 characters"
		case a.City == "":
			return field + ".address_city is required"
		case !usStateRe.MatchString(a.State):
			return field + ".address_state must be a 2 letter state short-name code"
		case !usZipRe.MatchString(a.Zip):
			return field + ".address_zip must follow the ZIP format of 12345 or ZIP+4 format of 12345-1234"
		}
		return ""
	}
	if len(a.Country) != 2 {
		return field + ".address_country must be a 2 letter country short-name code (ISO 3166)"
	}
	if a.Zip == "" && (a.City == "" || a.State == "") {
		return field + ".address_zip is required, or both address_city and address_state"
	}
	return ""
}

func formatLobAddress(a *lobAddress) string {
	parts := []string{a.Name, a.Line1, a.Line2, a.City, a.State, a.Zip, a.Country}
	var out []string
	for _, p := range parts {
		if p != "" {
			out = append(out, p)
		}
	}
	return strings.Join(out, ", ")
}

var (
	// inlineRe are tags inside a line of text: they go without a trace
	// ("<strong>CODE</strong>, until" reads "CODE, until"); other tags
	// break words apart.
	inlineRe = regexp.MustCompile(`(?i)</?(strong|b|em|i|u|a|span|small|code|sup|sub)(\s[^>]*)?>`)
	tagRe    = regexp.MustCompile(`(?s)<style.*?</style>|<[^>]+>`)
	spaceRe  = regexp.MustCompile(`[ \t]+`)
	blankRe  = regexp.MustCompile(`\n\s*\n\s*\n+`)
)

// htmlToText gives a readable text version of rendered artwork for the dev
// outbox.
func htmlToText(html string) string {
	s := tagRe.ReplaceAllString(inlineRe.ReplaceAllString(html, ""), " ")
	for _, e := range [][2]string{{"&amp;", "&"}, {"&lt;", "<"}, {"&gt;", ">"}, {"&#39;", "'"}, {"&quot;", `"`}, {"&nbsp;", " "}} {
		s = strings.ReplaceAll(s, e[0], e[1])
	}
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = strings.TrimSpace(spaceRe.ReplaceAllString(l, " "))
	}
	return strings.TrimSpace(blankRe.ReplaceAllString(strings.Join(lines, "\n"), "\n\n"))
}
