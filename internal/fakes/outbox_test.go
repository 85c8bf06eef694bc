package fakes

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

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
	h := OutboxHandler(f.Recorder, nil)
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
