package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"

	"github.com/rapporthq/rapport/internal/api/wire"
	"github.com/rapporthq/rapport/internal/journey"
	"github.com/rapporthq/rapport/internal/lanes"
	"github.com/rapporthq/rapport/internal/store"
	"github.com/rapporthq/rapport/workflows"
)

// postOrder loads an order into the history without starting any journey:
// for importing past orders, so customer facts (orders_count,
// days_since_last_order) and recommendations know them. It may give the
// order's status (placed when left out) and what was refunded of it.
func (s *Server) postOrder(w http.ResponseWriter, r *http.Request) {
	var req wire.OrderRequest
	if err := decode(r, &req); err != nil {
		s.fail(w, r, err)
		return
	}
	switch {
	case req.CustomerID == "":
		s.fail(w, r, badField("customer_id", "is required"))
		return
	case !workflows.ValidIDPart(req.CustomerID):
		s.fail(w, r, badField("customer_id", "must be 1-128 letters, digits, _ . : or -"))
		return
	case req.PlacedAt == nil:
		s.fail(w, r, badField("placed_at", "is required: when the order was placed, such as 2026-05-01T10:00:00Z"))
		return
	case req.PlacedAt.After(time.Now().Add(5 * time.Minute)):
		s.fail(w, r, badField("placed_at", "is in the future"))
		return
	}
	o, err := checkOrder(wire.Order{ID: req.ID, Total: req.Total, Currency: req.Currency, Gift: req.Gift, Items: req.Items}, "", req.CustomerID, *req.PlacedAt)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if err := checkLoadedStatus(req, o); err != nil {
		s.fail(w, r, err)
		return
	}
	if err := s.refuseErased(r.Context(), req.CustomerID); err != nil {
		s.fail(w, r, err)
		return
	}
	if _, err := s.Store.GetCustomer(r.Context(), req.CustomerID); errors.Is(err, store.ErrNotFound) {
		s.fail(w, r, &apiError{Status: http.StatusUnprocessableEntity, Field: "customer_id", Message: "customer_id: no customer " + req.CustomerID + "; create it with POST /v1/customers first"})
		return
	} else if err != nil {
		s.fail(w, r, err)
		return
	}
	inserted, err := s.Store.RecordOrder(r.Context(), *o)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	status, word := http.StatusCreated, wire.OrderCreated
	if !inserted {
		status, word = http.StatusOK, wire.OrderDuplicate
	}
	writeJSON(w, status, wire.OrderResponse{ID: o.ID, Status: word})
}

// postProducts stores products and which products complement them.
func (s *Server) postProducts(w http.ResponseWriter, r *http.Request) {
	var req wire.ProductsRequest
	if err := decode(r, &req); err != nil {
		s.fail(w, r, err)
		return
	}
	if len(req.Products) == 0 || len(req.Products) > 10000 {
		s.fail(w, r, badField("products", "must list 1 to 10,000 products"))
		return
	}
	products := make([]store.Product, len(req.Products))
	for i, p := range req.Products {
		field := fmt.Sprintf("products[%d]", i)
		if err := checkProductText(field, p); err != nil {
			s.fail(w, r, err)
			return
		}
		switch {
		case !workflows.ValidIDPart(p.ID):
			s.fail(w, r, badField(field+".id", "must be 1-128 letters, digits, _ . : or -"))
			return
		case p.Name == "":
			s.fail(w, r, badField(field+".name", "is required"))
			return
		case p.Currency != "" && !currencyRe.MatchString(p.Currency):
			s.fail(w, r, badField(field+".currency", "must be a three-letter code such as EUR"))
			return
		case len(p.Complements) > maxComplements:
			s.fail(w, r, badField(field+".complements", "lists %d products; at most %d are accepted", len(p.Complements), maxComplements))
			return
		}
		price, err := checkAmount(field+".price", p.Price, p.Currency)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		for _, other := range sortedKeys(p.Complements) {
			if other == p.ID || !workflows.ValidIDPart(other) || p.Complements[other] <= 0 {
				s.fail(w, r, badField(field+".complements."+other, "must be another product's id with a weight above 0"))
				return
			}
		}
		active := p.Active == nil || *p.Active
		products[i] = store.Product{ID: p.ID, Name: p.Name, Price: price, Currency: p.Currency, URL: p.URL, ImageURL: p.ImageURL, Active: active, Complements: p.Complements}
	}
	if err := s.Store.UpsertProducts(r.Context(), products); err != nil {
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && pgErr.Code == "23503" {
			s.fail(w, r, &apiError{Status: http.StatusUnprocessableEntity, Field: "products", Message: "products: a complement names a product that is in neither this list nor the catalog"})
			return
		}
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, wire.ProductsResponse{Stored: len(products)})
}

// checkProductText bounds a product's name and links: the name reaches
// messages (one line), the links are absolute http or https URLs.
func checkProductText(field string, p wire.Product) error {
	if err := text(field+".name", p.Name, maxName, true); err != nil {
		return err
	}
	for _, l := range []struct{ name, value string }{{"url", p.URL}, {"image_url", p.ImageURL}} {
		if err := text(field+"."+l.name, l.value, maxURL, true); err != nil {
			return err
		}
		if l.value == "" {
			continue
		}
		if u, err := url.Parse(l.value); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || strings.ContainsAny(l.value, " \t") {
			return badField(field+"."+l.name, "%q is not an absolute http or https URL such as https://shop.example/teapot", short(l.value))
		}
	}
	return nil
}

// audienceWait is how long POST /v1/journeys/{name}/audience-runs waits
// for the run to finish before answering 202 (?wait= changes it).
const audienceWait = time.Minute

// runAudience starts an audience workflow that enters the customers who
// match a journey's audience now, keyed by the day: a second run on the
// same day enters nobody twice. It waits for the run to finish, up to
// ?wait= (default a minute).
func (s *Server) runAudience(w http.ResponseWriter, r *http.Request) {
	plan, ok := s.audiencePlan(w, r)
	if !ok {
		return
	}
	wait := audienceWait
	if v := r.URL.Query().Get("wait"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 || d > 10*time.Minute {
			s.fail(w, r, badField("wait", "must be a duration up to 10m, such as 30s"))
			return
		}
		wait = d
	}
	now := time.Now().UTC()
	key := "audience-" + now.Format("20060102")
	// Each run by hand is a workflow of its own; their entries share the
	// day's key, so a second run enters nobody the first one did.
	id := workflows.AudienceWorkflowID(plan.Journey, key+"/"+now.Format("150405.000000"))
	run, err := s.Temporal.ExecuteWorkflow(r.Context(), client.StartWorkflowOptions{
		ID:                    id,
		TaskQueue:             workflows.TaskQueue,
		WorkflowIDReusePolicy: enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
		StaticSummary:         fmt.Sprintf("%s audience run %s, started by hand", plan.Journey, key),
		Priority:              lanes.Scan(plan),
	}, workflows.AudienceWorkflowName, workflows.AudienceInput{Journey: plan.Journey, EntryKey: key, AsOf: now})
	if err != nil {
		s.fail(w, r, fmt.Errorf("start audience run %s: %w", id, err))
		return
	}
	resp := wire.AudienceRun{Journey: plan.Journey, EntryKey: key, WorkflowID: id, Status: wire.AudienceRunning, Runs: []string{}}
	ctx, cancel := context.WithTimeout(r.Context(), wait)
	defer cancel()
	var res workflows.AudienceResult
	if err := run.Get(ctx, &res); err != nil {
		if ctx.Err() != nil && r.Context().Err() == nil {
			writeJSON(w, http.StatusAccepted, resp)
			return
		}
		s.fail(w, r, fmt.Errorf("audience run %s: %w", id, err))
		return
	}
	resp.Status, resp.Counts = wire.AudienceDone, wire.AudienceCounts(res.Counts)
	if resp.Runs, err = s.Store.RunsEntered(r.Context(), plan.Journey, key, 100); err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, resp)
}

// previewAudience counts who a journey's audience selects now and shows a
// random sample, entering nobody.
func (s *Server) previewAudience(w http.ResponseWriter, r *http.Request) {
	plan, ok := s.audiencePlan(w, r)
	if !ok {
		return
	}
	sample := 10
	if v := r.URL.Query().Get("sample"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || n > 1000 {
			s.fail(w, r, badField("sample", "must be a number from 0 to 1000"))
			return
		}
		sample = n
	}
	res, err := s.Router.PreviewAudience(r.Context(), plan, time.Now().UTC(), sample)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, audiencePreviewBody(res))
}

// audiencePlan finds the journey named in the path, which must have an
// audience; otherwise it answers and returns false.
func (s *Server) audiencePlan(w http.ResponseWriter, r *http.Request) (*journey.Plan, bool) {
	plan, ok := s.Router.Catalog.Get(r.PathValue("name"))
	if !ok {
		notFound(w, "journey", r.PathValue("name"))
		return nil, false
	}
	if !plan.Trigger.Scanned() {
		s.fail(w, r, &apiError{Status: http.StatusBadRequest, Message: fmt.Sprintf("journey %s is started by %s events, not by an audience or a date", plan.Journey, plan.Trigger.Event)})
		return nil, false
	}
	return plan, true
}
