package postal

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func us() Address {
	return Address{Line1: "185 Berry St", Line2: "Suite 6100", City: "San Francisco", State: "CA", PostalCode: "94107", Country: "US"}
}

func gb() Address {
	return Address{Line1: "12 St James's Square", City: "London", PostalCode: "SW1Y 4LB", Country: "GB"}
}

// TestCheck holds one passing and one failing case per rule of Lob's
// inline address, US and international.
func TestCheck(t *testing.T) {
	for _, tc := range []struct {
		name  string
		edit  func(a *Address)
		base  func() Address
		field string // "" when the address passes
	}{
		{"us ok", func(a *Address) {}, us, ""},
		{"us zip+4", func(a *Address) { a.PostalCode = "94107-1741" }, us, ""},
		{"us line1 at 64", func(a *Address) { a.Line1 = strings.Repeat("a", 64) }, us, ""},
		{"us line1 over 64", func(a *Address) { a.Line1 = strings.Repeat("a", 65) }, us, "line1"},
		{"us line1 counts characters", func(a *Address) { a.Line1 = strings.Repeat("é", 64) }, us, ""},
		{"us line2 at 64", func(a *Address) { a.Line2 = strings.Repeat("b", 64) }, us, ""},
		{"us line2 over 64", func(a *Address) { a.Line2 = strings.Repeat("b", 65) }, us, "line2"},
		{"us city at 200", func(a *Address) { a.City = strings.Repeat("c", 200) }, us, ""},
		{"us city over 200", func(a *Address) { a.City = strings.Repeat("c", 201) }, us, "city"},
		{"us city required", func(a *Address) { a.City = "" }, us, "city"},
		{"us state lower case", func(a *Address) { a.State = "ca" }, us, ""},
		{"us state territory", func(a *Address) { a.State = "PR"; a.PostalCode = "00901" }, us, ""},
		{"us state military", func(a *Address) { a.State = "AE"; a.PostalCode = "09001" }, us, ""},
		{"us state spelt out", func(a *Address) { a.State = "California" }, us, "state"},
		{"us state not a state", func(a *Address) { a.State = "ZZ" }, us, "state"},
		{"us state required", func(a *Address) { a.State = "" }, us, "state"},
		{"us zip five letters", func(a *Address) { a.PostalCode = "9410A" }, us, "postal_code"},
		{"us zip four digits", func(a *Address) { a.PostalCode = "9410" }, us, "postal_code"},
		{"us zip bad plus four", func(a *Address) { a.PostalCode = "94107-17" }, us, "postal_code"},
		{"us zip required", func(a *Address) { a.PostalCode = "" }, us, "postal_code"},
		{"us territory as country", func(a *Address) { a.Country = "PR"; a.State = "" }, us, "country"},
		{"country required with a street", func(a *Address) { a.Country = "" }, us, "country"},
		{"country must be a code", func(a *Address) { a.Country = "United States" }, us, "country"},

		{"gb ok", func(a *Address) {}, gb, ""},
		{"gb line1 at 200", func(a *Address) { a.Line1 = strings.Repeat("a", 200) }, gb, ""},
		{"gb line1 over 200", func(a *Address) { a.Line1 = strings.Repeat("a", 201) }, gb, "line1"},
		{"gb line2 over 200", func(a *Address) { a.Line2 = strings.Repeat("a", 201) }, gb, "line2"},
		{"gb city over 200", func(a *Address) { a.City = strings.Repeat("a", 201) }, gb, "city"},
		{"gb state at 200", func(a *Address) { a.State = strings.Repeat("s", 200) }, gb, ""},
		{"gb state over 200", func(a *Address) { a.State = strings.Repeat("s", 201) }, gb, "state"},
		{"gb postcode at 40", func(a *Address) { a.PostalCode = strings.Repeat("1", 40) }, gb, ""},
		{"gb postcode over 40", func(a *Address) { a.PostalCode = strings.Repeat("1", 41) }, gb, "postal_code"},
		{"gb any postcode form", func(a *Address) { a.PostalCode = "not checked" }, gb, ""},
		{"gb city and state instead of postcode", func(a *Address) { a.PostalCode = ""; a.State = "Greater London" }, gb, ""},
		{"gb postcode without city", func(a *Address) { a.City = "" }, gb, ""},
		{"gb neither postcode nor city and state", func(a *Address) { a.PostalCode = "" }, gb, "postal_code"},
		{"gb line2 over 64 is fine abroad", func(a *Address) { a.Line2 = strings.Repeat("a", 100) }, gb, ""},
		{"country Lob does not serve", func(a *Address) { a.Country = "JE" }, gb, "country"},
		{"country Lob does not serve: PS", func(a *Address) { a.Country = "PS" }, gb, "country"},

		{"a line break in line1", func(a *Address) { a.Line1 = "1 High St\r\nBcc: x" }, gb, "line1"},
		{"a tab in the city", func(a *Address) { a.City = "Lon\tdon" }, us, "city"},
		{"a line separator in line2", func(a *Address) { a.Line2 = "Flat 2\u2028Floor 3" }, gb, "line2"},
		{"a control character in the postcode", func(a *Address) { a.PostalCode = "SW1\x07" }, gb, "postal_code"},
		{"a line break without a street", func(a *Address) { *a = Address{State: "A\nB"} }, gb, "state"},

		{"no street: a country alone", func(a *Address) { *a = Address{Country: "JE"} }, gb, ""},
		{"no street: nothing", func(a *Address) { *a = Address{} }, gb, ""},
		{"no street: fields still checked", func(a *Address) { *a = Address{Country: "US", PostalCode: "SW1"} }, gb, "postal_code"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := tc.base()
			tc.edit(&a)
			err := Check(a)
			if tc.field == "" {
				assert.NoError(t, err)
				return
			}
			var fe *FieldError
			require.ErrorAs(t, err, &fe)
			assert.Equal(t, tc.field, fe.Field, "%v", err)
			assert.True(t, strings.HasPrefix(err.Error(), tc.field+": "), err.Error())
		})
	}
}

func TestCountriesExcludeUSTerritories(t *testing.T) {
	for _, c := range append([]string{"US", "PS"}, usTerritories...) {
		assert.NotContains(t, Countries, c)
	}
	assert.Len(t, Countries, 216, "Lob's country_extended list")
}
