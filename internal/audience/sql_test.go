package audience_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rapporthq/rapport/internal/audience"
	"github.com/rapporthq/rapport/internal/journey"
	"github.com/rapporthq/rapport/internal/store"
	"github.com/rapporthq/rapport/internal/store/storetest"
)

func env(t testing.TB) *journey.Env {
	t.Helper()
	e, err := journey.NewEnv()
	require.NoError(t, err)
	return e
}

func TestTranslate(t *testing.T) {
	e := env(t)
	now := time.Date(2026, 11, 22, 9, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		expr  string
		exact bool
		sql   []string
		cel   []string
		args  int
	}{
		{"days_since_last_order >= 90 && orders_count >= 1", true, []string{"days_since_last_order >= 90", "orders_count >= 1"}, nil, 2},
		{"customer.country == \"GB\" && lifetime_value > 100", true, []string{`customer.country == "GB"`, "lifetime_value > 100"}, nil, 2},
		{"\"vip\" in tags && has_email", true, []string{`"vip" in tags`, "has_email"}, nil, 1},
		{"country in [\"GB\", \"FR\"] || !has_phone", true, []string{`country in ["GB", "FR"] || !has_phone`}, nil, 1},
		{"orders_count >= 2 && attributes[\"tier\"] == \"gold\"", false, []string{"orders_count >= 2"}, []string{`attributes["tier"] == "gold"`}, 1},
		{"has_postal_address", false, nil, []string{"has_postal_address"}, 0},
		// A disjunction with a part SQL cannot decide is left whole to CEL.
		{"orders_count > 5 || attributes[\"tier\"] == \"gold\"", false, nil, []string{`orders_count > 5 || attributes["tier"] == "gold"`}, 0},
		{"90 <= days_since_last_order", true, []string{"90 <= days_since_last_order"}, nil, 1},
	} {
		t.Run(tc.expr, func(t *testing.T) {
			f, err := audience.Translate(e, tc.expr, now, 3)
			require.NoError(t, err)
			assert.Equal(t, tc.exact, f.Exact)
			assert.Equal(t, tc.sql, f.SQL)
			assert.Equal(t, tc.cel, f.CEL)
			assert.Len(t, f.Args, tc.args)
			if tc.args > 0 {
				assert.Contains(t, f.Where, "$3")
				assert.NotContains(t, f.Where, fmt.Sprintf("$%d", 3+tc.args))
			}
			assert.NotContains(t, f.Where, "GB", "literals are parameters, never SQL text")
		})
	}
	_, err := audience.Translate(e, "orders_count >= ", now, 3)
	assert.Error(t, err)
}

// TestTranslationAgreesWithCEL: over random customers stored through the
// store (so the order figures are kept as in production), the SQL filter
// selects exactly the customers CEL selects when it is exact, and a
// superset otherwise.
func TestTranslationAgreesWithCEL(t *testing.T) {
	t.Parallel()
	s, _ := storetest.New(t)
	ctx := context.Background()
	e := env(t)
	now := time.Now().UTC().Truncate(time.Microsecond)
	rng := rand.New(rand.NewPCG(7, 11))
	countries := []string{"GB", "FR", "US", ""}
	for i := range 300 {
		id := fmt.Sprintf("c_%03d", i)
		c := store.Customer{ID: id, Locale: []string{"en-GB", "fr-FR", ""}[rng.IntN(3)],
			Address: store.Address{Country: countries[rng.IntN(len(countries))]}, Attributes: map[string]any{}}
		if rng.IntN(2) == 0 {
			c.Email = id + "@example.com"
		}
		if rng.IntN(3) == 0 {
			c.Phone = "+447911123456"
		}
		switch rng.IntN(4) {
		case 0:
			c.Attributes["tags"] = []any{"vip", "tea"}
		case 1:
			c.Attributes["tags"] = []any{"tea"}
		case 2:
			c.Attributes["tags"] = "vip" // not a list: no tags
		}
		_, err := s.UpsertCustomer(ctx, c)
		require.NoError(t, err)
		// Orders around day boundaries: whole days ago, a second either
		// side, an hour more recent (never in the future).
		for range rng.IntN(3) {
			days := []int{0, 1, 29, 30, 89, 90, 91, 200}[rng.IntN(8)]
			offset := []time.Duration{0, time.Second, -time.Second, time.Hour}[rng.IntN(4)]
			placed := now.Add(-time.Duration(days)*24*time.Hour + offset)
			if placed.After(now) {
				placed = now
			}
			_, err := s.RecordOrder(ctx, store.Order{ID: fmt.Sprintf("o-%s-%d", id, rng.Int()), CustomerID: id,
				Total: float64(rng.IntN(30000)) / 100, Currency: "GBP", PlacedAt: placed})
			require.NoError(t, err)
		}
	}
	exprs := []string{
		"days_since_last_order >= 90 && orders_count >= 1",
		"days_since_last_order > 89", "days_since_last_order < 30", "days_since_last_order <= 30",
		"days_since_last_order == -1", "days_since_last_order != -1", "days_since_last_order == 0",
		"days_since_last_order >= 0", "days_since_last_order < 1", "days_since_last_order > 89.5",
		"days_since_last_order == 90", "days_since_last_order != 90", "days_since_last_order >= -1",
		"orders_count == 0", "orders_count > 1", "orders_count <= 1.5", "orders_count in [0, 2]",
		"lifetime_value > 100", "lifetime_value <= 150.5", "lifetime_value == 0.0",
		`country == "GB"`, `country != "GB"`, `country in ["FR", "US"]`, `customer.country < "G"`,
		`locale == "fr-FR" || locale == ""`, "has_email", "!has_email", "has_email == false", "has_phone != true",
		`"vip" in tags`, `!("vip" in tags)`, `"vip" in tags || orders_count == 0`,
		`has_postal_address || has_email`, `attributes["tags"] == "vip" && has_email`,
		`country == "GB" && tags.size() > 1`, "true", "false && has_email",
	}
	for _, expr := range exprs {
		f, err := audience.Translate(e, expr, now, store.AudienceArgBase)
		require.NoError(t, err, expr)
		page, err := s.ScanCustomers(ctx, "", 1000, f.Where, f.Args, now)
		require.NoError(t, err, "%s: %s", expr, f.Where)
		require.Equal(t, 300, page.Scanned)
		var bySQL, byCEL []string
		for _, p := range page.Prospects {
			bySQL = append(bySQL, p.Facts.ID)
		}
		all, err := s.ScanCustomers(ctx, "", 1000, "true", nil, now)
		require.NoError(t, err)
		for _, p := range all.Prospects {
			facts, err := s.CustomerFacts(ctx, p.Facts.ID, now)
			require.NoError(t, err)
			// A condition that cannot be evaluated (a missing key) leaves
			// the customer out, as audience runs do.
			if ok, err := e.EvalAudience(expr, facts); err == nil && ok {
				byCEL = append(byCEL, p.Facts.ID)
			}
		}
		if f.Exact {
			assert.Equal(t, byCEL, bySQL, "%s (exact) selects what CEL selects; SQL: %s", expr, f.Where)
		} else {
			for _, id := range byCEL {
				assert.True(t, slices.Contains(bySQL, id), "%s: SQL (%s) leaves out %s, whom CEL selects", expr, f.Where, id)
			}
		}
	}
}
