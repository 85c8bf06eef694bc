package workflows

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rapporthq/rapport/internal/journey"
)

// celProbes are expressions whose results pin how the environment
// behaves, beyond what it declares: the standard library, the strings
// extension, Rapport's own functions, numbers, time and errors.
var celProbes = []string{
	`customer.orders_count >= 2 && customer.lifetime_value > 100.0`,
	`customer.lifetime_value == 120`,
	`"vip" in customer.tags`,
	`customer.attributes.tier == "gold"`,
	`customer.attributes.missing == "x"`,
	`has(customer.attributes.tier)`,
	`customer.days_since_last_order / 7`,
	`customer.orders_count * 1.5`,
	`1 / 0`,
	`9223372036854775807 + 1`,
	`-7 % 3`,
	`2.0 / 3.0`,
	`double("1e3")`,
	`int("12")`,
	`uint(3) == 3`,
	`"Grüße".size()`,
	`"Hello, World".lowerAscii()`,
	`"hello".upperAscii()`,
	`"a,b,,c".split(",")`,
	`" x ".trim()`,
	`"banana".indexOf("an")`,
	`"banana".lastIndexOf("an")`,
	`"banana".replace("an", "AN", 1)`,
	`"banana".substring(1, 4)`,
	`"abc".charAt(1)`,
	`["a", "b"].join("-")`,
	`"%s has %d orders worth %.2f".format(["Ada", 3, 42.5])`,
	`"%e".format([1234.5])`,
	`"%x".format([255])`,
	`strings.quote("a\nb")`,
	`"stressed".reverse()`,
	`"order.placed".startsWith("order.") && "order.placed".endsWith(".placed")`,
	`"abc123".matches("^[a-z]+[0-9]+$")`,
	`event.type == "order.placed" && event.order.total > 40.0`,
	`event.data.sku`,
	`event.data.count + 1`,
	`event.data.nested.deep`,
	`size(event.order.items)`,
	`event.order.items.exists(i, i.product_id == "tea")`,
	`event.order.items.all(i, i.quantity > 0)`,
	`event.order.items.map(i, i.name)`,
	`event.order.items.filter(i, i.price > 10.0).size()`,
	`event.order.items.exists_one(i, i.quantity == 2)`,
	`customer.attributes.map(k, k)`,
	`customer.attributes.exists(k, k.startsWith("t"))`,
	`now > timestamp("2026-01-01T00:00:00Z")`,
	`now.getHours("Europe/London")`,
	`now.getDayOfWeek(customer.zone)`,
	`now - duration("48h")`,
	`timestamp("2026-03-29T00:30:00Z").getHours("Europe/Paris")`,
	`today`,
	`days_between("2026-01-01", today)`,
	`days_between("2026-02-30", today)`,
	`event.occurred_at < now`,
	`type(customer.attributes.tier)`,
	`dyn(1) == 1.0`,
	`[1, 2, 3].map(x, x * 2)`,
	`{"b": 2, "a": 1}.map(k, k)`,
	`null == customer.attributes.missing_key`,
	`customer.orders.exists(o, o.status == "cancelled")`,
	`customer.surveys.exists(s, s.score <= 2 && s.order_id == "o_1")`,
	`customer.engagement.email.days_since_engaged`,
	`customer.engagement.email.opens_30d + customer.engagement.email.clicks_30d`,
	`customer.engagement.email.last_open_at`,
}

// TestCELEnvironmentIsPinned holds the CEL environment conditions are
// evaluated in (the cel-go version, what the environment declares, and
// how a set of expressions evaluate) to the one recorded for the current
// interpreter revision. Runs in flight evaluate their conditions again on
// every replay, so changing the environment (a cel-go upgrade, another
// version of an extension, a new function) is a change of the interpreter:
// raise CurrentRevision, record histories, and record the environment with
//
//	RAPPORT_RECORD_CEL_ENV=1 go test ./workflows -run TestCELEnvironmentIsPinned
//
// which writes testdata/cel-env-r<revision>.txt (keep the older files).
func TestCELEnvironmentIsPinned(t *testing.T) {
	got := celEnvironment(t)
	path := filepath.Join("testdata", fmt.Sprintf("cel-env-r%d.txt", CurrentRevision))
	if os.Getenv("RAPPORT_RECORD_CEL_ENV") == "1" {
		require.NoError(t, os.WriteFile(path, []byte(got), 0o644))
		t.Logf("recorded %s", path)
		return
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "no CEL environment recorded for interpreter revision %d: record it (see this test's comment)", CurrentRevision)
	if string(want) != got {
		t.Fatalf("the CEL environment differs from the one recorded for interpreter revision %d (%s).\n"+
			"Runs in flight evaluate their conditions again on replay: a change of the environment is a new interpreter revision. "+
			"Raise workflows.CurrentRevision, record histories, and record the environment (see this test's comment).\n%s",
			CurrentRevision, path, firstDifference(string(want), got))
	}
}

// celEnvironment describes the environment: the cel-go version (from
// go.mod), the declarations, and each probe's result.
func celEnvironment(t *testing.T) string {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "# The CEL environment of interpreter revision %d (TestCELEnvironmentIsPinned).\n", CurrentRevision)
	fmt.Fprintf(&b, "module %s\n", celModule(t))
	fmt.Fprintf(&b, "strings extension version %d\n", journey.StringsVersion)
	comp, err := journey.NewCompiler(journey.Options{})
	require.NoError(t, err)
	env := comp.Env()
	for _, d := range env.Declarations() {
		fmt.Fprintln(&b, d)
	}
	// The fields of the types expressions see (customer.orders[].status,
	// customer.engagement.email.opens_30d...): a field added, removed or
	// retyped is a change of the environment too.
	seen := map[reflect.Type]bool{}
	var fields func(t reflect.Type)
	fields = func(t reflect.Type) {
		for t.Kind() == reflect.Slice || t.Kind() == reflect.Pointer || t.Kind() == reflect.Map {
			t = t.Elem()
		}
		if t.Kind() != reflect.Struct || t.PkgPath() != reflect.TypeFor[journey.Customer]().PkgPath() || seen[t] {
			return
		}
		seen[t] = true
		for i := range t.NumField() {
			f := t.Field(i)
			if name, _, _ := strings.Cut(f.Tag.Get("json"), ","); name != "" && name != "-" {
				fmt.Fprintf(&b, "field %s.%s %s\n", t.Name(), name, f.Type)
			}
		}
		for i := range t.NumField() {
			fields(t.Field(i).Type)
		}
	}
	for _, t := range []reflect.Type{reflect.TypeFor[journey.Customer](), reflect.TypeFor[journey.Event](), reflect.TypeFor[journey.Task]()} {
		fields(t)
	}
	now := time.Date(2026, 3, 29, 1, 30, 0, 0, time.UTC)
	vars := journey.Vars{
		Customer: journey.Customer{ID: "c_1", Zone: "Europe/Paris", OrdersCount: 3, LifetimeValue: 120, DaysSinceLastOrder: 45,
			Tags: []string{"vip", "tea"}, Attributes: map[string]any{"tier": "gold", "team": "b", "points": 12.0},
			Orders:  []journey.Order{{ID: "o_0", Total: 20, Currency: "EUR", Status: "cancelled"}},
			Surveys: []journey.SurveyAnswer{{Survey: "satisfaction", Score: 2, OrderID: "o_1", Source: "sms", AnsweredAt: now.Add(-time.Hour)}},
			Engagement: journey.Engagement{Email: journey.EmailEngagement{DaysSinceEngaged: 200, Opens30d: 2, Clicks30d: 1,
				LastOpenAt: now.Add(-200 * 24 * time.Hour)}}},
		Event: journey.Event{ID: "evt_1", Type: "order.placed", OccurredAt: now.Add(-time.Hour),
			Data:  map[string]any{"sku": "tea", "count": 2.0, "nested": map[string]any{"deep": true}},
			Order: journey.Order{ID: "o_1", Total: 42.5, Currency: "EUR", Items: []journey.Item{{ProductID: "tea", Name: "Sencha", Quantity: 2, Price: 12.5}, {ProductID: "cup", Name: "Cup", Quantity: 1, Price: 17.5}}}},
		Now: now,
	}
	for _, expr := range celProbes {
		v, err := env.EvalValue(expr, vars)
		if err != nil {
			fmt.Fprintf(&b, "%s => error: %v\n", expr, err)
			continue
		}
		fmt.Fprintf(&b, "%s => %T %v\n", expr, v, v)
	}
	return b.String()
}

// celModule is cel-go's requirement line in go.mod.
func celModule(t *testing.T) string {
	t.Helper()
	f, err := os.Open(filepath.Join("..", "go.mod"))
	require.NoError(t, err)
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if fields := strings.Fields(sc.Text()); len(fields) >= 2 && fields[0] == "cel.dev/cel-go" {
			return fields[0] + " " + fields[1]
		}
	}
	t.Fatal("go.mod requires no cel.dev/cel-go")
	return ""
}

// firstDifference shows the first line where two texts differ.
func firstDifference(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	for i := range max(len(w), len(g)) {
		var a, b string
		if i < len(w) {
			a = w[i]
		}
		if i < len(g) {
			b = g[i]
		}
		if a != b {
			return fmt.Sprintf("line %d:\n  recorded: %s\n  now:      %s", i+1, a, b)
		}
	}
	return ""
}
