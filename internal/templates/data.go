package templates

// What templates are rendered with: the customer, the event, the order,
// the voucher, the products, the links and the shop; and what rendering
// gives back.

import (
	"fmt"
	"strings"
	"time"

	loc "github.com/rapporthq/rapport/internal/locale"
	"github.com/rapporthq/rapport/internal/money"
)

// Data is what a template can use.
type Data struct {
	Customer Customer
	// Order is the order the journey is about (the triggering order), or nil.
	Order *Order
	// Trigger is the event that started the journey, with its data
	// ({{.Trigger.Data.cart}}); an audience journey's has no id and no
	// data.
	Trigger *Event
	// Fallback says why this message goes on this channel rather than an
	// earlier one of the step ({{.Fallback.From}} was skipped or failed,
	// {{.Fallback.Reason}}), or is nil on the step's first channel.
	Fallback *Fallback
	// Voucher is the voucher the send step issued, or nil.
	Voucher *Voucher
	// Products are the products the send step recommends.
	Products []Product
	Links    Links
	Journey  string
	Step     string
	Shop     Shop
}

// Customer is the customer as templates see them.
type Customer struct {
	ID        string
	Name      string
	FirstName string
	Email     string
	Locale    string
	// Country is the ISO 3166 code of their postal address (GB), or "".
	Country string
	// Attributes are the shop's own facts about them
	// ({{.Customer.Attributes.tier}}).
	Attributes map[string]any
}

// Event is an event as templates see it.
type Event struct {
	ID         string
	Type       string
	OccurredAt time.Time
	// Data is the event's data as the shop sent it; numbers keep the
	// digits they were sent with ("48.00").
	Data map[string]any
}

// Fallback is why a message goes on a later channel of its step.
type Fallback struct {
	From string // the channel tried before: email, sms or mail
	// Reason is why it did not go there, in words: rendering puts it in
	// the customer's language (see localReason).
	Reason string
	// Channel is From in the customer's words ("text message", "SMS");
	// rendering sets it.
	Channel string
}

// Order is an order as templates see it.
type Order struct {
	ID       string
	Total    money.Amount
	Currency string
	Gift     bool
	PlacedAt time.Time
	Items    []Item
}

// ItemNames lists the names of the order's items.
func (o *Order) ItemNames() []string {
	names := make([]string, len(o.Items))
	for i, it := range o.Items {
		names[i] = it.Name
	}
	return names
}

// Item is one line of an order.
type Item struct {
	ProductID string
	Name      string
	Quantity  int
	Price     money.Amount
}

// Voucher is a discount code.
type Voucher struct {
	Code      string
	Percent   float64      // set for a percentage off
	Amount    money.Amount // set for an amount off
	Currency  string
	ExpiresAt time.Time
	// Locale is the locale Description writes the amount for; rendering
	// sets it to the customer's when it is empty.
	Locale string
}

// Description says what the voucher is worth, in the words of its
// locale: "15% off", "£10.00 off", "10,00 € de réduction" for a fr-FR
// customer, "10,00 € off" for a de-DE one (no German words yet).
func (v *Voucher) Description() string {
	if v.Percent > 0 {
		return loc.T(v.Locale, "voucher.off", loc.Percent(v.Percent, places(v.Percent), v.Locale))
	}
	return loc.T(v.Locale, "voucher.off", money.Format(v.Amount, v.Currency, v.Locale))
}

// places is how many decimal places a percentage needs, up to two: 0 for
// 15, 1 for 12.5.
func places(f float64) int {
	s := strings.TrimSuffix(strings.TrimRight(fmt.Sprintf("%.2f", f), "0"), ".")
	if _, frac, ok := strings.Cut(s, "."); ok {
		return len(frac)
	}
	return 0
}

// Product is a product to suggest.
type Product struct {
	ID       string
	Name     string
	Price    money.Amount
	Currency string
	URL      string
	ImageURL string
}

// Links are signed links for the customer.
type Links struct {
	// Survey is the satisfaction survey for this message.
	Survey string
	// Preferences is the customer's preference center.
	Preferences string
	// Unsubscribe leaves the message's topic in one click.
	Unsubscribe string
}

// Shop describes the sender.
type Shop struct {
	Name         string
	URL          string
	SupportEmail string
}

// Email is a rendered email.
type Email struct {
	Subject string
	Text    string
	HTML    string
}

// Mail is rendered printed mail: a letter (HTML) or a postcard (Front and
// Back).
type Mail struct {
	Kind  string // "letter" or "postcard"
	HTML  string
	Front string
	Back  string
}
