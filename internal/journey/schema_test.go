package journey

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"
)

// journeySchema compiles Schema() with a JSON Schema validator.
func journeySchema(t *testing.T) *jsonschema.Schema {
	t.Helper()
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(Schema()))
	require.NoError(t, err)
	c := jsonschema.NewCompiler()
	require.NoError(t, c.AddResource(SchemaID, doc))
	s, err := c.Compile(SchemaID)
	require.NoError(t, err, "the schema is a valid JSON Schema")
	return s
}

// yamlInstance reads a journey file as the JSON value an editor checks.
func yamlInstance(t *testing.T, src []byte) any {
	t.Helper()
	var v any
	require.NoError(t, yaml.Unmarshal(src, &v))
	b, err := json.Marshal(v)
	require.NoError(t, err)
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	require.NoError(t, err)
	return inst
}

// TestSchemaIsCommitted: journeys/journey.schema.json is what `rapport
// schema` writes today.
func TestSchemaIsCommitted(t *testing.T) {
	committed, err := os.ReadFile("../../journeys/journey.schema.json")
	require.NoError(t, err)
	assert.Equal(t, string(Schema()), string(committed), "run `go run ./cmd/rapport schema > journeys/journey.schema.json`")
}

// TestSchemaAcceptsEveryValidJourney: every journey file in the
// repository that compiles (the shipped ones and the tests') passes the
// schema, and every shipped journey names the schema for editors.
func TestSchemaAcceptsEveryValidJourney(t *testing.T) {
	s := journeySchema(t)
	c := newTestCompiler(t)
	var files []string
	for _, pattern := range []string{"../../journeys/*.yaml", "../../docs/examples/*.yaml", "../../cmd/rapport/testdata/*/*.yaml"} {
		m, err := filepath.Glob(pattern)
		require.NoError(t, err)
		files = append(files, m...)
	}
	require.GreaterOrEqual(t, len(files), 10)
	compiled := 0
	for _, f := range files {
		src, err := os.ReadFile(f)
		require.NoError(t, err)
		if strings.HasPrefix(f, "../../journeys/") {
			assert.True(t, bytes.HasPrefix(src, []byte("# yaml-language-server: $schema=journey.schema.json\n")), "%s names the schema on its first line", f)
		}
		if _, diags := c.Compile(f, src); diags.HasErrors() {
			continue // a broken journey kept for the tests
		}
		compiled++
		assert.NoError(t, s.Validate(yamlInstance(t, src)), f)
	}
	assert.GreaterOrEqual(t, compiled, 12)
}

// TestSchemaAndCompilerAgreeOnKeys: every object's keys are the table's,
// so an unknown key anywhere is refused by both, and every key of the
// table is one the compiler reads.
func TestSchemaAndCompilerAgreeOnKeys(t *testing.T) {
	s := journeySchema(t)
	c := newTestCompiler(t)
	valid := `journey: j
topic: offers
priority: low
on_edit: keep
trigger: {event: order.placed, when: order.total > 1, max_event_age: 1d, entry: always, reentry: 7d, max_active: 2}
exit_when: event.type == "order.refunded"
frequency: [{max: 1, per: 7d, channel: email}]
goal: {when: event.type == "order.placed", within: 14d, from: last_message, exit: true}
holdout: 10%
steps:
  - id: hello
    send: {channel: [email, sms], template: thank-you, voucher: {amount: "7.50", currency: EUR, valid_for: 30d}, recommend: {from: order, limit: 2}, on_cap: skip, on_undeliverable: exit, priority: high}
  - wait: 2d
  - send: {channel: webhook, endpoint: crm, template: thank-you}
  - wait: {until: "10:00", on: [Mon, friday]}
  - wait: {until_event: event.type == "x.y", timeout: 3d}
  - task: {kind: call, queue: retention, due_in: 2d, brief: call them, outcomes: [reached, declined], on_overdue: escalate to leads}
  - record: {survey: satisfaction, score: int(event.data.body), comment: event.data.body, order: trigger.data.order_id, source: sms}
  - emit: {event: review.requested, data: {order_id: order.id, outcome: task.outcome}}
  - split:
      - {path: a, weight: 50, steps: [{wait: 1d}]}
      - {path: b, weight: 50, holdout: true}
  - branch:
      - when: task.outcome == "reached"
        steps: [{exit: reached}]
      - otherwise: [{exit: {reason: not reached}}]
`
	validDate := `journey: renewal
topic: renewals
trigger: {date: customer.attributes.renewal_date, every: year, at: "09:30", offset: -7d, when: orders_count > 0 && today < "2100-01-01"}
steps: [{exit: done}]
`
	seen := map[string]bool{}
	var walk func(n *yaml.Node)
	walk = func(n *yaml.Node) {
		if n.Kind == yaml.MappingNode {
			for i := 0; i < len(n.Content); i += 2 {
				seen[n.Content[i].Value] = true
			}
		}
		for _, c := range n.Content {
			walk(c)
		}
	}
	for _, src := range []string{valid, validDate} {
		_, diags := c.Compile("j.yaml", []byte(src))
		require.False(t, diags.HasErrors(), "%v", diags)
		require.NoError(t, s.Validate(yamlInstance(t, []byte(src))))
		var doc yaml.Node
		require.NoError(t, yaml.Unmarshal([]byte(src), &doc))
		walk(&doc)
	}
	// Every key of the table appears in the journeys above, so each is one
	// the compiler reads without complaint.
	for _, o := range objects {
		for _, k := range o.keys {
			if k.name == "audience" || k.name == "schedule" || k.name == "time_zone" || k.name == "key" || k.name == "percent" ||
				k.name == "for" || k.name == "description" || k.name == "purpose" {
				continue // they exclude keys used above; TestSchemaAcceptsEveryValidJourney covers them
			}
			assert.True(t, seen[k.name], "%s.%s is exercised", o.def, k.name)
		}
	}

	// A misspelt key at each level is refused by both.
	for _, tc := range []struct{ from, to string }{
		{"topic: offers", "topik: offers"},
		{"max_event_age: 1d", "max_age: 1d"},
		{"max: 1, per: 7d", "max: 1, pr: 7d"},
		{"- id: hello", "- idd: hello"},
		{"template: thank-you", "templte: thank-you"},
		{"valid_for: 30d", "valid: 30d"},
		{"limit: 2", "limits: 2"},
		{"on: [Mon, friday]", "days: [Mon, friday]"},
		{"timeout: 3d", "timout: 3d"},
		{"brief: call them", "note: call them"},
		{"holdout: true", "hold: true"},
		{"- otherwise:", "- else:"},
		{"reason: not reached", "why: not reached"},
		{"source: sms}", "from: sms}"},
	} {
		bad := strings.Replace(valid, tc.from, tc.to, 1)
		require.NotEqual(t, valid, bad, tc.from)
		_, diags := c.Compile("j.yaml", []byte(bad))
		assert.True(t, diags.HasErrors(), "the compiler refuses %s", tc.to)
		assert.Error(t, s.Validate(yamlInstance(t, []byte(bad))), "the schema refuses %s", tc.to)
	}

	// Shapes the schema checks as the compiler does.
	for _, tc := range []struct{ from, to string }{
		{"channel: [email, sms]", "channel: [email, fax]"},
		{"wait: 2d", "wait: 2 days"},
		{"until: \"10:00\"", "until: \"25:00\""},
		{"weight: 50, holdout", "weight: 150, holdout"},
		{"on_overdue: escalate to leads", "on_overdue: escalate"},
		{"priority: low", "priority: urgent"},
		{"emit: {event: review.requested,", "emit: {event: Review Requested,"},
		{"trigger: {event: order.placed,", "trigger: {event: order.placed, audience: orders_count > 1,"},
	} {
		bad := strings.Replace(valid, tc.from, tc.to, 1)
		require.NotEqual(t, valid, bad, tc.from)
		_, diags := c.Compile("j.yaml", []byte(bad))
		assert.True(t, diags.HasErrors(), "the compiler refuses %s", tc.to)
		assert.Error(t, s.Validate(yamlInstance(t, []byte(bad))), "the schema refuses %s", tc.to)
	}
}
