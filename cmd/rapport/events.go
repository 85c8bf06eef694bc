package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/rapporthq/rapport/internal/api/wire"
	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"golang.org/x/term"
)

func newEventsCmd() *cobra.Command {
	var base apiTarget
	cmd := &cobra.Command{Use: "events", Short: "Send events to Rapport"}
	addAPIFlag(cmd, &base)
	var batch int
	var quiet bool
	send := &cobra.Command{
		Use:   "send FILE.jsonl",
		Short: "Stream a file of events (one JSON object per line) through the API",
		Long: `Send reads events, one JSON object per line (- reads standard input), and
posts them to POST /v1/events in batches. Each event is stored before the
API answers, so an interrupted send can simply be run again: events
already received come back as duplicates. It shows a progress bar and
ends with a summary; lines the API rejects are listed with their line
number and the field at fault, and make the command exit with status 1.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if batch < 1 || batch > 1000 {
				return fmt.Errorf("--batch must be from 1 to 1000, not %d", batch)
			}
			in, size, err := openInput(args[0])
			if err != nil {
				return err
			}
			defer in.Close()
			bar := progressbar.NewOptions64(size,
				progressbar.OptionSetWriter(cmd.ErrOrStderr()),
				progressbar.OptionSetDescription("sending events"),
				progressbar.OptionShowBytes(true),
				progressbar.OptionShowCount(),
				progressbar.OptionThrottle(100*time.Millisecond),
				progressbar.OptionSetVisibility(!quiet && isTerminal(cmd.ErrOrStderr())),
				progressbar.OptionOnCompletion(func() { fmt.Fprintln(cmd.ErrOrStderr()) }),
			)
			sum, err := sendEvents(cmd, newAPIClient(base), io.TeeReader(in, bar), batch)
			_ = bar.Finish()
			out := cmd.OutOrStdout()
			for _, r := range sum.rejected {
				fmt.Fprintf(out, "%s:%d: %s\n", args[0], r.line, r.message)
			}
			fmt.Fprintf(out, "%s in %s (%.0f/s): %d accepted, %s, %d rejected\n",
				plural(sum.read, "event", "events"), sum.elapsed.Round(time.Millisecond), float64(sum.read)/max(sum.elapsed.Seconds(), 0.001),
				sum.accepted, plural(sum.duplicates, "duplicate", "duplicates"), len(sum.rejected))
			if err != nil {
				return err
			}
			if len(sum.rejected) > 0 {
				return &exitError{code: 1}
			}
			return nil
		},
	}
	send.Flags().IntVar(&batch, "batch", 500, "events per request (at most 1000)")
	send.Flags().BoolVarP(&quiet, "quiet", "q", false, "no progress bar")
	cmd.AddCommand(send, newEventsFailedCmd(), newEventsRetryCmd())
	return cmd
}

// openInput opens a file, or standard input for -, with its size when
// known (-1 otherwise).
func openInput(path string) (io.ReadCloser, int64, error) {
	if path == "-" {
		return io.NopCloser(os.Stdin), -1, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, 0, err
	}
	return f, st.Size(), nil
}

// sendSummary counts what a send did: events read (non-empty lines),
// sent to the API, and what became of them.
type sendSummary struct {
	read, sent, accepted, duplicates int
	rejected                         []rejectedLine
	elapsed                          time.Duration
}

type rejectedLine struct {
	line    int
	message string
}

// sendEvents posts the events read from in, batch at a time. A line that
// is not JSON is reported as rejected without being sent.
func sendEvents(cmd *cobra.Command, api *apiClient, in io.Reader, batch int) (sum sendSummary, err error) {
	began := time.Now()
	defer func() { sum.elapsed = time.Since(began) }() // sum is the result: the caller sees it
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	var pending []json.RawMessage
	var lines []int
	flush := func() error {
		if len(pending) == 0 {
			return nil
		}
		var resp wire.BatchResponse
		if _, err := api.do(cmd.Context(), "POST", "/v1/events", nil, wire.EventBatch{Events: pending}, &resp); err != nil {
			return fmt.Errorf("events from line %d: %w", lines[0], err)
		}
		sum.sent += len(pending)
		sum.accepted += resp.Accepted
		sum.duplicates += resp.Duplicates
		for _, r := range resp.Results {
			if r.Status == wire.StatusRejected && r.Index >= 0 && r.Index < len(lines) {
				sum.rejected = append(sum.rejected, rejectedLine{line: lines[r.Index], message: r.Error})
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
		sum.read++
		if !json.Valid(line) {
			sum.rejected = append(sum.rejected, rejectedLine{line: n, message: "not a JSON object"})
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

// isTerminal reports whether w is a terminal (a progress bar would only
// clutter a log file or a pipe).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}
