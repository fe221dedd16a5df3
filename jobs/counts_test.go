package jobs

import (
	"encoding/json"
	"reflect"
	"testing"
)

// notCounts are the Report's integer fields that are not per-class or per-lock counts: every
// view shows them on their own.
var notCounts = map[string]bool{"rows": true, "sheets_requests": true, "problems_total": true}

// TestCountsListEveryCountField: Counts names each integer field of Report by its JSON name
// and gives its value, once; a count field added to Report without its line in Counts fails
// here, so no view (log, print, /readyz, metrics) can silently miss it.
func TestCountsListEveryCountField(t *testing.T) {
	var r Report
	rv := reflect.ValueOf(&r).Elem()
	for i := 0; i < rv.NumField(); i++ {
		if f := rv.Field(i); f.Kind() == reflect.Int {
			f.SetInt(int64(100 + i)) // a distinct value per field
		}
	}
	body, err := json.Marshal(&r)
	if err != nil {
		t.Fatal(err)
	}
	var fields map[string]any
	if err := json.Unmarshal(body, &fields); err != nil {
		t.Fatal(err)
	}

	listed := map[string]bool{}
	for _, c := range r.Counts() {
		if listed[c.Name] {
			t.Errorf("count %q listed twice", c.Name)
		}
		listed[c.Name] = true
		if got, ok := fields[c.Name].(float64); !ok || int(got) != c.Value {
			t.Errorf("count %q = %d, but the report's JSON field %q is %v", c.Name, c.Value, c.Name, fields[c.Name])
		}
		switch c.Group {
		case CountClass, CountWarning, CountLocks:
		default:
			t.Errorf("count %q has no known group (%q)", c.Name, c.Group)
		}
	}
	for name, v := range fields {
		if _, isNumber := v.(float64); isNumber && !notCounts[name] && !listed[name] {
			t.Errorf("report field %q is not in Counts: add its line there", name)
		}
	}
}

// ClassCounts has exactly the classes and warnings the classifier can produce.
func TestClassCountsAreClassesAndWarnings(t *testing.T) {
	r := Report{Candidate: 2, Free: 1, MissingDate: 1}
	got := r.ClassCounts()
	want := []string{string(ClassFree), string(ClassDuplicateTag), string(ClassInvalidTag), string(ClassInvalidHolder),
		string(ClassInvalidDate), string(ClassTooOld), string(ClassCandidate), string(WarnMissingDate), string(WarnFutureDate)}
	if len(got) != len(want) {
		t.Fatalf("ClassCounts has %d names, want %d: %v", len(got), len(want), got)
	}
	for _, name := range want {
		if _, ok := got[name]; !ok {
			t.Errorf("ClassCounts lacks %q", name)
		}
	}
	if got["candidate"] != 2 || got["free"] != 1 || got["missing_date"] != 1 {
		t.Errorf("ClassCounts = %v", got)
	}
}
