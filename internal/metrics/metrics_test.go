package metrics

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"tandem/internal/alert"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"

	"tandem/internal/node"
	"tandem/internal/status"
)

// sample is a two-node view from a: b online on two links (one dead), the
// voice group running here, a fail count on b and some drops.
func sample() status.Status {
	return status.Status{
		Schema: status.Schema, Cluster: "fs-pair", Node: "a", ConfigHash: "755a14c13e536060",
		Quorum: status.Quorum{Mode: "two_node", Quorate: true, Votes: 2, Expected: 2},
		Nodes: []status.Node{
			{Name: "a", Self: true, State: "online", ConfigMatch: true, Links: []status.Link{{Addr: "10.0.0.1", State: "local"}, {Addr: "10.1.0.1", State: "local"}}},
			{Name: "b", State: "online", ConfigMatch: true, Links: []status.Link{
				{Addr: "10.0.0.2", State: "up", RTT: "180µs", Loss: 0.05},
				{Addr: "10.1.0.2", State: "dead", RTT: "", Loss: 1},
			}},
		},
		Resources: []status.Resource{
			{Name: "vip", Kind: "ip", Group: "voice", Instances: []status.Instance{{Node: "a", State: "running", Role: "started"}}},
			{Name: "fs", Kind: "exec", Group: "voice", Instances: []status.Instance{{Node: "a", State: "starting", Role: "started"}},
				FailCounts: map[string]int{"b": 1000000}},
		},
		Groups: []status.Group{{Name: "voice", Members: []string{"vip", "fs"}, Owner: "a", Target: "a"}, {Name: "idle", Members: []string{"x"}}},
		Drops:  []status.Drop{{Reason: "bad-tag", Count: 3}, {Reason: "queue-full", Count: 1}},
	}
}

func newTest(t *testing.T, st func(context.Context) (status.Status, error)) *Metrics {
	t.Helper()
	return New(Options{Status: st, Groups: []string{"voice", "idle"}, Resources: []string{"vip", "fs"},
		Alerts: func() alert.Stats { return alert.Stats{Queued: 5, Delivered: 3, Failed: 1, TimedOut: 1, Dropped: 2} }})
}

func fixed(s status.Status) func(context.Context) (status.Status, error) {
	return func(context.Context) (status.Status, error) { return s, nil }
}

// feed gives every instrument some data.
func feed(m *Metrics) {
	m.Events([]node.Event{
		{Kind: node.NodeDown, Peer: "b", Link: -1},
		{Kind: node.BecameActive, Group: "voice", Link: -1},
		{Kind: node.GroupMoved, Group: "voice", Peer: "b", Link: -1, Took: 1040 * time.Millisecond},
		{Kind: node.GroupMoved, Group: "voice", Peer: "b", Link: -1}, // a hand-off: no duration
		{Kind: node.LinkDown, Peer: "b", Link: 1},
	})
	m.Action("vip", "start", 40*time.Millisecond, false)
	m.Action("fs", "monitor", 3*time.Second, true)
	m.LoopLag(2 * time.Millisecond)
	m.LoopLag(300 * time.Millisecond)
	m.LoopLag(time.Millisecond)
}

func TestCollectorsLint(t *testing.T) {
	m := newTest(t, fixed(sample()))
	feed(m)
	cs := map[string]prometheus.Collector{
		"state": &stateCollector{status: fixed(sample()), timeout: time.Second, log: discard()},
		"state (no status)": &stateCollector{status: func(context.Context) (status.Status, error) {
			return status.Status{}, errors.New("busy")
		}, timeout: time.Second, log: discard()},
		"events": m.events, "failovers": m.failovers, "failover duration": m.failoverDur,
		"action duration": m.actionDur, "action failures": m.actionFail, "loop lag": m.loopLag, "loop lag max": m.loopLagMax,
	}
	for name, c := range cs {
		if n := testutil.CollectAndCount(c); n == 0 {
			t.Errorf("%s: collected nothing", name)
		}
		problems, err := testutil.CollectAndLint(c)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		for _, p := range problems {
			t.Errorf("%s: %s: %s", name, p.Metric, p.Text)
		}
	}
	// The whole registry, as scraped, including the runtime collectors.
	full := New(Options{Status: fixed(sample()), Runtime: true})
	feed(full)
	problems, err := testutil.GatherAndLint(full.Registry())
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("registry: %s: %s", p.Metric, p.Text)
	}
}

func TestStateFromStatus(t *testing.T) {
	c := &stateCollector{status: fixed(sample()), timeout: time.Second, log: discard()}
	want := `
# HELP tandem_link_up 1 if heartbeats arrive from the peer on this link; link is the index in nodes[].links.
# TYPE tandem_link_up gauge
tandem_link_up{link="0",peer="b"} 1
tandem_link_up{link="1",peer="b"} 0
# HELP tandem_link_rtt_seconds Smoothed heartbeat round trip to the peer on this link; absent until measured.
# TYPE tandem_link_rtt_seconds gauge
tandem_link_rtt_seconds{link="0",peer="b"} 0.00018
# HELP tandem_link_loss_ratio Share of the peer's recent heartbeats lost on this link, 0..1.
# TYPE tandem_link_loss_ratio gauge
tandem_link_loss_ratio{link="0",peer="b"} 0.05
tandem_link_loss_ratio{link="1",peer="b"} 1
# HELP tandem_quorate 1 if this node has quorum and may run resources.
# TYPE tandem_quorate gauge
tandem_quorate 1
# HELP tandem_resource_running 1 if the resource runs on the node (state running), as this node sees it.
# TYPE tandem_resource_running gauge
tandem_resource_running{node="a",resource="fs"} 0
tandem_resource_running{node="a",resource="vip"} 1
tandem_resource_running{node="b",resource="fs"} 0
tandem_resource_running{node="b",resource="vip"} 0
# HELP tandem_resource_failures The resource's fail count on the node; 1000000 is INFINITY (banned there until cleaned up).
# TYPE tandem_resource_failures gauge
tandem_resource_failures{node="a",resource="fs"} 0
tandem_resource_failures{node="a",resource="vip"} 0
tandem_resource_failures{node="b",resource="fs"} 1e+06
tandem_resource_failures{node="b",resource="vip"} 0
# HELP tandem_group_active 1 if the group runs on this node.
# TYPE tandem_group_active gauge
tandem_group_active{group="idle"} 0
tandem_group_active{group="voice"} 1
# HELP tandem_group_owned 1 if this node sees any node holding the group (0: it runs nowhere).
# TYPE tandem_group_owned gauge
tandem_group_owned{group="idle"} 0
tandem_group_owned{group="voice"} 1
# HELP tandem_packets_dropped_total Packets dropped since the agent started, by reason.
# TYPE tandem_packets_dropped_total counter
tandem_packets_dropped_total{reason="bad-tag"} 3
tandem_packets_dropped_total{reason="malformed"} 0
tandem_packets_dropped_total{reason="old-incarnation"} 0
tandem_packets_dropped_total{reason="other-cluster"} 0
tandem_packets_dropped_total{reason="queue-full"} 1
tandem_packets_dropped_total{reason="replay"} 0
tandem_packets_dropped_total{reason="unknown-node"} 0
tandem_packets_dropped_total{reason="version"} 0
`
	names := []string{"tandem_link_up", "tandem_link_rtt_seconds", "tandem_link_loss_ratio", "tandem_quorate",
		"tandem_resource_running", "tandem_resource_failures", "tandem_group_active", "tandem_group_owned", "tandem_packets_dropped_total"}
	if err := testutil.CollectAndCompare(c, strings.NewReader(want), names...); err != nil {
		t.Fatal(err)
	}
	// The enums: one series per state, 1 on the current one.
	got := values(t, c, "tandem_resource_state")
	if got[`node=a,resource=fs,state=starting`] != 1 || got[`node=a,resource=fs,state=running`] != 0 ||
		got[`node=b,resource=vip,state=stopped`] != 1 || len(got) != 2*2*len(resourceStates) {
		t.Errorf("resource_state: %v", got)
	}
	got = values(t, c, "tandem_node_state")
	if got[`node=b,state=online`] != 1 || got[`node=b,state=offline`] != 0 || len(got) != 2*len(nodeStates) {
		t.Errorf("node_state: %v", got)
	}
	got = values(t, c, "tandem_node_up")
	if got[`node=a`] != 1 || got[`node=b`] != 1 {
		t.Errorf("node_up: %v", got)
	}
	if got = values(t, c, "tandem_status_ok"); got[""] != 1 {
		t.Errorf("status_ok: %v", got)
	}

	// A peer gone: down, its links dead, an unknown state still shown.
	s := sample()
	s.Nodes[1].State = "offline"
	s.Nodes[1].Links[0] = status.Link{Addr: "10.0.0.2", State: "dead", Loss: 1}
	s.Resources[0].Instances = append(s.Resources[0].Instances, status.Instance{Node: "b", State: "migrating"})
	c.status = fixed(s)
	if got = values(t, c, "tandem_node_up"); got[`node=b`] != 0 {
		t.Errorf("node_up after b died: %v", got)
	}
	if got = values(t, c, "tandem_link_rtt_seconds"); len(got) != 0 {
		t.Errorf("rtt of dead links: %v", got)
	}
	if got = values(t, c, "tandem_resource_state"); got[`node=b,resource=vip,state=migrating`] != 1 {
		t.Errorf("unknown state not shown: %v", got)
	}
}

func TestStatusUnavailable(t *testing.T) {
	c := &stateCollector{status: func(ctx context.Context) (status.Status, error) {
		<-ctx.Done() // the loop never answers
		return status.Status{}, ctx.Err()
	}, timeout: time.Millisecond, log: discard()}
	want := `
# HELP tandem_status_ok 1 if the agent answered the status for this scrape; 0 if its loop was too busy (the state metrics are then missing).
# TYPE tandem_status_ok gauge
tandem_status_ok 0
`
	if err := testutil.CollectAndCompare(c, strings.NewReader(want)); err != nil {
		t.Fatal(err)
	}
}

func TestEventsActionsAndLag(t *testing.T) {
	m := newTest(t, nil)
	// Every counter starts at zero, so rate() and increase() work from the
	// first scrape.
	if v := testutil.ToFloat64(m.failovers.WithLabelValues("idle")); v != 0 {
		t.Fatalf("idle failovers %v", v)
	}
	if n := testutil.CollectAndCount(m.events); n != len(EventKinds) {
		t.Fatalf("%d event kinds exposed, want %d", n, len(EventKinds))
	}
	if n := testutil.CollectAndCount(m.actionFail); n != 2*len(Ops) {
		t.Fatalf("%d action failure series, want %d", n, 2*len(Ops))
	}
	feed(m)
	for kind, want := range map[node.EventKind]float64{node.GroupMoved: 2, node.NodeDown: 1, node.LinkDown: 1, node.BecameActive: 1, node.QuorumLost: 0} {
		if v := testutil.ToFloat64(m.events.WithLabelValues(string(kind))); v != want {
			t.Errorf("events_total{kind=%s} = %v, want %v", kind, v, want)
		}
	}
	if v := testutil.ToFloat64(m.failovers.WithLabelValues("voice")); v != 2 {
		t.Errorf("voice failovers %v", v)
	}
	want := `
# HELP tandem_failover_duration_seconds Takeovers after the previous holder died or left: time from the last packet heard from it to the group running on this node.
# TYPE tandem_failover_duration_seconds histogram
tandem_failover_duration_seconds_bucket{le="0.01"} 0
tandem_failover_duration_seconds_bucket{le="0.025"} 0
tandem_failover_duration_seconds_bucket{le="0.05"} 0
tandem_failover_duration_seconds_bucket{le="0.1"} 0
tandem_failover_duration_seconds_bucket{le="0.25"} 0
tandem_failover_duration_seconds_bucket{le="0.5"} 0
tandem_failover_duration_seconds_bucket{le="0.75"} 0
tandem_failover_duration_seconds_bucket{le="1"} 0
tandem_failover_duration_seconds_bucket{le="1.5"} 1
tandem_failover_duration_seconds_bucket{le="2"} 1
tandem_failover_duration_seconds_bucket{le="3"} 1
tandem_failover_duration_seconds_bucket{le="5"} 1
tandem_failover_duration_seconds_bucket{le="10"} 1
tandem_failover_duration_seconds_bucket{le="20"} 1
tandem_failover_duration_seconds_bucket{le="30"} 1
tandem_failover_duration_seconds_bucket{le="+Inf"} 1
tandem_failover_duration_seconds_sum 1.04
tandem_failover_duration_seconds_count 1
`
	if err := testutil.CollectAndCompare(m.failoverDur, strings.NewReader(want)); err != nil {
		t.Fatal(err)
	}
	if v := testutil.ToFloat64(m.actionFail.WithLabelValues("fs", "monitor")); v != 1 {
		t.Errorf("fs monitor failures %v", v)
	}
	if v := testutil.ToFloat64(m.actionFail.WithLabelValues("vip", "start")); v != 0 {
		t.Errorf("vip start failures %v", v)
	}
	if c, s := histogram(t, m.actionDur, "resource=vip,op=start"); c != 1 || s != 0.04 {
		t.Errorf("vip start duration: count %d sum %v", c, s)
	}
	if v := testutil.ToFloat64(m.loopLagMax); v != 0.3 {
		t.Errorf("loop lag max %v, want 0.3", v)
	}
	if c, s := histogram(t, m.loopLag, ""); c != 3 || math.Abs(s-0.303) > 1e-9 {
		t.Errorf("loop lag: count %d sum %v", c, s)
	}
	// Off: a nil *Metrics takes every call.
	var off *Metrics
	feed(off)
	if off.Handler() != nil {
		t.Error("nil metrics has a handler")
	}
}

// TestServe scrapes over a listener the way Prometheus would, on a unix
// socket so the test needs no port.
func TestServe(t *testing.T) {
	m := newTest(t, fixed(sample()))
	feed(m)
	sock := filepath.Join(t.TempDir(), "metrics.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- m.Serve(ctx, l) }()
	hc := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", sock)
	}}}
	resp, err := hc.Get("http://tandem/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(resp.Header.Get("Content-Type"), "text/plain") {
		t.Fatalf("GET /metrics: %s %s", resp.Status, resp.Header.Get("Content-Type"))
	}
	for _, s := range []string{`tandem_quorate 1`, `tandem_events_total{kind="group_moved"} 2`, `tandem_link_up{link="0",peer="b"} 1`} {
		if !strings.Contains(string(body), s) {
			t.Errorf("scrape lacks %q", s)
		}
	}
	resp, err = hc.Get("http://tandem/v1/status")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("the metrics listener serves /v1/status: %s", resp.Status)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// TestDocsListEveryMetric keeps docs/metrics.md complete: every tandem
// metric has a table row naming its type and every label.
func TestDocsListEveryMetric(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "metrics.md"))
	if err != nil {
		t.Fatal(err)
	}
	rows := map[string]string{}
	for _, line := range strings.Split(string(doc), "\n") {
		if f := strings.Split(line, "|"); len(f) > 4 && strings.HasPrefix(strings.TrimSpace(f[1]), "`tandem_") {
			rows[strings.Trim(strings.TrimSpace(f[1]), "`")] = line
		}
	}
	m := newTest(t, fixed(sample()))
	feed(m)
	mfs, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	var exposed []string
	for _, mf := range mfs {
		name := mf.GetName()
		exposed = append(exposed, name)
		row, ok := rows[name]
		if !ok {
			t.Errorf("docs/metrics.md has no row for %s", name)
			continue
		}
		f := strings.Split(row, "|")
		if typ := strings.ToLower(mf.GetType().String()); strings.TrimSpace(f[2]) != typ {
			t.Errorf("docs/metrics.md: %s is a %s, the doc says %q", name, typ, strings.TrimSpace(f[2]))
		}
		labels := map[string]bool{}
		for _, mt := range mf.GetMetric() {
			for _, l := range mt.GetLabel() {
				labels[l.GetName()] = true
			}
		}
		for l := range labels {
			if !strings.Contains(f[3], "`"+l+"`") {
				t.Errorf("docs/metrics.md: %s: label %s not listed", name, l)
			}
		}
	}
	for name := range rows {
		if !slices.Contains(exposed, name) {
			t.Errorf("docs/metrics.md lists %s, which is not exposed", name)
		}
	}
}

// values collects one metric's series as "label=value,..." → value.
func values(t *testing.T, c prometheus.Collector, name string) map[string]float64 {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			out[key(m)] = m.GetGauge().GetValue() + m.GetCounter().GetValue()
		}
	}
	return out
}

func key(m *dto.Metric) string {
	var ls []string
	for _, l := range m.GetLabel() {
		ls = append(ls, l.GetName()+"="+l.GetValue())
	}
	return strings.Join(ls, ",")
}

// histogram returns the count and sum of the series of c whose labels, in
// the order given, are want ("" for none).
func histogram(t *testing.T, c prometheus.Collector, want string) (uint64, float64) {
	t.Helper()
	ch := make(chan prometheus.Metric, 256)
	c.Collect(ch)
	close(ch)
	for mt := range ch {
		var d dto.Metric
		if err := mt.Write(&d); err != nil {
			t.Fatal(err)
		}
		ls := map[string]string{}
		for _, l := range d.GetLabel() {
			ls[l.GetName()] = l.GetValue()
		}
		match := true
		for _, kv := range strings.Split(want, ",") {
			if k, v, ok := strings.Cut(kv, "="); ok && ls[k] != v {
				match = false
			}
		}
		if match {
			h := d.GetHistogram()
			return h.GetSampleCount(), h.GetSampleSum()
		}
	}
	t.Fatalf("no series %q", want)
	return 0, 0
}

func discard() *slog.Logger { return slog.New(slog.DiscardHandler) }

// The loop calls LoopLag on every tick: it must not allocate.
func TestLoopLagDoesNotAllocate(t *testing.T) {
	m := newTest(t, nil)
	lag := time.Millisecond
	if n := testing.AllocsPerRun(1000, func() { m.LoopLag(lag); lag++ }); n != 0 {
		t.Fatalf("LoopLag allocates %v times per call", n)
	}
}

func TestAlertHookCounters(t *testing.T) {
	m := newTest(t, fixed(sample()))
	want := `
# HELP tandem_alert_hooks_total Alert hook runs by result: queued, delivered (exit 0), failed, timed_out (killed at its timeout), dropped (queue full or agent stopping).
# TYPE tandem_alert_hooks_total counter
tandem_alert_hooks_total{result="delivered"} 3
tandem_alert_hooks_total{result="dropped"} 2
tandem_alert_hooks_total{result="failed"} 1
tandem_alert_hooks_total{result="queued"} 5
tandem_alert_hooks_total{result="timed_out"} 1
`
	if err := testutil.GatherAndCompare(m.Registry(), strings.NewReader(want), "tandem_alert_hooks_total"); err != nil {
		t.Fatal(err)
	}
}
