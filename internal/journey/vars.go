package journey

import "time"

// The types in this file are the schema journeys are written against. CEL
// expressions see them as the variables `customer`, `event`, `trigger`,
// `order` and `task`
// (field names are the json tags), the interpreter evaluates expressions over
// them, and the API fills them from what shops post. Contact details (email
// address, phone number, postal address) are deliberately absent: journeys
// decide on facts about a customer, and only the send activity ever touches
// where a message goes.

// Customer is what a journey may know about a customer when it decides.
type Customer struct {
	ID       string `json:"id"`
	Locale   string `json:"locale"`
	TimeZone string `json:"time_zone"`
	// Zone is the time zone Rapport uses for the customer: their own,
	// else their country's, else the default (RAPPORT_DEFAULT_TIME_ZONE).
	// Expressions read local times with it: now.getHours(customer.zone).
	Zone               string         `json:"zone"`
	Country            string         `json:"country"`
	HasEmail           bool           `json:"has_email"`
	HasPhone           bool           `json:"has_phone"`
	HasPostalAddress   bool           `json:"has_postal_address"`
	OrdersCount        int64          `json:"orders_count"`
	LifetimeValue      float64        `json:"lifetime_value"`
	DaysSinceLastOrder int64          `json:"days_since_last_order"`
	Tags               []string       `json:"tags"`
	Attributes         map[string]any `json:"attributes"`
	// PreferredChannels is the customer's own order of channels, if they
	// gave one.
	PreferredChannels []string `json:"preferred_channels"`
	// Orders are the customer's most recent orders, newest first: at most
	// MaxFactOrders, each with at most MaxFactItems items. Audiences
	// cannot use them (they look at every customer at once).
	Orders []Order `json:"orders,omitempty"`
	// Surveys are the customer's latest survey answers, newest first: at
	// most MaxFactSurveys. Audiences cannot use them.
	Surveys []SurveyAnswer `json:"surveys,omitempty"`
	// Engagement is what the providers reported back about the
	// customer's messages (engagement.go).
	Engagement Engagement `json:"engagement,omitzero"`
}

// Bounds of Customer.Orders and Customer.Surveys, so facts stay small in
// a run's history.
const (
	MaxFactOrders  = 10
	MaxFactItems   = 20
	MaxFactSurveys = 10
)

// SurveyAnswer is one of a customer's survey answers, as conditions see
// it: customer.surveys.exists(s, s.order_id == order.id && s.score <= 2).
type SurveyAnswer struct {
	// Survey names the survey: a record step's, else the journey's that
	// asked.
	Survey string `json:"survey"`
	Score  int64  `json:"score"`
	// OrderID is the order the answer is about ("" when none was known).
	OrderID string `json:"order_id"`
	// Source is where it came from: page (the survey page), sms, phone...
	Source     string    `json:"source"`
	AnsweredAt time.Time `json:"answered_at"`
}

// Event is something that happened to a customer: an order, a survey answer,
// a custom event from the shop.
type Event struct {
	ID         string         `json:"id"`
	Type       string         `json:"type"`
	CustomerID string         `json:"customer_id"`
	OccurredAt time.Time      `json:"occurred_at"`
	Data       map[string]any `json:"data"`
	// Order is filled for order events (data.order), so expressions can say
	// event.order.total without digging through data.
	Order Order `json:"order,omitzero"`
}

// Order is a purchase.
type Order struct {
	ID       string    `json:"id"`
	Total    float64   `json:"total"`
	Currency string    `json:"currency"`
	Gift     bool      `json:"gift"`
	Items    []Item    `json:"items"`
	PlacedAt time.Time `json:"placed_at"`
	// Status is the order's status now: placed, fulfilled, delivered,
	// cancelled, refunded, partly_refunded or returned. It is filled for
	// customer.orders; an event's order (and the trigger's, order) is the
	// order as the event carried it, without a status.
	Status string `json:"status"`
	// Refunded is how much of the total was refunded (customer.orders).
	Refunded float64 `json:"refunded"`
}

// Item is one line of an order.
type Item struct {
	ProductID string  `json:"product_id"`
	Name      string  `json:"name"`
	Quantity  int64   `json:"quantity"`
	Price     float64 `json:"price"`
}

// Task is the outcome of the latest staff task the journey created.
type Task struct {
	ID      string `json:"id"`
	Step    string `json:"step"`
	Kind    string `json:"kind"`
	Queue   string `json:"queue"`
	Outcome string `json:"outcome"`
	Notes   string `json:"notes"`
	// Overdue is true when the task was not completed in time.
	Overdue bool `json:"overdue"`
	// Skipped is true when no task was made: the customer opted out of
	// being called.
	Skipped bool `json:"skipped"`
}

// Vars are the values an expression is evaluated against.
type Vars struct {
	Customer Customer
	// Event is the latest event the run took in (the trigger, until a
	// wait matches another); Trigger is the event that started the run,
	// for its whole life.
	Event   Event
	Trigger Event
	Order   Order
	Task    Task
	// Now is the moment of the evaluation: the workflow's time in a
	// running journey (the same on every replay; the dev clock of a
	// scaled plan), the time the event came in for trigger.when.
	Now time.Time
}

// Location is the customer's time zone (Zone), UTC when it is not set.
func (c Customer) Location() *time.Location {
	if c.Zone == "" {
		return time.UTC
	}
	loc, err := time.LoadLocation(c.Zone)
	if err != nil {
		return time.UTC
	}
	return loc
}

// Today is the customer's date at a moment, in their zone: 2026-12-03.
func (c Customer) Today(now time.Time) string {
	return now.In(c.Location()).Format(time.DateOnly)
}
