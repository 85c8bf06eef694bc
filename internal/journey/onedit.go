package journey

import (
	"fmt"
	"slices"
	"strings"
)

// OnEdit says what happens to a journey's runs in flight when its plan
// changes: they keep the plan they started on (keep, the default), or
// they move to the new plan at the step they wait in (restart-at-step).
type OnEdit string

// What an edit does to runs in flight.
const (
	OnEditKeep          OnEdit = "keep"
	OnEditRestartAtStep OnEdit = "restart-at-step"
)

// OnEdits lists them, the default first.
var OnEdits = []OnEdit{OnEditKeep, OnEditRestartAtStep}

// Moves reports whether the plan's runs in flight move to a newer plan.
func (p *Plan) Moves() bool { return p.OnEdit == OnEditRestartAtStep }

// Locate finds the step with that id: the path that leads to it (an index
// into the plan's steps, then for a branch the case, len(cases) for
// otherwise, or for a split the path, then an index into those steps, and
// so on) and the step.
func (p *Plan) Locate(id string) ([]int, *Step, bool) {
	return locate(p.Steps, id, nil)
}

func locate(steps []Step, id string, path []int) ([]int, *Step, bool) {
	for i := range steps {
		s := &steps[i]
		at := append(slices.Clip(path), i)
		if s.ID == id {
			return at, s, true
		}
		if s.Branch != nil {
			for c := range s.Branch.Cases {
				if p, found, ok := locate(s.Branch.Cases[c].Steps, id, append(slices.Clip(at), c)); ok {
					return p, found, true
				}
			}
			if p, found, ok := locate(s.Branch.Otherwise, id, append(slices.Clip(at), len(s.Branch.Cases))); ok {
				return p, found, true
			}
		}
		if s.Split != nil {
			for k := range s.Split.Paths {
				if p, found, ok := locate(s.Split.Paths[k].Steps, id, append(slices.Clip(at), k)); ok {
					return p, found, true
				}
			}
		}
	}
	return nil, nil, false
}

// splitsAlong lists the split paths a path through steps passes, as split
// step id and path name joined by a NUL.
func splitsAlong(steps []Step, path []int) []string {
	var out []string
	for len(path) > 1 {
		s := &steps[path[0]]
		switch {
		case s.Branch != nil:
			if c := path[1]; c < len(s.Branch.Cases) {
				steps = s.Branch.Cases[c].Steps
			} else {
				steps = s.Branch.Otherwise
			}
		case s.Split != nil:
			out = append(out, s.ID+"\x00"+s.Split.Paths[path[1]].Name)
			steps = s.Split.Paths[path[1]].Steps
		default:
			return out
		}
		path = path[2:]
	}
	return out
}

// RestartAt says where a run of old that waits at step id would wait in
// p, the journey's new plan, under on_edit: restart-at-step: the path to
// the step with the same id, which must wait as the old one did (a wait
// step for a wait step; a task step for a task step, with every outcome
// staff may already give the open task), and not inside a split path the
// run did not take (its split was never chosen nor recorded). Otherwise
// it says, in words, why the run keeps its plan.
func (p *Plan) RestartAt(old *Plan, id string) ([]int, *Step, error) {
	oldPath, was, ok := old.Locate(id)
	if !ok {
		return nil, nil, fmt.Errorf("step %s is not in plan %s", id, old.ShortHash())
	}
	path, now, ok := p.Locate(id)
	if !ok {
		return nil, nil, fmt.Errorf("step %s is not in the new plan %s", id, p.ShortHash())
	}
	switch {
	case was.Kind != KindWait && was.Kind != KindTask:
		return nil, nil, fmt.Errorf("step %s is a %s step; runs move only while they wait (at a wait or a task)", id, was.Kind)
	case now.Kind != was.Kind:
		return nil, nil, fmt.Errorf("step %s is a %s step in the new plan %s, not a %s step", id, now.Kind, p.ShortHash(), was.Kind)
	}
	taken := splitsAlong(old.Steps, oldPath)
	for _, sp := range splitsAlong(p.Steps, path) {
		if !slices.Contains(taken, sp) {
			step, name, _ := strings.Cut(sp, "\x00")
			return nil, nil, fmt.Errorf("step %s is in path %s of split %s in the new plan %s, a split a run waiting there did not take", id, name, step, p.ShortHash())
		}
	}
	switch {
	case now.Kind == KindTask:
		var missing []string
		for _, o := range was.Task.Outcomes {
			if !slices.Contains(now.Task.Outcomes, o) {
				missing = append(missing, o)
			}
		}
		if len(missing) > 0 {
			return nil, nil, fmt.Errorf("task step %s no longer has the outcome %s in the new plan %s, and staff may already give it to the open task", id, strings.Join(missing, ", "), p.ShortHash())
		}
	}
	return path, now, nil
}

// Rest is a step of an old plan a run can wait at, and what on_edit:
// restart-at-step does to a run waiting there when the plan becomes new.
type Rest struct {
	Step string `json:"step"`
	Kind Kind   `json:"kind"`
	// Keeps is empty when the run moves; otherwise why it keeps its plan.
	Keeps string `json:"keeps,omitempty"`
}

// Rests lists, in the old plan's order, the steps a run of old can wait at
// and whether a run waiting there would move to p.
func (p *Plan) Rests(old *Plan) []Rest {
	var out []Rest
	old.Walk(func(s *Step) {
		if s.Kind != KindWait && s.Kind != KindTask {
			return
		}
		r := Rest{Step: s.ID, Kind: s.Kind}
		if _, _, err := p.RestartAt(old, s.ID); err != nil {
			r.Keeps = err.Error()
		}
		out = append(out, r)
	})
	return out
}
