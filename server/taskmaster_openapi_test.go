package server

import (
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/loomhq/loom/schedule"
	"github.com/loomhq/loom/store"
	"github.com/loomhq/loom/taskmaster"
)

// flatJSONFields is jsonFields with embedded structs' fields promoted, as
// encoding/json promotes them.
func flatJSONFields(typ reflect.Type) []string {
	var names []string
	for i := range typ.NumField() {
		f := typ.Field(i)
		tag, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if f.Anonymous && tag == "" {
			names = append(names, flatJSONFields(f.Type)...)
			continue
		}
		if tag == "-" || !f.IsExported() {
			continue
		}
		if tag == "" {
			tag = f.Name
		}
		names = append(names, tag)
	}
	slices.Sort(names)
	return names
}

// TestOpenAPITaskmasterSchemas keeps the taskmaster schemas in step with
// the Go types the handlers encode and decode.
func TestOpenAPITaskmasterSchemas(t *testing.T) {
	t.Parallel()
	doc := loadOpenAPI(t)
	for schema, v := range map[string]any{
		"TaskTemplate":    store.TaskTemplate{},
		"CatchUp":         schedule.CatchUp{},
		"ScheduleRequest": scheduleRequest{},
		"Schedule":        scheduleObject{},
		"ScheduleList":    scheduleList{},
		"BackfillRequest": backfillRequest{},
		"Backfill":        store.Backfill{},
		"BackfillList":    backfillList{},
		"EventRequest":    eventRequest{},
		"Started":         taskmaster.Started{},
		"StartedList":     startedList{},
		"Trigger":         store.Trigger{},
		"TriggerList":     triggerList{},
		"CheckRequest":    checkRequest{},
		"Check":           checkObject{},
		"CheckList":       checkList{},
		"Notifier":        store.Notifier{},
		"NotifierList":    notifierList{},
		"Alert":           store.Alert{},
		"AlertList":       alertList{},
		"Delivery":        store.Delivery{},
		"DeliveryList":    deliveryList{},
		"SignalRequest":   signalRequest{},
		"Signal":          store.Signal{},
	} {
		got, want := schemaProperties(t, doc, schema), flatJSONFields(reflect.TypeOf(v))
		if !slices.Equal(got, want) {
			t.Errorf("schema %s has properties %v, the Go type has fields %v", schema, got, want)
		}
	}
}
