package engine

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/ferry-migrate/ferry/replication"
	"github.com/ferry-migrate/ferry/steps"
)

// Metrics are the engine's Prometheus metrics: counters fed by the
// replication events, and gauges read from the jobs at each scrape.
type Metrics struct {
	e        *Engine
	Registry *prometheus.Registry

	sent, changed, violations *prometheus.CounterVec
	passes                    *prometheus.CounterVec
	durations                 *prometheus.HistogramVec

	mu        sync.Mutex
	passStart map[string]time.Time
	passEnd   map[string]time.Time

	lag, sinceDone, rpo, compareAt, compareDiff, paused, running, phase, sessions *prometheus.Desc
}

func newMetrics(e *Engine) *Metrics {
	m := &Metrics{e: e, Registry: prometheus.NewRegistry(), passStart: map[string]time.Time{}, passEnd: map[string]time.Time{}}
	vm := []string{"vm"}
	m.sent = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ferry_replication_bytes_sent_total",
		Help: "Wire bytes sent by completed replication passes (after compression, zero runs not sent)."}, vm)
	m.changed = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ferry_replication_bytes_changed_total",
		Help: "Disk bytes completed replication passes had to cover (changed extents; whole disks for initial syncs and full compares)."}, vm)
	m.violations = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ferry_replication_rpo_violations_total",
		Help: "Times a VM's replica became older than its RPO."}, vm)
	m.passes = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ferry_replication_passes_total",
		Help: "Completed replication passes by kind (initial, incremental, full-compare, final)."}, []string{"vm", "kind"})
	m.durations = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "ferry_replication_pass_duration_seconds",
		Help:    "Duration of completed replication passes, snapshot to commit.",
		Buckets: []float64{0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900, 1800, 3600}}, []string{"vm", "kind"})
	m.lag = prometheus.NewDesc("ferry_replication_lag_seconds",
		"Age of the replica's data: time since the snapshot of the last completed pass.", vm, nil)
	m.sinceDone = prometheus.NewDesc("ferry_replication_last_pass_completed_age_seconds",
		"Time since the last pass completed (before this engine saw one complete: since its snapshot).", vm, nil)
	m.rpo = prometheus.NewDesc("ferry_replication_rpo_seconds", "The VM's RPO.", vm, nil)
	m.compareAt = prometheus.NewDesc("ferry_replication_last_full_compare_timestamp_seconds",
		"Snapshot time of the last full compare of the replica with its source (Unix seconds).", vm, nil)
	m.compareDiff = prometheus.NewDesc("ferry_replication_last_full_compare_differing_blocks",
		"Blocks the last full compare found differing (changes the source's changed block tracking did not report).", vm, nil)
	m.paused = prometheus.NewDesc("ferry_replication_paused", "1 while the VM's replication job is paused.", vm, nil)
	m.running = prometheus.NewDesc("ferry_replication_pass_running", "1 while a pass of the VM runs.", vm, nil)
	m.phase = prometheus.NewDesc("ferry_cutover_phase",
		"1 for the VM's current migration phase (selected, replicating, cutting over, decision needed, cut over).", []string{"vm", "phase"}, nil)
	m.sessions = prometheus.NewDesc("ferry_sessions_attached", "Wizard sessions attached to the engine, by role.", []string{"role"}, nil)
	m.Registry.MustRegister(m.sent, m.changed, m.violations, m.passes, m.durations, m,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

func (m *Metrics) replicationEvent(ev replication.Event) {
	switch ev.Kind {
	case replication.EventPhase:
		if ev.Phase == replication.PhaseSnapshot {
			m.mu.Lock()
			m.passStart[ev.VM] = ev.Time
			m.mu.Unlock()
		}
	case replication.EventPassDone:
		m.sent.WithLabelValues(ev.VM).Add(float64(ev.Sent))
		m.changed.WithLabelValues(ev.VM).Add(float64(ev.Planned))
		kind := string(ev.Pass)
		if kind == "" {
			kind = "unknown"
		}
		m.passes.WithLabelValues(ev.VM, kind).Inc()
		m.mu.Lock()
		start, ok := m.passStart[ev.VM]
		m.passEnd[ev.VM] = ev.Time
		m.mu.Unlock()
		if ok && !ev.Time.Before(start) {
			m.durations.WithLabelValues(ev.VM, kind).Observe(ev.Time.Sub(start).Seconds())
		}
	case replication.EventRPOWarning:
		// The scheduler warns about long passes too (lagging); a violation
		// is a replica older than the RPO.
		if ev.Health == replication.HealthMissed {
			m.violations.WithLabelValues(ev.VM).Inc()
		}
	}
}

// Describe implements prometheus.Collector.
func (m *Metrics) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{m.lag, m.sinceDone, m.rpo, m.compareAt, m.compareDiff, m.paused, m.running, m.phase, m.sessions} {
		ch <- d
	}
}

// Collect implements prometheus.Collector: the jobs as they are now.
func (m *Metrics) Collect(ch chan<- prometheus.Metric) {
	now := time.Now()
	e := m.e
	jobs, _ := e.Env.ReplicationStatus(now)
	running := map[string]bool{}
	if e.Sched != nil {
		for _, st := range e.Sched.Status() {
			running[st.VM] = st.Running
		}
	}
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	b := func(v bool) float64 {
		if v {
			return 1
		}
		return 0
	}
	for _, j := range jobs {
		gauge(m.phase, 1, j.VM, e.phase(j.VM))
		if j.RPO > 0 {
			gauge(m.rpo, j.RPO.Duration().Seconds(), j.VM)
		}
		if j.LastPass.IsZero() || e.Env.VMPhase(j.VM) == steps.VMCutOver {
			continue
		}
		gauge(m.lag, now.Sub(j.LastPass).Seconds(), j.VM)
		m.mu.Lock()
		done, ok := m.passEnd[j.VM]
		m.mu.Unlock()
		if !ok {
			done = j.LastPass
		}
		gauge(m.sinceDone, now.Sub(done).Seconds(), j.VM)
		gauge(m.paused, b(j.Paused), j.VM)
		gauge(m.running, b(running[j.VM]), j.VM)
		if c := j.LastCompare; c != nil {
			gauge(m.compareAt, float64(c.Time.UnixMilli())/1000, j.VM)
			gauge(m.compareDiff, float64(c.Differing), j.VM)
		}
	}
	roles := map[string]int{"driver": 0, "viewer": 0}
	for _, a := range e.Attached() {
		roles[a.Role]++
	}
	for r, n := range roles {
		gauge(m.sessions, float64(n), r)
	}
}

// ServeMetrics serves /metrics on addr until ctx ends. The listener is
// bounded: header and whole-request deadlines, small headers, few scrapes
// at once.
func (e *Engine) ServeMetrics(ctx context.Context, ln net.Listener) error {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(e.Metrics.Registry, promhttp.HandlerOpts{MaxRequestsInFlight: 4, Timeout: 10 * time.Second}))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second,
		WriteTimeout: 15 * time.Second, IdleTimeout: 60 * time.Second, MaxHeaderBytes: 8 << 10}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("metrics: %w", err)
	}
	return nil
}
