package workflows

import (
	"errors"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/rapporthq/rapport/internal/journey"
)

// factsNeed says when a run of revision 7 reads the customer's facts
// (before, it read them when it started, and at every branch).
type factsNeed struct {
	// atStart: an expression the run may evaluate outside a branch's
	// conditions reads them (an exit_when, a goal that exits, a wait's
	// until_event, a record or emit step's values): the run reads them
	// before its first step, as before.
	atStart bool
	// later: a step sends on one of several channels, in the order the
	// customer prefers. The run reads them with the first rest that
	// records its steps (in the same workflow task: no action more), or
	// else right before that step.
	later bool
}

// needOfFacts says when a run of the plan needs the customer's facts.
// A branch reads them afresh when its conditions read them (branch).
func needOfFacts(env *journey.Env, p *journey.Plan) factsNeed {
	var n factsNeed
	reads := func(expr string) {
		if expr == "" || n.atStart {
			return
		}
		ok, err := env.ReadsCustomer(expr)
		n.atStart = ok || err != nil
	}
	reads(p.ExitWhen)
	if p.Goal != nil && p.Goal.Exit {
		reads(p.Goal.When)
	}
	p.Walk(func(s *journey.Step) {
		switch {
		case s.Wait != nil:
			reads(s.Wait.UntilEvent)
		case s.Record != nil, s.Emit != nil:
			n.atStart = true
		case s.Send != nil && len(s.Send.Channels) > 1:
			n.later = true
		}
	})
	return n
}

// branchReadsFacts reports whether a branch's conditions read the
// customer's facts: the branch reads them afresh first. Before revision
// 7 every branch did.
func (r *run) branchReadsFacts(b *journey.BranchStep) bool {
	if r.revision < 7 {
		return true
	}
	for _, c := range b.Cases {
		if ok, err := r.env.ReadsCustomer(c.When); ok || err != nil {
			return true
		}
	}
	return false
}

// factsBeforeSend reads the customer's facts before a step that sends on
// one of several channels, if the run has not read them (revision 7):
// their order is the customer's.
func (r *run) factsBeforeSend(ctx workflow.Context, step journey.Step) error {
	if r.revision < 7 || r.factsLoaded || len(step.Send.Channels) < 2 {
		return nil
	}
	facts, err := r.customerFacts(ctx)
	if err != nil {
		return err
	}
	r.vars.Customer, r.factsLoaded = facts, true
	return nil
}

// factsAtRest reads the customer's facts with a rest's record of its
// steps, in the same workflow task, when a later step will need them and
// the run has not read them (revision 7): one quick try, as for the
// steps; when it fails the run reads them before that step. A customer
// who no longer exists ends the run.
func (r *run) factsAtRest(ctx workflow.Context) {
	if r.revision < 7 || !r.needs.later || r.factsLoaded {
		return
	}
	lctx := workflow.WithLocalActivityOptions(ctx, workflow.LocalActivityOptions{
		ScheduleToCloseTimeout: 10 * time.Second,
		RetryPolicy:            &temporal.RetryPolicy{MaximumAttempts: 1},
	})
	var facts journey.Customer
	err := workflow.ExecuteLocalActivity(lctx, CustomerFactsActivity, r.input.CustomerID).Get(lctx, &facts)
	var appErr *temporal.ApplicationError
	switch {
	case err == nil:
		r.vars.Customer, r.factsLoaded = facts, true
	case errors.As(err, &appErr) && appErr.Type() == ErrCustomerNotFound:
		r.exitReason = CustomerGoneReason
		r.stopWalking()
	default:
		workflow.GetLogger(ctx).Warn("could not read the customer's facts; read before the step that needs them", "error", err)
	}
}
