// Package fleet knows which interpreter revisions the workers polling
// Rapport's task queue can run, so that no worker records a revision some
// other worker of the fleet cannot run.
//
// A run records the interpreter revision it runs at once, when it starts
// (workflows.RevisionChange). Every worker replays every run, so a run
// recorded at a revision an older worker does not know fails its workflow
// tasks on that worker. Each worker therefore says in its Temporal identity
// which revision it can run (Identity), reads the identities of the
// workers polling the task queue from the Temporal server (Watcher), and
// records the newest revision all of them can run: during a rollout new
// workers record the old revision until the last old worker is gone, and
// during a rollback they go back to it as soon as an old worker polls
// again. Workers of releases before this rule do not say; they are taken
// to run LegacyRevision.
package fleet

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"slices"
	"strconv"
	"sync"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	taskqueuepb "go.temporal.io/api/taskqueue/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
)

// LegacyRevision is the newest interpreter revision a worker whose identity
// does not say can run: the releases before the fleet rule ran revisions 1
// to 3.
const LegacyRevision = 3

// DefaultInterval is how often a Watcher asks the server who polls.
const DefaultInterval = 15 * time.Second

// identitySuffix is how an identity says the newest revision its worker
// can run: " rapport-r4".
var identityRevision = regexp.MustCompile(` rapport-r([0-9]{1,4})$`)

// Identity is a worker identity (base, such as "1234@host") that says the
// newest interpreter revision the worker can run.
func Identity(base string, revision int) string {
	return fmt.Sprintf("%s rapport-r%d", base, revision)
}

// RevisionOf reads the revision an identity says its worker can run, and
// whether it said; an identity that does not say is LegacyRevision.
func RevisionOf(identity string) (int, bool) {
	m := identityRevision.FindStringSubmatch(identity)
	if m == nil {
		return LegacyRevision, false
	}
	n, err := strconv.Atoi(m[1])
	if err != nil || n < 1 {
		return LegacyRevision, false
	}
	return n, true
}

// Worker is one worker polling the task queue for workflow tasks.
type Worker struct {
	// Identity is the worker's Temporal identity.
	Identity string `json:"identity"`
	// Revision is the newest interpreter revision it can run; Reported
	// says whether its identity said so (else LegacyRevision).
	Revision int  `json:"revision"`
	Reported bool `json:"reported"`
	// LastPoll is when the server last saw it poll.
	LastPoll time.Time `json:"last_poll,omitzero"`
}

// View is what a Watcher last learned.
type View struct {
	// Known says whether the watcher has read the fleet at least once.
	Known bool `json:"known"`
	// Workers poll the task queue now (as the server remembers them: a
	// stopped worker stays listed for a few minutes, its poller history).
	Workers []Worker `json:"workers"`
	// Common is the newest revision every worker can run (0 when no
	// worker is listed).
	Common int `json:"common"`
	// Record is the revision runs starting on this worker record.
	Record int `json:"record"`
	// Why says in words why Record is what it is.
	Why string `json:"why"`
	// Partitions says where the workers were read from: "all" the task
	// queue's partitions, or "root" only (a server that cannot say more;
	// polls forwarded to the root show there too).
	Partitions string `json:"partitions,omitempty"`
	// At is when the fleet was last read; Err the last failure to read
	// it, if the last try failed.
	At  time.Time `json:"at,omitzero"`
	Err string    `json:"error,omitempty"`
}

// Describer reads a task queue's pollers: a Temporal client.
type Describer interface {
	DescribeTaskQueueEnhanced(ctx context.Context, options client.DescribeTaskQueueEnhancedOptions) (client.TaskQueueDescription, error)
	DescribeTaskQueue(ctx context.Context, taskQueue string, taskQueueType enumspb.TaskQueueType) (*workflowservice.DescribeTaskQueueResponse, error)
}

// Watcher follows the fleet and says which revision new runs on this
// worker record. It is safe for concurrent use.
type Watcher struct {
	// Client reads the task queue's pollers.
	Client Describer
	// TaskQueue is the queue the fleet polls.
	TaskQueue string
	// Own is the newest revision this worker can run
	// (workflows.CurrentRevision).
	Own int
	// Pin, above 0, caps what this worker records (RAPPORT_PIN_REVISION).
	Pin int
	// Interval is how often Run reads the fleet (0: DefaultInterval).
	Interval time.Duration
	// RaiseAfter is how long readings of the root partition alone (a
	// server that cannot list every partition's pollers) must keep
	// allowing a newer revision before this worker records it (0:
	// DefaultRaiseAfter; negative: at once): polls land on random
	// partitions, so an older worker may be missing from a few of them.
	// A reading of every partition lists every worker that polled in the
	// server's poller history (five minutes), and raises at once. Going
	// back to an older revision is always immediate.
	RaiseAfter time.Duration
	// Self is this worker's identity: until the server lists it, the
	// fleet is read every second rather than every Interval.
	Self string
	// Log receives changes of the recorded revision (nil: none).
	Log *slog.Logger

	mu      sync.Mutex
	view    View
	changed chan struct{} // closed and replaced when the view changes
	// A newer revision the fleet allows since raiseSince, not recorded
	// yet (see RaiseAfter).
	raiseTo    int
	raiseSince time.Time
}

// DefaultRaiseAfter is how long readings of the root partition alone
// must keep allowing a newer revision before a worker records it.
const DefaultRaiseAfter = 10 * time.Minute

// Revision is the revision runs starting on this worker record now: the
// newest every worker of the fleet can run, at most Own and Pin. Before
// the fleet was read once it is the older of Own and LegacyRevision, which
// every worker of any release since revisions can run.
func (w *Watcher) Revision() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.view.Known {
		return w.decide(0, false).Record
	}
	return w.view.Record
}

// View returns what the watcher last learned.
func (w *Watcher) View() View {
	w.mu.Lock()
	defer w.mu.Unlock()
	v := w.view
	if !v.Known {
		d := w.decide(0, false)
		v.Record, v.Why = d.Record, d.Why
	}
	v.Workers = slices.Clone(v.Workers)
	return v
}

// decide computes what to record from the fleet's common revision (0: no
// worker listed); known says whether the fleet was read at all.
func (w *Watcher) decide(common int, known bool) View {
	v := View{Known: known, Common: common, Record: w.Own}
	v.Why = fmt.Sprintf("every worker polling %s can run revision %d", w.TaskQueue, w.Own)
	switch {
	case !known:
		v.Record = min(w.Own, LegacyRevision)
		v.Why = "the fleet has not been read yet; revision " + strconv.Itoa(v.Record) + " is one every worker since revisions can run"
	case common == 0:
		v.Record = min(w.Own, LegacyRevision)
		v.Why = "no worker is listed as polling yet; revision " + strconv.Itoa(v.Record) + " is one every worker since revisions can run"
	case common < w.Own:
		v.Record = common
		v.Why = fmt.Sprintf("a worker polling %s runs at most revision %d (a rollout or rollback under way)", w.TaskQueue, common)
	}
	if w.Pin > 0 && w.Pin < v.Record {
		v.Record = w.Pin
		v.Why = fmt.Sprintf("pinned to revision %d (RAPPORT_PIN_REVISION)", w.Pin)
	}
	return v
}

// Refresh reads the fleet from the server once. A failure keeps what was
// known before (or the cautious default) and is returned.
func (w *Watcher) Refresh(ctx context.Context) error {
	workers, partitions, err := w.read(ctx)
	w.mu.Lock()
	defer w.mu.Unlock()
	if err != nil {
		w.view.Err = err.Error()
		return err
	}
	common := 0
	for _, wk := range workers {
		if common == 0 || wk.Revision < common {
			common = wk.Revision
		}
	}
	next := w.decide(common, true)
	next.Workers, next.At, next.Partitions = workers, time.Now(), partitions
	current := w.view.Record
	if !w.view.Known {
		current = w.decide(0, false).Record
	}
	switch wait := cmp.Or(w.RaiseAfter, DefaultRaiseAfter); {
	case next.Record <= current || wait < 0 || partitions == "all":
		w.raiseTo = 0
	default:
		if w.raiseTo != next.Record {
			w.raiseTo, w.raiseSince = next.Record, next.At
		}
		if since := next.At.Sub(w.raiseSince); since < wait {
			next.Why = fmt.Sprintf("revision %d once readings of the task queue's root partition have allowed it for %s (%s so far); until then revision %d", next.Record, wait, since.Round(time.Second), current)
			next.Record = current
		} else {
			w.raiseTo = 0
		}
	}
	if next.Record != w.view.Record && w.Log != nil {
		w.Log.Info("new runs record interpreter revision "+strconv.Itoa(next.Record), "why", next.Why, "workers", len(workers))
	}
	prev := w.view
	w.view = next
	if prev.Record != next.Record || prev.Known != next.Known {
		w.signal()
	}
	return nil
}

// Changed returns a channel closed at the next change of the recorded
// revision.
func (w *Watcher) Changed() <-chan struct{} {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.changed == nil {
		w.changed = make(chan struct{})
	}
	return w.changed
}

func (w *Watcher) signal() {
	if w.changed != nil {
		close(w.changed)
		w.changed = nil
	}
}

// Run reads the fleet every Interval until ctx ends.
func (w *Watcher) Run(ctx context.Context) {
	interval := w.Interval
	if interval <= 0 {
		interval = DefaultInterval
	}
	var failingSince time.Time
	told := false
	for {
		err := w.Refresh(ctx)
		switch {
		case err == nil:
			failingSince, told = time.Time{}, false
		case ctx.Err() != nil:
		case failingSince.IsZero():
			failingSince = time.Now()
			fallthrough
		default:
			if w.Log == nil {
				break
			}
			if !told && time.Since(failingSince) >= 5*time.Minute {
				told = true
				w.Log.Error("cannot read which workers poll the task queue for five minutes: new runs record revision "+strconv.Itoa(w.Revision())+
					" and runs are not moved to new plans until it can (the worker's Temporal credentials must allow DescribeTaskQueue)", "error", err)
			} else {
				w.Log.Warn("could not read which workers poll the task queue; keeping what was known", "error", err)
			}
		}
		next := interval
		if err == nil && w.Self != "" && !w.lists(w.Self) {
			next = min(interval, time.Second) // the server has not seen this worker poll yet
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(next):
		}
	}
}

// lists reports whether the last read listed the worker with identity id.
func (w *Watcher) lists(id string) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.ContainsFunc(w.view.Workers, func(wk Worker) bool { return wk.Identity == id })
}

// WaitFor waits until this worker records want (the whole fleet runs it),
// or ctx ends.
func (w *Watcher) WaitFor(ctx context.Context, want int) error {
	for {
		changed := w.Changed()
		if w.Revision() >= want {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-changed:
		}
	}
}

// read lists the workers polling the task queue for workflow tasks: every
// partition of it where the server can say (DescribeTaskQueueEnhanced),
// else the root partition, where polls of the others are forwarded too.
func (w *Watcher) read(ctx context.Context) ([]Worker, string, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	var pollers []*taskqueuepb.PollerInfo
	desc, err := w.Client.DescribeTaskQueueEnhanced(ctx, client.DescribeTaskQueueEnhancedOptions{
		TaskQueue: w.TaskQueue, TaskQueueTypes: []client.TaskQueueType{client.TaskQueueTypeWorkflow}, ReportPollers: true,
	})
	if err == nil {
		var out []Worker
		//lint:ignore SA1019 VersioningInfo holds no pollers; unversioned workers are listed here
		for _, v := range desc.VersionsInfo {
			for _, p := range v.TypesInfo[client.TaskQueueTypeWorkflow].Pollers {
				out = appendWorker(out, p.Identity, p.LastAccessTime)
			}
		}
		return sortWorkers(out), "all", nil
	}
	legacy, lerr := w.Client.DescribeTaskQueue(ctx, w.TaskQueue, enumspb.TASK_QUEUE_TYPE_WORKFLOW)
	if lerr != nil {
		return nil, "", fmt.Errorf("describe task queue %s: %w", w.TaskQueue, errors.Join(err, lerr))
	}
	pollers = legacy.GetPollers()
	var out []Worker
	for _, p := range pollers {
		out = appendWorker(out, p.GetIdentity(), p.GetLastAccessTime().AsTime())
	}
	return sortWorkers(out), "root", nil
}

func appendWorker(out []Worker, identity string, last time.Time) []Worker {
	for i := range out {
		if out[i].Identity == identity {
			if last.After(out[i].LastPoll) {
				out[i].LastPoll = last
			}
			return out
		}
	}
	rev, reported := RevisionOf(identity)
	return append(out, Worker{Identity: identity, Revision: rev, Reported: reported, LastPoll: last})
}

func sortWorkers(ws []Worker) []Worker {
	slices.SortFunc(ws, func(a, b Worker) int {
		if a.Revision != b.Revision {
			return a.Revision - b.Revision
		}
		if a.Identity < b.Identity {
			return -1
		}
		if a.Identity > b.Identity {
			return 1
		}
		return 0
	})
	return ws
}
