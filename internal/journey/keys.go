package journey

import (
	"encoding/json"
	"fmt"
	"strings"
)

// The keys of a journey file: each mapping the compiler reads, the keys it
// accepts, and what each key's value looks like. The compiler checks the
// keys it meets against this table (fields), and Schema writes the same
// table as a JSON Schema for editors, so the two cannot disagree about
// which keys exist. The compiler checks values more closely than a schema
// can (CEL types, templates, cross-key rules); the schema describes their
// shape.

// object is a mapping the compiler reads.
type object struct {
	// what names it in messages: "a journey", "trigger".
	what string
	// def is its name in the schema's $defs.
	def string
	// doc describes it, for editors.
	doc  string
	keys []key
	// oneOf lists keys of which exactly one must be present (a step's
	// kind, a trigger's event or audience, ...), if any.
	oneOf []string
	// anyOf lists keys of which at least one must be present.
	anyOf []string
}

// key is one key of an object.
type key struct {
	name     string
	doc      string
	value    schema
	required bool
}

// schema is a JSON Schema fragment.
type schema map[string]any

// names are an object's keys, in the table's order.
func (o *object) names() []string {
	out := make([]string, len(o.keys))
	for i, k := range o.keys {
		out[i] = k.name
	}
	return out
}

// Value shapes.
var (
	durationValue = schema{"type": "string", "pattern": `^\s*([0-9]+[wdhms])+\s*$`,
		"description": "a whole number and a unit, w, d, h, m or s (14d, 36h, 1d12h); at most 10 years"}
	conditionValue = schema{"type": "string", "minLength": 1, "description": "a CEL condition (journeys/README.md lists the fields)"}
	slugValue      = schema{"type": "string", "pattern": `^[a-z0-9][a-z0-9_-]*$`}
	channelValue   = schema{"enum": []string{string(Email), string(SMS), string(Mail), string(Webhook)}}
	channelsValue  = schema{"oneOf": []schema{channelValue, {"type": "array", "items": channelValue, "minItems": 1, "uniqueItems": true}}}
	stepsValue     = schema{"type": "array", "items": defRef("step")}
	timeOfDayValue = schema{"type": "string", "pattern": `^([01]?[0-9]|2[0-3]):[0-5][0-9]$`, "description": "a time of day on a 24-hour clock, such as \"10:00\""}
	textValue      = schema{"type": "string"}
)

func defRef(def string) schema { return schema{"$ref": "#/$defs/" + def} }

func enum[T ~string](values ...T) schema {
	out := make([]string, len(values))
	for i, v := range values {
		out[i] = string(v)
	}
	return schema{"enum": out}
}

func integer(lo, hi int) schema { return schema{"type": "integer", "minimum": lo, "maximum": hi} }

func with(s schema, doc string) schema {
	out := schema{}
	for k, v := range s {
		out[k] = v
	}
	out["description"] = doc
	return out
}

// anyCase is a pattern matching words in any letter case (JSON Schema
// patterns have no case-insensitive flag).
func anyCase(words ...string) string {
	var b strings.Builder
	b.WriteString("^(")
	for i, w := range words {
		if i > 0 {
			b.WriteByte('|')
		}
		for _, r := range w {
			fmt.Fprintf(&b, "[%c%c]", r, r-'a'+'A')
		}
	}
	b.WriteString(")$")
	return b.String()
}

var (
	journeyObject = &object{what: "a journey", def: "journey", doc: "A Rapport journey (journeys/README.md).", keys: []key{
		{name: "journey", doc: "The journey's name: lowercase letters, digits and single dashes (it appears in workflow ids).", required: true,
			value: schema{"type": "string", "pattern": `^[a-z0-9]+(-[a-z0-9]+)*$`, "maxLength": 63}},
		{name: "description", doc: "What the journey is for, in words.", value: textValue},
		{name: "purpose", doc: "marketing (the default: honours topics, opt-outs and caps) or transactional (about an order).", value: enum(Marketing, Transactional)},
		{name: "topic", doc: "The topic customers opt out of (required for marketing), such as offers.", value: slugValue},
		{name: "priority", doc: "When a frequency cap holds messages, the next free slot goes to the highest priority, then the oldest: high, normal (the default) or low.", value: enum(Priorities...)},
		{name: "on_edit", doc: "What an edit does to runs in flight: keep (the default: they end on the plan they started on) or restart-at-step (they move to the new plan at the step they wait in).", value: enum(OnEdits...)},
		{name: "trigger", doc: "What starts the journey: an event or an audience.", required: true, value: defRef("trigger")},
		{name: "exit_when", doc: "A condition over each incoming event; when it holds the journey ends at once.", value: conditionValue},
		{name: "frequency", doc: "The journey's own caps on top of the customer's, such as [{max: 1, per: 7d}].",
			value: schema{"type": "array", "items": defRef("frequency_cap"), "minItems": 1}},
		{name: "goal", doc: "What the journey is for: an event condition and a window, such as {when: 'event.type == \"order.placed\"', within: 14d}.", value: defRef("goal")},
		{name: "holdout", doc: "The share of entrants held out as a control group that gets nothing, such as 10%.",
			value: schema{"oneOf": []schema{integer(1, MaxHoldout), {"type": "string", "pattern": `^\s*[0-9]{1,2}\s*%\s*$`}}}},
		{name: "steps", doc: "What the journey does, in order.", required: true, value: stepsValue},
	}}
	goalObject = &object{what: "goal", def: "goal", doc: "What the journey is for: a run converts when an event matching when arrives within the window.", keys: []key{
		{name: "when", doc: "A condition over the event, such as event.type == \"order.placed\".", required: true, value: conditionValue},
		{name: "within", doc: "The conversion window, such as 14d.", required: true, value: durationValue},
		{name: "from", doc: "Where the window starts: entry (the default) or last_message.", value: enum(GoalFroms...)},
		{name: "exit", doc: "End a run still in the journey when it converts (default false).", value: schema{"type": "boolean"}},
	}}
	triggerObject = &object{what: "trigger", def: "trigger", doc: "What starts the journey: an event, an audience run, or a date in a customer attribute.", oneOf: []string{"event", "audience", "date"}, keys: []key{
		{name: "event", doc: "The event type that starts it, such as order.placed.", value: schema{"type": "string", "pattern": `^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$`}},
		{name: "date", doc: "A customer attribute holding a date, such as customer.attributes.renewal_date: the customer enters on that date, at their local time.",
			value: schema{"type": "string", "pattern": `^customer\.attributes\.[A-Za-z_][A-Za-z0-9_]*$`}},
		{name: "every", doc: "With date: year (the default: on its anniversary every year) or once (on the date itself).", value: enum(Everies...)},
		{name: "at", doc: "With date: the local time of day, in each customer's time zone (default \"09:00\").", value: timeOfDayValue},
		{name: "offset", doc: "With date: whole days before (-7d) or after (3d) the date.",
			value: schema{"type": "string", "pattern": `^\s*[-+]?([0-9]+[wd])+\s*$`, "description": "whole days or weeks, before (-7d) or after (3d)"}},
		{name: "when", doc: "A condition over the event and the customer (event triggers), or over the customer (date triggers).", value: conditionValue},
		{name: "for", doc: "With event: makes it a fan-out trigger: an event of the type posted without a customer starts the journey for every customer this condition (over customer, customer.events, customer.orders and event) selects.", value: conditionValue},
		{name: "max_event_age", doc: "An event older than this does not start the journey (default 24h).", value: durationValue},
		{name: "audience", doc: "A condition over customers; an audience run enters those for whom it holds.", value: conditionValue},
		{name: "schedule", doc: "When audience runs happen: a cron expression such as \"0 9 * * *\".", value: textValue},
		{name: "time_zone", doc: "The IANA time zone the schedule is read in (default UTC), or customer: each customer's own.", value: textValue},
		{name: "entry", doc: "How often a customer may enter: once, once_per_event_key (the default) or always.", value: enum(EntryModes...)},
		{name: "key", doc: "The entry key of an event (a CEL expression giving text; default the event's id).", value: conditionValue},
		{name: "reentry", doc: "How long after entering a customer may enter again.", value: durationValue},
		{name: "max_active", doc: "How many runs of this journey a customer may be in at once.", value: integer(1, 1000)},
	}}
	stepObject = &object{what: "a step", def: "step", doc: "One step: send, wait, branch, split, task, record, emit or exit.",
		oneOf: []string{"send", "wait", "branch", "split", "task", "record", "emit", "exit"}, keys: []key{
			{name: "id", doc: "The step's id (made from its kind and position when left out), shown to staff.", value: with(slugValue, "lowercase letters, digits, dashes or underscores")},
			{name: "send", doc: "Send a message through the first channel that may carry it.", value: defRef("send")},
			{name: "wait", doc: "Wait for a time (3d), until a time of day, or until an event.", value: schema{"oneOf": []schema{durationValue, defRef("wait")}}},
			{name: "branch", doc: "Take the first case whose condition holds, else otherwise.",
				value: schema{"type": "array", "items": defRef("branch_case"), "minItems": 1}},
			{name: "split", doc: "Send customers down paths at random, by weight (an experiment).",
				value: schema{"type": "array", "items": defRef("split_path"), "minItems": 2}},
			{name: "task", doc: "Ask staff to do something and wait for them.", value: defRef("task")},
			{name: "record", doc: "Store a survey answer the journey learnt (an SMS reply), and tell the customer's journeys (survey.answered).", value: defRef("record")},
			{name: "emit", doc: "Send an event with data to the customer's journeys.", value: defRef("emit")},
			{name: "exit", doc: "End the journey, with a reason.", value: schema{"oneOf": []schema{{"type": "null"}, {"const": true}, textValue, defRef("exit")}}},
		}}
	sendObject = &object{what: "send", def: "send", doc: "A message.", keys: []key{
		{name: "channel", doc: "email, sms, mail or webhook, or a list to try in order.", required: true, value: channelsValue},
		{name: "template", doc: "The template: a folder in journeys/templates.", required: true, value: slugValue},
		{name: "endpoint", doc: "The webhook channel's endpoint: a name configured in RAPPORT_WEBHOOK_ENDPOINTS.", value: slugValue},
		{name: "voucher", doc: "A voucher the message carries.", value: defRef("voucher")},
		{name: "recommend", doc: "Products that complement the order.", value: defRef("recommend")},
		{name: "on_undeliverable", doc: "When no channel can carry it: continue (the default) or exit.", value: enum(OverdueContinue, OverdueExit)},
		{name: "on_cap", doc: "When a frequency cap is reached: delay (the default) or skip.", value: enum("delay", "skip")},
		{name: "priority", doc: "This message's priority under caps, over the journey's: high, normal or low.", value: enum(Priorities...)},
	}}
	frequencyCapObject = &object{what: "a frequency cap", def: "frequency_cap", doc: "At most max messages per period.", keys: []key{
		{name: "max", doc: "How many messages at most.", required: true, value: integer(1, 1000)},
		{name: "per", doc: "The period, such as 7d.", required: true, value: durationValue},
		{name: "channel", doc: "The channel it counts (all when left out).", value: channelValue},
	}}
	voucherObject = &object{what: "voucher", def: "voucher", doc: "A voucher: percent or amount off.", oneOf: []string{"percent", "amount"}, keys: []key{
		{name: "percent", doc: "Percent off, above 0 and at most 100.", value: schema{"type": "number", "exclusiveMinimum": 0, "maximum": 100}},
		{name: "amount", doc: "Amount off, above 0 and at most 1000000, such as 10 or 7.50.",
			value: schema{"oneOf": []schema{{"type": "number", "exclusiveMinimum": 0, "maximum": 1000000}, {"type": "string", "pattern": `^[0-9]+(\.[0-9]{1,4})?$`}}}},
		{name: "currency", doc: "The amount's currency, such as EUR.", value: schema{"type": "string", "pattern": `^[A-Z]{3}$`}},
		{name: "valid_for", doc: "How long the voucher is valid, such as 30d.", required: true, value: durationValue},
	}}
	recommendObject = &object{what: "recommend", def: "recommend", doc: "Products that complement what the order says they like.", keys: []key{
		{name: "from", doc: "Where the liking comes from: order.", value: enum("order")},
		{name: "limit", doc: "How many products, at most 12 (default 3).", value: integer(1, 12)},
	}}
	waitObject = &object{what: "wait", def: "wait", doc: "A wait: for a time, until a time of day, or until an event.", oneOf: []string{"for", "until", "until_event"}, keys: []key{
		{name: "for", doc: "How long, such as 3d.", value: durationValue},
		{name: "until_event", doc: "A condition over incoming events that ends the wait (with a timeout).", value: conditionValue},
		{name: "timeout", doc: "How long to wait for the event at most.", value: durationValue},
		{name: "until", doc: "A time of day in the customer's time zone, such as \"10:00\".", value: timeOfDayValue},
		{name: "on", doc: "The weekdays an until wait may end on: a list such as [mon, fri], or weekdays.", value: schema{"oneOf": []schema{
			{"const": "weekdays"},
			{"type": "array", "minItems": 1, "items": schema{"type": "string", "pattern": anyCase("mon", "tue", "wed", "thu", "fri", "sat", "sun",
				"monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")}}}}},
	}}
	taskObject = &object{what: "task", def: "task", doc: "A task for staff.", keys: []key{
		{name: "kind", doc: "What to do, such as phone_call.", required: true, value: slugValue},
		{name: "queue", doc: "The staff queue, such as retention.", required: true, value: slugValue},
		{name: "due_in", doc: "When staff should have done it, such as 3d.", required: true, value: durationValue},
		{name: "brief", doc: "What staff should know.", value: textValue},
		{name: "outcomes", doc: "What staff may answer, such as [reached, voicemail, declined] (default [done]).",
			value: schema{"type": "array", "items": slugValue, "minItems": 1, "uniqueItems": true}},
		{name: "on_overdue", doc: "When the due time passes: continue (the default), exit, or escalate to <queue>.",
			value: schema{"type": "string", "pattern": `^(continue|exit|escalate to [a-z0-9][a-z0-9_-]*)$`}},
	}}
	splitPathObject = &object{what: "a split path", def: "split_path", doc: "A path of a split.", keys: []key{
		{name: "path", doc: "The path's name.", required: true, value: slugValue},
		{name: "weight", doc: "The percentage of customers who take it (weights add up to 100).", required: true, value: integer(1, 100)},
		{name: "holdout", doc: "A control group that receives nothing.", value: schema{"type": "boolean"}},
		{name: "steps", doc: "What this path does.", value: stepsValue},
	}}
	branchCaseObject = &object{what: "a branch case", def: "branch_case", doc: "A case: when a condition holds, its steps; or the last otherwise.",
		anyOf: []string{"when", "otherwise"}, keys: []key{
			{name: "when", doc: "The condition.", value: conditionValue},
			{name: "steps", doc: "What to do when it holds.", value: stepsValue},
			{name: "otherwise", doc: "What to do when no case holds (the last case, alone).", value: stepsValue},
		}}
	recordObject = &object{what: "record", def: "record", doc: "A survey answer to store.", keys: []key{
		{name: "survey", doc: "The survey's name (default: the journey's).", value: slugValue},
		{name: "score", doc: "A CEL expression giving the score, 1 to 5, such as int(event.data.body).", required: true, value: conditionValue},
		{name: "comment", doc: "A CEL expression giving the comment.", value: conditionValue},
		{name: "source", doc: "Where the answer came from, such as sms.", value: slugValue},
		{name: "order", doc: "A CEL expression giving the id of the order the answer is about (default: the trigger's order).", value: conditionValue},
	}}
	emitObject = &object{what: "emit", def: "emit", doc: "An event for the customer's journeys.", keys: []key{
		{name: "event", doc: "The event type, such as review.requested.", required: true, value: schema{"type": "string", "pattern": `^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$`}},
		{name: "data", doc: "The event's data: each key's value is a CEL expression, such as order.id.",
			value: schema{"type": "object", "additionalProperties": conditionValue, "maxProperties": 50}},
	}}
	exitObject = &object{what: "exit", def: "exit", doc: "The end of the journey.", keys: []key{
		{name: "reason", doc: "Why, in words staff read.", value: textValue},
	}}
)

// objects lists every object, the journey first.
var objects = []*object{journeyObject, goalObject, triggerObject, stepObject, sendObject, frequencyCapObject, voucherObject,
	recommendObject, waitObject, taskObject, splitPathObject, branchCaseObject, recordObject, emitObject, exitObject}

// SchemaID is the address the schema names itself by.
const SchemaID = "https://rapport.dev/schemas/journey.schema.json"

// Schema returns the JSON Schema (draft 2020-12) of journey files, made
// from the table of keys the compiler checks.
func Schema() []byte {
	defs := map[string]schema{}
	for _, o := range objects {
		props := map[string]schema{}
		var required []string
		for _, k := range o.keys {
			props[k.name] = with(k.value, k.doc)
			if k.required {
				required = append(required, k.name)
			}
		}
		s := schema{"type": "object", "description": o.doc, "properties": props, "additionalProperties": false}
		if len(required) > 0 {
			s["required"] = required
		}
		if len(o.oneOf) > 0 {
			var alts []schema
			for _, k := range o.oneOf {
				alts = append(alts, schema{"required": []string{k}})
			}
			s["oneOf"] = alts
		}
		if len(o.anyOf) > 0 {
			var alts []schema
			for _, k := range o.anyOf {
				alts = append(alts, schema{"required": []string{k}})
			}
			s["anyOf"] = alts
		}
		defs[o.def] = s
	}
	root := schema{
		"$schema":     "https://json-schema.org/draft/2020-12/schema",
		"$id":         SchemaID,
		"title":       "Rapport journey",
		"description": "A Rapport journey file. Generated by `rapport schema` from the compiler's table of keys; `rapport validate` checks more.",
		"$ref":        "#/$defs/journey",
		"$defs":       defs,
	}
	b, err := json.MarshalIndent(root, "", "  ")
	if err != nil {
		panic("journey: marshal schema: " + err.Error())
	}
	return append(b, '\n')
}
