package journey

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func newTestCompiler(t testing.TB) *Compiler {
	t.Helper()
	c, err := NewCompiler(Options{})
	require.NoError(t, err)
	return c
}

// src joins lines so test inputs show their line numbers plainly.
func src(lines ...string) []byte { return []byte(strings.Join(lines, "\n") + "\n") }

func TestCompileValidJourney(t *testing.T) {
	c := newTestCompiler(t)
	plan, diags := c.Compile("winback.yaml", src(
		"journey: lapse-winback",
		"description: Win back customers who stopped ordering.",
		"purpose: marketing",
		"topic: offers",
		"trigger:",
		"  event: customer.lapsed",
		"  when: customer.orders_count >= 1",
		"exit_when: event.type == \"order.placed\"",
		"steps:",
		"  - id: email_offer",
		"    send: {channel: email, template: winback-offer}",
		"  - wait:",
		"      until_event: event.type == \"order.placed\"",
		"      timeout: 14d",
		"  - branch:",
		"      - when: customer.has_phone && order.total > 50",
		"        steps:",
		"          - send: {channel: [sms, email], template: winback-nudge}",
		"      - otherwise:",
		"          - exit: not worth a nudge",
		"  - wait: 2w",
	))
	require.Empty(t, diags)
	require.NotNil(t, plan)

	assert.Equal(t, "lapse-winback", plan.Journey)
	assert.Equal(t, Marketing, plan.Purpose)
	assert.Equal(t, "offers", plan.Topic)
	assert.Equal(t, Trigger{Event: "customer.lapsed", When: "customer.orders_count >= 1", MaxEventAge: Duration{D: DefaultMaxEventAge, Text: "24h"}}, plan.Trigger)
	assert.Equal(t, `event.type == "order.placed"`, plan.ExitWhen)
	require.Len(t, plan.Steps, 4)

	assert.Equal(t, "email_offer", plan.Steps[0].ID)
	assert.Equal(t, &SendStep{Channels: []Channel{Email}, Template: "winback-offer"}, plan.Steps[0].Send)

	wait := plan.Steps[1]
	assert.Equal(t, "wait_2", wait.ID, "steps without an id get kind_position")
	assert.Equal(t, 12, wait.Line)
	assert.Equal(t, Duration{D: 14 * 24 * time.Hour, Text: "14d"}, wait.Wait.Timeout)

	br := plan.Steps[2].Branch
	require.Len(t, br.Cases, 1)
	assert.Equal(t, "customer.has_phone && order.total > 50", br.Cases[0].When)
	assert.Equal(t, []Channel{SMS, Email}, br.Cases[0].Steps[0].Send.Channels)
	assert.Equal(t, "send_4", br.Cases[0].Steps[0].ID)
	assert.Equal(t, "not worth a nudge", br.Otherwise[0].Exit.Reason)
	assert.Equal(t, "exit_5", br.Otherwise[0].ID)

	assert.Equal(t, 14*24*time.Hour, plan.Steps[3].Wait.For.D, "wait: 2w shorthand")
	assert.Len(t, plan.Hash, 16)
	assert.Equal(t, plan.Hash, ComputeHash(plan))
}

func TestCompileEveryStepKind(t *testing.T) {
	c := newTestCompiler(t)
	plan, diags := c.Compile("winback.yaml", src(
		"journey: lapse-winback",
		"topic: offers",
		"trigger:",
		"  audience: days_since_last_order >= 90 && orders_count >= 1 && customer.has_email",
		"exit_when: event.type == 'order.placed'",
		"steps:",
		"  - id: offer",
		"    send:",
		"      channel: [email, sms]",
		"      template: winback-offer",
		"      voucher: {percent: 15, valid_for: 30d}",
		"      recommend: {limit: 2}",
		"      on_undeliverable: exit",
		"  - wait: {until: '9:30', on: [friday, mon]}",
		"  - id: test",
		"    split:",
		"      - {path: postcard, weight: 45, steps: [{send: {channel: mail, template: pc, voucher: {amount: 5, currency: GBP, valid_for: 2w}}}]}",
		"      - {path: letter, weight: 45, steps: [{send: {channel: mail, template: letter}}]}",
		"      - {path: control, weight: 10, holdout: true}",
		"  - id: call",
		"    task:",
		"      kind: phone_call",
		"      queue: retention",
		"      due_in: 3d",
		"      brief: Ask why they stopped ordering.",
		"      outcomes: [reached, voicemail, declined]",
		"      on_overdue: escalate to retention-leads",
		"  - branch:",
		"      - when: task.outcome == 'declined' || task.overdue",
		"        steps: [{exit: declined}]",
	))
	require.Empty(t, diags)
	assert.Equal(t, "days_since_last_order >= 90 && orders_count >= 1 && customer.has_email", plan.Trigger.Audience)
	assert.Zero(t, plan.Trigger.MaxEventAge, "audience journeys have no event age")
	send := plan.Steps[0].Send
	assert.Equal(t, &VoucherSpec{Percent: 15, ValidFor: Duration{D: 30 * 24 * time.Hour, Text: "30d"}}, send.Voucher)
	assert.Equal(t, &RecommendSpec{From: "order", Limit: 2}, send.Recommend)
	assert.Equal(t, "exit", send.OnUndeliverable)
	assert.Equal(t, &WaitStep{Until: "09:30", On: []string{"mon", "fri"}}, plan.Steps[1].Wait)
	split := plan.Steps[2].Split
	require.Len(t, split.Paths, 3)
	assert.Equal(t, "5", split.Paths[0].Steps[0].Send.Voucher.Amount.String())
	assert.Equal(t, "GBP", split.Paths[0].Steps[0].Send.Voucher.Currency)
	assert.True(t, split.Paths[2].Holdout)
	assert.Equal(t, &TaskStep{Kind: "phone_call", Queue: "retention", DueIn: Duration{D: 72 * time.Hour, Text: "3d"}, Brief: "Ask why they stopped ordering.",
		Outcomes: []string{"reached", "voicemail", "declined"}, OnOverdue: OverdueEscalate, EscalateTo: "retention-leads"}, plan.Steps[3].Task)
	var ids []string
	plan.Walk(func(s *Step) { ids = append(ids, s.ID) })
	assert.Equal(t, []string{"offer", "wait_2", "test", "send_4", "send_5", "call", "branch_7", "exit_8"}, ids)

	thanks, diags := c.Compile("t.yaml", src("journey: t", "purpose: transactional", "trigger: {event: order.placed, max_event_age: 2d}", "steps: [{wait: 1d}]"))
	require.Empty(t, diags)
	assert.Equal(t, 48*time.Hour, thanks.Trigger.MaxEventAge.D)
	thanks, _ = c.Compile("t.yaml", src("journey: t", "purpose: transactional", "trigger: {event: order.placed}", "steps: [{wait: 1d}]"))
	assert.Equal(t, DefaultMaxEventAge, thanks.Trigger.MaxEventAge.D, "24h unless the journey says otherwise")

	_ = plan.Mermaid()
}

func TestScaledPlan(t *testing.T) {
	c := newTestCompiler(t)
	plan, diags := c.Compile("s.yaml", src(
		"journey: s", "purpose: transactional", "trigger: {event: x}",
		"steps:",
		"  - {send: {channel: email, template: t, voucher: {percent: 10, valid_for: 30d}}}",
		"  - wait: 14d",
		"  - wait: {until_event: 'true', timeout: 2d}",
		"  - task: {kind: call, queue: q, due_in: 1d}",
	))
	require.Empty(t, diags)
	epoch := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	fast := plan.Scaled(time.Second, epoch)
	assert.InDelta(t, 1.0/86400, fast.Scale, 1e-12)
	assert.Equal(t, 14*time.Second, fast.Steps[1].Wait.For.D)
	assert.Equal(t, "14d", fast.Steps[1].Wait.For.Text, "the text keeps the real duration")
	assert.Equal(t, 2*time.Second, fast.Steps[2].Wait.Timeout.D)
	assert.Equal(t, time.Second, fast.Steps[3].Task.DueIn.D)
	assert.Equal(t, 30*24*time.Hour, fast.Steps[0].Send.Voucher.ValidFor.D, "vouchers last in real time")
	assert.Equal(t, plan.Hash, fast.Hash)
	assert.Equal(t, 14*24*time.Hour, plan.Steps[1].Wait.For.D, "the original is untouched")
	assert.Zero(t, plan.Scaled(24*time.Hour, epoch).Scale)
	assert.Equal(t, epoch.Add(48*time.Hour), fast.DevTime(epoch.Add(2*time.Second)), "two seconds of dev time are two days")
	assert.Equal(t, time.Second, fast.WallDuration(24*time.Hour))

	// A floor keeps tasks doable by a person; the rest stays fast.
	doable := fast.WithTaskDueFloor(5 * time.Minute)
	assert.Equal(t, 5*time.Minute, doable.Steps[3].Task.DueIn.D)
	assert.Equal(t, "1d", doable.Steps[3].Task.DueIn.Text, "the due time people read is as written")
	assert.Equal(t, 14*time.Second, doable.Steps[1].Wait.For.D)
	assert.Equal(t, fast.Scale, doable.Scale)
	assert.Equal(t, fast.ScaleEpoch, doable.ScaleEpoch)
	assert.Equal(t, time.Second, fast.Steps[3].Task.DueIn.D, "the scaled plan is untouched")
	assert.Equal(t, 24*time.Hour, plan.WithTaskDueFloor(5 * time.Minute).Steps[3].Task.DueIn.D, "a due time above the floor stays")
}

func TestCompileHashIgnoresLayoutButNotMeaning(t *testing.T) {
	c := newTestCompiler(t)
	base := src(
		"journey: thanks",
		"purpose: transactional",
		"trigger: {event: order.placed}",
		"steps:",
		"  - send: {channel: email, template: thank-you}",
	)
	a, diags := c.Compile("a.yaml", base)
	require.Empty(t, diags)
	reformatted, diags := c.Compile("elsewhere/b.yaml", src(
		"# same journey, different layout",
		"journey: thanks",
		"purpose: transactional",
		"trigger:",
		"  event: order.placed",
		"steps:",
		"  - send:",
		"      channel: email",
		"      template: thank-you",
	))
	require.Empty(t, diags)
	changed, diags := c.Compile("a.yaml", []byte(strings.Replace(string(base), "thank-you", "thanks-again", 1)))
	require.Empty(t, diags)

	assert.NotEqual(t, a.Hash, changed.Hash)
	assert.NotEqual(t, a.Steps[0].Line, reformatted.Steps[0].Line)
	assert.Equal(t, a.Hash, reformatted.Hash, "layout, comments and the file's path are not content")
}

func TestCompileErrors(t *testing.T) {
	valid := []string{
		"journey: thanks",
		"purpose: transactional",
		"trigger: {event: order.placed}",
		"steps:",
		"  - send: {channel: email, template: thank-you}",
	}
	// with replaces line n (1-based) of the valid journey, or appends when n
	// is past the end.
	with := func(n int, line ...string) []byte {
		out := append([]string{}, valid...)
		if n > len(out) {
			return src(append(out, line...)...)
		}
		out = append(out[:n-1], append(line, out[n:]...)...)
		return src(out...)
	}

	tests := []struct {
		name string
		src  []byte
		want []string // "line:col: message fragment"
	}{
		{"unknown top-level key with suggestion", with(2, "purpose: transactional", "tpoic: orders"),
			[]string{`3:1: a journey has no setting "tpoic"; did you mean "topic"?`}},
		{"unknown key without suggestion", with(2, "purpose: transactional", "background: blue"),
			[]string{`3:1: a journey has no setting "background"; it can have journey, description`}},
		{"holdout without a goal", with(3, "trigger: {event: order.placed}", "holdout: 10%"),
			[]string{`4:1: a holdout is compared with the treated customers on the journey's goal; add a goal`}},
		{"holdout out of range", with(3, "trigger: {event: order.placed}", "goal: {when: event.type == \"order.placed\", within: 14d}", "holdout: 80%"),
			[]string{`5:10: holdout "80%" is not a share of entrants; write a whole percentage from 1% to 50%`}},
		{"goal without a window", with(3, "trigger: {event: order.placed}", "goal: {when: event.type == \"order.placed\"}"),
			[]string{`4:7: a goal needs a window: ` + "`within: 14d`"}},
		{"goal with a bad condition and window", with(3, "trigger: {event: order.placed}", "goal: {when: event.typ == \"order.placed\", within: 2y, from: start}"),
			[]string{`4:20: goal.when: there is no field "typ"; did you mean "type"?`, `4:51: goal.within: "2y" is not a duration`, `4:61: goal.from "start" is unknown; use entry (the default) or last_message`}},
		{"goal window over a year", with(3, "trigger: {event: order.placed}", "goal: {when: event.type == \"order.placed\", within: 400d}"),
			[]string{`4:52: goal.within: 400d is longer than a year`}},
		{"missing name", src(valid[1:]...),
			[]string{"1:1: the journey has no name"}},
		{"missing trigger and steps", src(valid[:2]...),
			[]string{"1:1: the journey has no trigger", "1:1: the journey has no steps"}},
		{"marketing needs a topic", with(2, "purpose: marketing"),
			[]string{"1:1: a marketing journey needs a topic"}},
		{"bad purpose", with(2, "purpose: transactionl"),
			[]string{`2:10: purpose "transactionl" is unknown; use marketing or transactional; did you mean "transactional"?`}},
		{"bad journey name", with(1, "journey: Thank You"),
			[]string{`1:10: journey name "Thank You" is not allowed`}},
		{"bad event type", with(3, "trigger: {event: Order Placed}"),
			[]string{`3:18: event type "Order Placed" is not allowed`}},
		{"trigger without event", with(3, "trigger: {when: 'true'}"),
			[]string{"3:10: the trigger needs an event"}},
		{"for on an order event", with(3, "trigger: {event: order.placed, for: 'customer.has_email'}"),
			[]string{"3:32: for does not go with order.placed"}},
		{"for with when and key", with(3, "trigger: {event: product.restocked, when: 'true', key: event.id, for: 'customer.has_email'}"),
			[]string{"3:37: when does not go with for", "3:51: key does not go with for"}},
		{"for misspelt", with(3, "trigger: {event: product.restocked, for: 'customer.evnets.size() > 0'}"),
			[]string{"3:52: trigger.for: there is no field \"evnets\""}},
		{"for on an audience", with(3, "trigger: {audience: has_email, for: 'customer.has_email'}"),
			[]string{"3:32: for only goes with a trigger event"}},
		{"bad entry mode", with(3, "trigger: {event: order.placed, entry: twice}"),
			[]string{`3:39: entry must be once, once_per_event_key or always, not "twice"`}},
		{"key with entry always", with(3, "trigger: {event: order.placed, entry: always, key: event.id}"),
			[]string{"3:47: key only goes with `entry: once_per_event_key`"}},
		{"key must give text", with(3, "trigger: {event: order.placed, key: order.total}"),
			[]string{"3:37: key: this must give text (a string), such as order.id, but it gives a number (double)"}},
		{"reentry with once", with(3, "trigger: {event: order.placed, entry: once, reentry: 30d}"),
			[]string{"3:45: reentry has no effect with `entry: once`"}},
		{"max_active must be whole", with(3, "trigger: {event: order.placed, max_active: 1.5}"),
			[]string{"3:44: max_active must be a whole number of runs"}},
		{"schedule needs an audience", with(3, "trigger: {event: order.placed, schedule: '0 9 * * *'}"),
			[]string{"3:32: schedule only goes with an audience"}},
		{"bad cron", with(3, "trigger: {audience: orders_count >= 1, schedule: '0 25 * * *'}"),
			[]string{`3:50: schedule "0 25 * * *" is not a cron expression`}},
		{"bad schedule time zone", with(3, "trigger: {audience: orders_count >= 1, schedule: '0 9 * * *', time_zone: Mars/Olympus}"),
			[]string{`3:74: time_zone "Mars/Olympus" is not an IANA time zone`}},
		{"key with an audience", with(3, "trigger: {audience: orders_count >= 1, key: event.id}"),
			[]string{"3:40: key only goes with a trigger event"}},
		{"duplicate key", with(2, "purpose: transactional", "purpose: marketing"),
			[]string{"3:1: purpose is set twice in a journey (first on line 2)"}},
		{"bad duration", with(6, "  - wait: {for: 14 days}"),
			[]string{`6:17: for: "14 days" is not a duration; write a whole number followed by a unit`}},
		{"zero duration", with(6, "  - wait: 0d"),
			[]string{"6:11: wait: a duration of 0d does nothing"}},
		{"wait with neither", with(6, "  - wait: {}"),
			[]string{"6:11: a wait needs `for: <duration>`, `until: \"10:00\"`, or `until_event: <condition>` with a `timeout`"}},
		{"wait for and until_event", with(6, "  - wait: {for: 1d, until_event: 'true', timeout: 2d}"),
			[]string{"6:21: a wait has one of for, until and until_event, not for and until_event"}},
		{"until_event needs timeout", with(6, "  - wait: {until_event: 'event.type == \"x\"'}"),
			[]string{"6:11: a wait until_event needs a timeout"}},
		{"timeout without until_event", with(6, "  - wait: {for: 1d, timeout: 2d}"),
			[]string{"6:21: timeout only goes with until_event"}},
		{"duplicate step ids", with(6, "  - {id: hello, wait: 1d}", "  - {id: hello, wait: 2d}"),
			[]string{`7:10: step id "hello" is already used on line 6`}},
		{"bad step id", with(6, "  - {id: Hello World, wait: 1d}"),
			[]string{`6:10: step id "Hello World" is not allowed`}},
		{"step with two kinds", with(6, "  - wait: 1d", "    exit: done"),
			[]string{"7:5: a step does one thing, but this one has both wait and exit"}},
		{"step with no kind", with(6, "  - id: lonely"),
			[]string{"6:5: this step does nothing"}},
		{"step kind typo", with(6, "  - wiat: 1d"),
			[]string{`6:5: a step has no setting "wiat"; did you mean "wait"?`}},
		{"step as a bare word", with(6, "  - exit"),
			[]string{`6:5: step "exit" needs settings`}},
		{"unknown channel", with(5, "  - send: {channel: [email, smss], template: thank-you}"),
			[]string{`5:29: channel "smss" is unknown; use email, sms, mail or webhook; did you mean "sms"?`}},
		{"webhook without endpoint", with(5, "  - send: {channel: webhook, template: thank-you}"),
			[]string{"5:11: a send on the webhook channel needs an endpoint"}},
		{"endpoint without webhook", with(5, "  - send: {channel: email, endpoint: crm, template: thank-you}"),
			[]string{"5:38: endpoint is for the webhook channel, which this send does not use"}},
		{"bad endpoint name", with(5, "  - send: {channel: [webhook, email], endpoint: CRM, template: thank-you}"),
			[]string{`5:49: endpoint name "CRM" is not allowed`}},
		{"channel twice", with(5, "  - send: {channel: [email, email], template: thank-you}"),
			[]string{"5:29: channel email is listed twice"}},
		{"send without template", with(5, "  - send: {channel: email}"),
			[]string{"5:11: send needs a template"}},
		{"send as a list", with(5, "  - send: [email]"),
			[]string{"5:11: send must be a set of `key: value` settings"}},
		{"steps not a list", src(append(slices.Clone(valid[:3]), "steps: hello")...),
			[]string{"4:8: steps must be a list of steps"}},
		{"empty steps", src(append(slices.Clone(valid[:3]), "steps: []")...),
			[]string{"4:8: the journey has no steps"}},
		{"branch without when", with(6, "  - branch:", "      - otherwise: []"),
			[]string{"7:7: a branch needs at least one `when` case before otherwise"}},
		{"branch case after otherwise", with(6, "  - branch:", "      - when: 'true'", "        steps: []", "      - otherwise: []", "      - when: 'false'", "        steps: []"),
			[]string{"10:9: this case comes after `otherwise` on line 9 and never runs"}},
		{"branch case without steps", with(6, "  - branch:", "      - when: order.gift"),
			[]string{"7:9: this case has no steps"}},
		{"otherwise mixed with when", with(6, "  - branch:", "      - when: order.gift", "        otherwise: []"),
			[]string{"8:9: otherwise stands alone"}},
		{"exit false", with(6, "  - exit: false"),
			[]string{"6:11: exit: false does nothing"}},
		{"CEL unknown variable", with(3, "trigger: {event: order.placed, when: custmer.locale == 'en-GB'}"),
			[]string{`3:38: trigger.when: unknown name "custmer"; expressions can use customer, event, trigger, order, task, now and today; did you mean "customer"?`}},
		{"CEL unknown field", with(3, "trigger: {event: order.placed, when: order.totl > 10}"),
			[]string{`3:44: trigger.when: there is no field "totl"; did you mean "total"?`}},
		{"CEL comprehension over a timestamp", with(3, "exit_when: event.occurred_at.exists(x, x)", "trigger: {event: order.placed}"),
			[]string{"3:17: exit_when: all, exists, exists_one, map and filter go through a list or a map, not timestamp"}},
		{"CEL unknown field inside a comprehension", with(3, "exit_when: event.order.items.exists(i, i.prodct_id == 'p1')", "trigger: {event: order.placed}"),
			[]string{`3:42: exit_when: there is no field "prodct_id"; did you mean "product_id"?`}},
		{"CEL type mismatch", with(3, "exit_when: event.type == 3", "trigger: {event: order.placed}"),
			[]string{"3:23: exit_when: == cannot be used on (string, int)"}},
		{"CEL not a condition", with(3, "exit_when: event.type", "trigger: {event: order.placed}"),
			[]string{"3:12: exit_when: this must be a condition that is true or false, but it gives a text (string)"}},
		{"CEL syntax error", with(3, "exit_when: 'event.type == \"a\" &&'", "trigger: {event: order.placed}"),
			[]string{"3:33: exit_when: this is not a valid expression: mismatched input '<EOF>'"}},
		{"CEL error in double quotes", with(3, `exit_when: "event.type == \"a\" && order.gifts"`, "trigger: {event: order.placed}"),
			[]string{`3:42: exit_when: there is no field "gifts"; did you mean "gift"?`}},
		{"CEL error in a block scalar", with(3, "exit_when: |", "  event.type == 'a' &&", "    event.ordr.gift", "trigger: {event: order.placed}"),
			[]string{`5:11: exit_when: there is no field "ordr"; did you mean "order"?`}},
		{"CEL error in a folded scalar", with(3, "exit_when: >-", "  event.type == 'a' &&", "  event.order.gfit", "trigger: {event: order.placed}"),
			[]string{`5:15: exit_when: there is no field "gfit"; did you mean "gift"?`}},
		{"CEL empty", with(3, "exit_when: ''", "trigger: {event: order.placed}"),
			[]string{"3:12: exit_when is empty"}},
		{"scalar expected", with(1, "journey: [a, b]"),
			[]string{"1:10: journey must be a single value"}},
		{"invalid YAML", with(5, "  - send: {channel: email, template: thank-you"),
			[]string{"5:1: this is not valid YAML: did not find expected ',' or '}' in the part that starts here"}},
		{"record score not a number", with(5, "  - record: {score: customer.id}"),
			[]string{"5:21: score: this must give a number, such as event.data.score, but it gives a text (string)"}},
		{"record without score", with(5, "  - record: {source: sms}"),
			[]string{"5:13: record needs a score"}},
		{"emit the journey's own trigger", with(5, "  - emit: {event: order.placed}"),
			[]string{"5:19: this step emits order.placed, the event that starts this journey"}},
		{"emit data misspelt", with(5, "  - emit: {event: x.y, data: {a: ordr.id}}"),
			[]string{`5:34: data.a: unknown name "ordr"; expressions can use customer, event, trigger, order, task, now and today; did you mean "order"?`}},
		{"condition starting with a quote", with(3, `exit_when: "vip" in customer.tags`),
			[]string{`3:12: exit_when starts with a quote, so YAML reads only "vip" as its value; quote the whole value: exit_when: '"vip" in customer.tags'`}},
		{"condition starting with a quote, in a list", with(5, `  - branch: {when: x}`, `    when: 'a' == "b" && 'c' in customer.tags # note`),
			[]string{`6:11: when starts with a quote, so YAML reads only 'a' as its value; quote the whole value: when: '''a'' == "b" && ''c'' in customer.tags'`}},
		{"invalid YAML, scanner error", with(6, "  - wait: 1d", "    bad: x: y"),
			[]string{"7:1: this is not valid YAML: mapping values are not allowed in this context"}},
		{"empty file", []byte(""),
			[]string{"1:1: this file is empty"}},
		{"not UTF-8", []byte("journey: \xff\n"),
			[]string{"1:1: this file is not UTF-8 text"}},
		{"until with timeout", with(6, "  - wait: {until: '10:00', timeout: 1d}"),
			[]string{"6:28: timeout only goes with until_event; a wait `until` ends by itself"}},
		{"bad time of day", with(6, "  - wait: {until: '25:00'}"),
			[]string{`6:19: until "25:00" is not a time of day`}},
		{"bad weekday", with(6, "  - wait: {until: '10:00', on: [mon, funday]}"),
			[]string{`6:38: "funday" is not a day`}},
		{"on without until", with(6, "  - wait: {for: 1d, on: [mon]}"),
			[]string{"6:21: on (weekdays) only goes with until"}},
		{"voucher without value", with(5, "  - send: {channel: email, template: t, voucher: {valid_for: 30d}}"),
			[]string{"5:50: a voucher needs `percent: 15` or `amount: 10`"}},
		{"voucher percent too big", with(5, "  - send: {channel: email, template: t, voucher: {percent: 150, valid_for: 30d}}"),
			[]string{`5:60: percent must be a number above 0 and at most 100, not "150"`}},
		{"voucher without validity", with(5, "  - send: {channel: email, template: t, voucher: {amount: 10, currency: GBP}}"),
			[]string{"5:50: a voucher needs `valid_for`"}},
		{"voucher amount in words", with(5, "  - send: {channel: email, template: t, voucher: {amount: ten, currency: GBP, valid_for: 3d}}"),
			[]string{`5:59: amount must be an amount above 0 and at most 1000000, such as 10 or 7.50, not "ten"`}},
		{"voucher amount finer than its currency", with(5, "  - send: {channel: email, template: t, voucher: {amount: 10.005, currency: GBP, valid_for: 3d}}"),
			[]string{"5:59: amount 10.005 has 3 decimal places, but GBP amounts have 2"}},
		{"voucher bad currency", with(5, "  - send: {channel: email, template: t, voucher: {amount: 10, currency: pounds, valid_for: 3d}}"),
			[]string{`5:73: currency "pounds" is not a three-letter code`}},
		{"recommend from elsewhere", with(5, "  - send: {channel: email, template: t, recommend: {from: wishlist}}"),
			[]string{`5:59: recommend from "wishlist" is unknown`}},
		{"bad on_undeliverable", with(5, "  - send: {channel: email, template: t, on_undeliverable: panic}"),
			[]string{`5:59: on_undeliverable "panic" is unknown`}},
		{"task without queue", with(6, "  - task: {kind: phone_call, due_in: 3d}"),
			[]string{"6:11: a task needs queue, such as `queue: retention`"}},
		{"task bad overdue", with(6, "  - task: {kind: call, queue: q, due_in: 3d, on_overdue: shrug}"),
			[]string{`6:58: on_overdue "shrug" is unknown; use continue, exit, or escalate to <queue>`}},
		{"task duplicate outcome", with(6, "  - task: {kind: call, queue: q, due_in: 3d, outcomes: [a, a]}"),
			[]string{"6:60: outcome a is listed twice"}},
		{"split weights", with(6, "  - split:", "      - {path: a, weight: 50, steps: []}", "      - {path: b, weight: 40, steps: []}"),
			[]string{"7:7: the split's weights add up to 90"}},
		{"split holdout with steps", with(6, "  - split:", "      - {path: a, weight: 50, steps: []}", "      - {path: b, weight: 50, holdout: true, steps: []}"),
			[]string{"8:46: a holdout path receives nothing"}},
		{"split one path", with(6, "  - split: [{path: a, weight: 100, steps: []}]"),
			[]string{"6:12: split must be a list of at least two paths"}},
		{"trigger with both", with(3, "trigger: {event: x, audience: 'orders_count > 1'}"),
			[]string{"3:21: a trigger has one of event, audience and date, not both event and audience"}},
		{"audience unknown field", with(3, "trigger: {audience: 'days_since_last_ordr >= 90'}"),
			[]string{`3:22: audience: unknown name "days_since_last_ordr"; an audience can use the customer's fields, such as orders_count or days_since_last_order, and now and today; did you mean "days_since_last_order"?`}},
		{"audience with when", with(3, "trigger: {audience: 'orders_count > 1', when: 'true'}"),
			[]string{"3:41: when only goes with a trigger event"}},
		{"task outcome in a condition", with(6, "  - branch: [{when: 'task.outcom == \"x\"', steps: []}]"),
			[]string{`6:27: when: there is no field "outcom"; did you mean "outcome"?`}},
		{"on_edit unknown", with(2, "purpose: transactional", "on_edit: restart-at-stop"),
			[]string{`3:10: on_edit "restart-at-stop" is unknown; use keep (runs in flight end on the plan they started on) or restart-at-step (they move to the new plan at the step they wait in); did you mean "restart-at-step"?`}},
		{"merge keys", with(2, "purpose: transactional", "<<: {topic: x}"),
			[]string{"3:1: merge keys (<<) are not supported"}},
	}
	c := newTestCompiler(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			plan, diags := c.Compile("j.yaml", tt.src)
			assert.Nil(t, plan, "an invalid journey yields no plan")
			got := diags.Errors().Error()
			for _, w := range tt.want {
				assert.Contains(t, got, "j.yaml:"+w)
			}
			assert.Len(t, diags.Errors(), len(tt.want), "every error, and nothing else:\n%s", got)
		})
	}
}

func TestCompileReportsEveryError(t *testing.T) {
	c := newTestCompiler(t)
	_, diags := c.Compile("many.yaml", src(
		"journey: Many",
		"purpose: promo",
		"trigger: {event: order.placed, when: order.totl > 1}",
		"steps:",
		"  - wait: 3 days",
		"  - send: {channel: fax, template: x}",
		"  - {id: a, exit: done}",
		"  - {id: a, exit: done}",
	))
	lines := strings.Split(diags.Error(), "\n")
	assert.Equal(t, []string{
		`many.yaml:1:10: journey name "Many" is not allowed; use lowercase letters, digits and single dashes, like thank-you (names appear in workflow ids)`,
		`many.yaml:2:10: purpose "promo" is unknown; use marketing or transactional`,
		`many.yaml:3:44: trigger.when: there is no field "totl"; did you mean "total"? (journeys/README.md lists every field)`,
		`many.yaml:5:11: wait: "3 days" is not a duration; write a whole number followed by a unit, w, d, h, m or s, such as 14d, 36h, 15m or 2w`,
		`many.yaml:6:21: channel "fax" is unknown; use email, sms, mail or webhook`,
		`many.yaml:8:5: warning: this step never runs because the journey exits on line 7`,
		`many.yaml:8:10: step id "a" is already used on line 7; step ids must be unique within a journey`,
	}, lines)
}

func TestCompileWarningsKeepThePlan(t *testing.T) {
	c := newTestCompiler(t)
	plan, diags := c.Compile("w.yaml", src(
		"journey: w",
		"purpose: transactional",
		"trigger: {event: order.placed}",
		"steps:",
		"  - exit: done",
		"  - wait: 1d",
	))
	require.NotNil(t, plan)
	require.Len(t, diags, 1)
	assert.Equal(t, Warning, diags[0].Severity)
	assert.False(t, diags.HasErrors())
}

type fakeTemplates map[string]bool

func (f fakeTemplates) Check(ch Channel, name string) error {
	if f[string(ch)+"/"+name] {
		return nil
	}
	return errors.New("template " + name + " has no " + string(ch) + " version")
}

func TestCompileChecksTemplates(t *testing.T) {
	c, err := NewCompiler(Options{Templates: fakeTemplates{"email/thank-you": true}})
	require.NoError(t, err)
	_, diags := c.Compile("t.yaml", src(
		"journey: t",
		"purpose: transactional",
		"trigger: {event: order.placed}",
		"steps:",
		"  - send: {channel: [email, sms], template: thank-you}",
		"  - send: {channel: email, template: missing}",
	))
	assert.Equal(t, "t.yaml:5:45: template thank-you has no sms version\nt.yaml:6:38: template missing has no email version", diags.Error())
}

// versionedTemplates also knows each template's content hash.
type versionedTemplates map[string]string

func (v versionedTemplates) Check(ch Channel, name string) error {
	if _, ok := v[name]; ok {
		return nil
	}
	return errors.New("no template " + name)
}

func (v versionedTemplates) Version(name string) (string, bool) {
	h, ok := v[name]
	return h, ok
}

// TestCompilePinsTemplates: a plan records the content hash of each
// template it sends, and an edited template makes a new plan.
func TestCompilePinsTemplates(t *testing.T) {
	source := src(
		"journey: t",
		"purpose: transactional",
		"trigger: {event: order.placed}",
		"steps:",
		"  - send: {channel: [email, sms], template: thank-you}",
		"  - wait: 1d",
		"  - send: {channel: email, template: follow-up}",
	)
	compile := func(tmpl versionedTemplates) *Plan {
		c, err := NewCompiler(Options{Templates: tmpl})
		require.NoError(t, err)
		p, diags := c.Compile("t.yaml", source)
		require.False(t, diags.HasErrors(), "%v", diags)
		return p
	}
	p := compile(versionedTemplates{"thank-you": "aaa", "follow-up": "bbb", "unused": "ccc"})
	assert.Equal(t, map[string]string{"thank-you": "aaa", "follow-up": "bbb"}, p.Templates, "only the templates it sends")
	edited := compile(versionedTemplates{"thank-you": "aaa", "follow-up": "bbd", "unused": "ccc"})
	assert.NotEqual(t, p.Hash, edited.Hash, "an edited template is a new plan")
	other := compile(versionedTemplates{"thank-you": "aaa", "follow-up": "bbb", "unused": "zzz"})
	assert.Equal(t, p.Hash, other.Hash, "a template it does not send changes nothing")

	c, err := NewCompiler(Options{Templates: fakeTemplates{"email/thank-you": true, "sms/thank-you": true, "email/follow-up": true}})
	require.NoError(t, err)
	unpinned, diags := c.Compile("t.yaml", source)
	require.False(t, diags.HasErrors())
	assert.Nil(t, unpinned.Templates, "a checker without versions pins nothing")
}

func TestCompileAliasBombIsRefused(t *testing.T) {
	// Each level is a branch whose case holds ten copies of the level
	// below: eight levels would be a hundred million steps.
	var b strings.Builder
	b.WriteString("l0: &l0 {wait: 1d}\n")
	for i := 1; i <= 8; i++ {
		fmt.Fprintf(&b, "l%d: &l%d {branch: [{when: 'true', steps: [", i, i)
		for j := range 10 {
			if j > 0 {
				b.WriteString(", ")
			}
			fmt.Fprintf(&b, "*l%d", i-1)
		}
		b.WriteString("]}]}\n")
	}
	b.WriteString("journey: bomb\npurpose: transactional\ntrigger: {event: x}\nsteps: [*l8]\n")
	_, diags := newTestCompiler(t).Compile("bomb.yaml", []byte(b.String()))
	assert.Contains(t, diags.Error(), "this journey is too large")
}

func TestParseDuration(t *testing.T) {
	for in, want := range map[string]time.Duration{
		"90d": 90 * 24 * time.Hour, "36h": 36 * time.Hour, "15m": 15 * time.Minute,
		"2w": 14 * 24 * time.Hour, "1d12h": 36 * time.Hour, "45s": 45 * time.Second, " 3d ": 72 * time.Hour,
	} {
		got, err := ParseDuration(in)
		require.NoError(t, err, in)
		assert.Equal(t, want, got, in)
	}
	for _, in := range []string{"", "d", "14", "14 d", "1.5d", "-3d", "3y", "10ms", "99999999999999999999d", "600w"} {
		_, err := ParseDuration(in)
		assert.Error(t, err, in)
	}
	assert.Equal(t, "14d", FormatDuration(14*24*time.Hour))
	assert.Equal(t, "1d12h", FormatDuration(36*time.Hour))
	assert.Equal(t, "1h30m", FormatDuration(90*time.Minute))
}

func TestSuggest(t *testing.T) {
	assert.Equal(t, "timeout", Suggest("timout", []string{"for", "until_event", "timeout"}))
	assert.Equal(t, "wait", Suggest("wiat", []string{"send", "wait"}), "transpositions are one typo")
	assert.Equal(t, "", Suggest("colour", []string{"journey", "topic", "steps"}))
}

func TestCompileFrequencyAndOnCap(t *testing.T) {
	c := newTestCompiler(t)
	plan, diags := c.Compile("f.yaml", src(
		"journey: f", "topic: offers", "trigger: {event: x}",
		"frequency:",
		"  - {max: 1, per: 7d}",
		"  - {max: 2, per: 30d, channel: sms}",
		"steps:",
		"  - {send: {channel: email, template: t, on_cap: skip}}",
	))
	require.Empty(t, diags)
	assert.Equal(t, []FrequencyCap{{Max: 1, Per: Duration{D: 7 * 24 * time.Hour, Text: "7d"}}, {Channel: SMS, Max: 2, Per: Duration{D: 30 * 24 * time.Hour, Text: "30d"}}}, plan.Frequency)
	assert.Equal(t, "skip", plan.Steps[0].Send.OnCap)

	_, diags = c.Compile("f.yaml", src(
		"journey: f", "topic: offers", "trigger: {event: x}",
		"frequency: [{max: 0, per: 7d}, {per: 1d}]",
		"steps:",
		"  - {send: {channel: email, template: t, on_cap: later}}",
	))
	assert.Contains(t, diags.Error(), `f.yaml:4:19: max must be a number above 0`)
	assert.Contains(t, diags.Error(), `f.yaml:4:32: a frequency cap needs max`)
	assert.Contains(t, diags.Error(), `f.yaml:6:50: on_cap "later" is unknown`)
}

// TestAPlanLargerThanARunCarriesIsRefused: a journey under the file limit
// whose plan would be larger than MaxPlanBytes (a run carries its plan
// through Temporal) is refused, saying how large and what to do.
func TestAPlanLargerThanARunCarriesIsRefused(t *testing.T) {
	c := newTestCompiler(t)
	brief := strings.Repeat("Ask how it went. ", (MaxPlanBytes+(64<<10))/17)
	plan, diags := c.Compile("huge.yaml", src(
		"journey: huge",
		"purpose: transactional",
		"trigger: {event: order.placed}",
		"steps:",
		"  - id: call",
		"    task: {kind: phone_call, queue: care, due_in: 1d, brief: \""+brief+"\"}",
	))
	assert.Nil(t, plan)
	require.True(t, diags.HasErrors())
	assert.Contains(t, diags.Error(), "huge.yaml:1:1: this journey compiles to a plan of")
	assert.Contains(t, diags.Error(), "a plan must stay under 512 KiB: split the journey into several")

	plan, diags = c.Compile("fine.yaml", src(
		"journey: fine",
		"purpose: transactional",
		"trigger: {event: order.placed}",
		"steps:",
		"  - id: call",
		"    task: {kind: phone_call, queue: care, due_in: 1d, brief: \""+brief[:MaxPlanBytes/2]+"\"}",
	))
	require.False(t, diags.HasErrors(), diags.Error())
	assert.NotNil(t, plan)
}

// TestWebhookEndpoints: a webhook send keeps its endpoint in the plan;
// with the configured endpoints given, an unknown name is an error at its
// place, with the names configured.
func TestWebhookEndpoints(t *testing.T) {
	journey := src(
		"journey: hook",
		"purpose: transactional",
		"trigger: {event: order.placed}",
		"steps:",
		"  - send: {channel: [webhook, email], endpoint: crm, template: thank-you}",
	)
	plan, diags := newTestCompiler(t).Compile("hook.yaml", journey)
	require.False(t, diags.HasErrors(), "%v", diags)
	assert.Equal(t, "crm", plan.Steps[0].Send.Endpoint)
	assert.Equal(t, []Channel{Webhook, Email}, plan.Steps[0].Send.Channels)

	c, err := NewCompiler(Options{Endpoints: []string{"crm"}})
	require.NoError(t, err)
	_, diags = c.Compile("hook.yaml", journey)
	require.False(t, diags.HasErrors(), "%v", diags)

	c, err = NewCompiler(Options{Endpoints: []string{"crm-eu", "feed"}})
	require.NoError(t, err)
	_, diags = c.Compile("hook.yaml", journey)
	require.True(t, diags.HasErrors())
	assert.Equal(t, `hook.yaml:5:49: webhook endpoint "crm" is not configured (RAPPORT_WEBHOOK_ENDPOINTS); configured: crm-eu, feed`, diags.Error())

	c, err = NewCompiler(Options{Endpoints: []string{}})
	require.NoError(t, err)
	_, diags = c.Compile("hook.yaml", journey)
	assert.Contains(t, diags.Error(), "none is configured")
}
