// Package metrics exposes an agent's state and history to Prometheus, on a
// private registry (nothing is registered globally). docs/metrics.md lists
// every metric; a test keeps that list complete.
//
// Two kinds of data go out:
//
//   - State gauges (nodes, links, quorum, resources, groups, dropped packets),
//     made at scrape time from one status.Status snapshot that the agent's
//     loop answers, so every scrape is one consistent view.
//   - Counters and histograms of what happened: the core's events
//     (failovers and their duration among them), resource agent operations
//     and the agent loop's lag. The agent feeds them as they happen.
package metrics

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"tandem/internal/alert"
	"tandem/internal/node"
	"tandem/internal/status"
)

// namespace prefixes every tandem metric.
const namespace = "tandem"

// Ops are the resource agent operations, as ownership.Op names them.
var Ops = []string{"start", "stop", "monitor", "probe", "announce"}

// EventKinds are the core's event kinds, each counted from zero.
var EventKinds = []node.EventKind{
	node.NodeUp, node.NodeDown, node.LinkUp, node.LinkDown, node.QuorumGained, node.QuorumLost,
	node.ResourceStarted, node.ResourceStopped, node.ResourceFailed, node.GroupMoved,
	node.SplitBrainHealed, node.BecameActive, node.BecameBackup,
}

// Options configure the metrics of one agent.
type Options struct {
	// Status answers the current view (the agent's Status method). Nil: no
	// state gauges, only the counters.
	Status func(context.Context) (status.Status, error)
	// StatusTimeout bounds one Status call during a scrape (default 3s).
	StatusTimeout time.Duration
	// Groups and Resources are the configured names, so their counters
	// start at zero instead of appearing with the first event.
	Groups    []string
	Resources []string
	// Alerts reads the alert hook counters (nil: no alert metrics).
	Alerts func() alert.Stats
	// Runtime adds the standard go_* and process_* collectors.
	Runtime bool
	Log     *slog.Logger
}

// Metrics is one agent's registry and the instruments the agent feeds.
// Its methods are safe for concurrent use, except LoopLag, which only the
// agent's loop calls. Handler, Events, Action and LoopLag accept a nil
// *Metrics (metrics off) and do nothing.
type Metrics struct {
	reg     *prometheus.Registry
	handler http.Handler

	events      *prometheus.CounterVec
	failovers   *prometheus.CounterVec
	failoverDur prometheus.Histogram
	actionDur   *prometheus.HistogramVec
	actionFail  *prometheus.CounterVec
	loopLag     prometheus.Histogram
	loopLagMax  prometheus.Gauge
	lagMax      time.Duration // owned by the loop
}

// New makes the registry and registers every collector on it.
func New(o Options) *Metrics {
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "events_total",
			Help: "Transitions seen by this node, by kind (node_up, link_down, group_moved, ...).",
		}, []string{"kind"}),
		failovers: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "failovers_total",
			Help: "Times a group came to run on this node after running on another (takeover after a loss, hand-off or move).",
		}, []string{"group"}),
		failoverDur: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: namespace, Name: "failover_duration_seconds",
			Help:    "Takeovers after the previous holder died or left: time from the last packet heard from it to the group running on this node.",
			Buckets: []float64{0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 0.75, 1, 1.5, 2, 3, 5, 10, 20, 30},
		}),
		actionDur: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: namespace, Name: "action_duration_seconds",
			Help:    "Time a resource agent operation took, failed or not.",
			Buckets: []float64{0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120},
		}, []string{"resource", "op"}),
		actionFail: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "action_failures_total",
			Help: "Resource agent operations that returned an error or timed out (a monitor finding the resource stopped is not a failure).",
		}, []string{"resource", "op"}),
		loopLag: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: namespace, Name: "loop_lag_seconds",
			Help:    "How late the agent loop handled each timer tick after it was due.",
			Buckets: []float64{0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5},
		}),
		loopLagMax: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: namespace, Name: "loop_lag_max_seconds",
			Help: "Largest agent loop lag since the agent started.",
		}),
	}
	for _, k := range EventKinds {
		m.events.WithLabelValues(string(k))
	}
	for _, g := range o.Groups {
		m.failovers.WithLabelValues(g)
	}
	for _, r := range o.Resources {
		for _, op := range Ops {
			m.actionDur.WithLabelValues(r, op)
			m.actionFail.WithLabelValues(r, op)
		}
	}
	m.reg.MustRegister(m.events, m.failovers, m.failoverDur, m.actionDur, m.actionFail, m.loopLag, m.loopLagMax)
	if o.Status != nil {
		timeout := o.StatusTimeout
		if timeout <= 0 {
			timeout = 3 * time.Second
		}
		m.reg.MustRegister(&stateCollector{status: o.Status, timeout: timeout, log: o.Log})
	}
	if o.Alerts != nil {
		m.reg.MustRegister(alertCollector(o.Alerts))
	}
	if o.Runtime {
		m.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	}
	m.handler = promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{
		ErrorLog:            errorLog{o.Log},
		ErrorHandling:       promhttp.ContinueOnError,
		MaxRequestsInFlight: 4,
		Timeout:             10 * time.Second,
	})
	return m
}

// Registry is the private registry, for tests and for adding collectors.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the registry in the Prometheus exposition formats.
func (m *Metrics) Handler() http.Handler {
	if m == nil {
		return nil
	}
	return m.handler
}

// Events counts the core's events; a group_moved with a duration is a
// takeover after a loss and goes into the failover histogram.
func (m *Metrics) Events(evs []node.Event) {
	if m == nil {
		return
	}
	for _, e := range evs {
		m.events.WithLabelValues(string(e.Kind)).Inc()
		if e.Kind == node.GroupMoved {
			m.failovers.WithLabelValues(e.Group).Inc()
			if e.Took > 0 {
				m.failoverDur.Observe(e.Took.Seconds())
			}
		}
	}
}

// Action records one resource agent operation.
func (m *Metrics) Action(resource, op string, took time.Duration, failed bool) {
	if m == nil {
		return
	}
	m.actionDur.WithLabelValues(resource, op).Observe(took.Seconds())
	if failed {
		m.actionFail.WithLabelValues(resource, op).Inc()
	}
}

// LoopLag records how late one tick of the agent loop ran. Only the loop
// calls it: the running maximum is its own.
func (m *Metrics) LoopLag(lag time.Duration) {
	if m == nil {
		return
	}
	lag = max(lag, 0)
	m.loopLag.Observe(lag.Seconds())
	if lag > m.lagMax {
		m.lagMax = lag
		m.loopLagMax.Set(lag.Seconds())
	}
}

// Serve serves GET /metrics on l until ctx is done.
func (m *Metrics) Serve(ctx context.Context, l net.Listener) error {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", m.handler)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second, WriteTimeout: 30 * time.Second}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("metrics: %w", err)
	}
	return nil
}

// errorLog hands promhttp's errors to slog.
type errorLog struct{ log *slog.Logger }

func (e errorLog) Println(v ...any) { e.log.Warn("metrics", "err", fmt.Sprint(v...)) }

// alertCollector exports the dispatcher's counters as they are at scrape
// time: the dispatcher owns them, so nothing is counted twice.
type alertCollector func() alert.Stats

var alertDesc = prometheus.NewDesc(namespace+"_alert_hooks_total",
	"Alert hook runs by result: queued, delivered (exit 0), failed, timed_out (killed at its timeout), dropped (queue full or agent stopping).",
	[]string{"result"}, nil)

func (c alertCollector) Describe(ch chan<- *prometheus.Desc) { ch <- alertDesc }

func (c alertCollector) Collect(ch chan<- prometheus.Metric) {
	s := c()
	for _, v := range []struct {
		result string
		n      uint64
	}{{"queued", s.Queued}, {"delivered", s.Delivered}, {"failed", s.Failed}, {"timed_out", s.TimedOut}, {"dropped", s.Dropped}} {
		ch <- prometheus.MustNewConstMetric(alertDesc, prometheus.CounterValue, float64(v.n), v.result)
	}
}
