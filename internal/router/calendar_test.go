package router_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rapporthq/rapport/internal/router"
	"github.com/rapporthq/rapport/internal/store"
	"github.com/rapporthq/rapport/workflows"
)

const renewalJourney = `
journey: renewal
topic: renewals
trigger:
  date: customer.attributes.renewal_date
  offset: -7d
  when: orders_count >= 0 && today != "2000-01-01"
steps:
  - exit: done
`

// TestDateTriggerEntersAtEachCustomersNineOClock: scans every quarter of
// an hour enter each customer at 09:00 in their own zone, 7 days before
// their renewal date, once per year's date, whichever scans see them.
func TestDateTriggerEntersAtEachCustomersNineOClock(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	g := newRig(t, renewalJourney)
	plan, _ := g.r.Catalog.Get("renewal")
	for _, c := range []store.Customer{
		{ID: "syd", TimeZone: "Australia/Sydney", Attributes: map[string]any{"renewal_date": "2024-12-10"}},
		{ID: "nyc", Address: store.Address{Country: "US"}, Attributes: map[string]any{"renewal_date": "2025-12-10T18:00:00-05:00"}}, // zone from the country
		{ID: "later", TimeZone: "Australia/Sydney", Attributes: map[string]any{"renewal_date": "2024-12-25"}},
		{ID: "none", TimeZone: "Australia/Sydney"},
		{ID: "garbled", TimeZone: "Australia/Sydney", Attributes: map[string]any{"renewal_date": "soon"}},
	} {
		c.Email = c.ID + "@example.com"
		_, err := g.s.UpsertCustomer(ctx, c)
		require.NoError(t, err)
	}
	scan := func(at string) workflows.AudienceStretch {
		t.Helper()
		asOf, err := time.Parse(time.RFC3339, at)
		require.NoError(t, err)
		st, err := g.r.EnterAudience(ctx, plan, router.AudienceRun{EntryKey: workflows.AudienceEntryKey(asOf), AsOf: asOf}, nil)
		require.NoError(t, err)
		return st
	}
	// 09:00 on 3 December in Sydney is 22:00 UTC on the 2nd.
	assert.Zero(t, scan("2026-12-02T21:45:00Z").Matched)
	st := scan("2026-12-02T22:00:00Z")
	assert.Equal(t, int64(1), st.Started)
	st = scan("2026-12-02T22:15:00Z")
	assert.Equal(t, int64(0), st.Started)
	assert.Equal(t, int64(1), st.Skipped, "a later scan sees syd again and enters nobody twice")
	// 09:00 in New York (the US's zone) is 14:00 UTC.
	assert.Zero(t, scan("2026-12-03T13:45:00Z").Started)
	assert.Equal(t, int64(1), scan("2026-12-03T14:00:00Z").Started)

	starts := g.tc.startList()
	require.Len(t, starts, 2)
	for i, who := range []string{"syd", "nyc"} {
		s := starts[i]
		assert.Equal(t, who, s.Input.CustomerID)
		assert.Equal(t, "date-2026-12-10", s.Input.EntryKey)
		assert.Equal(t, workflows.WorkflowID("renewal", who, "date-2026-12-10"), s.ID)
		assert.Equal(t, "date", s.Input.Trigger.Type)
		assert.Equal(t, map[string]any{"attribute": "renewal_date", "date": "2026-12-10"}, s.Input.Trigger.Data)
	}
	assert.Equal(t, "2026-12-02T22:00:00Z", starts[0].Input.Trigger.OccurredAt.Format(time.RFC3339))
	assert.Equal(t, "2026-12-03T14:00:00Z", starts[1].Input.Trigger.OccurredAt.Format(time.RFC3339))

	// Next year's date is a new occurrence, once this year's run is over
	// (one run at a time).
	assert.Equal(t, int64(1), scan("2027-12-02T22:00:00Z").Skipped)
	require.NoError(t, g.s.FinishRun(ctx, starts[0].ID, store.RunCompleted, ""))
	assert.Equal(t, int64(1), scan("2027-12-02T22:15:00Z").Started)
	assert.Equal(t, "date-2027-12-10", g.tc.startList()[2].Input.EntryKey)

	p, err := g.r.PreviewAudience(ctx, plan, time.Date(2026, 12, 18, 0, 0, 0, 0, time.UTC), 10)
	require.NoError(t, err)
	require.Equal(t, int64(1), p.Matched, "09:00 on 18 December in Sydney: later's renewal is a week away")
	assert.Equal(t, "later", p.Sample[0].ID)
	assert.Equal(t, "Australia/Sydney", p.Sample[0].Zone)
	assert.Equal(t, `7 days before customer.attributes.renewal_date, every year, at 09:00 local time, when orders_count >= 0 && today != "2000-01-01"`, p.Audience)
}

const mondayJourney = `
journey: monday
topic: offers
trigger:
  audience: orders_count == 0
  schedule: "0 9 * * 1"
  time_zone: customer
steps:
  - exit: done
`

// TestCustomerZoneAudienceEntersAtTheirTime: an audience read in each
// customer's zone enters each at 09:00 on Monday where they live.
func TestCustomerZoneAudienceEntersAtTheirTime(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	g := newRig(t, mondayJourney) // c_1 and c_2 in UTC
	g.r.DefaultZone = "Europe/Paris"
	for _, c := range []store.Customer{{ID: "tokyo", TimeZone: "Asia/Tokyo"}, {ID: "paris"}} {
		c.Email = c.ID + "@example.com"
		_, err := g.s.UpsertCustomer(ctx, c)
		require.NoError(t, err)
	}
	plan, _ := g.r.Catalog.Get("monday")
	entered := func(at string) []string {
		t.Helper()
		asOf, err := time.Parse(time.RFC3339, at)
		require.NoError(t, err)
		before := len(g.tc.startList())
		_, err = g.r.EnterAudience(ctx, plan, router.AudienceRun{EntryKey: workflows.AudienceEntryKey(asOf), AsOf: asOf}, nil)
		require.NoError(t, err)
		var out []string
		for _, s := range g.tc.startList()[before:] {
			out = append(out, s.Input.CustomerID+" "+s.Input.EntryKey)
		}
		return out
	}
	assert.Equal(t, []string{"tokyo audience-20270104T0900L"}, entered("2027-01-04T00:00:00Z"))
	assert.Empty(t, entered("2027-01-04T00:15:00Z"))
	assert.Equal(t, []string{"paris audience-20270104T0900L"}, entered("2027-01-04T08:00:00Z"), "no zone and no country: the default zone")
	assert.ElementsMatch(t, []string{"c_1 audience-20270104T0900L", "c_2 audience-20270104T0900L"}, entered("2027-01-04T09:00:00Z"))
	assert.Empty(t, entered("2027-01-05T09:00:00Z"), "Tuesday")
}
