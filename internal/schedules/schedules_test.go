package schedules

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/rapporthq/rapport/internal/devstack"
	"github.com/rapporthq/rapport/internal/journey"
	"github.com/rapporthq/rapport/internal/lanes"
	"github.com/rapporthq/rapport/workflows"
)

func audiencePlan(t *testing.T, name, cron string) *journey.Plan {
	t.Helper()
	comp, err := journey.NewCompiler(journey.Options{})
	require.NoError(t, err)
	p, diags := comp.Compile(name+".yaml", fmt.Appendf(nil, `
journey: %s
topic: offers
trigger:
  audience: days_since_last_order >= 90
  schedule: %q
  time_zone: Europe/London
steps:
  - {id: offer, send: {channel: email, template: winback-offer}}
`, name, cron))
	require.False(t, diags.HasErrors(), diags.Error())
	return p
}

// Sync against a real Temporal server: it creates a schedule per
// scheduled audience journey, leaves it alone when nothing changed,
// replaces it when its cron changed, removes the schedules of journeys
// gone, and never touches a schedule that is not Rapport's.
func TestSyncKeepsSchedulesInStepWithTheJourneys(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	srv, err := devstack.StartTemporal(ctx, devstack.TemporalOptions{UIPort: -1, LogLevel: 100})
	require.NoError(t, err)
	t.Cleanup(srv.Stop)
	c, err := client.Dial(client.Options{HostPort: srv.Address(), Namespace: srv.Namespace()})
	require.NoError(t, err)
	defer c.Close()

	_, err = c.ScheduleClient().Create(ctx, client.ScheduleOptions{ID: "someone-elses", Spec: client.ScheduleSpec{CronExpressions: []string{"0 1 * * *"}},
		Action: &client.ScheduleWorkflowAction{ID: "x", Workflow: "Other", TaskQueue: "other"}})
	require.NoError(t, err)

	catalog := func(plans ...*journey.Plan) *journey.Catalog {
		cat, err := journey.NewCatalog(plans...)
		require.NoError(t, err)
		return cat
	}
	winback, weekly := audiencePlan(t, "winback", "0 9 * * *"), audiencePlan(t, "weekly", "0 8 * * 1")
	rep, err := Sync(ctx, c, catalog(winback, weekly), nil)
	require.NoError(t, err)
	assert.Equal(t, []string{ID("weekly"), ID("winback")}, rep.Created)

	rep, err = Sync(ctx, c, catalog(winback, weekly), nil)
	require.NoError(t, err)
	assert.Equal(t, []string{ID("weekly"), ID("winback")}, rep.Unchanged)
	assert.Empty(t, rep.Created)

	rep, err = Sync(ctx, c, catalog(audiencePlan(t, "winback", "30 9 * * *")), nil)
	require.NoError(t, err)
	assert.Equal(t, []string{ID("winback")}, rep.Updated)
	assert.Equal(t, []string{ID("weekly")}, rep.Deleted)

	desc, err := c.ScheduleClient().GetHandle(ctx, ID("winback")).Describe(ctx)
	require.NoError(t, err)
	// The server keeps a cron as a calendar: 09:30.
	require.Len(t, desc.Schedule.Spec.Calendars, 1, "%+v", desc.Schedule.Spec)
	cal := desc.Schedule.Spec.Calendars[0]
	assert.Equal(t, 30, cal.Minute[0].Start)
	assert.Equal(t, 9, cal.Hour[0].Start)
	assert.Equal(t, "Europe/London", desc.Schedule.Spec.TimeZoneName)
	act := desc.Schedule.Action.(*client.ScheduleWorkflowAction)
	assert.Equal(t, workflows.AudienceWorkflowName, act.Workflow.(string))
	// The scan runs in the lane of the runs it enters, with the scans'
	// fairness key; its activities inherit it.
	assert.Equal(t, temporal.Priority{PriorityKey: 4, FairnessKey: lanes.ScanKey}, act.Priority)
	high := audiencePlan(t, "winback", "30 9 * * *")
	high.Priority = journey.PriorityHigh
	rep, err = Sync(ctx, c, catalog(high), nil)
	require.NoError(t, err)
	assert.Equal(t, []string{ID("winback")}, rep.Updated, "a journey's priority moves its scans to another lane")
	desc, err = c.ScheduleClient().GetHandle(ctx, ID("winback")).Describe(ctx)
	require.NoError(t, err)
	assert.Equal(t, temporal.Priority{PriorityKey: 2, FairnessKey: lanes.ScanKey}, desc.Schedule.Action.(*client.ScheduleWorkflowAction).Priority)

	ids, err := List(ctx, c)
	require.NoError(t, err)
	assert.Equal(t, []string{ID("winback")}, ids, "Rapport's schedules only")
	_, err = c.ScheduleClient().GetHandle(ctx, "someone-elses").Describe(ctx)
	assert.NoError(t, err, "a schedule that is not Rapport's is left alone")

	// A date trigger is scanned every quarter of an hour in UTC; the scan
	// enters those whose local moment has come.
	comp, err := journey.NewCompiler(journey.Options{})
	require.NoError(t, err)
	renewal, diags := comp.Compile("renewal.yaml", []byte("journey: renewal\ntopic: renewals\ntrigger: {date: customer.attributes.renewal_date, offset: -7d}\nsteps: [{exit: done}]\n"))
	require.False(t, diags.HasErrors(), diags.Error())
	rep, err = Sync(ctx, c, catalog(audiencePlan(t, "winback", "30 9 * * *"), renewal), nil)
	require.NoError(t, err)
	assert.Equal(t, []string{ID("renewal")}, rep.Created)
	desc, err = c.ScheduleClient().GetHandle(ctx, ID("renewal")).Describe(ctx)
	require.NoError(t, err)
	require.Len(t, desc.Schedule.Spec.Calendars, 1, "%+v", desc.Schedule.Spec)
	assert.Equal(t, 15, desc.Schedule.Spec.Calendars[0].Minute[0].Step, "%+v", desc.Schedule.Spec.Calendars[0].Minute)
	assert.Empty(t, desc.Schedule.Spec.TimeZoneName)
	renewal.Trigger.At = "10:00"
	rep, err = Sync(ctx, c, catalog(audiencePlan(t, "winback", "30 9 * * *"), renewal), nil)
	require.NoError(t, err)
	assert.Equal(t, []string{ID("renewal")}, rep.Updated, "its memo says what it enters by")

	require.NoError(t, Trigger(ctx, c, "winback"))
	assert.Error(t, Trigger(ctx, c, "no-such-journey"))
}
