package fakes

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/mail"
	"slices"
	"strings"
	"sync"
	"time"
)

// SendGrid fakes POST /v3/mail/send. It requires the bearer key, checks the
// body the way SendGrid does (from, personalizations with recipients,
// subject and content unless a template is used, text/plain before
// text/html, category and custom_args limits, reserved headers), answers
// 202 with an X-Message-Id, and records the message. With PostEvents it
// also posts SendGrid's signed event webhook for what it accepts.
type SendGrid struct {
	apiKey   string
	rec      *Recorder
	Failures Failures
	mu       sync.Mutex
	events   *sgEvents
	// retry is how the event webhook is retried (tests shorten it).
	retry hookRetry
}

// NewSendGrid returns a SendGrid fake that accepts apiKey.
func NewSendGrid(apiKey string, rec *Recorder) *SendGrid {
	return &SendGrid{apiKey: apiKey, rec: rec, retry: providerRetry()}
}

type sgAddress struct {
	Email string `json:"email"`
	Name  string `json:"name,omitempty"`
}

type sgRequest struct {
	Personalizations []struct {
		To         []sgAddress    `json:"to"`
		Cc         []sgAddress    `json:"cc"`
		Bcc        []sgAddress    `json:"bcc"`
		Subject    *string        `json:"subject"`
		Headers    map[string]any `json:"headers"`
		CustomArgs map[string]any `json:"custom_args"`
		SendAt     *int64         `json:"send_at"`
	} `json:"personalizations"`
	From       *sgAddress     `json:"from"`
	ReplyTo    *sgAddress     `json:"reply_to"`
	Subject    *string        `json:"subject"`
	Content    []sgContent    `json:"content"`
	TemplateID string         `json:"template_id"`
	Headers    map[string]any `json:"headers"`
	Categories []string       `json:"categories"`
	CustomArgs map[string]any `json:"custom_args"`
	SendAt     *int64         `json:"send_at"`
}

type sgContent struct {
	Type  string `json:"type"`
	Value string `json:"value"`
}

type sgError struct {
	Message string  `json:"message"`
	Field   *string `json:"field"`
	Help    *string `json:"help"`
}

var sgReservedHeaders = []string{"x-sg-id", "x-sg-eid", "received", "dkim-signature", "content-type",
	"content-transfer-encoding", "to", "from", "subject", "reply-to", "cc", "bcc"}

const sgMaxBody = 30 << 20

func (f *SendGrid) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	fail := func(status int, errs ...sgError) {
		writeJSON(w, status, map[string]any{"errors": errs})
	}
	if r.Method != http.MethodPost {
		fail(http.StatusMethodNotAllowed, sgError{Message: "method not allowed"})
		return
	}
	auth := r.Header.Get("Authorization")
	switch {
	case auth == "":
		fail(http.StatusUnauthorized, sgError{Message: "authorization required"})
		return
	case auth != "Bearer "+f.apiKey:
		fail(http.StatusUnauthorized, sgError{Message: "The provided authorization grant is invalid, expired, or revoked"})
		return
	}
	if status, ok := f.Failures.next(); ok {
		if status == http.StatusTooManyRequests {
			w.Header().Set("X-RateLimit-Limit", "600")
			w.Header().Set("X-RateLimit-Remaining", "0")
			w.Header().Set("X-RateLimit-Reset", fmt.Sprint(time.Now().Add(time.Second).Unix()))
		}
		fail(status, sgError{Message: fmt.Sprintf("forced failure %d", status)})
		return
	}
	if !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		fail(http.StatusBadRequest, sgError{Message: "Content-Type should be application/json."})
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, sgMaxBody+1))
	if err != nil {
		fail(http.StatusBadRequest, sgError{Message: "could not read the request body"})
		return
	}
	if len(body) > sgMaxBody {
		fail(http.StatusRequestEntityTooLarge, sgError{Message: "content too large"})
		return
	}
	var req sgRequest
	if err := json.Unmarshal(body, &req); err != nil {
		fail(http.StatusBadRequest, sgError{Message: "Bad Request", Field: ptr("body: " + err.Error())})
		return
	}
	if errs := validateSendGrid(&req); len(errs) > 0 {
		fail(http.StatusBadRequest, errs...)
		return
	}

	id := randomID(16)
	p := req.Personalizations[0]
	args := map[string]string{}
	for k, v := range req.CustomArgs {
		args[k], _ = v.(string)
	}
	for k, v := range p.CustomArgs {
		args[k], _ = v.(string)
	}
	headers := map[string]string{}
	for k, v := range req.Headers {
		headers[k], _ = v.(string)
	}
	m := Message{
		Channel: "email", To: p.To[0].Email, Provider: "sendgrid", ProviderMessageID: id, SentAt: time.Now().UTC(),
		CustomerID: args["customer_id"], Journey: args["journey"], Step: args["step"], MessageID: args["message_id"],
		Headers: headers,
	}
	if req.Subject != nil {
		m.Subject = *req.Subject
	}
	if p.Subject != nil {
		m.Subject = *p.Subject
	}
	for _, c := range req.Content {
		switch c.Type {
		case "text/plain":
			m.Text = c.Value
		case "text/html":
			m.HTML = c.Value
		}
	}
	f.rec.add(m)
	f.postEvents(m.To, id, args)
	w.Header().Set("X-Message-Id", id)
	w.WriteHeader(http.StatusAccepted)
}

func ptr(s string) *string { return &s }

func validateSendGrid(req *sgRequest) []sgError {
	var errs []sgError
	add := func(field, msg string) { errs = append(errs, sgError{Message: msg, Field: ptr(field)}) }

	if req.From == nil || req.From.Email == "" {
		add("from.email", "The from object must be provided for every email send. It is an object that requires the email parameter, but may also contain a name parameter.")
	} else if !validEmail(req.From.Email) {
		add("from.email", "The from email does not contain a valid address.")
	}
	if req.ReplyTo != nil && !validEmail(req.ReplyTo.Email) {
		add("reply_to.email", "The reply_to email does not contain a valid address.")
	}
	switch n := len(req.Personalizations); {
	case n == 0:
		add("personalizations", "The personalizations field is required and must have at least one personalization.")
	case n > 1000:
		add("personalizations", "The personalizations field must not have more than 1000 personalizations.")
	}
	recipients := 0
	for i, p := range req.Personalizations {
		field := fmt.Sprintf("personalizations.%d", i)
		if len(p.To) == 0 {
			add(field+".to", "The to array is required for all personalization objects, and must have at least one email object with a valid email address.")
		}
		seen := map[string]bool{}
		for _, list := range [][]sgAddress{p.To, p.Cc, p.Bcc} {
			for _, a := range list {
				recipients++
				addr := strings.ToLower(a.Email)
				if !validEmail(a.Email) {
					add(field+".to", "Does not contain a valid address.")
				} else if seen[addr] {
					add(field, "Each email address in the personalization block should be unique between to, cc, and bcc. We found the first duplicate instance of ["+a.Email+"] in the personalizations.")
				}
				seen[addr] = true
			}
		}
		if req.Subject == nil && p.Subject == nil && req.TemplateID == "" {
			add("subject", "The subject is required. You can get around this requirement if you use a template with a subject defined or if every personalization has a subject defined.")
		}
		if p.Subject != nil && *p.Subject == "" {
			add(field+".subject", "The subject of your email must be at least one character long.")
		}
		checkArgs(p.CustomArgs, field+".custom_args", add)
		checkHeaders(p.Headers, field+".headers", add)
		if p.SendAt != nil && time.Unix(*p.SendAt, 0).After(time.Now().Add(72*time.Hour)) {
			add(field+".send_at", "The send_at parameter cannot be scheduled more than 72 hours in advance.")
		}
	}
	if recipients > 1000 {
		add("personalizations", "The total number of recipients must be no more than 1000.")
	}
	if req.Subject != nil && *req.Subject == "" {
		add("subject", "The subject of your email must be at least one character long.")
	}
	if req.TemplateID == "" && len(req.Content) == 0 {
		add("content", "Unless a valid template_id is provided, the content parameter is required. There must be at least one defined content block. We typically suggest both text/plain and text/html blocks are included, but only one block is required.")
	}
	for i, c := range req.Content {
		field := fmt.Sprintf("content.%d", i)
		if c.Type == "" {
			add(field+".type", "The content type cannot be blank.")
		}
		if c.Value == "" {
			add(field+".value", "The content value must be a string at least one character in length.")
		}
		if c.Type == "text/plain" && i > 0 {
			add(field+".type", "If present, text/plain content must be first, followed by text/html.")
		}
		if strings.ContainsAny(c.Type, ";\r\n") {
			add(field+".type", "The content type cannot contain ';', or CRLF characters.")
		}
	}
	if len(req.Categories) > 10 {
		add("categories", "You cannot have more than 10 categories per request.")
	}
	for i, c := range req.Categories {
		if len(c) > 255 {
			add(fmt.Sprintf("categories.%d", i), "A category cannot have more than 255 characters.")
		}
		if slices.Contains(req.Categories[:i], c) {
			add("categories", "The categories must be unique.")
		}
	}
	checkArgs(req.CustomArgs, "custom_args", add)
	checkHeaders(req.Headers, "headers", add)
	return errs
}

func checkArgs(args map[string]any, field string, add func(string, string)) {
	size := 0
	for k, v := range args {
		s, ok := v.(string)
		if !ok {
			add(field+"."+k, "Invalid type. Expected: string, given: "+fmt.Sprintf("%T", v)+".")
		}
		size += len(k) + len(s)
	}
	if size > 10000 {
		add(field, "The custom_args may not exceed 10,000 bytes.")
	}
}

func checkHeaders(h map[string]any, field string, add func(string, string)) {
	for k, v := range h {
		if slices.Contains(sgReservedHeaders, strings.ToLower(k)) {
			add(field, "The following header is reserved and cannot be set: "+k)
		}
		if _, ok := v.(string); !ok {
			add(field+"."+k, "Invalid type. Expected: string.")
		}
	}
}

func validEmail(s string) bool {
	a, err := mail.ParseAddress(s)
	return err == nil && a.Address == s && strings.Contains(s[strings.LastIndex(s, "@")+1:], ".")
}
