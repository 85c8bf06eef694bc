package api

import (
	"errors"
	"net/http"
	"net/mail"
	"slices"
	"strings"

	"github.com/rapporthq/rapport/internal/api/wire"
	"github.com/rapporthq/rapport/internal/phone"
	"github.com/rapporthq/rapport/internal/policy"
	"github.com/rapporthq/rapport/internal/store"
)

// The suppression list by hand: support staff (or a shop importing its old
// list) add an address that must never be contacted again on a channel,
// whoever it belongs to, and lift it when that was a mistake. Bounces,
// spam reports and STOP replies add to the same list through the webhooks.

// suppressionAddress checks a channel and address and returns the address
// as the list keeps it.
func suppressionAddress(channel, address, country string) (string, error) {
	if !slices.Contains(policy.Channels, policy.Channel(channel)) {
		return "", badField("channel", "must be email, sms, mail or phone, not %q", channel)
	}
	if err := text("address", address, maxAddress, true); err != nil {
		return "", err
	}
	if country != "" && !countryRe.MatchString(country) {
		return "", badField("country", "%q is not a two-letter country code such as GB or US", country)
	}
	address = strings.TrimSpace(address)
	if address == "" {
		return "", badField("address", "is required")
	}
	switch channel {
	case "email":
		if a, err := mail.ParseAddress(address); err != nil || a.Address != address {
			return "", badField("address", "%q is not an email address", address)
		}
	case "sms", "phone":
		e164, err := phone.Normalize(address, country)
		if err != nil {
			return "", badField("address", "%q is not a phone number (write it with its country code, such as +44 7911 123456, or give country)", address)
		}
		address = e164
	}
	return store.AddressKey(channel, address), nil
}

func (s *Server) postSuppression(w http.ResponseWriter, r *http.Request) {
	var req wire.SuppressionRequest
	if err := decode(r, &req); err != nil {
		s.fail(w, r, err)
		return
	}
	for _, err := range []error{text("reason", req.Reason, maxReason, false), text("source", req.Source, maxSource, true)} {
		if err != nil {
			s.fail(w, r, err)
			return
		}
	}
	address, err := suppressionAddress(req.Channel, req.Address, req.Country)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	req.Reason = strings.TrimSpace(req.Reason)
	if req.Reason == "" {
		s.fail(w, r, badField("reason", "say why, in up to 500 characters (it is shown wherever the address is refused)"))
		return
	}
	if req.Source == "" {
		req.Source = "api"
	}
	status := http.StatusOK
	if _, err := s.Store.Suppressed(r.Context(), req.Channel, address); errors.Is(err, store.ErrNotFound) {
		status = http.StatusCreated
	} else if err != nil {
		s.fail(w, r, err)
		return
	}
	if err := s.Store.Suppress(r.Context(), store.Suppression{Channel: req.Channel, Address: address, Reason: "manual: " + req.Reason, Source: req.Source}); err != nil {
		s.fail(w, r, err)
		return
	}
	sup, err := s.Store.Suppressed(r.Context(), req.Channel, address)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, status, suppressionBody(sup))
}

func (s *Server) getSuppression(w http.ResponseWriter, r *http.Request) {
	address, err := suppressionAddress(r.PathValue("channel"), r.PathValue("address"), r.URL.Query().Get("country"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	sup, err := s.Store.Suppressed(r.Context(), r.PathValue("channel"), address)
	if errors.Is(err, store.ErrNotFound) {
		s.fail(w, r, &apiError{Status: http.StatusNotFound, Message: "that address is not suppressed"})
		return
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, suppressionBody(sup))
}

func (s *Server) deleteSuppression(w http.ResponseWriter, r *http.Request) {
	address, err := suppressionAddress(r.PathValue("channel"), r.PathValue("address"), r.URL.Query().Get("country"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if err := s.Store.Unsuppress(r.Context(), r.PathValue("channel"), address); err != nil {
		s.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
