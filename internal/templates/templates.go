// Package templates renders the messages journeys send from the files under
// journeys/templates: one folder per template, holding per channel a text
// file (for email it starts with a "Subject:" line) and, for email, an
// optional HTML file. Text uses text/template, HTML uses html/template, so
// customer-provided values are escaped in HTML.
package templates

import (
	"bytes"
	"errors"
	"fmt"
	htmltemplate "html/template"
	"io/fs"
	"path"
	"regexp"
	"sort"
	"strings"
	texttemplate "text/template"
	"time"

	"github.com/rapporthq/rapport/internal/journey"
)

// Data is what a template can use.
type Data struct {
	Customer Customer
	// Order is the order the journey is about (the triggering order), or nil.
	Order   *Order
	Journey string
	Step    string
	Shop    Shop
}

// Customer is the customer as templates see them.
type Customer struct {
	ID        string
	Name      string
	FirstName string
	Email     string
	Locale    string
}

// Order is an order as templates see it.
type Order struct {
	ID       string
	Total    float64
	Currency string
	Gift     bool
	PlacedAt time.Time
	Items    []Item
}

// ItemNames lists the names of the order's items.
func (o *Order) ItemNames() []string {
	names := make([]string, len(o.Items))
	for i, it := range o.Items {
		names[i] = it.Name
	}
	return names
}

// Item is one line of an order.
type Item struct {
	ProductID string
	Name      string
	Quantity  int
	Price     float64
}

// Shop describes the sender.
type Shop struct {
	Name         string
	URL          string
	SupportEmail string
}

// Email is a rendered email.
type Email struct {
	Subject string
	Text    string
	HTML    string
}

type emailTemplate struct {
	text *texttemplate.Template
	html *htmltemplate.Template // nil when the template has no HTML part
}

// Set is every template found in a folder, parsed and checked.
type Set struct {
	dir    string // for messages: the folder as the user knows it
	emails map[string]*emailTemplate
}

var nameRe = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]*$`)

// Load parses every template under fsys and checks each renders with sample
// data, so a misspelt field is found before any customer is waiting for
// the message. dir is how the folder is named in error messages.
func Load(fsys fs.FS, dir string) (*Set, error) {
	s := &Set{dir: dir, emails: map[string]*emailTemplate{}}
	entries, err := fs.ReadDir(fsys, ".")
	if errors.Is(err, fs.ErrNotExist) {
		return s, nil // no templates folder: no templates
	}
	if err != nil {
		return nil, fmt.Errorf("read templates in %s: %w", dir, err)
	}
	var errs []error
	for _, e := range entries {
		if !e.IsDir() || !nameRe.MatchString(e.Name()) {
			continue
		}
		if err := s.loadEmail(fsys, e.Name()); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *Set) loadEmail(fsys fs.FS, name string) error {
	textFile, htmlFile := path.Join(name, "email.txt"), path.Join(name, "email.html")
	textSrc, err := fs.ReadFile(fsys, textFile)
	if errors.Is(err, fs.ErrNotExist) {
		if _, err := fs.Stat(fsys, htmlFile); err == nil {
			return fmt.Errorf("%s: an email needs a text version with its subject; add %s", path.Join(s.dir, htmlFile), path.Join(s.dir, textFile))
		}
		return nil // not an email template
	}
	if err != nil {
		return err
	}
	t := &emailTemplate{}
	if !bytes.HasPrefix(textSrc, []byte("Subject:")) {
		return fmt.Errorf("%s:1: the first line must be the subject, like `Subject: Thank you, {{.Customer.FirstName}}`", path.Join(s.dir, textFile))
	}
	t.text, err = texttemplate.New(textFile).Option("missingkey=error").Funcs(funcs).Parse(string(textSrc))
	if err != nil {
		return s.wrap(err)
	}
	if htmlSrc, err := fs.ReadFile(fsys, htmlFile); err == nil {
		t.html, err = htmltemplate.New(htmlFile).Option("missingkey=error").Funcs(htmltemplate.FuncMap(funcs)).Parse(string(htmlSrc))
		if err != nil {
			return s.wrap(err)
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	for _, sample := range samples() {
		if _, err := t.render(sample); err != nil {
			return s.wrap(err)
		}
	}
	s.emails[name] = t
	return nil
}

// wrap turns "template: thank-you/email.txt:3:5: ..." into a message that
// names the file as the user sees it.
func (s *Set) wrap(err error) error {
	msg := strings.TrimPrefix(err.Error(), "template: ")
	return errors.New(path.Join(s.dir, msg))
}

// Check reports whether a template exists for a channel; it makes a Set a
// journey.TemplateChecker.
func (s *Set) Check(ch journey.Channel, name string) error {
	switch ch {
	case journey.Email:
		if _, ok := s.emails[name]; ok {
			return nil
		}
		return fmt.Errorf("template %q has no email version; add %s", name, path.Join(s.dir, name, "email.txt"))
	default:
		return fmt.Errorf("channel %s has no templates yet; only email can be sent", ch)
	}
}

// Names lists the email templates, sorted.
func (s *Set) Names() []string {
	out := make([]string, 0, len(s.emails))
	for n := range s.emails {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// RenderEmail renders an email template.
func (s *Set) RenderEmail(name string, d Data) (Email, error) {
	t, ok := s.emails[name]
	if !ok {
		return Email{}, fmt.Errorf("no email template %q in %s", name, s.dir)
	}
	return t.render(d)
}

func (t *emailTemplate) render(d Data) (Email, error) {
	var text bytes.Buffer
	if err := t.text.Execute(&text, d); err != nil {
		return Email{}, err
	}
	subject, body, _ := strings.Cut(text.String(), "\n")
	out := Email{
		Subject: strings.TrimSpace(strings.TrimPrefix(subject, "Subject:")),
		Text:    strings.TrimLeft(body, "\r\n"),
	}
	if out.Subject == "" {
		return Email{}, fmt.Errorf("%s: the subject is empty", t.text.Name())
	}
	if t.html != nil {
		var html bytes.Buffer
		if err := t.html.Execute(&html, d); err != nil {
			return Email{}, err
		}
		out.HTML = html.String()
	}
	return out, nil
}

// samples are the shapes of data a template must cope with: with and
// without an order, gift or not, one item or several.
func samples() []Data {
	shop := Shop{Name: "Sample Shop", URL: "https://shop.example", SupportEmail: "help@shop.example"}
	c := Customer{ID: "c_sample", Name: "Sam Sample", FirstName: "Sam", Email: "sam@example.com", Locale: "en-US"}
	items := []Item{{ProductID: "p1", Name: "Tea", Quantity: 2, Price: 4.5}, {ProductID: "p2", Name: "Mug", Quantity: 1, Price: 9}}
	return []Data{
		{Customer: c, Shop: shop, Journey: "sample", Step: "s", Order: &Order{ID: "o1", Total: 18, Currency: "USD", Items: items, PlacedAt: time.Unix(0, 0)}},
		{Customer: c, Shop: shop, Journey: "sample", Step: "s", Order: &Order{ID: "o2", Total: 9, Currency: "EUR", Gift: true, Items: items[1:], PlacedAt: time.Unix(0, 0)}},
		{Customer: Customer{ID: "c_anon", Locale: "en-GB"}, Shop: shop, Journey: "sample", Step: "s"},
	}
}
