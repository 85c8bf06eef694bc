package apiclient

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/rapporthq/rapport/internal/api/wire"
)

// SendSummary counts what SendEvents did: events read (non-empty lines),
// sent to the API, and what became of them.
type SendSummary struct {
	Read, Sent, Accepted, Duplicates int
	Rejected                         []RejectedLine
	Elapsed                          time.Duration
}

// RejectedLine is a line the API rejected, or that is not JSON, and why.
type RejectedLine struct {
	Line    int
	Message string
}

// SendEvents posts the events read from in, one JSON object a line, to
// POST /v1/events, batch at a time. A line that is not JSON is reported
// as rejected without being sent.
func (c *Client) SendEvents(ctx context.Context, in io.Reader, batch int) (sum SendSummary, err error) {
	began := time.Now()
	defer func() { sum.Elapsed = time.Since(began) }() // sum is the result: the caller sees it
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	var pending []json.RawMessage
	var lines []int
	flush := func() error {
		if len(pending) == 0 {
			return nil
		}
		var resp wire.BatchResponse
		if _, err := c.Do(ctx, "POST", "/v1/events", nil, wire.EventBatch{Events: pending}, &resp); err != nil {
			return fmt.Errorf("events from line %d: %w", lines[0], err)
		}
		sum.Sent += len(pending)
		sum.Accepted += resp.Accepted
		sum.Duplicates += resp.Duplicates
		for _, r := range resp.Results {
			if r.Status == wire.StatusRejected && r.Index >= 0 && r.Index < len(lines) {
				sum.Rejected = append(sum.Rejected, RejectedLine{Line: lines[r.Index], Message: r.Error})
			}
		}
		pending, lines = pending[:0], lines[:0]
		return nil
	}
	n := 0
	for sc.Scan() {
		n++
		line := sc.Bytes()
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		sum.Read++
		if !json.Valid(line) {
			sum.Rejected = append(sum.Rejected, RejectedLine{Line: n, Message: "not a JSON object"})
			continue
		}
		pending = append(pending, json.RawMessage(append([]byte(nil), line...)))
		lines = append(lines, n)
		if len(pending) == batch {
			if err := flush(); err != nil {
				return sum, err
			}
		}
	}
	if err := sc.Err(); err != nil {
		return sum, fmt.Errorf("line %d: %w", n+1, err)
	}
	return sum, flush()
}
