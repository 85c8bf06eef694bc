//go:build !production

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"golang.org/x/sync/errgroup"

	"github.com/rapporthq/rapport/internal/app"
	"github.com/rapporthq/rapport/internal/bench"
	"github.com/rapporthq/rapport/internal/journey"
	"github.com/rapporthq/rapport/internal/money"
	"github.com/rapporthq/rapport/internal/router"
	"github.com/rapporthq/rapport/internal/store"
	"github.com/rapporthq/rapport/workflows"
)

// costRow is a line of (a)'s table: what one run cost.
type costRow struct {
	run  string
	cost bench.Cost
	// offScript says how the run left its scripted path, if it did (a
	// timer fired that the script did not expect: the machine was too
	// slow for the dev-time day).
	offScript string
}

// scriptedPath is one journey run the bench takes along a scripted path
// and counts: its workflow, the steps it must have done, and how many
// timers must have fired (the wait steps that end by time; a timer of a
// wait or task that ended early must not fire while the run lives).
type scriptedPath struct {
	name        string
	workflowID  string
	steps       []string
	timersFired int
}

// pathDays are the dev-time days of the scripted paths: short enough that
// weeks pass in seconds, long enough that the bench posts each event and
// completes each task well before the wait or task it ends runs out.
const (
	complementsDay  = time.Second            // a 3-day wait, then the email; the 7-day wait for delivery must not run out after it
	satisfactionDay = 4 * time.Second        // the care task is due in a day
	winbackDay      = 700 * time.Millisecond // 35 days of waits; the call is due in 5 days
)

// costs runs one thank-you journey of each kind, then the four seed
// journeys on scripted paths, and counts each run's history.
func (b *benchRun) costs(ctx context.Context, kinds []thankYouKind) ([]costRow, error) {
	if err := b.seedBuyer(ctx, "cost-buyer"); err != nil {
		return nil, err
	}
	var rows []costRow
	for _, k := range kinds {
		id := "bench/cost/" + k.name
		run, err := k.start(ctx, id, "cost-buyer", "order-cost-buyer")
		if err == nil {
			err = k.check(ctx, run)
		}
		if err != nil {
			return nil, fmt.Errorf("thank-you, %s: %w", k.name, err)
		}
		row, err := b.costOf(ctx, scriptedPath{name: "thank-you, " + k.name, workflowID: id})
		if err != nil {
			return nil, err
		}
		rows = append(rows, row)
	}
	if slices.Contains(b.o.Skip, "paths") {
		return rows, nil
	}

	// The paths run side by side, each at its own dev-time day.
	var paths [3][]scriptedPath
	var started [3][]string
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() (err error) { paths[0], started[0], err = b.complementsPath(gctx); return err })
	g.Go(func() (err error) { paths[1], started[1], err = b.satisfactionPath(gctx); return err })
	g.Go(func() (err error) { paths[2], started[2], err = b.winbackPath(gctx); return err })
	if err := g.Wait(); err != nil {
		return nil, err
	}
	for _, p := range slices.Concat(paths[:]...) {
		row, err := b.costOf(ctx, p)
		if err != nil {
			return nil, err
		}
		rows = append(rows, row)
	}
	// The journeys the paths' events started besides (a thank-you, the
	// other journeys of the order) end before (a) measures throughput.
	for _, id := range slices.Concat(started[:]...) {
		wctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
		err := b.d.client.GetWorkflow(wctx, id, "").Get(wctx, nil)
		cancel()
		if err != nil {
			return nil, fmt.Errorf("wait for %s to end: %w", id, err)
		}
	}
	return rows, nil
}

// costOf reads a finished run's history, checks it went the scripted
// way and counts it.
func (b *benchRun) costOf(ctx context.Context, p scriptedPath) (costRow, error) {
	if p.steps != nil {
		var res workflows.JourneyResult
		if err := b.d.client.GetWorkflow(ctx, p.workflowID, "").Get(ctx, &res); err != nil {
			return costRow{}, fmt.Errorf("%s: %w", p.name, err)
		}
		if res.Outcome != workflows.Completed || !slices.Equal(res.StepsDone, p.steps) {
			return costRow{}, fmt.Errorf("%s: %s %s after steps %v, not completed after %v", p.name, res.Outcome, res.Reason, res.StepsDone, p.steps)
		}
	}
	events, err := bench.History(ctx, b.d.client, p.workflowID, "")
	if err != nil {
		return costRow{}, err
	}
	row := costRow{run: p.name, cost: bench.CountHistory(events)}
	fired := 0
	for _, e := range events {
		if e.GetEventType() == enumspb.EVENT_TYPE_TIMER_FIRED {
			fired++
		}
	}
	if fired != p.timersFired {
		row.offScript = fmt.Sprintf("%d timers fired, not %d: the machine was too slow for the dev-time day; counts not comparable", fired, p.timersFired)
	}
	return row, nil
}

// complementsPath: an order is placed (starting thank-you,
// complementary-products and satisfaction-check), delivered, and three
// days later complementary-products suggests what goes with it. The
// customer opted out of surveys, so the satisfaction check sends nothing
// that could hold the suggestion back (one marketing message a day).
// Counted: the thank-you its event started and complementary-products.
func (b *benchRun) complementsPath(ctx context.Context) ([]scriptedPath, []string, error) {
	c := treatedCustomer("complementary-products", "cost-complements")
	if err := b.call(ctx, http.MethodPost, "/v1/products", map[string]any{"products": []any{
		map[string]any{"id": "tea", "name": "Earl Grey tea", "price": 4.25, "currency": "GBP"},
		map[string]any{"id": "pot", "name": "Blue teapot", "price": 15, "currency": "GBP"},
	}}, nil); err != nil {
		return nil, nil, err
	}
	if err := b.call(ctx, http.MethodPost, "/v1/products", map[string]any{"products": []any{
		map[string]any{"id": "tea", "name": "Earl Grey tea", "complements": map[string]any{"pot": 0.9}},
	}}, nil); err != nil {
		return nil, nil, err
	}
	if err := b.newCustomer(ctx, c, nil, map[string]any{"topics": map[string]any{"surveys": false}}); err != nil {
		return nil, nil, err
	}
	started, err := b.placeOrder(ctx, c, complementsDay, []store.Item{{ProductID: "tea", Name: "Earl Grey tea", Quantity: 2, Price: money.MustParse("4.25")}})
	if err != nil {
		return nil, nil, err
	}
	id := workflows.WorkflowID("complementary-products", c, "order-"+c)
	if _, err := b.waitState(ctx, id, func(s workflows.State) bool { return restsAt(s, "wait_for_delivery") }); err != nil {
		return nil, nil, err
	}
	if err := b.postEvent(ctx, "order.delivered-"+c, "order.delivered", c, map[string]any{"order_id": "order-" + c}); err != nil {
		return nil, nil, err
	}
	return []scriptedPath{
		{name: "thank-you, interpreted, via the router (signal-with-start)", workflowID: workflows.WorkflowID("thank-you", c, "order-"+c), steps: []string{"thank_you"}},
		{name: "complementary-products: delivered, 3 days, email", workflowID: id, steps: []string{"wait_for_delivery", "let_them_enjoy_it", "suggest"}, timersFired: 1},
	}, started, nil
}

// satisfactionPath: an order is placed and delivered; two days later the
// survey goes (the customer has no phone: SMS skipped, then email); the
// customer answers 1 through the survey page; a care task is created,
// and staff complete it through the API. The customer opted out of
// recommendations.
func (b *benchRun) satisfactionPath(ctx context.Context) ([]scriptedPath, []string, error) {
	const c = "cost-satisfaction"
	if err := b.newCustomer(ctx, c, nil, map[string]any{"topics": map[string]any{"recommendations": false}}); err != nil {
		return nil, nil, err
	}
	started, err := b.placeOrder(ctx, c, satisfactionDay, []store.Item{{ProductID: "pot", Name: "Blue teapot", Quantity: 1, Price: money.MustParse("15")}})
	if err != nil {
		return nil, nil, err
	}
	id := workflows.WorkflowID("satisfaction-check", c, "order-"+c)
	if _, err := b.waitState(ctx, id, func(s workflows.State) bool { return restsAt(s, "wait_for_delivery") }); err != nil {
		return nil, nil, err
	}
	if err := b.postEvent(ctx, "order.delivered-"+c, "order.delivered", c, map[string]any{"order_id": "order-" + c}); err != nil {
		return nil, nil, err
	}
	if _, err := b.waitState(ctx, id, func(s workflows.State) bool { return restsAt(s, "wait_for_answer") }); err != nil {
		return nil, nil, err
	}
	var link string
	for _, m := range b.d.fakes.Recorder.Messages() {
		if m.CustomerID == c && m.Journey == "satisfaction-check" {
			link = surveyLink.FindString(m.Text)
		}
	}
	if link == "" {
		return nil, nil, fmt.Errorf("satisfaction-check: no survey link in an email to %s", c)
	}
	if err := b.answerSurvey(ctx, link, url.Values{"score": {"1"}, "comment": {"The teapot arrived broken."}}); err != nil {
		return nil, nil, err
	}
	if err := b.completeTask(ctx, id, "resolved"); err != nil {
		return nil, nil, err
	}
	return []scriptedPath{{name: "satisfaction-check: survey, score 1, care task done", workflowID: id,
		steps: []string{"wait_for_delivery", "wait_2", "ask", "wait_for_answer", "care", "respond"}, timersFired: 1}}, started, nil
}

// treatedCustomer is base, or base-2, base-3..., the first a journey's
// control group does not hold out at any share it may have (journey.
// MaxHoldout): the bench measures what a treated run costs.
func treatedCustomer(journeyName, base string) string {
	id := base
	for n := 2; journey.HeldOut(journeyName, id, journey.MaxHoldout); n++ {
		id = fmt.Sprintf("%s-%d", base, n)
	}
	return id
}

// winbackPath: a customer who last ordered 120 days ago enters
// lapse-winback through an audience run: the voucher email, two weeks
// later a postcard, three weeks later a phone call task, which staff
// complete through the API (reached).
func (b *benchRun) winbackPath(ctx context.Context) ([]scriptedPath, []string, error) {
	const c = "cost-winback"
	address := map[string]any{"line1": "12 St James's Square", "city": "London", "postal_code": "SW1Y 4LB", "country": "GB"}
	if err := b.newCustomer(ctx, c, map[string]any{"phone": "+44 7911 123456", "address": address}, map[string]any{
		"channels": map[string]any{"phone": map[string]any{"consent": "opted_in"}},
		"evidence": map[string]any{"source": "checkout", "shown": "You may call me about offers"}}); err != nil {
		return nil, nil, err
	}
	if err := b.call(ctx, http.MethodPost, "/v1/orders", map[string]any{"id": "order-" + c, "customer_id": c,
		"placed_at": time.Now().AddDate(0, 0, -120).UTC().Format(time.RFC3339), "total": 17, "currency": "GBP",
		"items": []any{map[string]any{"product_id": "tea", "name": "Earl Grey tea", "quantity": 2, "price": 8.5}}}, nil); err != nil {
		return nil, nil, err
	}
	plan, ok := b.js.Catalog.Get("lapse-winback")
	if !ok {
		return nil, nil, errors.New("no lapse-winback journey in the journeys folder")
	}
	const key = "bench-cost"
	run, err := b.router(winbackDay).EnterAudience(ctx, plan, router.AudienceRun{EntryKey: key, AsOf: time.Now()}, nil)
	if err != nil {
		return nil, nil, fmt.Errorf("lapse-winback audience: %w", err)
	}
	if run.Started != 1 {
		return nil, nil, fmt.Errorf("lapse-winback audience: %d customers entered, not 1 (%s only)", run.Started, c)
	}
	id := workflows.WorkflowID("lapse-winback", c, key)
	if err := b.completeTask(ctx, id, "reached"); err != nil {
		return nil, nil, err
	}
	return []scriptedPath{{name: "lapse-winback: email, postcard, call task done", workflowID: id,
		steps: []string{"email_offer", "wait_for_return", "postcard", "wait_after_postcard", "call", "call_if_we_can", "after_the_call"}, timersFired: 2}}, nil, nil
}

var surveyLink = regexp.MustCompile(`http://\S+/survey/\S+`)

// router starts journeys at a dev-time day, as `rapport dev --day` does:
// the bench's own API runs them in real time.
func (b *benchRun) router(day time.Duration) *router.Router {
	return (&app.Services{Store: b.d.store, Temporal: b.d.client, Journeys: b.js, Log: slog.New(slog.DiscardHandler)}).NewRouter(day, time.Now())
}

// placeOrder stores an order.placed event, as the API does, and routes it
// with a router at the given day: the journeys it triggers start. It
// returns the workflow ids started.
func (b *benchRun) placeOrder(ctx context.Context, customerID string, day time.Duration, items []store.Item) ([]string, error) {
	orderID := "order-" + customerID
	var total money.Amount
	for _, it := range items {
		total = total.Add(it.Price.Mul(int64(it.Quantity)))
	}
	now := time.Now().UTC()
	data, err := json.Marshal(map[string]any{"order": map[string]any{"id": orderID, "total": total, "currency": "GBP", "items": items}})
	if err != nil {
		return nil, err
	}
	stored, _, err := b.d.store.RecordEvent(ctx, store.Event{ID: orderID, Type: "order.placed", CustomerID: customerID, OccurredAt: now, Data: data},
		&store.Order{ID: orderID, CustomerID: customerID, Total: total, Currency: "GBP", PlacedAt: now, Items: items})
	if err != nil {
		return nil, fmt.Errorf("store the order of %s: %w", customerID, err)
	}
	res, err := b.router(day).Route(ctx, stored)
	if err != nil {
		return nil, err
	}
	return res.Started, nil
}

// newCustomer creates a customer through the API, with their
// preferences if any.
func (b *benchRun) newCustomer(ctx context.Context, id string, extra, preferences map[string]any) error {
	c := map[string]any{"id": id, "email": id + "@example.com", "name": "Ada Lovelace", "locale": "en-GB", "time_zone": "Europe/London"}
	for k, v := range extra {
		c[k] = v
	}
	if err := b.call(ctx, http.MethodPost, "/v1/customers", c, nil); err != nil {
		return err
	}
	if preferences == nil {
		return nil
	}
	return b.call(ctx, http.MethodPut, "/v1/customers/"+id+"/preferences", preferences, nil)
}

// postEvent posts one event through the API.
func (b *benchRun) postEvent(ctx context.Context, id, typ, customerID string, data map[string]any) error {
	return b.call(ctx, http.MethodPost, "/v1/events", map[string]any{"id": id, "type": typ, "customer_id": customerID, "data": data}, nil)
}

// completeTask waits until the run waits for its task, then completes it
// through the API, as staff do.
func (b *benchRun) completeTask(ctx context.Context, workflowID, outcome string) error {
	st, err := b.waitState(ctx, workflowID, func(s workflows.State) bool { return s.OpenTask != nil })
	if err != nil {
		return err
	}
	return b.call(ctx, http.MethodPost, "/v1/tasks/"+st.OpenTask.ID+"/complete", map[string]any{"outcome": outcome}, nil)
}

// answerSurvey posts the survey page's form, as the customer does.
func (b *benchRun) answerSurvey(ctx context.Context, link string, form url.Values) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, link, strings.NewReader(form.Encode()))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("answer the survey: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("answer the survey: %s", resp.Status)
	}
	return nil
}

// restsAt reports whether a run waits in the step (and so has finished
// the workflow task that got it there).
func restsAt(s workflows.State, step string) bool {
	return s.PendingWait != nil && s.PendingWait.Step == step
}

// waitState queries a run's state until cond holds. Queries leave no
// trace in the history.
func (b *benchRun) waitState(ctx context.Context, workflowID string, cond func(workflows.State) bool) (workflows.State, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	for {
		var st workflows.State
		v, err := b.d.client.QueryWorkflow(ctx, workflowID, "", workflows.StateQuery)
		if err == nil && v.Get(&st) == nil && cond(st) {
			return st, nil
		}
		select {
		case <-ctx.Done():
			return st, fmt.Errorf("%s: the run did not reach the expected state (at %q): %w", workflowID, st.CurrentStep, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// call sends a request to the bench's API with its key and decodes the
// answer into out (if not nil); an answer other than 2xx is an error.
func (b *benchRun) call(ctx context.Context, method, path string, body, out any) error {
	raw, err := json.Marshal(body)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, method, b.d.APIURL+path, bytes.NewReader(raw))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+b.d.APIKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s %s: %s: %s", method, path, resp.Status, strings.TrimSpace(string(answer)))
	}
	if out != nil {
		return json.Unmarshal(answer, out)
	}
	return nil
}

// seedBuyer creates a customer with an order, for the thank-you journey.
func (b *benchRun) seedBuyer(ctx context.Context, id string) error {
	if _, err := b.d.store.UpsertCustomer(ctx, store.Customer{ID: id, Email: id + "@example.com", Name: "Ada Buyer", Locale: "en-GB", TimeZone: "Europe/London"}); err != nil {
		return err
	}
	o := store.Order{ID: "order-" + id, CustomerID: id, Total: money.MustParse("23.5"), Currency: "GBP", PlacedAt: time.Now(),
		Items: []store.Item{{ProductID: "tea", Name: "Earl Grey tea", Quantity: 2, Price: money.MustParse("4.25")}, {ProductID: "pot", Name: "Blue teapot", Quantity: 1, Price: money.MustParse("15")}}}
	_, err := b.d.store.RecordOrder(ctx, o)
	return err
}
