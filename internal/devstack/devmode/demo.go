package devmode

import (
	"context"
	"errors"
	"time"

	"github.com/rapporthq/rapport/internal/money"
	"github.com/rapporthq/rapport/internal/phone"
	"github.com/rapporthq/rapport/internal/store"
)

// SeedDemo creates the demo data unless it exists (edits made to it are
// kept): customers, their order history (no journeys start for it), and a
// small tea catalog with the products that go together.
func SeedDemo(ctx context.Context, s *store.Store) error {
	for _, c := range []store.Customer{
		{ID: "c_ada", Email: "ada@example.com", Phone: "+44 7911 123456", Name: "Ada Lovelace", Locale: "en-GB", TimeZone: "Europe/London",
			Address:    store.Address{Line1: "12 St James's Square", City: "London", PostalCode: "SW1Y 4LB", Country: "GB"},
			Attributes: map[string]any{"tier": "gold", "tags": []any{"tea"}}},
		{ID: "c_linus", Email: "linus@example.com", Name: "Linus Pauling", Locale: "en-US", TimeZone: "America/Los_Angeles",
			Address:    store.Address{Line1: "1 Dolores St", City: "San Francisco", State: "CA", PostalCode: "94110", Country: "US"},
			Attributes: map[string]any{}},
		{ID: "c_grace", Email: "grace@example.com", Phone: "+1 212 555 2368", Name: "Grace Hopper", Locale: "en-US", TimeZone: "America/New_York",
			Address:    store.Address{Line1: "1 Navy Way", City: "Arlington", State: "VA", PostalCode: "22202", Country: "US"},
			Attributes: map[string]any{"tier": "silver"}},
		{ID: "c_alan", Name: "Alan Turing", Locale: "en-GB", TimeZone: "Europe/London", Attributes: map[string]any{}},
	} {
		if _, err := s.GetCustomer(ctx, c.ID); err == nil {
			continue
		} else if !errors.Is(err, store.ErrNotFound) {
			return err
		}
		if c.Phone != "" {
			c.PhoneE164, _ = phone.Normalize(c.Phone, c.Address.Country)
		}
		if _, err := s.UpsertCustomer(ctx, c); err != nil {
			return err
		}
		// Ada and Grace said yes to texts and calls when they signed up.
		if c.Phone != "" {
			for _, ch := range []string{"sms", "phone"} {
				if _, err := s.RecordConsent(ctx, c.ID, ch, "opted_in", "demo", store.Evidence{Shown: "sign-up form: texts and calls about offers"}); err != nil {
					return err
				}
			}
		}
	}
	p := func(id, name string, price string, comps map[string]float64) store.Product {
		return store.Product{ID: id, Name: name, Price: money.MustParse(price), Currency: "GBP", URL: "https://shop.example/p/" + id, Active: true, Complements: comps}
	}
	if err := s.UpsertProducts(ctx, []store.Product{
		p("tea-earl-grey", "Earl Grey tea", "8.5", map[string]float64{"teapot-blue": 0.9, "cup-stoneware": 0.6, "biscuits-shortbread": 0.5, "honey-wildflower": 0.3}),
		p("tea-sencha", "Sencha green tea", "9.5", map[string]float64{"strainer": 0.8, "cup-stoneware": 0.6, "honey-wildflower": 0.4}),
		p("teapot-blue", "Blue stoneware teapot", "32", map[string]float64{"tea-cosy": 0.9, "strainer": 0.7, "cup-stoneware": 0.5}),
		p("cup-stoneware", "Stoneware cup", "12", map[string]float64{"teapot-blue": 0.4, "biscuits-shortbread": 0.5}),
		p("honey-wildflower", "Wildflower honey", "7", map[string]float64{"biscuits-shortbread": 0.3}),
		p("tea-cosy", "Knitted tea cosy", "18", nil),
		p("strainer", "Tea strainer", "6", nil),
		p("biscuits-shortbread", "Shortbread biscuits", "5", nil),
	}); err != nil {
		return err
	}
	now := time.Now().UTC()
	for _, o := range []store.Order{
		{ID: "o-ada-1", CustomerID: "c_ada", Total: money.MustParse("22"), Currency: "GBP", PlacedAt: now.AddDate(0, 0, -120),
			Items: []store.Item{{ProductID: "tea-earl-grey", Name: "Earl Grey tea", Quantity: 2, Price: money.MustParse("8.5")}, {ProductID: "biscuits-shortbread", Name: "Shortbread biscuits", Quantity: 1, Price: money.MustParse("5")}}},
		{ID: "o-linus-1", CustomerID: "c_linus", Total: money.MustParse("9.5"), Currency: "USD", PlacedAt: now.AddDate(0, 0, -200),
			Items: []store.Item{{ProductID: "tea-sencha", Name: "Sencha green tea", Quantity: 1, Price: money.MustParse("9.5")}}},
		{ID: "o-grace-1", CustomerID: "c_grace", Total: money.MustParse("8.5"), Currency: "USD", PlacedAt: now.AddDate(0, 0, -40),
			Items: []store.Item{{ProductID: "tea-earl-grey", Name: "Earl Grey tea", Quantity: 1, Price: money.MustParse("8.5")}}},
		{ID: "o-grace-2", CustomerID: "c_grace", Total: money.MustParse("32"), Currency: "USD", Gift: true, PlacedAt: now.AddDate(0, 0, -10),
			Items: []store.Item{{ProductID: "teapot-blue", Name: "Blue stoneware teapot", Quantity: 1, Price: money.MustParse("32")}}},
	} {
		if _, err := s.RecordOrder(ctx, o); err != nil {
			return err
		}
	}
	return nil
}
