// Package money carries amounts of money exactly: as decimals, never as
// binary floating point, from the JSON a shop posts through the database to
// the words a customer reads. An Amount is read from a JSON number (48.0)
// or a decimal string ("48.00", as Shopify and Stripe send), stored in a
// NUMERIC column, and formatted for a currency and a locale by Format.
package money

import (
	"bytes"
	"database/sql/driver"
	"encoding/json"
	"fmt"
	"regexp"

	"github.com/shopspring/decimal"
)

// MaxIntegerDigits and MaxDecimalPlaces bound every Amount: wider than any
// price or order total (a trillion in any currency, and ISO 4217's largest
// minor unit, four places), narrow enough that no amount is huge or
// absurdly precise.
const (
	MaxIntegerDigits = 15
	MaxDecimalPlaces = 6
)

// maxText bounds the text of an amount read from JSON or a string.
const maxText = 64

// Amount is an exact decimal amount of money. The zero value is 0. Its
// scale (the places after the point) is kept as given: "48.00" stays
// 48.00, so an amount is read back as it was sent.
type Amount struct {
	d decimal.Decimal
}

// decimalRe is a plain decimal string: no exponent, no grouping, no sign
// but a leading minus.
var decimalRe = regexp.MustCompile(`^-?[0-9]+(\.[0-9]+)?$`)

// jsonNumberRe is a JSON number, which may have an exponent.
var jsonNumberRe = regexp.MustCompile(`^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?$`)

// Accepted says which forms an amount may take, for error messages.
const Accepted = `give a number (48.0) or a decimal string ("48.00")`

// Parse reads a plain decimal string such as "48.00" or "-3.5".
func Parse(s string) (Amount, error) {
	if len(s) > maxText || !decimalRe.MatchString(s) {
		return Amount{}, notAmount(quote(s))
	}
	return parse(s, quote(s))
}

// MustParse is Parse for amounts written in code; it panics on a bad one.
func MustParse(s string) Amount {
	a, err := Parse(s)
	if err != nil {
		panic(err)
	}
	return a
}

// FromMinor returns units minor units of a currency with the given
// exponent: FromMinor(4800, 2) is 48.00.
func FromMinor(units int64, exponent int) Amount {
	return Amount{d: decimal.New(units, int32(-exponent))}
}

func parse(s, shown string) (Amount, error) {
	d, err := decimal.NewFromString(s)
	if err != nil {
		return Amount{}, notAmount(shown)
	}
	a := Amount{d: d}
	if a.Scale() > MaxDecimalPlaces || a.integerDigits() > MaxIntegerDigits {
		return Amount{}, fmt.Errorf("%s is out of range: an amount has at most %d digits before the point and %d after", shown, MaxIntegerDigits, MaxDecimalPlaces)
	}
	// Keep the scale given ("48.00"), but never a positive exponent:
	// 4.8e1 is 48.
	if d.Exponent() > 0 {
		a.d = decimal.NewFromBigInt(d.BigInt(), 0)
	}
	return a, nil
}

func notAmount(shown string) error {
	return fmt.Errorf("%s is not an amount; %s", shown, Accepted)
}

func quote(s string) string {
	if len(s) > maxText {
		s = s[:maxText] + "..."
	}
	b, _ := json.Marshal(s)
	return string(b)
}

// UnmarshalJSON reads a JSON number (48.0) or a decimal string ("48.00").
// The error for anything else says what it got and both accepted forms.
func (a *Amount) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > maxText+2 {
		return fmt.Errorf("a value of %d characters is not an amount; %s", len(b), Accepted)
	}
	switch {
	case len(b) > 0 && b[0] == '"':
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return notAmount(string(b))
		}
		if !decimalRe.MatchString(s) {
			return notAmount(string(b))
		}
		v, err := parse(s, string(b))
		if err != nil {
			return err
		}
		*a = v
		return nil
	case jsonNumberRe.Match(b):
		v, err := parse(string(b), string(b))
		if err != nil {
			return err
		}
		*a = v
		return nil
	}
	return notAmount(string(b))
}

// MarshalJSON writes the amount as a JSON number with its scale, 48.00:
// exact for a reader that keeps decimals, and a number to one that does
// not.
func (a Amount) MarshalJSON() ([]byte, error) {
	return []byte(a.String()), nil
}

// String is the amount as a plain decimal with its scale: "48.00".
func (a Amount) String() string {
	if s := a.Scale(); s > 0 {
		return a.d.StringFixed(int32(s))
	}
	return a.d.String()
}

// Scale is the number of places after the point: 2 for 48.00, 0 for 48.
func (a Amount) Scale() int {
	if e := a.d.Exponent(); e < 0 {
		return int(-e)
	}
	return 0
}

func (a Amount) integerDigits() int {
	n := len(a.d.Abs().Truncate(0).String())
	if a.d.Abs().LessThan(decimal.New(1, 0)) {
		return 0
	}
	return n
}

// Float64 is the amount as a float64, for statistics (not for sums that
// must stay exact).
func (a Amount) Float64() float64 { f, _ := a.d.Float64(); return f }

// IsZero reports whether the amount is 0 (at any scale).
func (a Amount) IsZero() bool { return a.d.IsZero() }

// Sign is -1, 0 or 1.
func (a Amount) Sign() int { return a.d.Sign() }

// Cmp compares two amounts by value: -1, 0 or 1.
func (a Amount) Cmp(b Amount) int { return a.d.Cmp(b.d) }

// Equal reports whether two amounts have the same value (48 equals 48.00).
func (a Amount) Equal(b Amount) bool { return a.d.Equal(b.d) }

// Add returns a+b, exactly.
func (a Amount) Add(b Amount) Amount { return Amount{d: a.d.Add(b.d)} }

// Mul returns the amount times a whole number, exactly: a line's price
// times its quantity.
func (a Amount) Mul(n int64) Amount { return Amount{d: a.d.Mul(decimal.NewFromInt(n))} }

// WithScale returns the amount with places places after the point, padded
// with zeros or rounded half away from zero: 48 with 2 is 48.00.
func (a Amount) WithScale(places int) Amount {
	return Amount{d: a.d.Round(int32(places))}
}

// Scan reads an amount from a NUMERIC column (database/sql and pgx hand
// it over as text).
func (a *Amount) Scan(src any) error {
	var s string
	switch v := src.(type) {
	case string:
		s = v
	case []byte:
		s = string(v)
	case int64:
		*a = Amount{d: decimal.NewFromInt(v)}
		return nil
	case nil:
		return fmt.Errorf("scan amount: NULL is not an amount")
	default:
		return fmt.Errorf("scan amount: cannot read %T; store amounts in NUMERIC columns", src)
	}
	d, err := decimal.NewFromString(s)
	if err != nil {
		return fmt.Errorf("scan amount %q: %w", s, err)
	}
	*a = Amount{d: d}
	return nil
}

// Value writes the amount to a NUMERIC column, as its decimal text.
func (a Amount) Value() (driver.Value, error) {
	return a.String(), nil
}
