package api

import (
	"encoding/json"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rapporthq/rapport/internal/api/wire"
	"github.com/rapporthq/rapport/internal/journey"
	"github.com/rapporthq/rapport/internal/money"
	"github.com/rapporthq/rapport/internal/router"
	"github.com/rapporthq/rapport/internal/store"
	"github.com/rapporthq/rapport/workflows"
)

// fill sets every exported field of the value v points to, recursively,
// to something other than its zero value: a string to its field's name,
// numbers to 7, a slice to one element, a map to one entry.
func fill(v reflect.Value, name string) {
	if !v.CanSet() {
		return
	}
	switch v.Interface().(type) {
	case time.Time:
		v.Set(reflect.ValueOf(time.Date(2026, 5, 3, 10, 0, 0, 0, time.UTC)))
		return
	case money.Amount:
		v.Set(reflect.ValueOf(money.MustParse("12.50")))
		return
	case json.RawMessage:
		v.Set(reflect.ValueOf(json.RawMessage(`{"b":[1,"two"],"a":null}`)))
		return
	}
	switch v.Kind() {
	case reflect.String:
		v.SetString(name)
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		v.SetInt(7)
	case reflect.Float32, reflect.Float64:
		v.SetFloat(7.5)
	case reflect.Pointer:
		p := reflect.New(v.Type().Elem())
		fill(p.Elem(), name)
		v.Set(p)
	case reflect.Slice:
		s := reflect.MakeSlice(v.Type(), 1, 1)
		fill(s.Index(0), name)
		v.Set(s)
	case reflect.Map:
		m := reflect.MakeMap(v.Type())
		e := reflect.New(v.Type().Elem()).Elem()
		if v.Type().Elem().Kind() == reflect.Interface {
			e.Set(reflect.ValueOf("v"))
		} else {
			fill(e, name)
		}
		m.SetMapIndex(reflect.ValueOf("k"), e)
		v.Set(m)
	case reflect.Struct:
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				fill(v.Field(i), v.Type().Field(i).Name)
			}
		}
	}
}

// sameJSONAs checks that a body encodes exactly as the value the API
// answered before the bodies had types of their own.
func sameJSONAs(t *testing.T, before, body any) {
	t.Helper()
	a, err := json.Marshal(before)
	require.NoError(t, err)
	b, err := json.Marshal(body)
	require.NoError(t, err)
	assert.Equal(t, string(a), string(b), "%T encodes otherwise than %T", body, before)
}

// TestBodiesEncodeAsTheStoreTypes holds each response body of package
// wire to the JSON the API answered with the store's (and the router's,
// and the workflows') types, empty and with every field set: a field
// added to one and not the other, or tagged otherwise, fails here.
func TestBodiesEncodeAsTheStoreTypes(t *testing.T) {
	for _, fill := range []bool{false, true} {
		t.Run(fmt.Sprintf("filled=%v", fill), func(t *testing.T) {
			value := func(v any) any {
				if !fill {
					return v
				}
				p := reflect.New(reflect.TypeOf(v))
				fillValue(p.Elem())
				return p.Elem().Interface()
			}
			c := value(store.Customer{}).(store.Customer)
			sameJSONAs(t, c, customerBody(c))
			e := value(store.Event{}).(store.Event)
			sameJSONAs(t, e, eventBody(e))
			sameJSONAs(t, struct {
				store.Event
				DataOmitted string `json:"data_omitted,omitempty"`
			}{e, "over the limits"}, func() wire.Event { v := eventBody(e); v.DataOmitted = "over the limits"; return v }())
			task := value(store.Task{}).(store.Task)
			sameJSONAs(t, task, taskBody(task))
			sameJSONAs(t, map[string]any{"tasks": []store.Task{task}}, wire.TaskList{Tasks: taskBodies([]store.Task{task})})
			sameJSONAs(t, struct {
				store.Task
				RunRecorded bool   `json:"run_recorded"`
				RunReason   string `json:"run_reason,omitempty"`
			}{task, fill, "the run has ended"}, wire.TaskChange{Task: taskBody(task), RunRecorded: fill, RunReason: "the run has ended"})
			v := value(store.Voucher{}).(store.Voucher)
			sameJSONAs(t, v, voucherBody(v))
			sup := value(store.Suppression{}).(store.Suppression)
			sameJSONAs(t, sup, suppressionBody(sup))
			er := value(store.Erasure{}).(store.Erasure)
			sameJSONAs(t, struct {
				CustomerID string `json:"customer_id"`
				Status     string `json:"status"`
				Error      string `json:"error,omitempty"`
				store.Erasure
			}{"c_1", "failed", "stopped", er}, wire.Erasure{CustomerID: "c_1", Status: "failed", Error: "stopped", ErasureRecord: erasureRecord(er)})
			ce := value(store.ConsentEvent{}).(store.ConsentEvent)
			sameJSONAs(t, []store.ConsentEvent{ce}, consentEventBodies([]store.ConsentEvent{ce}))
			te := value(store.TopicEvent{}).(store.TopicEvent)
			sameJSONAs(t, []store.TopicEvent{te}, topicEventBodies([]store.TopicEvent{te}))
			cs := value(store.CapSetting{}).(store.CapSetting)
			sameJSONAs(t, []store.CapSetting{cs}, capBodies([]store.CapSetting{cs}))
			qh := value(store.QuietHours{}).(store.QuietHours)
			sameJSONAs(t, qh, wire.QuietHours(qh))
			res := value(router.Result{}).(router.Result)
			sameJSONAs(t, res, routingBody(res))
			counts := value(workflows.AudienceCounts{}).(workflows.AudienceCounts)
			sameJSONAs(t, counts, wire.AudienceCounts(counts))
			// An audience does not load each customer's orders nor
			// survey answers; the preview's sample leaves out their
			// engagement (not part of the documented answer yet).
			p := value(router.AudiencePreview{}).(router.AudiencePreview)
			for i := range p.Sample {
				p.Sample[i].Orders = nil
				p.Sample[i].Engagement, p.Sample[i].Surveys = journey.Engagement{}, nil
			}
			sameJSONAs(t, p, audiencePreviewBody(p))
			jc := value(journey.Customer{}).(journey.Customer)
			jc.Orders, jc.Engagement, jc.Surveys = nil, journey.Engagement{}, nil
			sameJSONAs(t, jc, audienceCustomer(jc))
			tr := value(store.ExportTruncation{}).(store.ExportTruncation)
			sameJSONAs(t, tr, wire.ExportTruncation(tr))
			fo := value(store.Fanout{}).(store.Fanout)
			fo.Data = nil // a listing leaves it out
			sameJSONAs(t, fo, fanoutBody(fo))
			sameJSONAs(t, map[string]any{"fanouts": []store.Fanout{fo}}, wire.FanoutList{Fanouts: fanoutBodies([]store.Fanout{fo})})
		})
	}
}

func fillValue(v reflect.Value) { fill(v, "x") }

func TestFillSetsEveryField(t *testing.T) {
	var c store.Customer
	fillValue(reflect.ValueOf(&c).Elem())
	b, err := json.Marshal(c)
	require.NoError(t, err)
	assert.JSONEq(t, `{"id":"ID","email":"Email","phone":"Phone","phone_e164":"PhoneE164","name":"Name","locale":"Locale","time_zone":"TimeZone",
		"address":{"line1":"Line1","line2":"Line2","city":"City","state":"State","postal_code":"PostalCode","country":"Country"},
		"attributes":{"k":"v"},"created_at":"2026-05-03T10:00:00Z","updated_at":"2026-05-03T10:00:00Z"}`, string(b))
}
