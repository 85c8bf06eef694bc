package api

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/mail"
	"regexp"
	"strings"
	"time"

	"golang.org/x/text/language"

	"github.com/rapporthq/rapport/internal/api/wire"
	"github.com/rapporthq/rapport/internal/phone"
	"github.com/rapporthq/rapport/internal/postal"
	"github.com/rapporthq/rapport/internal/store"
	"github.com/rapporthq/rapport/workflows"
)

var (
	phoneRe   = regexp.MustCompile(`^\+?[0-9][0-9 ().-]{4,24}$`)
	countryRe = regexp.MustCompile(`^[A-Z]{2}$`)
)

// validateCustomer checks a customer sent to POST /v1/customers.
func validateCustomer(req *wire.CustomerRequest) (store.Customer, error) {
	c := store.Customer{ID: req.ID, Email: req.Email, Phone: req.Phone, Name: req.Name, Locale: req.Locale, TimeZone: req.TimeZone, Attributes: req.Attributes}
	switch {
	case req.ID == "":
		return c, badField("id", "is required: the shop's id for this customer")
	case !workflows.ValidIDPart(req.ID):
		return c, badField("id", "must be 1-128 letters, digits, _ . : or -; use the shop's opaque id, not an email address (ids appear in workflow ids)")
	}
	// Each reaches a subject, a header, a text message or a printed
	// address: one line each, and bounded.
	for _, f := range []struct {
		field, value string
		max          int
	}{{"email", req.Email, maxEmail}, {"phone", req.Phone, maxPhone}, {"name", req.Name, maxName}, {"locale", req.Locale, maxLocale}, {"time_zone", req.TimeZone, maxZone}} {
		if err := text(f.field, f.value, f.max, true); err != nil {
			return c, err
		}
	}
	if req.Email != "" {
		if a, err := mail.ParseAddress(req.Email); err != nil || a.Address != req.Email {
			return c, badField("email", "%q is not an email address", req.Email)
		}
	}
	if req.Phone != "" && !phoneRe.MatchString(req.Phone) {
		return c, badField("phone", "%q is not a phone number; use international form such as +44 20 7946 0958", req.Phone)
	}
	if req.Locale != "" {
		tag, err := language.Parse(req.Locale)
		if err != nil {
			return c, badField("locale", "%q is not a language tag such as en-GB", req.Locale)
		}
		c.Locale = tag.String()
	}
	if req.TimeZone != "" {
		if _, err := time.LoadLocation(req.TimeZone); err != nil || req.TimeZone == "Local" {
			return c, badField("time_zone", "%q is not an IANA time zone such as Europe/London", req.TimeZone)
		}
	}
	if a := req.Address; a != nil {
		if a.Country != "" && !countryRe.MatchString(a.Country) {
			return c, badField("address.country", "%q is not a two-letter country code such as GB or US", a.Country)
		}
		c.Address = store.Address{Line1: strings.TrimSpace(a.Line1), Line2: strings.TrimSpace(a.Line2), City: strings.TrimSpace(a.City),
			State: strings.TrimSpace(a.State), PostalCode: strings.TrimSpace(a.PostalCode), Country: a.Country}
		if err := checkAddress("address", c.Address); err != nil {
			return c, err
		}
		if c.Address.Line1 != "" && strings.TrimSpace(c.Name) == "" {
			return c, badField("name", "is required with a postal address: letters and postcards are addressed to a name")
		}
	}
	if req.Attributes != nil {
		raw, err := json.Marshal(req.Attributes)
		if err != nil {
			return c, badField("attributes", "must be a JSON object")
		}
		if err := checkObject("attributes", raw, len(req.Attributes), maxAttributesBytes); err != nil {
			return c, err
		}
	}
	if req.Phone != "" {
		// Kept in E.164 form, to find the customer an SMS reply comes from.
		c.PhoneE164, _ = phone.Normalize(req.Phone, c.Address.Country)
	}
	return c, nil
}

// checkAddress refuses an address Lob would not take for a letter or a
// postcard, naming the field (field.line1, field.postal_code...), so a
// piece never fails at send time for an address the API took.
func checkAddress(field string, a store.Address) error {
	err := postal.Check(postal.Address{Line1: a.Line1, Line2: a.Line2, City: a.City, State: a.State, PostalCode: a.PostalCode, Country: a.Country})
	var fe *postal.FieldError
	if errors.As(err, &fe) {
		return badField(field+"."+fe.Field, "%s", fe.Message)
	}
	return err
}

func (s *Server) upsertCustomer(w http.ResponseWriter, r *http.Request) {
	var req wire.CustomerRequest
	if err := decode(r, &req); err != nil {
		s.fail(w, r, err)
		return
	}
	c, err := validateCustomer(&req)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	created, err := s.Store.UpsertCustomer(r.Context(), c)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	stored, err := s.Store.GetCustomer(r.Context(), c.ID)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	writeJSON(w, status, customerBody(stored))
}

func (s *Server) getCustomer(w http.ResponseWriter, r *http.Request) {
	c, err := s.Store.GetCustomer(r.Context(), r.PathValue("id"))
	if errors.Is(err, store.ErrNotFound) {
		writeJSON(w, http.StatusNotFound, wire.Error{Message: "no customer " + r.PathValue("id")})
		return
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, customerBody(c))
}
