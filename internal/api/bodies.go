package api

import (
	"github.com/rapporthq/rapport/internal/api/wire"
	"github.com/rapporthq/rapport/internal/journey"
	"github.com/rapporthq/rapport/internal/router"
	"github.com/rapporthq/rapport/internal/store"
)

// The API answers with the bodies of package wire, never with the store's
// types: these convert them, field by field (or by a Go conversion where
// the two have the same fields, so that a field added to one and not the
// other fails to compile). TestBodiesEncodeAsTheStoreTypes holds each
// body's JSON to the store type's, so answers stay as they were.

func customerBody(c store.Customer) wire.Customer {
	return wire.Customer{ID: c.ID, Email: c.Email, Phone: c.Phone, PhoneE164: c.PhoneE164, Name: c.Name, Locale: c.Locale,
		TimeZone: c.TimeZone, Address: wire.Address(c.Address), Attributes: c.Attributes, CreatedAt: c.CreatedAt, UpdatedAt: c.UpdatedAt}
}

func eventBody(e store.Event) wire.Event {
	return wire.Event{ID: e.ID, Type: e.Type, CustomerID: e.CustomerID, OccurredAt: e.OccurredAt, ReceivedAt: e.ReceivedAt,
		Data: e.Data, RoutedAt: e.RoutedAt, Seq: e.Seq}
}

func routingBody(r router.Result) wire.RoutingResult { return wire.RoutingResult(r) }

func taskBody(t store.Task) wire.Task {
	var actions []wire.TaskAction
	if t.Actions != nil {
		actions = make([]wire.TaskAction, len(t.Actions))
	}
	for i, a := range t.Actions {
		actions[i] = wire.TaskAction(a)
	}
	return wire.Task{ID: t.ID, WorkflowID: t.WorkflowID, Journey: t.Journey, StepID: t.StepID, CustomerID: t.CustomerID, Kind: t.Kind,
		Queue: t.Queue, Status: t.Status, Brief: t.Brief, Outcomes: t.Outcomes, DueAt: t.DueAt, Context: t.Context, Assignee: t.Assignee,
		Outcome: t.Outcome, Notes: t.Notes, Escalations: t.Escalations, CreatedAt: t.CreatedAt, ClaimedAt: t.ClaimedAt,
		CompletedAt: t.CompletedAt, ClaimedByKey: t.ClaimedByKey, CompletedByKey: t.CompletedByKey, Actions: actions}
}

func taskBodies(ts []store.Task) []wire.Task {
	out := make([]wire.Task, len(ts))
	for i, t := range ts {
		out[i] = taskBody(t)
	}
	return out
}

func fanoutBody(f store.Fanout) wire.Fanout {
	return wire.Fanout{EventID: f.EventID, Journey: f.Journey, Type: f.Type, OccurredAt: f.OccurredAt, ReceivedAt: f.ReceivedAt,
		Cursor: f.Cursor, Scanned: f.Scanned, Matched: f.Matched, Started: f.Started, Skipped: f.Skipped, Attempts: f.Attempts,
		Error: f.Error, DoneAt: f.DoneAt, Status: f.Status, NextAttemptAt: f.NextAttemptAt}
}

func fanoutBodies(fs []store.Fanout) []wire.Fanout {
	out := make([]wire.Fanout, len(fs))
	for i, f := range fs {
		out[i] = fanoutBody(f)
	}
	return out
}

func voucherBody(v store.Voucher) wire.Voucher { return wire.Voucher(v) }

func suppressionBody(s store.Suppression) wire.Suppression { return wire.Suppression(s) }

func suppressionBodies(ss []store.Suppression) []wire.Suppression {
	out := make([]wire.Suppression, len(ss))
	for i, s := range ss {
		out[i] = suppressionBody(s)
	}
	return out
}

func erasureRecord(e store.Erasure) wire.ErasureRecord { return wire.ErasureRecord(e) }

func evidenceBody(e store.Evidence) wire.Evidence { return wire.Evidence(e) }

func capBodies(cs []store.CapSetting) []wire.Cap {
	if cs == nil {
		return nil
	}
	out := make([]wire.Cap, len(cs))
	for i, c := range cs {
		out[i] = wire.Cap(c)
	}
	return out
}

func consentEventBodies(es []store.ConsentEvent) []wire.ConsentEvent {
	if es == nil {
		return nil
	}
	out := make([]wire.ConsentEvent, len(es))
	for i, e := range es {
		out[i] = wire.ConsentEvent{ID: e.ID, CustomerID: e.CustomerID, Channel: e.Channel, State: e.State, Source: e.Source,
			Evidence: evidenceBody(e.Evidence), RecordedAt: e.RecordedAt}
	}
	return out
}

func topicEventBodies(es []store.TopicEvent) []wire.TopicEvent {
	if es == nil {
		return nil
	}
	out := make([]wire.TopicEvent, len(es))
	for i, e := range es {
		out[i] = wire.TopicEvent{ID: e.ID, CustomerID: e.CustomerID, Topic: e.Topic, Subscribed: e.Subscribed, Source: e.Source,
			Evidence: evidenceBody(e.Evidence), RecordedAt: e.RecordedAt}
	}
	return out
}

func audiencePreviewBody(p router.AudiencePreview) wire.AudiencePreview {
	out := wire.AudiencePreview{Journey: p.Journey, Audience: p.Audience, SQL: p.SQL, CEL: p.CEL, Customers: p.Customers,
		Matched: p.Matched, ScanMillis: p.ScanMillis}
	if p.Sample != nil {
		out.Sample = make([]wire.AudienceCustomer, len(p.Sample))
		for i, c := range p.Sample {
			out.Sample[i] = audienceCustomer(c)
		}
	}
	return out
}

// audienceCustomer is a customer as an audience sees them: their facts
// without the list of their orders (audiences do not load it), nor their
// engagement (not in the documented answer).
func audienceCustomer(c journey.Customer) wire.AudienceCustomer {
	return wire.AudienceCustomer{ID: c.ID, Locale: c.Locale, TimeZone: c.TimeZone, Zone: c.Zone, Country: c.Country, HasEmail: c.HasEmail,
		HasPhone: c.HasPhone, HasPostalAddress: c.HasPostalAddress, OrdersCount: c.OrdersCount, LifetimeValue: c.LifetimeValue,
		DaysSinceLastOrder: c.DaysSinceLastOrder, Tags: c.Tags, Attributes: c.Attributes, PreferredChannels: c.PreferredChannels}
}
