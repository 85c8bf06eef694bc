package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/rapporthq/rapport/internal/api/wire"
	"github.com/spf13/cobra"
)

func newCustomersEraseCmd(base *apiTarget) *cobra.Command {
	var reason string
	var noWait bool
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "erase ID --reason TEXT",
		Short: "Erase a customer: end their journeys and remove their personal data (GDPR art. 17, CCPA delete)",
		Long: `Erase ends every running journey of the customer (as exited, "customer
erased"), deletes their journeys' executions from Temporal, and removes
their personal data from every table of the database. The outbox keeps
counts without content, and suppressed addresses stay suppressed as keyed
hashes. An erasure record (who, when, why) is kept.

From the moment it is asked for, events for the customer answer 410 Gone,
until the customer is created again (a new customer, with none of the old
history). Asking again is safe: an erasure under way is resumed, not
repeated. The API key needs the erase scope.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if reason == "" {
				return errors.New("--reason is required: say why the customer is erased (\"asked by email on 3 May\"); it is kept with the erasure record")
			}
			api := newAPIClient(*base)
			path := "/v1/customers/" + url.PathEscape(args[0])
			var st wire.Erasure
			code, err := api.do(cmd.Context(), http.MethodDelete, path, nil, wire.EraseRequest{Reason: reason}, &st)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if code == http.StatusOK && st.Status == wire.ErasureDone {
				fmt.Fprintf(out, "%s was erased already (%s, by %s)\n", args[0], st.CompletedAt.Local().Format("2006-01-02 15:04"), st.RequestedBy)
				return nil
			}
			fmt.Fprintf(out, "erasing %s (erasure %d, asked by %s)\n", args[0], st.ID, st.RequestedBy)
			if noWait {
				fmt.Fprintf(out, "not waiting; follow it with GET %s/erasure\n", path)
				return nil
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
			defer cancel()
			stage := ""
			for {
				if st.Stage != stage {
					stage = st.Stage
					fmt.Fprintf(out, "  %s\n", stage)
				}
				switch st.Status {
				case wire.ErasureDone:
					fmt.Fprintf(out, "erased %s: %s exited, %s deleted from Temporal, %s removed or emptied\n", args[0],
						plural(st.RunsExited, "running journey", "running journeys"), plural(st.ExecutionsDeleted, "execution", "executions"),
						plural(int(st.RowsRemoved), "row", "rows"))
					return nil
				case wire.ErasureFailed:
					return fmt.Errorf("the erasure of %s stopped: %s", args[0], st.Error)
				}
				select {
				case <-ctx.Done():
					return fmt.Errorf("the erasure of %s is still under way after %s (at: %s); it goes on by itself, follow it with GET %s/erasure", args[0], timeout, stage, path)
				case <-time.After(300 * time.Millisecond):
				}
				if _, err := api.do(ctx, http.MethodGet, path+"/erasure", nil, nil, &st); err != nil && ctx.Err() == nil {
					return err
				}
			}
		},
	}
	cmd.Flags().StringVar(&reason, "reason", "", "why the customer is erased (required, kept with the erasure record)")
	cmd.Flags().BoolVar(&noWait, "no-wait", false, "return once the erasure is under way")
	cmd.Flags().DurationVar(&timeout, "timeout", 10*time.Minute, "how long to wait for the erasure to finish")
	return cmd
}
