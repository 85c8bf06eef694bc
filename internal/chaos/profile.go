package chaos

import (
	"fmt"
	"time"
)

// Action is one fault a profile injects at a moment of the run.
type Action struct {
	// At is when, counted from the first event posted.
	At time.Duration
	// Kind is what happens: "kill" a worker with SIGKILL (it is started
	// again, as an orchestrator would), stop "postgres" for a while, take
	// SendGrid down ("sendgrid-down": 503 to every request) for a while,
	// or set the provider "faults".
	Kind string
	// Worker is the worker killed ("kill").
	Worker int
	// For is how long PostgreSQL stays down ("postgres"), or SendGrid
	// answers 503 to every request without taking it ("sendgrid-down").
	For time.Duration
	// Faults are the provider fault rates from now on ("faults").
	Faults Faults
}

// Profile says how big a chaos run is and which faults it injects when.
type Profile struct {
	Name string
	// Customers go through the journey, their events spread evenly over
	// PostOver.
	Customers int
	PostOver  time.Duration
	// Workers is the number of `rapport worker` processes.
	Workers int
	// Schedule lists the faults, in order of At.
	Schedule []Action
	// Settle bounds the wait, after the schedule, for every run to end.
	Settle time.Duration
	// Journeys are the journeys every customer goes through (chaos, the
	// transactional one, and chaos-offer, a marketing email).
	Journeys []string
	// AtLeastOnce runs the workers with RAPPORT_IN_DOUBT_AT_LEAST_ONCE=email
	// and a 2-minute deadline instead of the defaults: the short profile
	// does, so that CI need not wait out SendGrid's evidence window.
	AtLeastOnce bool
}

// Profiles are the profiles `rapport chaos --profile` knows.
var Profiles = map[string]Profile{
	// short runs in CI: a few minutes on a 2-core machine.
	"short": {
		Name: "short", Customers: 80, PostOver: 40 * time.Second, Workers: 2,
		Schedule: []Action{
			{At: 5 * time.Second, Kind: "faults", Faults: Faults{AfterAccept: 0.15}},
			{At: 10 * time.Second, Kind: "kill", Worker: 0},
			{At: 20 * time.Second, Kind: "faults", Faults: Faults{Throttle: 0.3}},
			{At: 25 * time.Second, Kind: "postgres", For: 30 * time.Second},
			{At: 60 * time.Second, Kind: "faults", Faults: Faults{Hang: 0.05, AfterAccept: 0.05}},
			{At: 65 * time.Second, Kind: "kill", Worker: 1},
			{At: 85 * time.Second, Kind: "faults", Faults: Faults{}},
		},
		Settle: 4 * time.Minute, Journeys: []string{"chaos"}, AtLeastOnce: true,
	},
	// full is the run docs/operating.md quotes: 3 worker kills, 2 outages
	// of 35s, the default settings.
	"full": {
		Name: "full", Customers: 300, PostOver: 150 * time.Second, Workers: 3,
		Schedule: []Action{
			{At: 5 * time.Second, Kind: "faults", Faults: Faults{AfterAccept: 0.1}},
			{At: 15 * time.Second, Kind: "kill", Worker: 0},
			{At: 30 * time.Second, Kind: "postgres", For: 35 * time.Second},
			{At: 70 * time.Second, Kind: "faults", Faults: Faults{Throttle: 0.3}},
			{At: 80 * time.Second, Kind: "kill", Worker: 1},
			{At: 90 * time.Second, Kind: "faults", Faults: Faults{Hang: 0.05, AfterAccept: 0.05}},
			{At: 115 * time.Second, Kind: "postgres", For: 35 * time.Second},
			{At: 155 * time.Second, Kind: "kill", Worker: 2},
			{At: 160 * time.Second, Kind: "faults", Faults: Faults{Throttle: 0.3, AfterAccept: 0.1}},
			{At: 180 * time.Second, Kind: "faults", Faults: Faults{}},
		},
		Settle: 10 * time.Minute, Journeys: []string{"chaos", "chaos-offer"},
	},
	// outage takes SendGrid down for three minutes (503 to every request,
	// nothing taken) while customers keep coming, with the default
	// settings: every email of the outage must go again after it, once,
	// the transactional ones first.
	"outage": {
		Name: "outage", Customers: 150, PostOver: 7 * time.Minute, Workers: 2,
		Schedule: []Action{
			{At: 60 * time.Second, Kind: "sendgrid-down", For: 3 * time.Minute},
			{At: 90 * time.Second, Kind: "kill", Worker: 0},
		},
		Settle: 12 * time.Minute, Journeys: []string{"chaos", "chaos-offer"},
	},
}

// describe says what an action does, for progress lines.
func (a Action) describe() string {
	switch a.Kind {
	case "kill":
		return fmt.Sprintf("SIGKILL worker %d", a.Worker)
	case "postgres":
		return fmt.Sprintf("stop PostgreSQL for %s", a.For)
	case "sendgrid-down":
		return fmt.Sprintf("SendGrid answers 503 to every request for %s", a.For)
	case "faults":
		if a.Faults == (Faults{}) {
			return "providers healthy again"
		}
		return fmt.Sprintf("provider faults: %.0f%% 5xx after accepting, %.0f%% hang, %.0f%% 429",
			100*a.Faults.AfterAccept, 100*a.Faults.Hang, 100*a.Faults.Throttle)
	}
	return a.Kind
}
