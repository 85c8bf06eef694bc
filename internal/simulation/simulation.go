// Package simulation plays a crowd of customers against a running Rapport,
// through its public surfaces only: the API, the links in the messages
// they receive (read from the dev outbox), and signed provider webhooks.
// Customers sign up with random preferences, time zones and addresses,
// order, get their orders delivered or cancel them, answer surveys, and
// change their minds while journeys wait: they opt out, unsubscribe with
// one click, reply STOP, change quiet hours and caps; staff work the tasks
// journeys open. It is how `rapport simulate` and the tests show that every
// send honours what customers asked for (package audit then checks).
package simulation

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Config says what to simulate and against what.
type Config struct {
	// APIURL is Rapport's API; its /dev/outbox.json shows what was sent.
	APIURL string
	// APIKey is sent with every /v1 request (the shop's part); customer
	// pages and webhooks go without, as customers and providers reach them.
	APIKey string
	// TwilioAuthToken signs the simulated SMS replies (STOP) to
	// /webhooks/twilio/inbound, as Twilio would.
	TwilioAuthToken string
	// Customers is how many customers to simulate (default 1,000).
	Customers int
	// Seed makes the crowd the same from run to run (timing still varies).
	Seed uint64
	// DayLength is how long a day of journey time lasts (rapport dev --day).
	DayLength time.Duration
	// Running reports how many journey runs are still going; the
	// simulation ends when none is and every task is done.
	Running func(ctx context.Context) (int, error)
	// Concurrency bounds the requests in flight (default 16).
	Concurrency int
	// Progress, when set, gets a line now and then.
	Progress io.Writer
	// HTTPClient defaults to one with a 30s timeout.
	HTTPClient *http.Client
}

// Summary is what the crowd did.
type Summary struct {
	Customers       int            `json:"customers"`
	Lapsed          int            `json:"lapsed"`
	WinbackEntered  int            `json:"winback_entered"`
	Orders          int            `json:"orders"`
	Deliveries      int            `json:"deliveries"`
	Cancellations   int            `json:"cancellations"`
	SurveyAnswers   int            `json:"survey_answers"`
	TasksCompleted  int            `json:"tasks_completed"`
	MessagesSeen    int            `json:"messages_seen"`
	MessagesBy      map[string]int `json:"messages_by_channel"`
	MidRunChanges   map[string]int `json:"mid_run_changes"`
	SetupSuppressed int            `json:"setup_suppressed"`
	Elapsed         time.Duration  `json:"elapsed"`
}

// Run plays the simulation and returns once every journey has finished.
func Run(ctx context.Context, cfg Config) (Summary, error) {
	if cfg.Customers <= 0 {
		cfg.Customers = 1000
	}
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = 16
	}
	if cfg.DayLength <= 0 {
		return Summary{}, errors.New("simulation: DayLength must be set (the stack must run on dev time)")
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: 3 * time.Minute}
	}
	if cfg.Running == nil {
		return Summary{}, errors.New("simulation: Running must be set")
	}
	s := &sim{cfg: cfg, api: strings.TrimRight(cfg.APIURL, "/"), sem: make(chan struct{}, cfg.Concurrency),
		sum: Summary{MessagesBy: map[string]int{}, MidRunChanges: map[string]int{}}, customers: map[string]*person{}}
	start := time.Now()
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	s.fail = func(err error) { cancel(err) }

	if err := s.setup(ctx); err != nil {
		return s.summary(start), err
	}
	s.sum.Customers = len(s.people)
	s.progress("%d customers signed up (%d lapsed, %d addresses suppressed)", s.sum.Customers, s.sum.Lapsed, s.sum.SetupSuppressed)

	var bg sync.WaitGroup
	watchCtx, stopWatching := context.WithCancel(ctx)
	bg.Go(func() { s.watchOutbox(watchCtx) })
	bg.Go(func() { s.workTasks(watchCtx) })
	defer func() { stopWatching(); bg.Wait() }()

	var entered struct {
		Counts struct {
			Started int `json:"started"`
		} `json:"counts"`
	}
	if err := s.do(ctx, http.MethodPost, "/v1/journeys/lapse-winback/audience-runs?wait=5m", nil, &entered, http.StatusOK); err != nil {
		return s.summary(start), fmt.Errorf("simulation: audience run: %w", err)
	}
	s.mu.Lock()
	s.sum.WinbackEntered = entered.Counts.Started
	s.mu.Unlock()

	var lives sync.WaitGroup
	for _, p := range s.people {
		lives.Go(func() { s.live(ctx, p) })
	}
	lives.Wait()
	if err := context.Cause(ctx); err != nil {
		return s.summary(start), err
	}
	s.progress("the crowd is done; waiting for the journeys to finish")
	if err := s.waitForJourneys(ctx); err != nil {
		return s.summary(start), err
	}
	stopWatching()
	bg.Wait()
	s.catchUp(ctx) // the last messages
	return s.summary(start), context.Cause(ctx)
}

type sim struct {
	cfg  Config
	api  string
	sem  chan struct{}
	fail func(error)

	mu        sync.Mutex
	sum       Summary
	people    []*person
	customers map[string]*person
	lastSeq   int
	sid       atomic.Int64
}

// person is one simulated customer.
type person struct {
	id      string
	rng     *rand.Rand
	mu      sync.Mutex
	phone   string // E.164 as sent to, once known
	country string
	lapsed  bool
}

func (p *person) intn(n int) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.rng.IntN(n)
}

func (s *sim) progress(format string, args ...any) {
	if s.cfg.Progress != nil {
		fmt.Fprintf(s.cfg.Progress, "simulate: "+format+"\n", args...)
	}
}

func (s *sim) summary(start time.Time) Summary {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := s.sum
	out.MessagesBy = cloneMap(s.sum.MessagesBy)
	out.MidRunChanges = cloneMap(s.sum.MidRunChanges)
	out.Elapsed = time.Since(start).Round(time.Millisecond)
	return out
}

func cloneMap(m map[string]int) map[string]int {
	out := make(map[string]int, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

func (s *sim) count(what *int) {
	s.mu.Lock()
	*what++
	s.mu.Unlock()
}

func (s *sim) changed(kind string) {
	s.mu.Lock()
	s.sum.MidRunChanges[kind]++
	s.mu.Unlock()
}

// sleepDays waits a number of journey days.
func (s *sim) sleepDays(ctx context.Context, days float64) bool {
	t := time.NewTimer(time.Duration(days * float64(s.cfg.DayLength)))
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// do sends a JSON request and decodes the answer, which must have one of
// the statuses given.
func (s *sim) do(ctx context.Context, method, path string, body, out any, want ...int) error {
	var raw []byte
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		raw = b
	}
	// A 503 says the API cannot take the request for now and repeating it
	// is safe: the simulated shop does what the answer says, as a shop's
	// integration would, for a while.
	for wait, waited := time.Second, time.Duration(0); ; wait = min(2*wait, 10*time.Second) {
		req, err := http.NewRequestWithContext(ctx, method, s.api+path, bytes.NewReader(raw))
		if err != nil {
			return err
		}
		if body != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		if strings.HasPrefix(path, "/v1/") && s.cfg.APIKey != "" {
			req.Header.Set("Authorization", "Bearer "+s.cfg.APIKey)
		}
		err = s.send(req, out, want...)
		var busy *unavailableError
		if !errors.As(err, &busy) || waited >= maxUnavailable {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(wait):
			waited += wait
		}
	}
}

// maxUnavailable is how long do repeats a request answered 503.
const maxUnavailable = 2 * time.Minute

// unavailableError is a 503 answer: the API could not take the request
// for now.
type unavailableError struct{ msg string }

func (e *unavailableError) Error() string { return e.msg }

func (s *sim) send(req *http.Request, out any, want ...int) error {
	select {
	case s.sem <- struct{}{}:
	case <-req.Context().Done():
		return context.Cause(req.Context())
	}
	defer func() { <-s.sem }()
	resp, err := s.cfg.HTTPClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if !slices.Contains(want, resp.StatusCode) {
		msg := fmt.Sprintf("%s %s: %s: %s", req.Method, req.URL.Path, resp.Status, strings.TrimSpace(string(raw)))
		if resp.StatusCode == http.StatusServiceUnavailable {
			return &unavailableError{msg: msg}
		}
		return errors.New(msg)
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			return fmt.Errorf("%s %s: %w", req.Method, req.URL.Path, err)
		}
	}
	return nil
}

// The world the customers live in.

// product is a catalog entry as POST /v1/products takes it.
type product struct {
	ID          string             `json:"id"`
	Name        string             `json:"name"`
	Price       float64            `json:"price"`
	Currency    string             `json:"currency"`
	Complements map[string]float64 `json:"complements,omitempty"`
}

var catalog = []product{
	{"tea-earl-grey", "Earl Grey tea", 8.5, "GBP", map[string]float64{"teapot-blue": 0.9, "cup-stoneware": 0.6, "biscuits-shortbread": 0.5}},
	{"tea-sencha", "Sencha green tea", 9.5, "GBP", map[string]float64{"strainer": 0.8, "cup-stoneware": 0.6}},
	{"teapot-blue", "Blue stoneware teapot", 32, "GBP", map[string]float64{"tea-cosy": 0.9, "strainer": 0.7}},
	{"cup-stoneware", "Stoneware cup", 12, "GBP", map[string]float64{"teapot-blue": 0.4, "biscuits-shortbread": 0.5}},
	{"strainer", "Tea strainer", 6, "GBP", nil},
	{"tea-cosy", "Wool tea cosy", 18, "GBP", nil},
	{"biscuits-shortbread", "Shortbread biscuits", 4.5, "GBP", nil},
}

// place is where a customer lives: a time zone, its country, a phone
// number pattern (# is a random digit) and a locale.
type place struct{ zone, country, phone, locale string }

var places = []place{
	{"Europe/London", "GB", "+44 7911 ######", "en-GB"},
	{"Europe/Paris", "FR", "+33 6 ## ## ## ##", "fr-FR"},
	{"Europe/Berlin", "DE", "+49 151 ########", "de-DE"},
	{"America/New_York", "US", "+1 212 555 ####", "en-US"},
	{"America/Los_Angeles", "US", "+1 415 555 ####", "en-US"},
	{"America/St_Johns", "CA", "+1 709 555 ####", "en-CA"}, // UTC-3:30
	{"Asia/Kolkata", "IN", "+91 98### #####", "en-IN"},     // UTC+5:30, no DST
	{"Australia/Lord_Howe", "AU", "+61 412 ### ###", "en-AU"},
	{"Pacific/Auckland", "NZ", "+64 21 ### ####", "en-NZ"},
	{"Asia/Tokyo", "JP", "+81 90 #### ####", "ja-JP"},
}

// Twilio's magic numbers: not valid, not reachable, opted out.
var badNumbers = []string{"+15005550001", "+15005550002", "+15005550004"}

func digits(rng *rand.Rand, pattern string) string {
	var b strings.Builder
	for _, r := range pattern {
		if r == '#' {
			b.WriteByte(byte('0' + rng.IntN(10)))
		} else {
			b.WriteRune(r)
		}
	}
	return b.String()
}

func pick[T any](rng *rand.Rand, xs []T) T { return xs[rng.IntN(len(xs))] }

// setup loads the catalog and signs the customers up, with their
// preferences and order history.
func (s *sim) setup(ctx context.Context) error {
	if err := s.do(ctx, http.MethodPost, "/v1/products", map[string]any{"products": catalog}, nil, http.StatusOK, http.StatusCreated); err != nil {
		return fmt.Errorf("simulation: catalog: %w", err)
	}
	for i := range s.cfg.Customers {
		p := &person{id: fmt.Sprintf("sim-%d-%04d", s.cfg.Seed, i), rng: rand.New(rand.NewPCG(s.cfg.Seed, uint64(i)))}
		s.people = append(s.people, p)
		s.customers[p.id] = p
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var errs []error
	for _, p := range s.people {
		wg.Go(func() {
			if err := s.signUp(ctx, p); err != nil {
				mu.Lock()
				errs = append(errs, fmt.Errorf("simulation: sign up %s: %w", p.id, err))
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

func (s *sim) signUp(ctx context.Context, p *person) error {
	rng := p.rng
	pl := pick(rng, places)
	c := map[string]any{"id": p.id, "email": p.id + "@example.com", "name": pick(rng, []string{"Ada", "Grace", "Alan", "Linus", "Edsger", "Barbara", "Donald", "Frances"}) + " Sim",
		"locale": pl.locale}
	switch n := rng.IntN(100); {
	case n < 75:
		c["time_zone"] = pl.zone
	case n < 95: // the zone comes from the country
	default: // neither: the shop's default zone
		pl.country = ""
	}
	if rng.IntN(100) < 85 && pl.country != "" {
		line1 := fmt.Sprintf("%d Sim Street", 1+rng.IntN(200))
		if rng.IntN(100) < 3 {
			line1 = "1 Undeliverable Lane"
		}
		address := map[string]any{"line1": line1, "city": "Simtown", "postal_code": fmt.Sprintf("%05d", rng.IntN(100000)), "country": pl.country}
		if pl.country == "US" {
			address["state"] = "NY" // Lob needs a state for a US address
		}
		c["address"] = address
	} else if pl.country != "" {
		c["address"] = map[string]any{"country": pl.country}
	}
	p.country = pl.country
	if rng.IntN(100) < 75 {
		if rng.IntN(100) < 4 {
			c["phone"] = pick(rng, badNumbers)
		} else {
			c["phone"] = digits(rng, pl.phone)
		}
	}
	if err := s.do(ctx, http.MethodPost, "/v1/customers", c, nil, http.StatusCreated, http.StatusOK); err != nil {
		return err
	}
	if err := s.do(ctx, http.MethodPut, "/v1/customers/"+p.id+"/preferences", randomPreferences(rng), nil, http.StatusOK); err != nil {
		return err
	}

	// Order history: some lapsed long ago, some bought lately.
	switch n := rng.IntN(100); {
	case n < 40:
		p.lapsed = true
		s.count(&s.sum.Lapsed)
		for k := range 1 + rng.IntN(3) {
			if err := s.pastOrder(ctx, p, fmt.Sprintf("%s-past-%d", p.id, k), 100+rng.IntN(300)); err != nil {
				return err
			}
		}
	case n < 70:
		if err := s.pastOrder(ctx, p, p.id+"-past-0", 10+rng.IntN(50)); err != nil {
			return err
		}
	}

	// A few addresses are on the suppression list already.
	if rng.IntN(100) < 2 {
		s.count(&s.sum.SetupSuppressed)
		if err := s.do(ctx, http.MethodPost, "/v1/suppressions", map[string]any{"channel": "email", "address": c["email"], "reason": "simulated hard bounce from an old platform"}, nil, http.StatusCreated, http.StatusOK); err != nil {
			return err
		}
	}
	if phone, ok := c["phone"].(string); ok && rng.IntN(100) < 2 {
		s.count(&s.sum.SetupSuppressed)
		if err := s.do(ctx, http.MethodPost, "/v1/suppressions", map[string]any{"channel": "sms", "address": phone, "country": pl.country, "reason": "simulated: number reassigned"}, nil, http.StatusCreated, http.StatusOK, http.StatusBadRequest); err != nil {
			return err
		}
	}
	return nil
}

// randomPreferences is what a customer chose at sign-up, or what a shop
// imported for them.
func randomPreferences(rng *rand.Rand) map[string]any {
	consent := func(in, out int) any {
		switch n := rng.IntN(100); {
		case n < in:
			return map[string]any{"consent": "opted_in"}
		case n < in+out:
			return map[string]any{"consent": "opted_out"}
		}
		return map[string]any{}
	}
	channels := map[string]any{"email": consent(10, 8), "sms": consent(45, 15), "mail": consent(5, 10), "phone": consent(40, 20)}
	if rng.IntN(100) < 25 {
		sms := channels["sms"].(map[string]any)
		if rng.IntN(100) < 20 {
			sms["quiet_hours"] = nil // none
		} else {
			sms["quiet_hours"] = map[string]any{"start": fmt.Sprintf("%02d:%02d", 19+rng.IntN(5), 30*rng.IntN(2)), "end": fmt.Sprintf("%02d:00", 6+rng.IntN(5))}
		}
	}
	if rng.IntN(100) < 10 {
		channels["email"].(map[string]any)["quiet_hours"] = map[string]any{"start": "22:00", "end": "07:00"}
	}
	prefs := map[string]any{"channels": channels, "evidence": map[string]any{"source": "simulation", "shown": "simulated sign-up form"}}
	topics := map[string]any{}
	for _, t := range []string{"offers", "recommendations", "surveys"} {
		if rng.IntN(100) < 15 {
			topics[t] = false
		}
	}
	prefs["topics"] = topics
	switch rng.IntN(100) {
	case 0, 1, 2, 3, 4:
		prefs["frequency"] = map[string]any{"caps": []any{map[string]any{"channel": "all", "max": 1, "per": "7d"}}}
	case 5, 6, 7, 8, 9:
		prefs["frequency"] = map[string]any{"caps": []any{map[string]any{"channel": "all", "max": 2, "per": "3d"}}}
	case 10, 11, 12, 13, 14:
		prefs["frequency"] = map[string]any{"caps": []any{map[string]any{"channel": "email", "max": 1, "per": "2d"}, map[string]any{"channel": "all", "max": 3, "per": "7d"}}}
	}
	if rng.IntN(100) < 20 {
		order := []any{"sms", "email", "mail"}
		rng.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
		prefs["channel_order"] = order
	}
	return prefs
}

func (s *sim) items(p *person) ([]any, float64) {
	var items []any
	total := 0.0
	seen := map[string]bool{}
	for range 1 + p.intn(3) {
		prod := catalog[p.intn(len(catalog))]
		if seen[prod.ID] {
			continue
		}
		seen[prod.ID] = true
		q := 1 + p.intn(2)
		items = append(items, map[string]any{"product_id": prod.ID, "name": prod.Name, "quantity": q, "price": prod.Price})
		total += float64(q) * prod.Price
	}
	return items, total
}

func (s *sim) pastOrder(ctx context.Context, p *person, id string, daysAgo int) error {
	items, total := s.items(p)
	return s.do(ctx, http.MethodPost, "/v1/orders", map[string]any{"id": id, "customer_id": p.id,
		"placed_at": time.Now().AddDate(0, 0, -daysAgo).UTC().Format(time.RFC3339), "total": total, "currency": "GBP", "items": items},
		nil, http.StatusCreated, http.StatusOK)
}

// live plays a customer's weeks: orders and what becomes of them, and a
// change of mind now and then, all in journey days.
func (s *sim) live(ctx context.Context, p *person) {
	orders := 0
	switch n := p.intn(100); {
	case p.lapsed:
		if n < 25 {
			orders = 1 // comes back during the win-back
		}
	case n < 55:
		orders = 1
	case n < 65:
		orders = 2
	}
	var wg sync.WaitGroup
	for k := range orders {
		wg.Go(func() { s.order(ctx, p, k) })
	}
	// Changes of mind at a random moment, with no message to prompt them.
	if p.intn(100) < 12 {
		wg.Go(func() {
			if s.sleepDays(ctx, float64(p.intn(30*24))/24) {
				s.changeMind(ctx, p, "")
			}
		})
	}
	wg.Wait()
}

func (s *sim) order(ctx context.Context, p *person, k int) {
	if !s.sleepDays(ctx, float64(p.intn(25*24))/24) {
		return
	}
	items, total := s.items(p)
	orderID := fmt.Sprintf("%s-o%d", p.id, k)
	ev := map[string]any{"id": "evt-" + orderID, "type": "order.placed", "customer_id": p.id,
		"data": map[string]any{"order": map[string]any{"id": orderID, "total": total, "currency": "GBP", "gift": p.intn(100) < 15, "items": items}}}
	if err := s.do(ctx, http.MethodPost, "/v1/events", ev, nil, http.StatusAccepted, http.StatusOK); err != nil {
		s.fail(fmt.Errorf("simulation: %w", err))
		return
	}
	s.count(&s.sum.Orders)
	if !s.sleepDays(ctx, 1+float64(p.intn(5*24))/24) {
		return
	}
	kind := ""
	switch n := p.intn(100); {
	case n < 85:
		kind = "order.delivered"
		s.count(&s.sum.Deliveries)
	case n < 92:
		kind = "order.cancelled"
		s.count(&s.sum.Cancellations)
	default:
		return // never confirmed: the journeys time out
	}
	ev = map[string]any{"id": fmt.Sprintf("evt-%s-%s", orderID, kind), "type": kind, "customer_id": p.id, "data": map[string]any{"order_id": orderID}}
	if err := s.do(ctx, http.MethodPost, "/v1/events", ev, nil, http.StatusAccepted, http.StatusOK); err != nil {
		s.fail(fmt.Errorf("simulation: %w", err))
	}
}

// changeMind is a preference change through the API: opting out of a
// channel (the one a message just came by, when there was one), leaving a
// topic, quieter evenings, fewer messages.
func (s *sim) changeMind(ctx context.Context, p *person, channel string) {
	if channel == "" {
		channel = []string{"email", "sms", "mail", "phone"}[p.intn(4)]
	}
	var body map[string]any
	kind := ""
	switch n := p.intn(100); {
	case n < 45:
		body = map[string]any{"channels": map[string]any{channel: map[string]any{"consent": "opted_out"}}}
		kind = "opted out of " + channel + " (API)"
	case n < 55:
		body = map[string]any{"channels": map[string]any{channel: map[string]any{"consent": "opted_in"}}}
		kind = "opted in to " + channel + " (API)"
	case n < 75:
		topic := []string{"offers", "recommendations", "surveys"}[p.intn(3)]
		body = map[string]any{"topics": map[string]any{topic: false}}
		kind = "left a topic (API)"
	case n < 88:
		body = map[string]any{"channels": map[string]any{"sms": map[string]any{"quiet_hours": map[string]any{"start": "18:00", "end": "10:00"}},
			"email": map[string]any{"quiet_hours": map[string]any{"start": "20:00", "end": "09:00"}}}}
		kind = "longer quiet hours (API)"
	default:
		body = map[string]any{"frequency": map[string]any{"caps": []any{map[string]any{"channel": "all", "max": 1, "per": "7d"}}}}
		kind = "at most once a week (API)"
	}
	body["evidence"] = map[string]any{"source": "simulation", "note": "changed their mind mid-journey"}
	if err := s.do(ctx, http.MethodPut, "/v1/customers/"+p.id+"/preferences", body, nil, http.StatusOK); err != nil {
		s.fail(fmt.Errorf("simulation: %w", err))
		return
	}
	s.changed(kind)
}
