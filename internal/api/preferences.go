package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/rapporthq/rapport/internal/api/wire"
	"github.com/rapporthq/rapport/internal/journey"
	"github.com/rapporthq/rapport/internal/policy"
	"github.com/rapporthq/rapport/internal/store"
)

// view assembles the preferences of a customer.
func (s *Server) view(ctx context.Context, c store.Customer, withHistory bool) (wire.Preferences, error) {
	p, err := s.Store.GetPreferences(ctx, c.ID)
	if err != nil {
		return wire.Preferences{}, err
	}
	rules := s.Rules
	loc, zoneSource := policy.ResolveZone(c.TimeZone, c.Address.Country, rules.DefaultZone)
	v := wire.Preferences{CustomerID: c.ID, Channels: map[string]wire.ChannelPreferences{}, Topics: map[string]bool{},
		ChannelOrder: p.ChannelOrder, TimeZone: loc.String(), TimeZoneSource: string(zoneSource), Suppressions: []wire.Suppression{}}
	for _, ch := range policy.Channels {
		cv := wire.ChannelPreferences{Consent: string(policy.Unknown), QuietSource: "default"}
		if ev, ok := p.Consent[string(ch)]; ok {
			evidence := evidenceBody(ev.Evidence)
			cv.Consent, cv.Source, cv.RecordedAt, cv.Evidence = ev.State, ev.Source, &ev.RecordedAt, &evidence
		}
		if w, ok := rules.Quiet[ch]; ok && w.Start != w.End {
			cv.QuietHours = &wire.QuietHours{Start: w.Start.String(), End: w.End.String()}
		}
		if q, ok := p.QuietHours[string(ch)]; ok {
			cv.QuietSource = "customer"
			cv.QuietHours = nil
			if q.Start != "" {
				q := wire.QuietHours(q)
				cv.QuietHours = &q
			}
		}
		v.Channels[string(ch)] = cv
	}
	for _, t := range s.Topics {
		v.Topics[t] = true
	}
	for t, ev := range p.Topics {
		v.Topics[t] = ev.Subscribed
	}
	if p.Frequency != nil {
		v.Frequency = wire.Frequency{Caps: capBodies(p.Frequency), Source: "customer"}
	} else {
		v.Frequency = wire.Frequency{Caps: capBodies(capSettings(rules.Caps)), Source: "default"}
	}
	sups, err := s.Store.SuppressionsFor(ctx, map[string]string{"email": c.Email, "sms": c.PhoneE164, "phone": c.PhoneE164})
	if err != nil {
		return v, err
	}
	if sups != nil {
		v.Suppressions = suppressionBodies(sups)
	}
	if withHistory {
		consent, err := s.Store.ConsentHistory(ctx, c.ID)
		if err != nil {
			return v, err
		}
		topics, err := s.Store.TopicHistory(ctx, c.ID)
		if err != nil {
			return v, err
		}
		v.History = &wire.History{Consent: consentEventBodies(consent), Topics: topicEventBodies(topics)}
	}
	return v, nil
}

func capSettings(caps []policy.Cap) []store.CapSetting {
	out := []store.CapSetting{}
	for _, c := range caps {
		ch := string(c.Channel)
		if ch == "" {
			ch = "all"
		}
		out = append(out, store.CapSetting{Channel: ch, Max: c.Max, Per: journey.FormatDuration(c.Per)})
	}
	return out
}

func (s *Server) getPreferences(w http.ResponseWriter, r *http.Request) {
	if err := text("history", r.URL.Query().Get("history"), 10, true); err != nil {
		s.fail(w, r, err)
		return
	}
	c, err := s.Store.GetCustomer(r.Context(), r.PathValue("id"))
	if errors.Is(err, store.ErrNotFound) {
		notFound(w, "customer", r.PathValue("id"))
		return
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	v, err := s.view(r.Context(), c, r.URL.Query().Get("history") != "")
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, v)
}

// change is one checked preferences update, ready to apply.
type change struct {
	consent  map[string]string
	topics   map[string]bool
	quiet    map[string]store.QuietHours // "" start: none
	order    []string
	zone     *string
	caps     *[]store.CapSetting
	source   string
	evidence store.Evidence
}

// check checks an update; topics are the topics customers may choose
// (the marketing topics of the journeys).
func checkPreferences(u *wire.PreferencesUpdate, topics []string) (change, error) {
	ch := change{consent: map[string]string{}, topics: u.Topics, quiet: map[string]store.QuietHours{}, order: u.ChannelOrder, zone: u.TimeZone}
	ev := u.Evidence
	for _, err := range []error{
		text("evidence.source", ev.Source, maxSource, true), text("evidence.shown", ev.Shown, maxShown, false),
		text("evidence.ip", ev.IP, maxIP, true), text("evidence.user_agent", ev.UserAgent, maxAgent, true),
		text("evidence.note", ev.Note, maxShown, false),
	} {
		if err != nil {
			return ch, err
		}
	}
	if u.TimeZone != nil {
		if err := text("time_zone", *u.TimeZone, maxZone, true); err != nil {
			return ch, err
		}
	}
	if len(u.ChannelOrder) > len(policy.Channels) {
		return ch, badField("channel_order", "lists %d channels; there are %d (email, sms, mail, phone), each at most once", len(u.ChannelOrder), len(policy.Channels))
	}
	for name, cu := range u.Channels {
		if !slices.Contains(policy.Channels, policy.Channel(name)) {
			return ch, badField("channels."+name, "is not a channel; use email, sms, mail or phone%s", didYouMean(name, channelNames()))
		}
		if cu.Consent != "" {
			switch policy.Consent(cu.Consent) {
			case policy.OptedIn, policy.OptedOut, policy.Unknown:
				ch.consent[name] = cu.Consent
			default:
				return ch, badField("channels."+name+".consent", "must be opted_in, opted_out or unknown")
			}
		}
		switch raw := string(cu.QuietHours); raw {
		case "":
		case "null", `"none"`:
			ch.quiet[name] = store.QuietHours{}
		default:
			var q store.QuietHours
			if err := json.Unmarshal(cu.QuietHours, &q); err != nil {
				return ch, badField("channels."+name+".quiet_hours", `must be {"start": "21:00", "end": "08:00"}, or null for none`)
			}
			if _, err := policy.ParseClock(q.Start); err != nil {
				return ch, badField("channels."+name+".quiet_hours.start", "%v", err)
			}
			if _, err := policy.ParseClock(q.End); err != nil {
				return ch, badField("channels."+name+".quiet_hours.end", "%v", err)
			}
			ch.quiet[name] = q
		}
	}
	for _, t := range sortedKeys(u.Topics) {
		if !slices.Contains(topics, t) {
			return ch, unknownTopic(t, topics)
		}
	}
	for i, c := range u.ChannelOrder {
		if !slices.Contains(policy.Channels, policy.Channel(c)) || slices.Contains(u.ChannelOrder[:i], c) {
			return ch, badField(fmt.Sprintf("channel_order[%d]", i), "must list channels (email, sms, mail, phone) once each")
		}
	}
	if u.TimeZone != nil && *u.TimeZone != "" {
		if _, err := time.LoadLocation(*u.TimeZone); err != nil || *u.TimeZone == "Local" {
			return ch, badField("time_zone", "%q is not an IANA time zone such as Europe/London", *u.TimeZone)
		}
	}
	if u.Frequency != nil {
		if len(u.Frequency.Caps) > maxCaps {
			return ch, badField("frequency.caps", "lists %d caps; at most %d are accepted", len(u.Frequency.Caps), maxCaps)
		}
		for i, c := range u.Frequency.Caps {
			field := fmt.Sprintf("frequency.caps[%d]", i)
			if err := text(field+".per", c.Per, maxPer, true); err != nil {
				return ch, err
			}
			if c.Channel != "all" && !slices.Contains(policy.Channels, policy.Channel(c.Channel)) {
				return ch, badField(field+".channel", "must be all, email, sms, mail or phone")
			}
			if c.Max < 1 {
				return ch, badField(field+".max", "must be 1 or more")
			}
			if d, err := journey.ParseDuration(c.Per); err != nil || d <= 0 {
				return ch, badField(field+".per", "must be a duration such as 7d")
			}
		}
		caps := []store.CapSetting{}
		for _, c := range u.Frequency.Caps {
			caps = append(caps, store.CapSetting(c))
		}
		ch.caps = &caps
	}
	ch.source = u.Evidence.Source
	if ch.source == "" {
		ch.source = "api"
	}
	ch.evidence = store.Evidence{Shown: u.Evidence.Shown, IP: u.Evidence.IP, UserAgent: u.Evidence.UserAgent, Note: u.Evidence.Note}
	return ch, nil
}

// apply stores a change: consent and topic changes as history, settings
// as they now stand.
func (s *Server) apply(ctx context.Context, c store.Customer, ch change) error {
	for _, name := range sortedKeys((ch.consent)) {
		if _, err := s.Store.RecordConsent(ctx, c.ID, name, ch.consent[name], ch.source, ch.evidence); err != nil {
			return err
		}
	}
	for _, t := range sortedKeys((ch.topics)) {
		if _, err := s.Store.RecordTopic(ctx, c.ID, t, ch.topics[t], ch.source, ch.evidence); err != nil {
			return err
		}
	}
	if len(ch.quiet) > 0 || ch.order != nil || ch.caps != nil {
		cur, err := s.Store.GetPreferences(ctx, c.ID)
		if err != nil {
			return err
		}
		for k, q := range ch.quiet {
			cur.QuietHours[k] = q
		}
		if ch.order != nil {
			cur.ChannelOrder = ch.order
		}
		if ch.caps != nil {
			cur.Frequency = *ch.caps
			if len(*ch.caps) == 0 {
				cur.Frequency = nil // back to the defaults
			}
		}
		if err := s.Store.SaveSettings(ctx, c.ID, cur.ChannelOrder, cur.QuietHours, cur.Frequency); err != nil {
			return err
		}
	}
	if ch.zone != nil && *ch.zone != c.TimeZone {
		c.TimeZone = *ch.zone
		if _, err := s.Store.UpsertCustomer(ctx, c); err != nil {
			return err
		}
	}
	return nil
}

// unknownTopic refuses a topic no journey uses: stored, it would be a
// choice that changes nothing, while the customer keeps getting the topic
// they meant.
func unknownTopic(t string, topics []string) *apiError {
	if len(topics) == 0 {
		return badField("topics."+t, "is not a topic: no marketing journey names a topic, so there is none to choose")
	}
	return badField("topics."+t, "is not a topic%s; the topics are %s", didYouMean(t, topics), strings.Join(slices.Sorted(slices.Values(topics)), ", "))
}

// didYouMean suggests the candidate nearest to s: " (did you mean x?)",
// or "" when none is near.
func didYouMean(s string, candidates []string) string {
	if near := closest(s, candidates); near != "" {
		return fmt.Sprintf(" (did you mean %s?)", near)
	}
	return ""
}

func channelNames() []string {
	names := make([]string, len(policy.Channels))
	for i, c := range policy.Channels {
		names[i] = string(c)
	}
	return names
}

func sortedKeys[V any](m map[string]V) []string {
	return slices.Sorted(maps.Keys(m))
}

func (s *Server) putPreferences(w http.ResponseWriter, r *http.Request) {
	var u wire.PreferencesUpdate
	if err := decode(r, &u); err != nil {
		s.fail(w, r, err)
		return
	}
	c, err := s.Store.GetCustomer(r.Context(), r.PathValue("id"))
	if errors.Is(err, store.ErrNotFound) {
		notFound(w, "customer", r.PathValue("id"))
		return
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	ch, err := checkPreferences(&u, s.Topics)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if err := s.apply(r.Context(), c, ch); err != nil {
		s.fail(w, r, err)
		return
	}
	if c, err = s.Store.GetCustomer(r.Context(), c.ID); err != nil {
		s.fail(w, r, err)
		return
	}
	v, err := s.view(r.Context(), c, false)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, v)
}
