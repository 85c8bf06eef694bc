package audit

import (
	"fmt"
	"io"
)

// Print writes the report for people (rapport audit): what was checked,
// what could not be, each violation, and the count of them.
func (rep Report) Print(out io.Writer) {
	fmt.Fprintf(out, "checked %s to %s: %d sent, %d held, %d skipped, %d failed; %s on record\n",
		plural(rep.Messages, "message", "messages"), plural(rep.Customers, "customer", "customers"),
		rep.ByStatus["sent"], rep.ByStatus["held"], rep.ByStatus["skipped"], rep.ByStatus["failed"], plural(rep.Holds, "hold", "holds"))
	if rep.Legacy > 0 {
		fmt.Fprintf(out, "%s sent before Rapport recorded contact decisions: not checked\n", plural(rep.Legacy, "message", "messages"))
	}
	if rep.NoContact > 0 {
		fmt.Fprintf(out, "%s to endpoints that do not contact the customer: not checked against the contact rules\n", plural(rep.NoContact, "webhook", "webhooks"))
	}
	if rep.ContentRemoved > 0 {
		fmt.Fprintf(out, "%s with content removed by retention: address suppressions not checked, the other rules were\n", plural(rep.ContentRemoved, "message", "messages"))
	}
	for _, v := range rep.Violations {
		fmt.Fprintln(out, v)
	}
	if len(rep.Violations) == 0 {
		fmt.Fprintln(out, "no message broke a rule")
	} else {
		fmt.Fprintf(out, "%s\n", plural(len(rep.Violations), "violation", "violations"))
	}
}

// plural is n and the word for it: one or many.
func plural(n int, one, many string) string {
	if n == 1 {
		return fmt.Sprintf("%d %s", n, one)
	}
	return fmt.Sprintf("%d %s", n, many)
}
