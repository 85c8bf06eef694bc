package main

import (
	"fmt"
	"io"
	"os"
	"time"

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
			sum, err := newAPIClient(base).SendEvents(cmd.Context(), io.TeeReader(in, bar), batch)
			_ = bar.Finish()
			out := cmd.OutOrStdout()
			for _, r := range sum.Rejected {
				fmt.Fprintf(out, "%s:%d: %s\n", args[0], r.Line, r.Message)
			}
			fmt.Fprintf(out, "%s in %s (%.0f/s): %d accepted, %s, %d rejected\n",
				plural(sum.Read, "event", "events"), sum.Elapsed.Round(time.Millisecond), float64(sum.Read)/max(sum.Elapsed.Seconds(), 0.001),
				sum.Accepted, plural(sum.Duplicates, "duplicate", "duplicates"), len(sum.Rejected))
			if err != nil {
				return err
			}
			if len(sum.Rejected) > 0 {
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

// isTerminal reports whether w is a terminal (a progress bar would only
// clutter a log file or a pipe).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}
