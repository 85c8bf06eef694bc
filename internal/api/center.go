package api

import (
	"errors"
	"fmt"
	"html/template"
	"net"
	"net/http"
	"slices"
	"strings"
	"time"

	"golang.org/x/text/language"

	"github.com/rapporthq/rapport/internal/api/wire"
	"github.com/rapporthq/rapport/internal/links"
	"github.com/rapporthq/rapport/internal/locale"
	"github.com/rapporthq/rapport/internal/policy"
	"github.com/rapporthq/rapport/internal/store"
)

// The preference center: a server-rendered page, in the customer's
// language, that works without JavaScript, reached through a signed,
// expiring link in every marketing message.

// words holds the pages' text in a customer's language, from the
// message catalog (internal/locale/messages, "center." keys), along the
// locale's chain (fr-CA, fr, en).
func words(loc string) map[string]string {
	return locale.Words(loc, "center.")
}

// requestLocale is the language a visitor we cannot name asks for (a
// forged or expired link): the first of their browser's languages Rapport
// has words for, else English.
func requestLocale(r *http.Request) string {
	header := r.Header.Get("Accept-Language")
	if len(header) > maxAcceptLanguage {
		return locale.Default
	}
	tags, _, err := language.ParseAcceptLanguage(header)
	if err != nil {
		return locale.Default
	}
	for _, t := range tags {
		if l := locale.Lang(t.String()); l != locale.Default || strings.HasPrefix(t.String(), locale.Default) {
			return l
		}
	}
	return locale.Default
}

// maxAcceptLanguage bounds the Accept-Language header looked at.
const maxAcceptLanguage = 200

// topicLabel names a topic for a customer: its configured label in the
// first language of their chain that has one (RAPPORT_TOPICS_FILE), else
// Rapport's own for the topics it knows, else the topic's key.
func (s *Server) topicLabel(topic, loc string) string {
	for _, l := range locale.Chain(loc) {
		if label := s.TopicLabels[topic][l]; label != "" {
			return label
		}
		if text, ok := locale.Text(l, "topic."+topic); ok {
			return text
		}
	}
	return strings.ReplaceAll(topic, "-", " ")
}

// centerShown is what the page shows, recorded as consent evidence (with a
// version, so the exact wording can be found later).
const centerShown = "preference center v2: channels (email, sms, mail, phone: yes, no, or not told yet), topics, quiet hours, frequency"

// zoneChoices are the time zones offered (plus the customer's own).
var zoneChoices = []string{"Europe/London", "Europe/Dublin", "Europe/Paris", "Europe/Berlin", "Europe/Madrid", "Europe/Rome",
	"America/New_York", "America/Chicago", "America/Denver", "America/Los_Angeles", "America/Toronto",
	"Australia/Sydney", "Asia/Tokyo", "Asia/Singapore", "UTC"}

type centerView struct {
	W                  map[string]string
	Lang               string
	Name               string
	Shop               string
	Channels           []centerChannel
	Topics             []centerTopic
	Hours              []string
	QuietOn            bool
	QuietFrom, QuietTo string
	Frequency          string
	DefaultCaps        string
	Zones              []string
	Zone               string
	Saved              bool
	Error              string
}

// centerChannel is one channel's consent as the page shows it: Yes or No
// chosen when the customer said so, neither when they have not (Unknown),
// with a sentence saying what happens until they do.
type centerChannel struct {
	Name, Label string
	Consent     policy.Consent
	Unknown     string // the sentence shown when Consent is Unknown
}

type centerTopic struct {
	Name, Label string
	On          bool
}

// centerCustomer checks a link with verify and finds its customer; a
// forged or expired link gets a 403 page and changes nothing.
func (s *Server) centerCustomer(w http.ResponseWriter, r *http.Request, verify func(token string) (string, error)) (store.Customer, bool) {
	err := errors.New("no link signer")
	var id string
	if s.Links != nil {
		id, err = verify(r.PathValue("token"))
	}
	if err != nil {
		key := "forged"
		if errors.Is(err, links.ErrExpired) {
			key = "expired"
		}
		loc := requestLocale(r)
		s.render(w, http.StatusForbidden, centerPage, centerView{W: words(loc), Lang: loc, Error: words(loc)[key]})
		return store.Customer{}, false
	}
	c, err := s.Store.GetCustomer(r.Context(), id)
	if errors.Is(err, store.ErrNotFound) {
		loc := requestLocale(r)
		s.render(w, http.StatusForbidden, centerPage, centerView{W: words(loc), Lang: loc, Error: words(loc)["forged"]})
		return c, false
	}
	if err != nil {
		s.pageFailed(w, r, err)
		return c, false
	}
	return c, true
}

// pageFailed answers a public page whose request failed on our side with
// a page asking to try again later: 503 with Retry-After while the
// database is out of reach, else 500.
func (s *Server) pageFailed(w http.ResponseWriter, r *http.Request, err error) {
	status := s.pageFailure(w, r, err)
	loc := requestLocale(r)
	s.render(w, status, centerPage, centerView{W: words(loc), Lang: loc, Error: words(loc)["unavailable"]})
}

// pageFailure logs why a public page failed and returns its status: 400
// for a value the database refused, 503 (with Retry-After) while the
// database is out of reach, else 500.
func (s *Server) pageFailure(w http.ResponseWriter, r *http.Request, err error) int {
	if pe, ok := dataError(err); ok {
		s.log().Error("the database refused a value of a form the page took", "method", r.Method, "route", r.Pattern, "sqlstate", pe.Code, "error", err)
		return http.StatusBadRequest
	}
	if unavailable(err) {
		w.Header().Set("Retry-After", retryAfter)
		s.log().Warn("database unavailable", "method", r.Method, "route", r.Pattern, "error", err)
		return http.StatusServiceUnavailable
	}
	s.log().Error("request failed", "method", r.Method, "route", r.Pattern, "error", err)
	return http.StatusInternalServerError
}

// parseForm reads a page's form, at most maxFormBody bytes of it.
func (s *Server) parseForm(w http.ResponseWriter, r *http.Request) bool {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBody)
	if err := r.ParseForm(); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			s.fail(w, r, tooLarge(maxFormBody))
			return false
		}
		s.fail(w, r, &apiError{Status: http.StatusBadRequest, Message: "the form could not be read"})
		return false
	}
	return true
}

// preferenceLink checks a preference center link, short (SignSubject) or
// long (Sign, as older messages have), and returns its customer id.
func (s *Server) preferenceLink(token string) (string, error) {
	if strings.Count(token, ".") == 2 {
		return s.Links.VerifySubject(token, links.PreferencesPurpose, time.Now())
	}
	var claims links.PreferenceCenter
	err := s.Links.Verify(token, links.PreferencesPurpose, time.Now(), &claims)
	return claims.CustomerID, err
}

// unsubscribeLink checks an unsubscribe link into claims.
func (s *Server) unsubscribeLink(claims *links.Unsubscribe) func(string) (string, error) {
	return func(token string) (string, error) {
		err := s.Links.Verify(token, links.UnsubscribePurpose, time.Now(), claims)
		return claims.CustomerID, err
	}
}

func (s *Server) preferenceCenter(w http.ResponseWriter, r *http.Request) {
	c, ok := s.centerCustomer(w, r, s.preferenceLink)
	if !ok {
		return
	}
	v, err := s.centerView(r, c)
	if err != nil {
		s.pageFailed(w, r, err)
		return
	}
	v.Saved = r.URL.Query().Get("saved") == "1"
	s.render(w, http.StatusOK, centerPage, v)
}

func (s *Server) centerView(r *http.Request, c store.Customer) (centerView, error) {
	pv, err := s.view(r.Context(), c, false)
	if err != nil {
		return centerView{}, err
	}
	lang := locale.Lang(c.Locale)
	w := words(c.Locale)
	v := centerView{W: w, Lang: lang, Name: c.FirstName(), Shop: s.ShopName, Zone: pv.TimeZone, Zones: slices.Clone(zoneChoices)}
	if !slices.Contains(v.Zones, v.Zone) {
		v.Zones = append([]string{v.Zone}, v.Zones...)
	}
	for _, ch := range policy.Channels {
		cc := centerChannel{Name: string(ch), Label: w[string(ch)], Consent: policy.Consent(pv.Channels[string(ch)].Consent)}
		if cc.Consent != policy.OptedIn && cc.Consent != policy.OptedOut {
			// Neither choice is shown made: the page says what happens
			// until the customer makes one.
			cc.Consent, cc.Unknown = policy.Unknown, w["unknown_sent"]
			if s.Rules.RequireOptIn[ch] {
				cc.Unknown = w["unknown_unsent"]
			}
		}
		v.Channels = append(v.Channels, cc)
	}
	for _, t := range sortedKeys((pv.Topics)) {
		if !slices.Contains(s.Topics, t) {
			continue // no journey uses it (any more): nothing to choose
		}
		v.Topics = append(v.Topics, centerTopic{Name: t, Label: s.topicLabel(t, c.Locale), On: pv.Topics[t]})
	}
	for h := 0; h < 24; h++ {
		v.Hours = append(v.Hours, fmt.Sprintf("%02d:00", h))
	}
	if q := pv.Channels["sms"].QuietHours; q != nil {
		v.QuietOn, v.QuietFrom, v.QuietTo = true, q.Start, q.End
	} else {
		v.QuietFrom, v.QuietTo = "21:00", "08:00"
	}
	v.Frequency = "default"
	if pv.Frequency.Source == "customer" && len(pv.Frequency.Caps) == 1 {
		switch pv.Frequency.Caps[0] {
		case wire.Cap{Channel: "all", Max: 1, Per: "7d"}:
			v.Frequency = "week"
		case wire.Cap{Channel: "all", Max: 1, Per: "30d"}:
			v.Frequency = "month"
		}
	}
	var parts []string
	for _, cp := range s.Rules.Caps {
		if cp.Channel == "" {
			parts = append(parts, capWords(c.Locale, cp.Max, cp.Per))
		}
	}
	v.DefaultCaps = strings.Join(parts, ", ")
	return v, nil
}

// capWords says a frequency cap as a customer of a locale reads it: "3
// messages a week", "1 message every 2 weeks", "5 messages par mois".
func capWords(loc string, max int, per time.Duration) string {
	const day, week = 24 * time.Hour, 7 * 24 * time.Hour
	noun := locale.T(loc, "cap.messages")
	if max == 1 {
		noun = locale.T(loc, "cap.message")
	}
	say := func(unit string, n int) string { // unit: day, week, month
		if n == 1 {
			return locale.T(loc, "cap."+unit)
		}
		return locale.T(loc, "cap."+unit+"s", n)
	}
	when := "/ " + per.String()
	switch {
	case per%(30*day) == 0:
		when = say("month", int(per/(30*day)))
	case per%week == 0:
		when = say("week", int(per/week))
	case per%day == 0:
		when = say("day", int(per/day))
	}
	return fmt.Sprintf("%d %s %s", max, noun, when)
}

// savePreferenceCenter stores what the customer chose, with the evidence:
// what the page showed, their IP address and browser.
func (s *Server) savePreferenceCenter(w http.ResponseWriter, r *http.Request) {
	c, ok := s.centerCustomer(w, r, s.preferenceLink)
	if !ok {
		return
	}
	if !s.parseForm(w, r) {
		return
	}
	// Only what the customer changed is recorded: a box left as it was
	// shown invents no consent, and untouched settings keep following the
	// shop's defaults. Only the topics shown are read: a topic_ field for
	// any other topic is ignored.
	shown, err := s.centerView(r, c)
	if err != nil {
		s.pageFailed(w, r, err)
		return
	}
	f := r.PostForm
	ch := change{consent: map[string]string{}, topics: map[string]bool{}, quiet: map[string]store.QuietHours{},
		source: "preference_center", evidence: store.Evidence{Shown: centerShown, IP: clientIP(r), UserAgent: r.UserAgent()}}
	for _, sc := range shown.Channels {
		var chose policy.Consent
		switch f.Get("channel_" + sc.Name) {
		case "yes":
			chose = policy.OptedIn
		case "no":
			chose = policy.OptedOut
		default:
			continue // neither chosen: a consent not given is not invented
		}
		if chose != sc.Consent {
			ch.consent[sc.Name] = string(chose)
		}
	}
	for _, st := range shown.Topics {
		if on := f.Get("topic_"+st.Name) == "on"; on != st.On {
			ch.topics[st.Name] = on
		}
	}
	quietOn, start, end := f.Get("quiet") == "on", f.Get("quiet_from"), f.Get("quiet_to")
	if _, err := policy.ParseClock(start); err != nil {
		start = shown.QuietFrom
	}
	if _, err := policy.ParseClock(end); err != nil {
		end = shown.QuietTo
	}
	if quietOn != shown.QuietOn || (quietOn && (start != shown.QuietFrom || end != shown.QuietTo)) {
		quiet := store.QuietHours{}
		if quietOn {
			quiet = store.QuietHours{Start: start, End: end}
		}
		ch.quiet["sms"], ch.quiet["phone"] = quiet, quiet
	}
	if freq := f.Get("frequency"); freq != shown.Frequency {
		caps := []store.CapSetting{}
		switch freq {
		case "week":
			caps = []store.CapSetting{{Channel: "all", Max: 1, Per: "7d"}}
		case "month":
			caps = []store.CapSetting{{Channel: "all", Max: 1, Per: "30d"}}
		}
		ch.caps = &caps
	}
	if z := f.Get("time_zone"); z != "" && z != shown.Zone {
		if _, err := time.LoadLocation(z); err == nil && z != "Local" {
			ch.zone = &z
		}
	}
	if err := s.apply(r.Context(), c, ch); err != nil {
		s.pageFailed(w, r, err)
		return
	}
	http.Redirect(w, r, r.URL.Path+"?saved=1", http.StatusSeeOther)
}

func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

type unsubscribeView struct {
	W       map[string]string
	Lang    string
	Topic   string
	Ask     string
	Done    string
	Manage  string
	Buttons bool
}

// unsubscribePage asks to confirm: a GET never unsubscribes (mail scanners
// follow links), so the page has a button for the topic and one to leave
// all marketing.
func (s *Server) unsubscribePage(w http.ResponseWriter, r *http.Request) {
	var claims links.Unsubscribe
	c, ok := s.centerCustomer(w, r, s.unsubscribeLink(&claims))
	if !ok {
		return
	}
	v := s.unsubscribeView(c, claims)
	v.Buttons = true
	s.render(w, http.StatusOK, unsubscribePageTmpl, v)
}

func (s *Server) unsubscribeView(c store.Customer, claims links.Unsubscribe) unsubscribeView {
	w := words(c.Locale)
	topic := s.topicLabel(claims.Topic, c.Locale)
	v := unsubscribeView{W: w, Lang: locale.Lang(c.Locale), Topic: topic, Ask: fmt.Sprintf(w["unsub_ask"], strings.ToLower(topic))}
	if s.Links != nil {
		v.Manage = "/preferences/" + s.Links.SignSubject(links.PreferencesPurpose, c.ID, time.Now().Add(24*time.Hour))
	}
	return v
}

// unsubscribe is both RFC 8058 one-click (a POST with the form body
// List-Unsubscribe=One-Click, from the mailbox provider, no login) and the
// confirmation page's buttons. It answers 200.
func (s *Server) unsubscribe(w http.ResponseWriter, r *http.Request) {
	var claims links.Unsubscribe
	c, ok := s.centerCustomer(w, r, s.unsubscribeLink(&claims))
	if !ok {
		return
	}
	if !s.parseForm(w, r) {
		return
	}
	ev := store.Evidence{Shown: "unsubscribe from " + claims.Topic, IP: clientIP(r), UserAgent: r.UserAgent(), Note: "from " + withArticle(claims.Channel) + " message of " + claims.WorkflowID}
	oneClick := r.PostForm.Get("List-Unsubscribe") == "One-Click"
	if oneClick {
		ev.Shown = "RFC 8058 one-click unsubscribe"
	}
	v := s.unsubscribeView(c, claims)
	topics := []string{claims.Topic}
	v.Done = fmt.Sprintf(v.W["unsub_done"], strings.ToLower(v.Topic))
	if !oneClick && r.PostForm.Get("action") == "all" {
		topics = s.Topics
		v.Done = v.W["unsub_all_done"]
	}
	for _, t := range topics {
		if _, err := s.Store.RecordTopic(r.Context(), c.ID, t, false, "unsubscribe", ev); err != nil {
			s.pageFailed(w, r, err)
			return
		}
	}
	if oneClick {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(http.StatusOK)
		fmt.Fprintln(w, v.Done)
		return
	}
	s.render(w, http.StatusOK, unsubscribePageTmpl, v)
}

func (s *Server) render(w http.ResponseWriter, status int, t *template.Template, v any) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Referrer-Policy", "no-referrer") // the link is a credential
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'")
	w.WriteHeader(status)
	if err := t.Execute(w, v); err != nil {
		s.log().Error("render page", "error", err)
	}
}

const pageStyle = `<style>
body { font-family: system-ui, sans-serif; max-width: 38rem; margin: 2rem auto; padding: 0 1rem; color: #222; line-height: 1.5; }
fieldset { border: 1px solid #ccc; border-radius: 6px; margin: 1.2rem 0; padding: 0.6rem 1rem; }
legend { font-weight: 600; padding: 0 0.3rem; }
label { display: block; margin: 0.35rem 0; }
.channel { margin: 0.5rem 0; }
.channel label { display: inline-block; margin: 0.2rem 1rem 0.2rem 0; }
.channel > span { display: inline-block; min-width: 14rem; }
.channel .note { margin: 0 0 0.4rem; }
input[type=checkbox], input[type=radio] { width: 1.1rem; height: 1.1rem; vertical-align: -0.15rem; margin-right: 0.4rem; }
select, button { font: inherit; padding: 0.35rem 0.6rem; }
button { background: #1a5fb4; color: #fff; border: 0; border-radius: 4px; padding: 0.6rem 1.2rem; cursor: pointer; }
button.secondary { background: #fff; color: #1a5fb4; border: 1px solid #1a5fb4; }
:focus-visible { outline: 3px solid #e66100; outline-offset: 2px; }
.note { color: #555; font-size: 0.9rem; }
.saved { background: #e6f4ea; border-left: 4px solid #2e7d32; padding: 0.6rem 1rem; }
.error { background: #fdecea; border-left: 4px solid #b00020; padding: 0.6rem 1rem; }
</style>`

var centerPage = template.Must(template.New("center").Parse(`<!doctype html>
<html lang="{{.Lang}}">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>{{.W.title}}</title>` + pageStyle + `</head>
<body>
<main>
<h1>{{.W.title}}</h1>
{{if .Error}}<p class="error" role="alert">{{.Error}}</p>{{else}}
{{if .Saved}}<p class="saved" role="status">{{.W.saved}}</p>{{end}}
<p>{{printf .W.hello .Name .Shop}}</p>
<form method="post">
<fieldset>
<legend>{{.W.channels}}</legend>
{{range .Channels}}<div class="channel" role="radiogroup" aria-labelledby="label_{{.Name}}"{{if .Unknown}} aria-describedby="unknown_{{.Name}}"{{end}}>
<span id="label_{{.Name}}">{{.Label}}</span>
<label><input type="radio" name="channel_{{.Name}}" value="yes" id="channel_{{.Name}}_yes"{{if eq .Consent "opted_in"}} checked{{end}}>{{$.W.yes}}</label>
<label><input type="radio" name="channel_{{.Name}}" value="no" id="channel_{{.Name}}_no"{{if eq .Consent "opted_out"}} checked{{end}}>{{$.W.no}}</label>
{{if .Unknown}}<p class="note" id="unknown_{{.Name}}">{{.Unknown}}</p>{{end}}
</div>
{{end}}</fieldset>
<fieldset>
<legend>{{.W.topics}}</legend>
{{range .Topics}}<label><input type="checkbox" name="topic_{{.Name}}" id="topic_{{.Name}}"{{if .On}} checked{{end}}>{{.Label}}</label>
{{end}}</fieldset>
<fieldset>
<legend>{{.W.quiet}}</legend>
<p class="note" id="quiet_help">{{.W.quiet_help}}</p>
<label><input type="checkbox" name="quiet" id="quiet"{{if .QuietOn}} checked{{end}} aria-describedby="quiet_help">{{.W.from}}
<select name="quiet_from" aria-label="{{.W.from}}">{{range .Hours}}<option{{if eq . $.QuietFrom}} selected{{end}}>{{.}}</option>{{end}}</select>
{{.W.to}}
<select name="quiet_to" aria-label="{{.W.to}}">{{range .Hours}}<option{{if eq . $.QuietTo}} selected{{end}}>{{.}}</option>{{end}}</select></label>
</fieldset>
<fieldset>
<legend>{{.W.frequency}}</legend>
<label><input type="radio" name="frequency" value="default"{{if eq .Frequency "default"}} checked{{end}}>{{printf .W.freq_default .DefaultCaps}}</label>
<label><input type="radio" name="frequency" value="week"{{if eq .Frequency "week"}} checked{{end}}>{{.W.freq_week}}</label>
<label><input type="radio" name="frequency" value="month"{{if eq .Frequency "month"}} checked{{end}}>{{.W.freq_month}}</label>
</fieldset>
<p><label for="time_zone">{{.W.zone}}</label>
<select name="time_zone" id="time_zone">{{range .Zones}}<option{{if eq . $.Zone}} selected{{end}}>{{.}}</option>{{end}}</select></p>
<p><button type="submit" id="save">{{.W.save}}</button></p>
</form>
<p class="note">{{.W.legal}}</p>
{{end}}
</main>
</body>
</html>
`))

var unsubscribePageTmpl = template.Must(template.New("unsubscribe").Parse(`<!doctype html>
<html lang="{{.Lang}}">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>{{.W.unsub_title}}</title>` + pageStyle + `</head>
<body>
<main>
<h1>{{.W.unsub_title}}</h1>
{{if .Done}}<p class="saved" role="status">{{.Done}}</p>{{end}}
{{if .Buttons}}
<p>{{.Ask}}</p>
<form method="post"><p>
<button type="submit" name="action" value="topic">{{printf .W.unsub_topic .Topic}}</button>
<button type="submit" name="action" value="all" class="secondary">{{.W.unsub_all}}</button>
</p></form>
{{end}}
{{if .Manage}}<p><a href="{{.Manage}}">{{.W.manage}}</a></p>{{end}}
</main>
</body>
</html>
`))

// withArticle puts "a" or "an" before a channel's name: "an email", "an
// SMS", "a mail".
func withArticle(channel string) string {
	switch channel {
	case "email", "sms":
		return "an " + channel
	}
	return "a " + channel
}
