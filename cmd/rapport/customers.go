package main

import (
	"fmt"
	"net/url"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/rapporthq/rapport/internal/api/wire"
	"github.com/spf13/cobra"
)

func newCustomersCmd() *cobra.Command {
	var base apiTarget
	cmd := &cobra.Command{Use: "customers", Short: "Look up customers"}
	addAPIFlag(cmd, &base)
	var asJSON bool
	show := &cobra.Command{
		Use:   "show ID",
		Short: "Show a customer's preferences, consent history and suppressions",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			api := newAPIClient(base)
			var c wire.Customer
			if _, err := api.do(cmd.Context(), "GET", "/v1/customers/"+url.PathEscape(args[0]), nil, nil, &c); err != nil {
				return err
			}
			var p wire.Preferences
			if _, err := api.do(cmd.Context(), "GET", "/v1/customers/"+url.PathEscape(args[0])+"/preferences", url.Values{"history": {"1"}}, nil, &p); err != nil {
				return err
			}
			if asJSON {
				// The API's two answers, as it gave them.
				return printJSON(cmd, customerShown{Customer: c, Preferences: p})
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "%s  %s\n", c.ID, c.Name)
			fmt.Fprintf(out, "  email %s  phone %s  locale %s\n", orDash(c.Email), orDash(c.Phone), orDash(c.Locale))
			fmt.Fprintf(out, "  time zone %s (from the %s)\n\n", p.TimeZone, p.TimeZoneSource)
			tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "CHANNEL\tCONSENT\tSINCE\tQUIET HOURS")
			for _, ch := range []string{"email", "sms", "mail", "phone"} {
				v := p.Channels[ch]
				since := "-"
				if v.RecordedAt != nil {
					since = v.RecordedAt.Local().Format("2006-01-02 15:04") + " (" + v.Source + ")"
				}
				quiet := "none"
				if v.QuietHours != nil {
					quiet = v.QuietHours.Start + "-" + v.QuietHours.End
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s (%s)\n", ch, v.Consent, since, quiet, v.QuietSource)
			}
			tw.Flush()
			var topics []string
			for t, on := range p.Topics {
				mark := "yes"
				if !on {
					mark = "no"
				}
				topics = append(topics, t+": "+mark)
			}
			fmt.Fprintf(out, "\ntopics: %s\n", strings.Join(sortedStrings(topics), ", "))
			var caps []string
			for _, c := range p.Frequency.Caps {
				caps = append(caps, fmt.Sprintf("%d per %s (%s)", c.Max, c.Per, c.Channel))
			}
			fmt.Fprintf(out, "frequency: %s (%s)\n", strings.Join(caps, ", "), p.Frequency.Source)
			if len(p.ChannelOrder) > 0 {
				fmt.Fprintf(out, "preferred channels: %s\n", strings.Join(p.ChannelOrder, ", "))
			}
			fmt.Fprintln(out, "\nsuppressed addresses:")
			if len(p.Suppressions) == 0 {
				fmt.Fprintln(out, "  none")
			}
			for _, s := range p.Suppressions {
				fmt.Fprintf(out, "  %s %s: %s (%s, %s)\n", s.Channel, s.Address, s.Reason, s.Source, s.CreatedAt.Local().Format("2006-01-02"))
			}
			fmt.Fprintln(out, "\nconsent history:")
			var history wire.History
			if p.History != nil {
				history = *p.History
			}
			if len(history.Consent) == 0 {
				fmt.Fprintln(out, "  none recorded")
			}
			for _, e := range history.Consent {
				fmt.Fprintf(out, "  %s  %-5s %-9s via %s%s\n", e.RecordedAt.Local().Format("2006-01-02 15:04:05"), e.Channel, e.State, e.Source, evidence(e.Evidence))
			}
			if len(history.Topics) > 0 {
				fmt.Fprintln(out, "\ntopic history:")
			}
			for _, e := range history.Topics {
				state := "subscribed"
				if !e.Subscribed {
					state = "left"
				}
				fmt.Fprintf(out, "  %s  %s %s via %s%s\n", e.RecordedAt.Local().Format("2006-01-02 15:04:05"), e.Topic, state, e.Source, evidence(e.Evidence))
			}
			return nil
		},
	}
	show.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	cmd.AddCommand(show, newCustomersEraseCmd(&base))
	cmd.AddCommand(newCustomersExportCmd(&base))
	return cmd
}

// customerShown is what `rapport customers show --json` prints: the
// API's answers to GET /v1/customers/{id} and GET
// /v1/customers/{id}/preferences?history=1, unchanged.
type customerShown struct {
	Customer    wire.Customer    `json:"customer"`
	Preferences wire.Preferences `json:"preferences"`
}

func evidence(e wire.Evidence) string {
	var parts []string
	if e.IP != "" {
		parts = append(parts, "IP "+e.IP)
	}
	if e.Shown != "" {
		parts = append(parts, "shown: "+e.Shown)
	}
	if e.Note != "" {
		parts = append(parts, e.Note)
	}
	if len(parts) == 0 {
		return ""
	}
	return " (" + strings.Join(parts, "; ") + ")"
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func sortedStrings(s []string) []string {
	out := slices.Clone(s)
	slices.Sort(out)
	return out
}
