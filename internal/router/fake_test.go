package router_test

import (
	"context"
	"sync"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	workflowpb "go.temporal.io/api/workflow/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"

	"github.com/rapporthq/rapport/internal/journey"
	"github.com/rapporthq/rapport/workflows"
)

// fakeTemporal is the part of Temporal's client the router calls (starts,
// signals, describe), kept in memory: it records what it was asked, and
// knows which workflows run. Any other call panics (the embedded nil
// client): the router must not make it.
type fakeTemporal struct {
	client.Client

	mu      sync.Mutex
	starts  []started
	signals []signalled
	running map[string]bool
	closed  map[string]enumspb.WorkflowExecutionStatus
	// appearAfter: a started workflow answers "not found" to this many
	// signals first, as one whose start is still on its way does.
	appearAfter map[string]int
	// fail, when set, is every call's answer.
	fail error
	// failAfter, when above 0, sets fail to failWith once that many
	// workflows have started.
	failAfter int
	failWith  error
	// afterStart, when set, is called with the number of workflows
	// started after each start.
	afterStart func(n int)
}

// started is a workflow start: by SignalWithStartWorkflow (Signal set)
// or ExecuteWorkflow.
type started struct {
	ID     string
	Signal string
	Event  journey.Event // the signal's argument
	Opts   client.StartWorkflowOptions
	Input  workflows.JourneyInput
}

type signalled struct {
	ID, Name string
	Event    journey.Event
}

func newFakeTemporal() *fakeTemporal {
	return &fakeTemporal{running: map[string]bool{}, closed: map[string]enumspb.WorkflowExecutionStatus{}, appearAfter: map[string]int{}}
}

func (f *fakeTemporal) ExecuteWorkflow(_ context.Context, o client.StartWorkflowOptions, wf any, args ...any) (client.WorkflowRun, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return nil, f.fail
	}
	if f.running[o.ID] {
		return nil, serviceerror.NewWorkflowExecutionAlreadyStarted("already started", "", "run")
	}
	f.running[o.ID] = true
	f.starts = append(f.starts, started{ID: o.ID, Opts: o, Input: args[0].(workflows.JourneyInput)})
	return fakeRun{id: o.ID}, nil
}

func (f *fakeTemporal) SignalWithStartWorkflow(_ context.Context, id, signal string, arg any, o client.StartWorkflowOptions, wf any, args ...any) (client.WorkflowRun, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return nil, f.fail
	}
	if f.running[id] { // Temporal signals a run under way
		f.signals = append(f.signals, signalled{ID: id, Name: signal, Event: arg.(journey.Event)})
		return fakeRun{id: id}, nil
	}
	f.running[id] = true
	f.starts = append(f.starts, started{ID: id, Signal: signal, Event: arg.(journey.Event), Opts: o, Input: args[0].(workflows.JourneyInput)})
	if f.failAfter > 0 && len(f.starts) >= f.failAfter {
		f.fail, f.failAfter = f.failWith, 0
	}
	if f.afterStart != nil {
		f.afterStart(len(f.starts))
	}
	return fakeRun{id: id}, nil
}

func (f *fakeTemporal) SignalWorkflow(_ context.Context, id, _ string, name string, arg any) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return f.fail
	}
	if f.appearAfter[id] > 0 {
		f.appearAfter[id]--
		return serviceerror.NewNotFound("workflow not found")
	}
	if !f.running[id] {
		return serviceerror.NewNotFound("workflow not found")
	}
	f.signals = append(f.signals, signalled{ID: id, Name: name, Event: arg.(journey.Event)})
	return nil
}

func (f *fakeTemporal) DescribeWorkflowExecution(_ context.Context, id, _ string) (*workflowservice.DescribeWorkflowExecutionResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return nil, f.fail
	}
	status, ok := f.closed[id]
	if !ok {
		return nil, serviceerror.NewNotFound("workflow not found")
	}
	return &workflowservice.DescribeWorkflowExecutionResponse{WorkflowExecutionInfo: &workflowpb.WorkflowExecutionInfo{Status: status}}, nil
}

// close ends a workflow in Temporal without the run recording its end.
func (f *fakeTemporal) close(id string, status enumspb.WorkflowExecutionStatus) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.running, id)
	f.closed[id] = status
}

// forget makes Temporal not know a workflow at all.
func (f *fakeTemporal) forget(id string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.running, id)
}

func (f *fakeTemporal) setFail(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fail = err
}

func (f *fakeTemporal) startedIDs() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	ids := make([]string, len(f.starts))
	for i, s := range f.starts {
		ids[i] = s.ID
	}
	return ids
}

func (f *fakeTemporal) startList() []started {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]started(nil), f.starts...)
}

func (f *fakeTemporal) signalList() []signalled {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]signalled(nil), f.signals...)
}

// fakeRun is the handle a start returns; the router only keeps its id.
type fakeRun struct {
	client.WorkflowRun
	id string
}

func (r fakeRun) GetID() string    { return r.id }
func (r fakeRun) GetRunID() string { return "run-of-" + r.id }
