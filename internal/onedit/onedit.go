// Package onedit moves a journey's runs in flight to its new plan when
// the journey says `on_edit: restart-at-step`: each running run on another
// plan gets the move-plan update, and moves at the step it waits in (see
// workflows/move.go), or says why it keeps its plan.
package onedit

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/rapporthq/rapport/internal/journey"
	"github.com/rapporthq/rapport/internal/store"
	"github.com/rapporthq/rapport/workflows"
)

// DefaultConcurrency is how many runs are asked at once.
const DefaultConcurrency = 8

// page is how many runs are read from the registry at a time.
const page = 500

// updateTimeout bounds how long one run's answer is awaited.
const updateTimeout = 30 * time.Second

// Mover moves runs in flight to their journey's new plan.
type Mover struct {
	Store    *store.Store
	Temporal client.Client
	// Env tells which events a plan listens for (the router records them
	// for each run).
	Env *journey.Env
	// By says who moves the runs, for their record (default "rapport").
	By string
	// Concurrency is how many runs are asked at once (0:
	// DefaultConcurrency).
	Concurrency int
	// Log reports progress; nil logs nothing.
	Log *slog.Logger
}

// Report says what became of the runs of each journey that moves.
type Report struct {
	Journeys []Journey `json:"journeys"`
}

// Journey says what became of one journey's runs on older plans.
type Journey struct {
	Journey string `json:"journey"`
	Plan    string `json:"plan"`
	// Moved runs waited at a step they moved from at once; AtNextWait
	// runs were busy (sending, held back) and move at their next wait.
	Moved      int `json:"moved"`
	AtNextWait int `json:"at_next_wait"`
	// Kept runs keep their plan: Reasons says why, with how many.
	Kept    int      `json:"kept"`
	Reasons []Reason `json:"reasons,omitempty"`
	// Ended runs had ended before they were asked.
	Ended int `json:"ended"`
	// Failed runs could not be asked (Temporal unreachable, a timeout);
	// the next start, or rapport runs move, asks them again.
	Failed int `json:"failed"`
	// FirstError is the first of those failures.
	FirstError string `json:"first_error,omitempty"`
}

// Reason is why some runs keep their plan.
type Reason struct {
	Reason string `json:"reason"`
	Runs   int    `json:"runs"`
}

// Move asks the running runs of every journey in cat that says on_edit:
// restart-at-step, and are on a plan seen before its plan there, to move
// to it; only, if
// set, limits it to that journey. It returns an error only when the
// registry cannot be read; runs that could not be asked are counted.
func (m *Mover) Move(ctx context.Context, cat *journey.Catalog, only string) (Report, error) {
	var rep Report
	if err := m.See(ctx, cat); err != nil {
		return rep, err
	}
	for _, p := range cat.Plans() {
		if !p.Moves() || (only != "" && p.Journey != only) {
			continue
		}
		j, err := m.moveJourney(ctx, p)
		rep.Journeys = append(rep.Journeys, j)
		if err != nil {
			return rep, err
		}
	}
	return rep, nil
}

// See records the catalog's plans as seen now, if they were not seen
// before: runs move only to plans seen after theirs, so a worker on older
// journey files (mid-rollout, or rolled back) never moves runs back. Every
// worker sees its plans when it starts, pinned or not.
func (m *Mover) See(ctx context.Context, cat *journey.Catalog) error {
	var seen []store.PlanSeen
	for _, p := range cat.Plans() {
		seen = append(seen, store.PlanSeen{Journey: p.Journey, PlanHash: p.Hash})
	}
	return m.Store.SeePlans(ctx, seen)
}

func (m *Mover) moveJourney(ctx context.Context, p *journey.Plan) (Journey, error) {
	rep := Journey{Journey: p.Journey, Plan: p.Hash}
	move := workflows.Move{Plan: *p, Listens: p.ListensForEvents(), ListensFor: []string{journey.AnyEventType}, By: cmp.Or(m.By, "rapport")}
	if m.Env != nil {
		types, err := m.Env.ListenedEventTypes(p)
		if err == nil {
			move.ListensFor = types
		}
	}
	var mu sync.Mutex
	reasons := map[string]int{}
	after := ""
	for {
		runs, err := m.Store.RunsOnOlderPlans(ctx, p.Journey, p.Hash, after, page)
		if err != nil {
			return rep, err
		}
		if len(runs) == 0 {
			break
		}
		after = runs[len(runs)-1].WorkflowID
		work := make(chan string)
		var wg sync.WaitGroup
		for range cmp.Or(m.Concurrency, DefaultConcurrency) {
			wg.Go(func() {
				for id := range work {
					answer, err := m.ask(ctx, id, move)
					mu.Lock()
					switch {
					case err == nil && answer.Now:
						rep.Moved++
					case err == nil:
						rep.AtNextWait++
					default:
						var kept *keptError
						switch {
						case errors.As(err, &kept):
							rep.Kept++
							reasons[kept.reason]++
						case isEnded(err):
							rep.Ended++
						default:
							rep.Failed++
							if rep.FirstError == "" {
								rep.FirstError = fmt.Sprintf("%s: %v", id, err)
							}
						}
					}
					mu.Unlock()
				}
			})
		}
		for _, r := range runs {
			work <- r.WorkflowID
		}
		close(work)
		wg.Wait()
		if m.Log != nil {
			m.Log.Info("moving runs to the new plan", "journey", p.Journey, "plan", p.ShortHash(),
				"moved", rep.Moved, "at_next_wait", rep.AtNextWait, "kept", rep.Kept, "ended", rep.Ended, "failed", rep.Failed)
		}
		if ctx.Err() != nil {
			return rep, ctx.Err()
		}
	}
	for r, n := range reasons {
		rep.Reasons = append(rep.Reasons, Reason{Reason: r, Runs: n})
	}
	slices.SortFunc(rep.Reasons, func(a, b Reason) int {
		return cmp.Or(b.Runs-a.Runs, strings.Compare(a.Reason, b.Reason))
	})
	return rep, nil
}

// keptError is a run's refusal to move: why it keeps its plan.
type keptError struct{ reason string }

func (e *keptError) Error() string { return e.reason }

// ask sends one run the move-plan update and waits for its answer.
func (m *Mover) ask(ctx context.Context, id string, move workflows.Move) (workflows.MoveAnswer, error) {
	ctx, cancel := context.WithTimeout(ctx, updateTimeout)
	defer cancel()
	var answer workflows.MoveAnswer
	h, err := m.Temporal.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{
		WorkflowID: id, UpdateName: workflows.MovePlanUpdate, Args: []any{move}, WaitForStage: client.WorkflowUpdateStageCompleted,
	})
	if err == nil {
		err = h.Get(ctx, &answer)
	}
	if err != nil && alreadyMoving(err) {
		return workflows.MoveAnswer{}, nil // asked before: it moves at its next wait
	}
	if err != nil && refused(err) {
		return answer, &keptError{reason: rootCause(err)}
	}
	return answer, err
}

// isEnded reports whether the run had ended (or is gone) when asked.
func isEnded(err error) bool {
	var notFound *serviceerror.NotFound
	return errors.As(err, &notFound) || strings.Contains(err.Error(), "workflow execution already completed")
}

// alreadyMoving reports whether the run had accepted this move before (a
// worker that started earlier asked it): it moves at its next wait.
func alreadyMoving(err error) bool {
	var appErr *temporal.ApplicationError
	return errors.As(err, &appErr) && appErr.Type() == workflows.ErrAlreadyMoving
}

// refused reports whether err is the run's own answer (its validator
// refused, or its worker has no move-plan handler yet), not a failure to
// reach it.
func refused(err error) bool {
	var appErr *temporal.ApplicationError
	return errors.As(err, &appErr)
}

// rootCause is the innermost message: the run's words rather than the
// client's wrapping.
func rootCause(err error) string {
	for {
		next := errors.Unwrap(err)
		if next == nil {
			return err.Error()
		}
		err = next
	}
}
