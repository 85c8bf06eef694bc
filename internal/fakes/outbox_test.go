package fakes

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestOutboxFollowsNewMessages(t *testing.T) {
	f := New(Config{SendGridAPIKey: "SG.k"})
	ok := `{"personalizations":[{"to":[{"email":"a@example.com"}]}],"from":{"email":"s@shop.example"},"subject":"Hi","content":[{"type":"text/plain","value":"x"}]}`
	for range 3 {
		resp, body := post(t, f, "Bearer SG.k", ok)
		require.Equal(t, 202, resp.StatusCode, body)
	}
	h := OutboxHandler(f.Recorder, nil, nil)
	get := func(query string) (int, []Message) {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/dev/outbox.json"+query, nil))
		var msgs []Message
		if rec.Code == http.StatusOK {
			require.NoError(t, json.NewDecoder(rec.Body).Decode(&msgs))
		}
		return rec.Code, msgs
	}
	seqs := func(msgs []Message) []int {
		var out []int
		for _, m := range msgs {
			out = append(out, m.Seq)
		}
		return out
	}
	_, all := get("")
	assert.Equal(t, []int{3, 2, 1}, seqs(all), "newest first")
	_, after := get("?after=1")
	assert.Equal(t, []int{3, 2}, seqs(after))
	_, none := get("?after=3")
	assert.Empty(t, none)
	_, none = get("?after=99")
	assert.Empty(t, none)
	code, _ := get("?after=x")
	assert.Equal(t, http.StatusBadRequest, code)
}

// The page lists what was not sent, with why, after what the fakes took.
func TestOutboxPageListsWhatWasNotSent(t *testing.T) {
	f := New(Config{SendGridAPIKey: "SG.k"})
	at := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	h := OutboxHandler(f.Recorder, nil, func(context.Context) []Unsent {
		return []Unsent{{Channel: "email", Status: "skipped", Reason: "no email address", CustomerID: "c_9", Journey: "thank-you", Step: "thank_you", Template: "thank-you", At: at}}
	})
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/dev/outbox", nil))
	require.Equal(t, http.StatusOK, rec.Code)
	page := rec.Body.String()
	assert.Contains(t, page, `<h2 id="not-sent">Not sent</h2>`)
	assert.Regexp(t, `<td>skipped</td><td>email</td><td>c_9</td><td>thank-you, thank_you</td><td>thank-you</td><td>no email address</td>`, page)

	rec = httptest.NewRecorder()
	OutboxHandler(f.Recorder, nil, nil).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/dev/outbox", nil))
	assert.NotContains(t, rec.Body.String(), "Not sent", "no section without a lister")
}
