//go:build !race

package lanes_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	commandpb "go.temporal.io/api/command/v1"
	enumspb "go.temporal.io/api/enums/v1"
	taskqueuepb "go.temporal.io/api/taskqueue/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/rapporthq/rapport/internal/devstack"
	"github.com/rapporthq/rapport/internal/journey"
	"github.com/rapporthq/rapport/internal/lanes"
	"github.com/rapporthq/rapport/internal/router"
	"github.com/rapporthq/rapport/workflows"
)

// The journeys the runs below belong to: a transactional one an order
// starts, and two marketing ones audiences enter.
var (
	thankYou = &journey.Plan{Journey: "thank-you", Purpose: journey.Transactional}
	winback  = &journey.Plan{Journey: "lapse-winback", Purpose: journey.Marketing}
	birthday = &journey.Plan{Journey: "birthday", Purpose: journey.Marketing}
)

// laneOf is the activity of askLane: the lane its task came in.
func laneOf(ctx context.Context) (temporal.Priority, error) {
	return activity.GetInfo(ctx).Priority, nil
}

// askLane runs laneOf with no priority of its own.
func askLane(ctx workflow.Context) (temporal.Priority, error) {
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{StartToCloseTimeout: time.Minute})
	var p temporal.Priority
	err := workflow.ExecuteActivity(ctx, laneOf).Get(ctx, &p)
	return p, err
}

// TestLanesOnTheEmbeddedServer starts a burst of audience runs with the
// options the router gives them on the embedded server (its lane
// settings, as rapport dev has them) while no worker polls, waits until
// the task queue holds their workflow tasks, starts a run of another
// journey, then takes the tasks one at a time as a worker does and counts
// the order they come in. (The server hands the tasks of runs started
// together to the task queue a batch at a time, in no fixed order; so the
// late run starts once the burst is in.) Priority is enforced within a
// partition of a task queue, and tasks spread over a queue's partitions
// at random, so the server here gives each queue one partition: the
// order is then exact.
func TestLanesOnTheEmbeddedServer(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	attrs := map[string]enumspb.IndexedValueType{}
	for _, a := range workflows.SearchAttributes {
		attrs[a.GetName()] = enumspb.INDEXED_VALUE_TYPE_KEYWORD
	}
	srv, err := devstack.StartTemporal(ctx, devstack.TemporalOptions{UIPort: -1, LogLevel: 100, SearchAttributes: attrs,
		Dynamic: map[string]any{"matching.numTaskqueueReadPartitions": 1, "matching.numTaskqueueWritePartitions": 1,
			// The task queue's backlog, which the test waits on, is read
			// again every 100ms, not every 5s.
			"matching.TaskQueueInfoByBuildIdTTL": 100 * time.Millisecond}})
	require.NoError(t, err)
	t.Cleanup(srv.Stop)
	c, err := client.Dial(client.Options{HostPort: srv.Address(), Namespace: srv.Namespace()})
	require.NoError(t, err)
	t.Cleanup(c.Close)
	const burst = 40

	t.Run("a transactional run goes before an audience's burst", func(t *testing.T) {
		q := "lanes-priority"
		startRuns(t, ctx, c, q, winback, lanes.Bulk, burst)
		waitBacklog(t, ctx, c, q, burst)
		thanks := startRuns(t, ctx, c, q, thankYou, lanes.Event, 1)[0]
		order := dispatchOrder(t, ctx, c, q, burst+1)
		assert.Equal(t, 0, slices.Index(order, thanks), "audience runs before the thank-you; order %v", order)
	})

	t.Run("without lanes it waits behind the burst", func(t *testing.T) {
		q := "lanes-off"
		startRuns(t, ctx, c, q, winback, -1, burst)
		waitBacklog(t, ctx, c, q, burst)
		thanks := startRuns(t, ctx, c, q, thankYou, -1, 1)[0]
		order := dispatchOrder(t, ctx, c, q, burst+1)
		assert.Equal(t, burst, slices.Index(order, thanks), "arrival order; order %v", order)
	})

	t.Run("journeys of a level share it", func(t *testing.T) {
		q := "lanes-fairness"
		startRuns(t, ctx, c, q, winback, lanes.Bulk, burst)
		waitBacklog(t, ctx, c, q, burst)
		birthdays := startRuns(t, ctx, c, q, birthday, lanes.Bulk, 5)
		order := dispatchOrder(t, ctx, c, q, burst+5)
		// One journey's task, then the other's, while both have some:
		// the fifth birthday goes ninth or tenth, not last.
		last := 0
		for _, id := range birthdays {
			last = max(last, slices.Index(order, id))
		}
		assert.LessOrEqual(t, last, 9, "order %v", order)
	})

	t.Run("activities inherit the run's lane", func(t *testing.T) {
		// An activity handed to the worker with its workflow task's
		// completion (eagerly, when the worker has a free slot) never
		// waits in the queue; one that waits there, as sends after an
		// outage, a hold or a worker's restart do, has the run's lane.
		q := "lanes-activities"
		w := worker.New(c, q, worker.Options{DisableEagerActivities: true})
		w.RegisterWorkflowWithOptions(askLane, workflow.RegisterOptions{Name: "AskLane"})
		w.RegisterActivity(laneOf)
		require.NoError(t, w.Start())
		defer w.Stop()
		opts := router.StartOptions("lanes/ask", thankYou, "c_1", journey.Event{ID: "e1", Type: "order.placed"}, lanes.Event)
		opts.TaskQueue = q
		run, err := c.ExecuteWorkflow(ctx, opts, "AskLane")
		require.NoError(t, err)
		var got temporal.Priority
		require.NoError(t, run.Get(ctx, &got))
		assert.Equal(t, 1, got.PriorityKey)
		assert.Equal(t, "thank-you", got.FairnessKey)
	})
}

// startRuns starts n runs of the plan on task queue q with the options
// the router gives a run of this origin (o < 0: no lane, as before
// lanes) and returns their ids.
func startRuns(t *testing.T, ctx context.Context, c client.Client, q string, plan *journey.Plan, o lanes.Origin, n int) []string {
	t.Helper()
	var ids []string
	for i := range n {
		customer := fmt.Sprintf("c_%d", i)
		id := fmt.Sprintf("%s/%s/%s", q, plan.Journey, customer)
		opts := router.StartOptions(id, plan, customer, journey.Event{ID: "e-" + customer, Type: "audience"}, max(o, 0))
		opts.TaskQueue = q
		if o < 0 {
			opts.Priority = temporal.Priority{}
		}
		_, err := c.ExecuteWorkflow(ctx, opts, "Probe") // no worker runs it: the test takes its task
		require.NoError(t, err)
		ids = append(ids, id)
	}
	return ids
}

// waitBacklog waits until task queue q holds n workflow tasks (starting
// a run hands its task to the queue a moment later).
func waitBacklog(t *testing.T, ctx context.Context, c client.Client, q string, n int) {
	t.Helper()
	require.Eventually(t, func() bool {
		resp, err := c.WorkflowService().DescribeTaskQueue(ctx, &workflowservice.DescribeTaskQueueRequest{Namespace: "default",
			TaskQueue: &taskqueuepb.TaskQueue{Name: q, Kind: enumspb.TASK_QUEUE_KIND_NORMAL}, TaskQueueType: enumspb.TASK_QUEUE_TYPE_WORKFLOW, ReportStats: true})
		return err == nil && resp.GetStats().GetApproximateBacklogCount() >= int64(n)
	}, 2*time.Minute, 50*time.Millisecond, "%d workflow tasks never reached the task queue", n)
}

// dispatchOrder waits until task queue q holds n workflow tasks, then
// polls it as a worker does, one task at a time, completing each run, and
// returns the runs in the order the server handed out their tasks.
func dispatchOrder(t *testing.T, ctx context.Context, c client.Client, q string, n int) []string {
	t.Helper()
	waitBacklog(t, ctx, c, q, n)
	tq := &taskqueuepb.TaskQueue{Name: q, Kind: enumspb.TASK_QUEUE_KIND_NORMAL}
	complete := []*commandpb.Command{{CommandType: enumspb.COMMAND_TYPE_COMPLETE_WORKFLOW_EXECUTION,
		Attributes: &commandpb.Command_CompleteWorkflowExecutionCommandAttributes{CompleteWorkflowExecutionCommandAttributes: &commandpb.CompleteWorkflowExecutionCommandAttributes{}}}}
	var order []string
	for range n {
		task, err := c.WorkflowService().PollWorkflowTaskQueue(ctx, &workflowservice.PollWorkflowTaskQueueRequest{Namespace: "default", TaskQueue: tq, Identity: "lanes-test"})
		require.NoError(t, err)
		require.NotEmpty(t, task.GetTaskToken(), "a poll came back empty")
		order = append(order, task.GetWorkflowExecution().GetWorkflowId())
		_, err = c.WorkflowService().RespondWorkflowTaskCompleted(ctx, &workflowservice.RespondWorkflowTaskCompletedRequest{Namespace: "default",
			TaskToken: task.GetTaskToken(), Identity: "lanes-test", Commands: complete})
		require.NoError(t, err)
	}
	return order
}
