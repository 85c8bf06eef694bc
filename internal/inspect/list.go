package inspect

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"regexp"
	"strings"
	"text/tabwriter"
	"time"

	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"

	"github.com/rapporthq/rapport/workflows"
)

// RunList is what rapport runs list prints: how many runs a visibility
// query finds, and the latest of them.
type RunList struct {
	Query string      `json:"query"`
	Count int64       `json:"count"`
	Runs  []ListedRun `json:"runs"`
}

// ListedRun is one run in a run list.
type ListedRun struct {
	WorkflowID string    `json:"workflow_id"`
	Journey    string    `json:"journey"`
	PlanHash   string    `json:"plan_hash"`
	Step       string    `json:"step"`
	Status     string    `json:"status"`
	StartedAt  time.Time `json:"started_at"`
}

// RunsQuery builds a visibility query from checked values (a journey
// name, a hex hash and a status hold no quote): the runs of a journey, of
// a plan (a hash or its first 7 or more digits), running, ended or all.
func RunsQuery(journeyName, plan, status string) (string, error) {
	var parts []string
	if journeyName != "" {
		if !journeyNameRe.MatchString(journeyName) {
			return "", fmt.Errorf("--journey %q is not a journey name (lowercase letters, digits and dashes)", journeyName)
		}
		parts = append(parts, fmt.Sprintf("%s = '%s'", workflows.JourneyAttr.GetName(), journeyName))
	}
	if plan != "" {
		if !planHashRe.MatchString(plan) {
			return "", fmt.Errorf("--plan %q is not a plan hash: give 7 to 16 hex digits, as rapport validate prints it", plan)
		}
		if len(plan) == 16 {
			parts = append(parts, fmt.Sprintf("%s = '%s'", workflows.PlanHashAttr.GetName(), plan))
		} else {
			parts = append(parts, fmt.Sprintf("%s STARTS_WITH '%s'", workflows.PlanHashAttr.GetName(), plan))
		}
	}
	switch status {
	case "running":
		parts = append(parts, "ExecutionStatus = 'Running'")
	case "ended":
		parts = append(parts, "ExecutionStatus != 'Running'")
	case "all":
	default:
		return "", fmt.Errorf("--status must be running, ended or all, not %q", status)
	}
	if len(parts) == 0 {
		parts = append(parts, fmt.Sprintf("%s IS NOT NULL", workflows.JourneyAttr.GetName()))
	}
	return strings.Join(parts, " AND "), nil
}

var (
	journeyNameRe = regexp.MustCompile(`^[a-z0-9]+(-[a-z0-9]+)*$`)
	planHashRe    = regexp.MustCompile(`^[0-9a-f]{7,16}$`)
)

// ListRuns counts the runs the query finds and lists the latest of them,
// at most limit (0: only count them).
func ListRuns(ctx context.Context, c client.Client, namespace, query string, limit int) (RunList, error) {
	count, err := c.CountWorkflow(ctx, &workflowservice.CountWorkflowExecutionsRequest{Namespace: namespace, Query: query})
	if err != nil {
		return RunList{}, fmt.Errorf("count runs (%s): %w", query, err)
	}
	list := RunList{Query: query, Count: count.GetCount(), Runs: []ListedRun{}}
	if limit <= 0 {
		return list, nil
	}
	resp, err := c.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{Namespace: namespace, Query: query, PageSize: int32(min(limit, 1000))})
	if err != nil {
		return list, fmt.Errorf("list runs (%s): %w", query, err)
	}
	for _, e := range resp.GetExecutions() {
		if len(list.Runs) == limit {
			break
		}
		sa := e.GetSearchAttributes()
		list.Runs = append(list.Runs, ListedRun{
			WorkflowID: e.GetExecution().GetWorkflowId(),
			Journey:    keyword(sa, workflows.JourneyAttr.GetName()),
			PlanHash:   keyword(sa, workflows.PlanHashAttr.GetName()),
			Step:       keyword(sa, workflows.StepAttr.GetName()),
			Status:     cmp.Or(keyword(sa, workflows.StatusAttr.GetName()), strings.ToLower(strings.TrimPrefix(e.GetStatus().String(), "WORKFLOW_EXECUTION_STATUS_"))),
			StartedAt:  e.GetStartTime().AsTime(),
		})
	}
	return list, nil
}

// Print writes the list for people to read.
func (l RunList) Print(w io.Writer) {
	fmt.Fprintf(w, "%s (%s)\n", plural(int(l.Count), "run", "runs"), l.Query)
	if len(l.Runs) == 0 {
		return
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "WORKFLOW ID\tPLAN\tSTEP\tSTATUS\tSTARTED")
	for _, r := range l.Runs {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", r.WorkflowID, r.PlanHash[:min(7, len(r.PlanHash))], cmp.Or(r.Step, "-"), r.Status, r.StartedAt.UTC().Format("2006-01-02 15:04"))
	}
	tw.Flush()
	if int64(len(l.Runs)) < l.Count {
		fmt.Fprintf(w, "(the latest %d; --limit shows more)\n", len(l.Runs))
	}
}
