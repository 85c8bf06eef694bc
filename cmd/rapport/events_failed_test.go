package main

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rapporthq/rapport/internal/store"
	"github.com/rapporthq/rapport/internal/store/storetest"
)

func TestEventsFailedAndRetry(t *testing.T) {
	s, url := storetest.New(t)
	t.Setenv("DATABASE_URL", url)
	ctx := context.Background()
	_, err := s.UpsertCustomer(ctx, store.Customer{ID: "c_1", TimeZone: "UTC"})
	require.NoError(t, err)
	for _, id := range []string{"e1", "e2", "e3"} {
		_, _, err := s.RecordEvent(ctx, store.Event{ID: id, Type: "page.viewed", CustomerID: "c_1", OccurredAt: time.Now(), Data: json.RawMessage(`{}`)}, nil)
		require.NoError(t, err)
	}

	out, _, err := run("events", "failed")
	require.NoError(t, err)
	assert.Equal(t, "no failed events\n", out)

	b := store.RoutingBackoff{Base: time.Second, Max: time.Second, MaxAttempts: 2}
	for _, id := range []string{"e1", "e2"} {
		for range 2 {
			_, err := s.RecordRoutingFailure(ctx, id, "event "+id+" data.order: json: cannot unmarshal\nstring", b)
			require.NoError(t, err)
		}
	}
	out, _, err = run("events", "failed")
	require.NoError(t, err)
	assert.Contains(t, out, "EVENT")
	assert.Regexp(t, `e1\s+page.viewed\s+c_1\s+2\s+\S+ \S+\s+event e1 data.order: json: cannot unmarshal string\n`, out)
	assert.Contains(t, out, "e2 ")
	assert.NotContains(t, out, "e3")
	assert.Contains(t, out, "2 failed events; route them again")

	_, _, err = run("events", "retry")
	assert.ErrorContains(t, err, "--all-failed")
	out, _, err = run("events", "retry", "e1", "e3")
	assert.Error(t, err, "e3 was not failed")
	assert.Contains(t, out, "1 event queued for routing again")
	assert.Contains(t, out, "not failed (unknown, routed, or not dead-lettered): e3")
	out, _, err = run("events", "retry", "--all-failed")
	require.NoError(t, err)
	assert.Contains(t, out, "1 event queued")
	out, _, err = run("events", "failed", "--json")
	require.NoError(t, err)
	assert.Equal(t, "[]\n", out)
}
