package metrics

import (
	"context"
	"log/slog"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"tandem/internal/status"
	"tandem/internal/wire"
)

// The values status.Status uses; each enum gauge has one series per value,
// 1 for the current one, so that a state absent from the scrape reads 0.
var (
	nodeStates     = []string{"online", "pending", "warn", "offline", "left", "leaving", "probing"}
	resourceStates = []string{"stopped", "starting", "running", "stopping", "failed", "blocked", "unknown"}
)

// dropReasons are the reasons a packet may be dropped, counted from zero:
// wire's, then the agent's own.
var dropReasons = func() []string {
	var out []string
	for r := wire.DropMalformed; r <= wire.DropOldIncarnation; r++ {
		out = append(out, r.String())
	}
	return append(out, "queue-full")
}()

func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc(prometheus.BuildFQName(namespace, "", name), help, labels, nil)
}

var (
	statusOKDesc     = desc("status_ok", "1 if the agent answered the status for this scrape; 0 if its loop was too busy (the state metrics are then missing).")
	infoDesc         = desc("info", "Always 1: the cluster, this node and its config hash (peers compare it).", "cluster", "node", "config_hash")
	nodeUpDesc       = desc("node_up", "1 if the node is alive as this node sees it (online, warn, probing or leaving), 0 if pending, offline or left.", "node")
	nodeStateDesc    = desc("node_state", "1 for the node's current state (online, pending, warn, offline, left, leaving, probing), 0 for the others.", "node", "state")
	nodeConfigDesc   = desc("node_config_match", "1 if the node's config hash equals this node's.", "node")
	linkUpDesc       = desc("link_up", "1 if heartbeats arrive from the peer on this link; link is the index in nodes[].links.", "peer", "link")
	linkRTTDesc      = desc("link_rtt_seconds", "Smoothed heartbeat round trip to the peer on this link; absent until measured.", "peer", "link")
	linkLossDesc     = desc("link_loss_ratio", "Share of the peer's recent heartbeats lost on this link, 0..1.", "peer", "link")
	quorateDesc      = desc("quorate", "1 if this node has quorum and may run resources.")
	votesDesc        = desc("quorum_votes", "Votes this node counts (itself and the live peers).")
	expectedDesc     = desc("quorum_expected_votes", "Votes in the whole cluster.")
	resRunningDesc   = desc("resource_running", "1 if the resource runs on the node (state running), as this node sees it.", "resource", "node")
	resStateDesc     = desc("resource_state", "1 for the resource's current state on the node (stopped, starting, running, stopping, failed, blocked, unknown), 0 for the others.", "resource", "node", "state")
	resFailuresDesc  = desc("resource_failures", "The resource's fail count on the node; 1000000 is INFINITY (banned there until cleaned up).", "resource", "node")
	groupActiveDesc  = desc("group_active", "1 if the group runs on this node.", "group")
	groupOwnedDesc   = desc("group_owned", "1 if this node sees any node holding the group (0: it runs nowhere).", "group")
	droppedDesc      = desc("packets_dropped_total", "Packets dropped since the agent started, by reason.", "reason")
	stateCollectorDs = []*prometheus.Desc{statusOKDesc, infoDesc, nodeUpDesc, nodeStateDesc, nodeConfigDesc, linkUpDesc, linkRTTDesc,
		linkLossDesc, quorateDesc, votesDesc, expectedDesc, resRunningDesc, resStateDesc, resFailuresDesc, groupActiveDesc, groupOwnedDesc, droppedDesc}
)

// stateCollector turns one status snapshot into gauges at every scrape.
type stateCollector struct {
	status  func(context.Context) (status.Status, error)
	timeout time.Duration
	log     *slog.Logger
}

func (c *stateCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range stateCollectorDs {
		ch <- d
	}
}

func (c *stateCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	st, err := c.status(ctx)
	if err != nil {
		c.log.Warn("metrics: no status for this scrape", "err", err)
		ch <- prometheus.MustNewConstMetric(statusOKDesc, prometheus.GaugeValue, 0)
		return
	}
	ch <- prometheus.MustNewConstMetric(statusOKDesc, prometheus.GaugeValue, 1)
	collectStatus(ch, &st)
}

func gauge(ch chan<- prometheus.Metric, d *prometheus.Desc, v float64, labels ...string) {
	ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// enum emits one series per known value (and the current one if unknown).
func enum(ch chan<- prometheus.Metric, d *prometheus.Desc, values []string, cur string, labels ...string) {
	known := false
	for _, v := range values {
		known = known || v == cur
		gauge(ch, d, b2f(v == cur), append(labels, v)...)
	}
	if !known && cur != "" {
		gauge(ch, d, 1, append(labels, cur)...)
	}
}

func collectStatus(ch chan<- prometheus.Metric, st *status.Status) {
	gauge(ch, infoDesc, 1, st.Cluster, st.Node, st.ConfigHash)
	for _, n := range st.Nodes {
		up := n.State == "online" || n.State == "warn" || n.State == "probing" || n.State == "leaving"
		gauge(ch, nodeUpDesc, b2f(up), n.Name)
		enum(ch, nodeStateDesc, nodeStates, n.State, n.Name)
		gauge(ch, nodeConfigDesc, b2f(n.ConfigMatch), n.Name)
		if n.Self {
			continue // its links are "local"
		}
		for i, l := range n.Links {
			link := strconv.Itoa(i)
			gauge(ch, linkUpDesc, b2f(l.State == "up"), n.Name, link)
			// status carries the round trip as text ("180µs"); it is
			// what the golden-guarded schema says, so parse it back.
			if rtt, err := time.ParseDuration(l.RTT); err == nil {
				gauge(ch, linkRTTDesc, rtt.Seconds(), n.Name, link)
			}
			gauge(ch, linkLossDesc, l.Loss, n.Name, link)
		}
	}
	gauge(ch, quorateDesc, b2f(st.Quorum.Quorate))
	gauge(ch, votesDesc, float64(st.Quorum.Votes))
	gauge(ch, expectedDesc, float64(st.Quorum.Expected))
	for _, r := range st.Resources {
		for _, n := range st.Nodes {
			state := "stopped" // status lists only the instances not stopped
			for _, in := range r.Instances {
				if in.Node == n.Name {
					state = in.State
				}
			}
			gauge(ch, resRunningDesc, b2f(state == "running"), r.Name, n.Name)
			enum(ch, resStateDesc, resourceStates, state, r.Name, n.Name)
			gauge(ch, resFailuresDesc, float64(r.FailCounts[n.Name]), r.Name, n.Name)
		}
	}
	for _, g := range st.Groups {
		gauge(ch, groupActiveDesc, b2f(g.Owner != "" && g.Owner == st.Node), g.Name)
		gauge(ch, groupOwnedDesc, b2f(g.Owner != ""), g.Name)
	}
	seen := map[string]bool{}
	for _, d := range st.Drops {
		seen[d.Reason] = true
		ch <- prometheus.MustNewConstMetric(droppedDesc, prometheus.CounterValue, float64(d.Count), d.Reason)
	}
	for _, r := range dropReasons {
		if !seen[r] {
			ch <- prometheus.MustNewConstMetric(droppedDesc, prometheus.CounterValue, 0, r)
		}
	}
}
