package fakes

import (
	"context"
	"encoding/json"
	"html/template"
	"net/http"
	"strconv"
	"time"
)

// Enricher fills in what a provider request did not carry (an SMS has no
// room for journey and customer ids) from Rapport's outbox, by message id.
type Enricher func(ctx context.Context, m *Message)

// Unsent is a message Rapport did not hand to a provider (failed,
// skipped, held back, in doubt), with why: a customer who got nothing
// leaves a trace on the outbox page too.
type Unsent struct {
	Channel, Status, Reason   string
	CustomerID, Journey, Step string
	Template                  string
	At                        time.Time
}

// UnsentLister lists the latest messages that were not sent, newest first.
type UnsentLister func(ctx context.Context) []Unsent

// OutboxHandler serves what the fakes captured: GET /dev/outbox is an HTML
// page, newest first, followed by the latest messages that were not sent
// (from unsent) with their reasons; GET /dev/outbox.json is the captured
// messages as a JSON array, and with ?after=N only the messages after the
// one whose seq is N (to follow the outbox without reading it all each
// time). enrich and unsent may be nil.
func OutboxHandler(rec *Recorder, enrich Enricher, unsent UnsentLister) http.Handler {
	messages := func(ctx context.Context, after int) []Message {
		msgs := rec.After(after)
		if enrich != nil {
			for i := range msgs {
				if msgs[i].MessageID != "" && (msgs[i].CustomerID == "" || msgs[i].Journey == "") {
					enrich(ctx, &msgs[i])
				}
			}
		}
		return msgs
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /dev/outbox.json", func(w http.ResponseWriter, r *http.Request) {
		after := 0
		if a := r.URL.Query().Get("after"); a != "" {
			n, err := strconv.Atoi(a)
			if err != nil || n < 0 {
				http.Error(w, "after: give the seq of the last message you have, such as after=42", http.StatusBadRequest)
				return
			}
			after = n
		}
		w.Header().Set("Content-Type", "application/json")
		msgs := messages(r.Context(), after)
		if msgs == nil {
			msgs = []Message{}
		}
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		enc.SetEscapeHTML(false)
		_ = enc.Encode(msgs)
	})
	mux.HandleFunc("GET /dev/outbox", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		page := struct {
			Sent   []Message
			Unsent []Unsent
		}{Sent: messages(r.Context(), 0)}
		if unsent != nil {
			page.Unsent = unsent(r.Context())
		}
		if err := outboxPage.Execute(w, page); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
		}
	})
	return mux
}

var outboxPage = template.Must(template.New("outbox").Parse(`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="refresh" content="5">
<title>Rapport dev outbox</title>
<style>
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 60rem; color: #222; }
article { border: 1px solid #ccc; border-radius: 6px; margin: 1rem 0; padding: 0.5rem 1rem; }
dl { display: grid; grid-template-columns: 8rem 1fr; margin: 0; }
dt { color: #666; }
pre { white-space: pre-wrap; background: #f6f6f6; padding: 0.5rem; }
iframe { width: 100%; height: 22rem; border: 1px solid #ddd; }
table { border-collapse: collapse; width: 100%; font-size: 0.9rem; }
th, td { border-bottom: 1px solid #ddd; padding: 0.3rem; text-align: left; vertical-align: top; }
</style>
</head>
<body>
<h1>Dev outbox</h1>
<p>Every message the fake providers accepted, newest first. This page refreshes every 5 seconds; the same list is at <a href="/dev/outbox.json">/dev/outbox.json</a>.</p>
{{range .Sent}}
<article>
<h2>{{if .Subject}}{{.Subject}}{{else}}{{.Channel}} to {{.To}}{{end}}</h2>
<dl>
<dt>channel</dt><dd>{{.Channel}} via {{.Provider}} ({{.ProviderMessageID}})</dd>
<dt>to</dt><dd>{{.To}}</dd>
<dt>customer</dt><dd>{{.CustomerID}}</dd>
<dt>journey</dt><dd>{{.Journey}}, step {{.Step}}</dd>
<dt>sent</dt><dd><time datetime="{{.SentAt.Format "2006-01-02T15:04:05Z07:00"}}">{{.SentAt.Format "2006-01-02 15:04:05 MST"}}</time></dd>
</dl>
{{if .Back}}<details open><summary>Front</summary><iframe sandbox srcdoc="{{.HTML}}" title="Front of {{.Subject}}"></iframe></details>
<details open><summary>Back</summary><iframe sandbox srcdoc="{{.Back}}" title="Back of {{.Subject}}"></iframe></details>
{{else if .HTML}}<details open><summary>HTML</summary><iframe sandbox srcdoc="{{.HTML}}" title="HTML version of {{.Subject}}"></iframe></details>{{end}}
{{if .Text}}<details{{if not .HTML}} open{{end}}><summary>Text</summary><pre>{{.Text}}</pre></details>{{end}}
</article>
{{else}}
<p>Nothing yet. Post a customer and an order.placed event to the API (see README.md).</p>
{{end}}
{{if .Unsent}}
<h2 id="not-sent">Not sent</h2>
<p>The latest messages Rapport did not hand to a provider, newest first, and why.</p>
<table>
<thead><tr><th>when</th><th>status</th><th>channel</th><th>customer</th><th>journey, step</th><th>template</th><th>why</th></tr></thead>
<tbody>
{{range .Unsent}}<tr><td><time datetime="{{.At.Format "2006-01-02T15:04:05Z07:00"}}">{{.At.Format "2006-01-02 15:04:05 MST"}}</time></td><td>{{.Status}}</td><td>{{.Channel}}</td><td>{{.CustomerID}}</td><td>{{.Journey}}, {{.Step}}</td><td>{{.Template}}</td><td>{{.Reason}}</td></tr>
{{end}}</tbody>
</table>
{{end}}
</body>
</html>
`))
