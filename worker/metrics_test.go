package worker

import (
	"testing"
	"time"

	"reconciler/jobs"
)

// counterValue reads an unlabelled counter from the registry (-1 when it is not exported).
func counterValue(t *testing.T, m *Metrics, name string) float64 {
	t.Helper()
	families, err := m.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() == name && len(f.GetMetric()) == 1 {
			return f.GetMetric()[0].GetCounter().GetValue()
		}
	}
	return -1
}

// TestMetricsCountDeletions: orphan releases and retractions are counted from
// every run's report, an errored run's too (it may have deleted before it failed).
func TestMetricsCountDeletions(t *testing.T) {
	m := NewMetrics()
	names := []string{"reconciler_orphans_released_total", "reconciler_retracted_total"}
	for _, n := range names {
		if v := counterValue(t, m, n); v != 0 {
			t.Fatalf("%s = %v before any run, want 0 (exported from the start)", n, v)
		}
	}
	m.RunFinished("orphan", "ok", time.Second, &jobs.Report{OrphansReleased: 3, Retracted: 1})
	m.RunFinished("verify", "error", time.Second, &jobs.Report{Retracted: 2})
	m.RunFinished("schedule", "error", time.Second, nil)
	for i, want := range []float64{3, 3} {
		if v := counterValue(t, m, names[i]); v != want {
			t.Errorf("%s = %v, want %v", names[i], v, want)
		}
	}
}
