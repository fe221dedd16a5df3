package worker

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"reconciler/jobs"
)

// Metrics holds the Prometheus collectors docs/design.md names, in a registry of their own.
type Metrics struct {
	Registry       *prometheus.Registry
	runs           *prometheus.CounterVec
	runDuration    *prometheus.HistogramVec
	restores       *prometheus.CounterVec
	rows           *prometheus.GaugeVec
	sheetsRequests *prometheus.CounterVec
	lastSuccess    prometheus.Gauge
	orphans        prometheus.Counter
	retracted      prometheus.Counter
}

// NewMetrics registers the collectors (and Go/process collectors) in a new registry.
func NewMetrics() *Metrics {
	m := &Metrics{
		Registry: prometheus.NewRegistry(),
		runs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "reconciler_runs_total", Help: "Reconcile runs by trigger and outcome (ok, error, deferred).",
		}, []string{"trigger", "outcome"}),
		runDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "reconciler_run_duration_seconds", Help: "How long reconcile runs take, by trigger.",
			Buckets: []float64{0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60},
		}, []string{"trigger"}),
		restores: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "reconciler_restores_total", Help: "Restore decisions by outcome, one per lock (single restores and each lock of a batch).",
		}, []string{"outcome"}),
		rows: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "reconciler_rows", Help: "Rows of the last full reconcile by class and warning.",
		}, []string{"class"}),
		sheetsRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "reconciler_sheets_requests_total", Help: "Sheets API HTTP requests by status code (0: no response).",
		}, []string{"code"}),
		lastSuccess: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "reconciler_last_success_timestamp_seconds", Help: "Unix time of the last successful reconcile.",
		}),
		orphans: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "reconciler_orphans_released_total", Help: "Orphan locks released after ORPHAN_GRACE unbacked by the sheet.",
		}),
		retracted: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "reconciler_retracted_total", Help: "Restored locks taken back because a fresh snapshot no longer backed them.",
		}),
	}
	m.Registry.MustRegister(m.runs, m.runDuration, m.restores, m.rows, m.sheetsRequests, m.lastSuccess,
		m.orphans, m.retracted,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	for _, o := range jobs.RestoreOutcomes {
		m.restores.WithLabelValues(string(o))
	}
	return m
}

// RunFinished implements jobs.Observer.
func (m *Metrics) RunFinished(trigger, outcome string, took time.Duration, r *jobs.Report) {
	m.runs.WithLabelValues(trigger, outcome).Inc()
	m.runDuration.WithLabelValues(trigger).Observe(took.Seconds())
	if r != nil {
		// Counted whatever the outcome: a run that failed after deleting still deleted.
		m.orphans.Add(float64(r.OrphansReleased))
		m.retracted.Add(float64(r.Retracted))
	}
	if outcome != "ok" || r == nil {
		return
	}
	m.lastSuccess.Set(float64(time.Now().UnixMilli()) / 1000)
	if len(r.Spools) == 0 {
		for class, n := range r.ClassCounts() {
			m.rows.WithLabelValues(class).Set(float64(n))
		}
	}
}

// RestoreFinished implements jobs.Observer.
func (m *Metrics) RestoreFinished(o jobs.RestoreOutcome) { m.restores.WithLabelValues(string(o)).Inc() }

// SheetsResponse counts one Sheets API HTTP attempt by status code.
func (m *Metrics) SheetsResponse(code int) {
	m.sheetsRequests.WithLabelValues(strconv.Itoa(code)).Inc()
}

// registerQueues adds the asynq queue sizes to the registry, once: Handler may be built more
// than once (tests, a second server) and a second registration must not panic.
func (m *Metrics) registerQueues(in *asynq.Inspector) {
	err := m.Registry.Register(newQueueCollector(in))
	var dup prometheus.AlreadyRegisteredError
	if err != nil && !errors.As(err, &dup) {
		panic(fmt.Sprintf("register queue metrics: %v", err))
	}
}

// registerSuspect adds reconciler_sheet_suspect, once (see registerQueues).
func (m *Metrics) registerSuspect(trust jobs.TrustStore) {
	err := m.Registry.Register(&suspectCollector{trust: trust, desc: prometheus.NewDesc("reconciler_sheet_suspect",
		"1 while the sheet is suspect as a whole and runs write nothing (see `reconciler plan`, `reconciler accept-sheet`), 0 when trusted.",
		nil, nil)})
	var dup prometheus.AlreadyRegisteredError
	if err != nil && !errors.As(err, &dup) {
		panic(fmt.Sprintf("register the suspect metric: %v", err))
	}
}

// suspectCollector reads the cluster's suspect state from Redis at scrape time, so every
// replica reports the same state whichever of them judged the last snapshot.
type suspectCollector struct {
	trust jobs.TrustStore
	desc  *prometheus.Desc
}

func (c *suspectCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *suspectCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_, suspect, err := c.trust.Suspect(ctx)
	if err != nil {
		return // unreachable Redis: nothing known to export
	}
	v := 0.0
	if suspect {
		v = 1
	}
	ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, v)
}

// queueCollector exports asynq's queue sizes at scrape time.
type queueCollector struct {
	inspector *asynq.Inspector
	size      *prometheus.Desc
}

func newQueueCollector(in *asynq.Inspector) *queueCollector {
	return &queueCollector{inspector: in, size: prometheus.NewDesc("reconciler_queue_tasks",
		"Tasks in each asynq queue by state.", []string{"queue", "state"}, nil)}
}

func (c *queueCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.size }

func (c *queueCollector) Collect(ch chan<- prometheus.Metric) {
	for name := range jobs.Queues {
		q, err := c.inspector.GetQueueInfo(name)
		if err != nil {
			continue // unreachable Redis or a queue not yet created: nothing to export
		}
		for state, n := range map[string]int{
			"pending": q.Pending, "active": q.Active, "scheduled": q.Scheduled, "retry": q.Retry,
			"archived": q.Archived, "completed": q.Completed, "aggregating": q.Aggregating,
		} {
			ch <- prometheus.MustNewConstMetric(c.size, prometheus.GaugeValue, float64(n), name, state)
		}
	}
}
