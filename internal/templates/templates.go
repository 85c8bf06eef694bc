// Package templates renders the messages journeys send from the files under
// journeys/templates. Each template is a folder holding a file per channel:
//
//	email.txt                         email: first line "Subject: ...", then the text
//	email.html                        email: HTML version (optional)
//	sms.txt                           text message
//	letter.html                       printed letter
//	postcard.front.html, postcard.back.html   printed postcard
//	webhook.json                      webhook: a JSON body (text/template; {{json .X}} writes a value as JSON)
//
// A subfolder named after a locale (en-GB, en-US, fr) holds the same files
// for customers of that locale; a file it lacks comes from the folder
// above. Text uses text/template, HTML uses html/template (which escapes
// what it inserts).
package templates

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	htmltemplate "html/template"
	"io"
	"io/fs"
	"maps"
	"path"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing/fstest"
	texttemplate "text/template"
	"time"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/language"

	"github.com/rapporthq/rapport/internal/channels"
	"github.com/rapporthq/rapport/internal/journey"
	loc "github.com/rapporthq/rapport/internal/locale"
	"github.com/rapporthq/rapport/internal/money"
)

// smsMaxChars is the longest text message providers accept.
const smsMaxChars = 1600

// variant is the files of one template folder (or a locale subfolder).
type variant struct {
	// emailSubject is the first line of email.txt, emailText the rest:
	// two templates, so nothing a value holds can move text from the
	// subject into the body.
	emailSubject *texttemplate.Template
	emailText    *texttemplate.Template
	emailHTML    *htmltemplate.Template
	sms          *texttemplate.Template
	letter       *htmltemplate.Template
	postFront    *htmltemplate.Template
	postBack     *htmltemplate.Template
	webhook      *texttemplate.Template
	folderPath   string
}

func (v *variant) has(ch journey.Channel) bool {
	switch ch {
	case journey.Email:
		return v.emailText != nil
	case journey.SMS:
		return v.sms != nil
	case journey.Mail:
		return v.letter != nil || v.postFront != nil
	case journey.Webhook:
		return v.webhook != nil
	}
	return false
}

// Set is every template found in a folder, parsed and checked.
type Set struct {
	dir       string // for messages: the folder as the user knows it
	templates map[string]map[string]*variant
	versions  map[string]Version
}

// Version is the content of one template: its files, by path inside the
// template's folder (email.txt, en-GB/email.txt), and their hash. A plan
// pins the hash, so a run renders what it started with.
type Version struct {
	Name  string            `json:"name"`
	Hash  string            `json:"hash"`
	Files map[string]string `json:"files"`
}

// versionOf reads every file of a template folder and hashes them.
func versionOf(fsys fs.FS, name string) (Version, error) {
	v := Version{Name: name, Files: map[string]string{}}
	err := fs.WalkDir(fsys, name, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(fsys, p)
		if err != nil {
			return err
		}
		v.Files[strings.TrimPrefix(p, name+"/")] = string(b)
		return nil
	})
	if err != nil {
		return v, fmt.Errorf("read template %s: %w", name, err)
	}
	h := sha256.New()
	for _, p := range slices.Sorted(maps.Keys(v.Files)) {
		fmt.Fprintf(h, "%s\x00%d\x00%s", p, len(v.Files[p]), v.Files[p])
	}
	v.Hash = hex.EncodeToString(h.Sum(nil)[:12])
	return v, nil
}

// Version returns the content hash of a template; with it a Set is a
// journey.TemplateVersioner, and plans pin what they send.
func (s *Set) Version(name string) (string, bool) {
	v, ok := s.versions[name]
	return v.Hash, ok
}

// Versions lists every template's content, sorted by name, for storing:
// a run renders the version its plan pinned even once the files changed.
func (s *Set) Versions() []Version {
	out := make([]Version, 0, len(s.versions))
	for _, name := range slices.Sorted(maps.Keys(s.versions)) {
		out = append(out, s.versions[name])
	}
	return out
}

// LoadVersion builds a Set holding one stored template version, checked
// as Load checks the files.
func LoadVersion(v Version, dir string) (*Set, error) {
	fsys := fstest.MapFS{}
	for p, content := range v.Files {
		fsys[path.Join(v.Name, p)] = &fstest.MapFile{Data: []byte(content)}
	}
	s, err := Load(fsys, dir)
	if err != nil {
		return nil, fmt.Errorf("template %s version %s: %w", v.Name, v.Hash, err)
	}
	if got, _ := s.Version(v.Name); got != v.Hash {
		return nil, fmt.Errorf("template %s: its files hash to %s, not %s", v.Name, got, v.Hash)
	}
	return s, nil
}

var nameRe = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]*$`)

// Load parses every template under fsys and checks each renders with sample
// data, so a misspelt field is found before any customer is waiting for
// the message. dir is how the folder is named in error messages. A folder
// that does not exist holds no templates.
func Load(fsys fs.FS, dir string) (*Set, error) {
	s := &Set{dir: dir, templates: map[string]map[string]*variant{}, versions: map[string]Version{}}
	entries, err := fs.ReadDir(fsys, ".")
	if errors.Is(err, fs.ErrNotExist) {
		return s, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read templates in %s: %w", dir, err)
	}
	var errs []error
	for _, e := range entries {
		if !e.IsDir() || !nameRe.MatchString(e.Name()) {
			continue
		}
		variants, err := s.loadTemplate(fsys, e.Name())
		if err != nil {
			errs = append(errs, err)
			continue
		}
		version, err := versionOf(fsys, e.Name())
		if err != nil {
			errs = append(errs, err)
			continue
		}
		s.templates[e.Name()] = variants
		s.versions[e.Name()] = version
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *Set) loadTemplate(fsys fs.FS, name string) (map[string]*variant, error) {
	variants := map[string]*variant{}
	base, err := s.loadVariant(fsys, name)
	if err != nil {
		return nil, err
	}
	variants[""] = base
	entries, err := fs.ReadDir(fsys, name)
	if err != nil {
		return nil, err
	}
	var errs []error
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		tag, err := language.Parse(e.Name())
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: a folder in a template must be named after a locale such as en-GB", path.Join(s.dir, name, e.Name())))
			continue
		}
		v, err := s.loadVariant(fsys, path.Join(name, e.Name()))
		if err != nil {
			errs = append(errs, err)
			continue
		}
		variants[strings.ToLower(tag.String())] = v
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	// A file a locale folder lacks comes from the folder above: an en-GB
	// email.txt with the default email.html.
	for loc, v := range variants {
		if loc != "" && v.emailText != nil && v.emailHTML == nil {
			v.emailHTML = base.emailHTML
		}
	}
	for loc, v := range variants {
		for _, ch := range journey.Channels {
			if loc != "" && v.has(ch) && !base.has(ch) {
				errs = append(errs, fmt.Errorf("%s: has a %s version for %s but none for other customers; add it to %s too",
					path.Join(s.dir, name), ch, loc, path.Join(s.dir, name)))
			}
		}
	}
	return variants, errors.Join(errs...)
}

// loadVariant parses the files of one folder and renders them with the
// sample data.
func (s *Set) loadVariant(fsys fs.FS, folder string) (*variant, error) {
	v := &variant{folderPath: folder}
	read := func(file string) (string, bool, error) {
		b, err := fs.ReadFile(fsys, path.Join(folder, file))
		if errors.Is(err, fs.ErrNotExist) {
			return "", false, nil
		}
		return string(b), err == nil, err
	}
	parseText := func(file string) (*texttemplate.Template, error) {
		src, ok, err := read(file)
		if err != nil || !ok {
			return nil, err
		}
		t, err := texttemplate.New(path.Join(folder, file)).Option("missingkey=error").Funcs(funcs).Parse(src)
		return t, s.wrap(err)
	}
	parseHTML := func(file string) (*htmltemplate.Template, error) {
		src, ok, err := read(file)
		if err != nil || !ok {
			return nil, err
		}
		t, err := htmltemplate.New(path.Join(folder, file)).Option("missingkey=error").Funcs(htmltemplate.FuncMap(funcs)).Parse(src)
		return t, s.wrap(err)
	}
	var errs []error
	collect := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}
	// email.txt is parsed as two templates: its first line, the subject,
	// and the rest (after a newline, so its errors name the file's own
	// line numbers).
	parseEmail := func() (*texttemplate.Template, *texttemplate.Template, error) {
		src, ok, err := read("email.txt")
		if err != nil || !ok {
			return nil, nil, err
		}
		first, rest, _ := strings.Cut(src, "\n")
		name := path.Join(folder, "email.txt")
		subject, err := texttemplate.New(name).Option("missingkey=error").Funcs(funcs).Parse(first)
		if err != nil {
			return nil, nil, s.wrap(subjectLineError(err))
		}
		body, err := texttemplate.New(name).Option("missingkey=error").Funcs(funcs).Parse("\n" + rest)
		return subject, body, s.wrap(err)
	}
	var err error
	v.emailSubject, v.emailText, err = parseEmail()
	collect(err)
	v.emailHTML, err = parseHTML("email.html")
	collect(err)
	v.sms, err = parseText("sms.txt")
	collect(err)
	v.letter, err = parseHTML("letter.html")
	collect(err)
	v.postFront, err = parseHTML("postcard.front.html")
	collect(err)
	v.postBack, err = parseHTML("postcard.back.html")
	collect(err)
	v.webhook, err = parseText("webhook.json")
	collect(err)
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	where := func(file string) string { return path.Join(s.dir, folder, file) }
	if v.emailHTML != nil && v.emailText == nil {
		return nil, fmt.Errorf("%s: an email needs a text version with its subject; add %s", where("email.html"), where("email.txt"))
	}
	if (v.postFront == nil) != (v.postBack == nil) {
		return nil, fmt.Errorf("%s: a postcard needs both postcard.front.html and postcard.back.html", path.Join(s.dir, folder))
	}
	if v.letter != nil && v.postFront != nil {
		return nil, fmt.Errorf("%s: a template is a letter or a postcard, not both", path.Join(s.dir, folder))
	}
	if v.emailText != nil {
		if src, _, _ := read("email.txt"); !strings.HasPrefix(src, "Subject:") {
			return nil, fmt.Errorf("%s:1: the first line must be the subject, like `Subject: Thank you, {{.Customer.FirstName}}`", where("email.txt"))
		}
	}
	for _, sample := range samples() {
		if v.emailText != nil {
			if _, err := v.renderEmail(sample); err != nil && !shopKey(err) {
				return nil, s.wrap(err)
			}
		}
		if v.sms != nil {
			body, err := v.renderSMS(sample)
			if shopKey(err) {
				continue // its length is known only with the shop's data
			}
			if err != nil {
				return nil, s.wrap(err)
			}
			if n := len([]rune(body)); n > smsMaxChars {
				return nil, fmt.Errorf("%s: renders to %d characters; a text message can be at most %d", where("sms.txt"), n, smsMaxChars)
			}
		}
		if v.has(journey.Mail) {
			if _, err := v.renderMail(sample); err != nil && !shopKey(err) {
				return nil, s.wrap(err)
			}
		}
		if v.webhook != nil {
			if _, err := v.renderWebhook(sample); err != nil && !shopKey(err) {
				return nil, s.wrap(err)
			}
		}
	}
	return v, nil
}

// shopKey reports whether a sample rendering failed only for a key of the
// shop's own data (.Trigger.Data.items, .Customer.Attributes.tier) that
// no sample can know: at send time such a key missing from the real data
// fails the message, never sends a blank.
func shopKey(err error) bool {
	return err != nil && strings.Contains(err.Error(), "map has no entry for key")
}

// wrap turns "template: thank-you/email.txt:3:5: ..." into a message that
// names the file as the user sees it.
func (s *Set) wrap(err error) error {
	if err == nil {
		return nil
	}
	msg := strings.TrimPrefix(err.Error(), "template: ")
	return errors.New(path.Join(s.dir, msg))
}

// channelFiles says which files make a channel's version, for messages.
var channelFiles = map[journey.Channel]string{
	journey.Email:   "email.txt",
	journey.SMS:     "sms.txt",
	journey.Mail:    "letter.html (or postcard.front.html and postcard.back.html)",
	journey.Webhook: "webhook.json",
}

// Check reports whether a template exists for a channel; it makes a Set a
// journey.TemplateChecker.
func (s *Set) Check(ch journey.Channel, name string) error {
	v, ok := s.templates[name]
	if ok && v[""].has(ch) {
		return nil
	}
	if !ok {
		if near := journey.Suggest(name, s.Names()); near != "" {
			return fmt.Errorf("there is no template %q; did you mean %q? (the templates are the folders of %s)", name, near, s.dir)
		}
		return fmt.Errorf("there is no template %q; add %s", name, path.Join(s.dir, name, channelFiles[ch]))
	}
	return fmt.Errorf("template %q has no %s version; add %s", name, ch, path.Join(s.dir, name, channelFiles[ch]))
}

// Names lists the templates, sorted.
func (s *Set) Names() []string {
	out := make([]string, 0, len(s.templates))
	for n := range s.templates {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// pick returns the variant of a template with a channel for a locale: the
// locale's own (en-gb), else its language's (en), else the default.
func (s *Set) pick(name string, ch journey.Channel, locale string) (*variant, error) {
	variants, ok := s.templates[name]
	if !ok {
		return nil, fmt.Errorf("no template %q in %s", name, s.dir)
	}
	if locale != "" {
		if tag, err := language.Parse(locale); err == nil {
			base, _ := tag.Base()
			for _, key := range []string{strings.ToLower(tag.String()), base.String()} {
				if v, ok := variants[key]; ok && v.has(ch) {
					return v, nil
				}
			}
		}
	}
	if v := variants[""]; v.has(ch) {
		return v, nil
	}
	return nil, s.Check(ch, name)
}

// RenderEmail renders an email template in the customer's locale.
func (s *Set) RenderEmail(name string, d Data) (Email, error) {
	d = localize(d)
	v, err := s.pick(name, journey.Email, d.Customer.Locale)
	if err != nil {
		return Email{}, err
	}
	return v.renderEmail(d)
}

// RenderSMS renders a text message in the customer's locale.
func (s *Set) RenderSMS(name string, d Data) (string, error) {
	d = localize(d)
	v, err := s.pick(name, journey.SMS, d.Customer.Locale)
	if err != nil {
		return "", err
	}
	return v.renderSMS(d)
}

// RenderMail renders a letter or postcard in the customer's locale.
func (s *Set) RenderMail(name string, d Data) (Mail, error) {
	d = localize(d)
	v, err := s.pick(name, journey.Mail, d.Customer.Locale)
	if err != nil {
		return Mail{}, err
	}
	return v.renderMail(d)
}

// RenderWebhook renders a webhook's JSON body in the customer's locale.
// A body that is not one valid JSON value, or is larger than
// MaxWebhookBody, is an error.
func (s *Set) RenderWebhook(name string, d Data) ([]byte, error) {
	d = localize(d)
	v, err := s.pick(name, journey.Webhook, d.Customer.Locale)
	if err != nil {
		return nil, err
	}
	return v.renderWebhook(d)
}

// MaxWebhookBody is the largest webhook body a template may render.
const MaxWebhookBody = 256 << 10

func (v *variant) renderWebhook(d Data) ([]byte, error) {
	body, err := execText(v.webhook, d)
	if err != nil {
		return nil, err
	}
	if len(body) > MaxWebhookBody {
		return nil, fmt.Errorf("%s: renders to %d bytes; a webhook body can be at most %d", v.webhook.Name(), len(body), MaxWebhookBody)
	}
	if err := validJSON(body); err != nil {
		return nil, fmt.Errorf("%s: does not render valid JSON (%v); write values with {{json .Field}}", v.webhook.Name(), err)
	}
	return []byte(body), nil
}

// validJSON reports whether s is exactly one JSON value.
func validJSON(s string) error {
	dec := json.NewDecoder(strings.NewReader(s))
	var v json.RawMessage
	if err := dec.Decode(&v); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("more than one JSON value")
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("text after the JSON value")
	}
	return nil
}

// localize gives the voucher the customer's locale, when it has none,
// and says a fallback's reason in the customer's language, without
// changing the caller's values.
func localize(d Data) Data {
	if d.Voucher != nil && d.Voucher.Locale == "" {
		v := *d.Voucher
		v.Locale = d.Customer.Locale
		d.Voucher = &v
	}
	if d.Fallback != nil {
		f := *d.Fallback
		f.Reason = localReason(f.Reason, d.Customer.Locale)
		if loc.Has(d.Customer.Locale, "channel."+f.From) {
			f.Channel = loc.T(d.Customer.Locale, "channel."+f.From)
		} else {
			f.Channel = f.From
		}
		d.Fallback = &f
	}
	return d
}

// Words a fallback's reason may be made of, as the send activity and the
// interpreter write them: "<status>: <reason>".
var (
	fallbackStatuses = []string{"fallback.skipped", "fallback.failed", "fallback.held", "fallback.unknown"}
	fallbackReasons  = []string{"reason.no_email", "reason.no_phone", "reason.no_address", "reason.no_customer"}
)

// localReason says a fallback's reason in the customer's language. The
// reason is English as recorded ("not sent: no phone number"): an
// English reader gets it as it is; another gets its status and, when
// Rapport knows it, its cause in their words ("non envoyé : pas de numéro
// de téléphone"), never a provider's English.
func localReason(reason, locale string) string {
	if loc.Lang(locale) == loc.Default {
		return reason
	}
	for _, sk := range fallbackStatuses {
		status, _ := loc.Text(loc.Default, sk)
		rest, ok := strings.CutPrefix(reason, status)
		if !ok {
			continue
		}
		rest = strings.TrimPrefix(rest, ": ")
		for _, rk := range fallbackReasons {
			if why, _ := loc.Text(loc.Default, rk); rest == why {
				return loc.T(locale, "fallback.reason", loc.T(locale, sk), loc.T(locale, rk))
			}
		}
		return loc.T(locale, sk)
	}
	return loc.T(locale, "fallback.failed")
}

func (v *variant) renderEmail(d Data) (Email, error) {
	subject, err := execText(v.emailSubject, d)
	if err != nil {
		return Email{}, err
	}
	body, err := execText(v.emailText, d)
	if err != nil {
		return Email{}, err
	}
	out := Email{
		Subject: subjectLine(strings.TrimPrefix(subject, "Subject:")),
		Text:    strings.TrimLeft(body, "\r\n"),
	}
	if out.Subject == "" {
		return Email{}, fmt.Errorf("%s: the subject is empty", v.emailText.Name())
	}
	if v.emailHTML != nil {
		if out.HTML, err = execHTML(v.emailHTML, d); err != nil {
			return Email{}, err
		}
	}
	return out, nil
}

func (v *variant) renderSMS(d Data) (string, error) {
	body, err := execText(v.sms, d)
	if err != nil {
		return "", err
	}
	body = smsText(body)
	if n := utf8.RuneCountInString(body); n > smsMaxChars {
		return "", fmt.Errorf("%s: renders to %d characters with this customer's data; a text message can be at most %d", v.sms.Name(), n, smsMaxChars)
	}
	return body, nil
}

// maxSubject is the longest subject a rendered email has, in characters:
// a longer one is cut there, ending with "…".
const maxSubject = 200

// subjectLine makes a rendered subject one line of at most maxSubject
// characters, whatever the values in it hold: each run of spaces, line
// breaks (CR, LF, NEL, U+2028, U+2029), tabs and other control
// characters becomes one space, and the ends are trimmed. Other spaces
// (the no-break space of "10,00 €") stay.
func subjectLine(s string) string {
	s = channels.OneLine(s)
	if utf8.RuneCountInString(s) <= maxSubject {
		return s
	}
	r := []rune(s)[:maxSubject-1]
	return strings.TrimRightFunc(string(r), unicode.IsSpace) + "…"
}

// smsText tidies a rendered text message: line breaks become "\n" (CR
// LF, CR, U+2028 and U+2029 included), other control characters a space,
// and the ends are trimmed.
func smsText(s string) string {
	s = strings.NewReplacer("\r\n", "\n", "\r", "\n", "\u2028", "\n", "\u2029", "\n", "\u0085", "\n").Replace(s)
	s = strings.Map(func(r rune) rune {
		if r != '\n' && unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s)
	return strings.TrimSpace(s)
}

// subjectLineError explains a subject line that does not parse alone:
// since the subject is a template of its own, an action cannot go on to
// the next line.
func subjectLineError(err error) error {
	if strings.Contains(err.Error(), "unclosed action") || strings.Contains(err.Error(), "unexpected EOF") {
		return fmt.Errorf("%w (the subject is the first line, a template of its own: each {{...}} in it must end on that line)", err)
	}
	return err
}

func (v *variant) renderMail(d Data) (Mail, error) {
	var err error
	if v.letter != nil {
		m := Mail{Kind: "letter"}
		m.HTML, err = execHTML(v.letter, d)
		return m, err
	}
	m := Mail{Kind: "postcard"}
	if m.Front, err = execHTML(v.postFront, d); err != nil {
		return m, err
	}
	m.Back, err = execHTML(v.postBack, d)
	return m, err
}

func execText(t *texttemplate.Template, d Data) (string, error) {
	var b bytes.Buffer
	err := t.Execute(&b, d)
	return b.String(), err
}

func execHTML(t *htmltemplate.Template, d Data) (string, error) {
	var b bytes.Buffer
	err := t.Execute(&b, d)
	return b.String(), err
}

// samples are the shapes of data a template must cope with: with and
// without an order, gift or not, one item or several, with and without a
// voucher, products and links.
func samples() []Data {
	shop := Shop{Name: "Sample Shop", URL: "https://shop.example", SupportEmail: "help@shop.example"}
	c := Customer{ID: "c_sample", Name: "Sam Sample", FirstName: "Sam", Email: "sam@example.com", Locale: "en-US", Country: "US", Attributes: map[string]any{}}
	trigger := &Event{ID: "e_sample", Type: "order.placed", OccurredAt: time.Unix(0, 0), Data: map[string]any{}}
	items := []Item{{ProductID: "p1", Name: "Tea", Quantity: 2, Price: money.MustParse("4.50")}, {ProductID: "p2", Name: "Mug", Quantity: 1, Price: money.MustParse("9.00")}}
	products := []Product{{ID: "p3", Name: "Teapot", Price: money.MustParse("25.00"), Currency: "USD", URL: "https://shop.example/p3"}, {ID: "p4", Name: "Honey", Price: money.MustParse("6.00"), Currency: "USD"}}
	expires := time.Date(2030, 1, 31, 0, 0, 0, 0, time.UTC)
	return []Data{
		{Customer: c, Shop: shop, Journey: "sample", Step: "s", Trigger: trigger,
			Order:   &Order{ID: "o1", Total: money.MustParse("18.00"), Currency: "USD", Items: items, PlacedAt: time.Unix(0, 0)},
			Voucher: &Voucher{Code: "ABCD-EFGH-JKMN-PQRS", Percent: 15, ExpiresAt: expires}, Products: products,
			Links: Links{Survey: "https://shop.example/survey/token", Preferences: "https://shop.example/preferences/token", Unsubscribe: "https://shop.example/unsubscribe/token"}},
		{Customer: c, Shop: shop, Journey: "sample", Step: "s", Trigger: trigger, Fallback: &Fallback{From: "sms", Reason: "not sent: no phone number"},
			Order:   &Order{ID: "o2", Total: money.MustParse("9.00"), Currency: "EUR", Gift: true, Items: items[1:], PlacedAt: time.Unix(0, 0)},
			Voucher: &Voucher{Code: "ABCD-EFGH-JKMN-PQRS", Amount: money.MustParse("10"), Currency: "EUR", ExpiresAt: expires}, Products: products[:1],
			Links: Links{Survey: "https://shop.example/survey/token"}},
		{Customer: Customer{ID: "c_anon", Locale: "en-GB", Attributes: map[string]any{}}, Shop: shop, Journey: "sample", Step: "s",
			Trigger: &Event{Data: map[string]any{}}},
	}
}
