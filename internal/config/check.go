package config

import (
	"fmt"
	"math"
	"strings"
	"time"
)

// Report is what `tandem config check` prints: a summary, the failover
// bound of each group, and warnings in plain words.
type Report struct {
	Summary  []string
	Bounds   []GroupBound
	Rules    []Rule // majority mode: R1–R5 with the numbers filled in
	Warnings []string
}

// GroupBound is the worst-case time from a node's death to its group
// running on the survivor.
type GroupBound struct {
	Group   string
	Bound   time.Duration
	Explain string
}

// FalseDeathChance is R5 of docs/design.md: the chance that independent
// loss p silences every link for a whole deadtime.
func FalseDeathChance(t Timing, links int, p float64) float64 {
	beats := float64(links) * float64(t.Deadtime) / float64(t.Keepalive)
	return math.Pow(p, beats)
}

// Bound computes a group's two_node failover bound: detection (deadtime),
// one agent loop (keepalive), each member's start timeout in order, and the
// first gratuitous ARP, which goes out as the address is added.
func Bound(m *Model, g Group) GroupBound {
	b := GroupBound{Group: g.Name, Bound: m.Timing.Deadtime + m.Timing.Keepalive}
	parts := []string{fmt.Sprintf("deadtime %v", m.Timing.Deadtime), fmt.Sprintf("loop %v", m.Timing.Keepalive)}
	return b.withStarts(m, g, parts)
}

// withStarts adds each member's start timeout, in group order, and the
// explanation.
func (b GroupBound) withStarts(m *Model, g Group, parts []string) GroupBound {
	for _, name := range g.Members {
		for _, r := range m.Resources {
			if r.Name == name {
				b.Bound += r.Ops.StartTimeout
				parts = append(parts, fmt.Sprintf("start %s ≤ %v", name, r.Ops.StartTimeout))
			}
		}
	}
	b.Explain = strings.Join(parts, " + ")
	return b
}

// MajorityBound is R6 in majority mode, for the worst case: the owner is
// the DC and dies. The others notice within twice the election timeout
// (raft's randomized upper end), elect a successor in two round trips
// (PreVote, then the vote), which waits R2 before assigning; then one
// loop and each member's start timeout.
//
// With fencing the successor fences the dead owner instead of waiting R2
// (it is declared dead within the election time): a fence that succeeds
// within fencing.timeout; one that keeps failing blocks the move.
func MajorityBound(m *Model, g Group) GroupBound {
	t := m.Timing
	wait, stop := m.ReassignWait(g)
	wait = up(wait)
	step := fmt.Sprintf("R2 wait %v (S %v)", wait, stop)
	if m.Fencing.Enabled {
		wait, step = m.Fencing.Timeout, fmt.Sprintf("fence ≤ %v", m.Fencing.Timeout)
	}
	b := GroupBound{Group: g.Name, Bound: 2*t.ElectionTimeout() + 2*t.RTTMax() + wait + t.Keepalive}
	parts := []string{fmt.Sprintf("election ≤ %v", 2*t.ElectionTimeout()+2*t.RTTMax()), step, fmt.Sprintf("loop %v", t.Keepalive)}
	return b.withStarts(m, g, parts)
}

// Check explains a validated model.
func Check(m *Model) Report {
	var r Report
	add := func(f string, a ...any) { r.Summary = append(r.Summary, fmt.Sprintf(f, a...)) }
	warn := func(f string, a ...any) { r.Warnings = append(r.Warnings, fmt.Sprintf(f, a...)) }
	if m.Quorum.Mode == ModeMajority {
		add("cluster %s, config hash %016x, port %d, quorum majority of %d voters, lease %v", m.Cluster, m.Hash, m.Port, m.Voters(), m.Timing.Lease)
	} else {
		add("cluster %s, config hash %016x, port %d, quorum %s (wait_for_all %v)", m.Cluster, m.Hash, m.Port, m.Quorum.Mode, m.Quorum.WaitForAll)
	}
	links := 0
	for _, n := range m.Nodes {
		var ls []string
		for _, l := range n.Links {
			ls = append(ls, l.String())
		}
		links = len(n.Links)
		vote := ""
		if m.Quorum.Mode == ModeMajority && !n.Voter {
			vote = " (not voting: follows the cluster state as a raft learner)"
		}
		add("node %s: links %s%s", n.Name, strings.Join(ls, ", "), vote)
	}
	for _, w := range m.Witnesses {
		var ls []string
		for _, l := range w.Links {
			ls = append(ls, l.String())
		}
		add("witness %s: links %s (votes, never runs resources)", w.Name, strings.Join(ls, ", "))
	}
	t := m.Timing
	add("timing: keepalive %v, warntime %v, deadtime %v (%d heartbeats), initdead %v", t.Keepalive, t.Warntime, t.Deadtime, int(t.Deadtime/t.Keepalive), t.Initdead)
	chance := FalseDeathChance(t, links, 0.10)
	add("chance that 10%% independent packet loss fakes a peer's death: %.1e per deadtime window (%d links × %d heartbeats)", chance, links, int(t.Deadtime/t.Keepalive))
	for _, res := range m.Resources {
		var what string
		switch {
		case res.IP != nil:
			what = fmt.Sprintf("%s on %s", res.IP.Address, res.IP.Interface)
			if res.IP.Label != "" {
				what += " label " + res.IP.Label
			}
			what += fmt.Sprintf(", %d gratuitous ARPs %v apart", res.IP.ARPCount, res.IP.ARPInterval)
			if res.IP.ARPRefresh > 0 {
				what += fmt.Sprintf(", re-announced every %v", res.IP.ARPRefresh)
			}
		case res.Exec != nil && res.Exec.Daemon != "":
			what = "supervised daemon: " + res.Exec.Daemon
		case res.Exec != nil:
			what = "start: " + res.Exec.Start
		case res.OCF != nil:
			what = res.OCF.Describe()
		case res.LSB != nil:
			what = "init script " + res.LSB.Path
		case res.Systemd != nil:
			what = "systemd unit " + res.Systemd.Unit
			switch {
			case res.Systemd.Unbound:
				what += " (not bound to the agent)"
			case res.Systemd.BindsTo != "":
				what += " (bound to " + res.Systemd.BindsTo + ")"
			default:
				what += " (bound to the agent's own unit)"
			}
		case res.SIP != nil:
			what = res.SIP.Describe()
		case res.FreeSWITCH != nil:
			what = res.FreeSWITCH.Describe()
		}
		mon := "no monitor"
		if res.Ops.MonitorInterval > 0 {
			mon = fmt.Sprintf("monitor every %v", res.Ops.MonitorInterval)
			if f := res.Ops.MonitorOnFail; f != "" && f != OnFailRestart {
				mon += ", on failure " + f
			}
		}
		for _, mm := range res.Ops.MoreMonitors {
			mon += fmt.Sprintf(", and every %v (timeout %v", mm.Interval, mm.Timeout)
			if mm.Depth > 0 {
				mon += fmt.Sprintf(", depth %d", mm.Depth)
			}
			if mm.OnFail != OnFailRestart {
				mon += ", on failure " + mm.OnFail
			}
			mon += ")"
		}
		if f := res.Ops.StartOnFail; f != "" && f != OnFailRestart {
			mon += "; failed start: " + f
		}
		add("resource %s (%s): %s; start ≤ %v, stop ≤ %v, %s", res.Name, res.Kind, what, res.Ops.StartTimeout, res.Ops.StopTimeout, mon)
	}
	for _, g := range m.Groups {
		if !g.Implicit {
			add("group %s: starts %s in this order, stops in reverse", g.Name, strings.Join(g.Members, " → "))
		}
		if m.Quorum.Mode == ModeMajority {
			r.Bounds = append(r.Bounds, MajorityBound(m, g))
		} else {
			r.Bounds = append(r.Bounds, Bound(m, g))
		}
	}
	for _, c := range m.Constraints {
		verb := "prefers"
		if c.Score < 0 {
			verb = "avoids"
		}
		if c.Rule != nil {
			add("location: %s %s nodes where %s with score %s", c.Target, verb, c.Rule.Text, FormatScore(c.Score))
			continue
		}
		add("location: %s %s %s with score %s", c.Target, verb, c.Node, FormatScore(c.Score))
	}
	for _, l := range m.placementLines() { // placement.go
		add("%s", l)
	}
	add("default stickiness %d per member", m.Defaults.Stickiness)
	for _, l := range m.healthLines(warn) { // health.go
		add("%s", l)
	}
	for _, l := range m.fencingLines(warn) { // fencing.go
		add("%s", l)
	}
	if l := m.Metrics.Listen; l != "" {
		add("metrics: Prometheus endpoint on http://%s/metrics (and GET /metrics on the API socket)", l)
		if m.Metrics.Exposed {
			warn("metrics.listen %s is reachable from other hosts: anyone there can read the cluster's nodes, addresses and state without a password; bind it to 127.0.0.1 or firewall the port", l)
		}
	}
	if m.Quorum.Mode == ModeMajority {
		r.Rules = m.Rules()
		var safe, unsafe []string
		for _, res := range m.Resources {
			if res.FencedSafe() {
				safe = append(safe, res.Name)
			} else {
				unsafe = append(unsafe, res.Name)
			}
		}
		// A watchdog covers a frozen node's services when it resets the
		// machine before the DC may reassign: the last pet comes at the
		// latest at the lease's end, so W + L must fit in every R2 wait.
		covered := m.Watchdog.Device != ""
		for _, g := range m.Groups {
			if wait, _ := m.ReassignWait(g); m.Watchdog.Timeout+t.Lease > wait {
				covered = false
			}
		}
		switch {
		case len(unsafe) > 0 && covered:
			add("watchdog: S2 covers %s too: a frozen node is reset (%v after its last pet, at the latest its lease's end) before any R2 wait ends", strings.Join(unsafe, ", "), m.Watchdog.Timeout)
		case len(unsafe) > 0:
			warn("without fencing, S2 (never active on two nodes) covers only %s; %s could outlive a frozen node until its stop timeout (a watchdog with timeout + lease within the R2 wait covers them)", orDash(safe), strings.Join(unsafe, ", "))
		}
	}
	for _, al := range m.Alerts {
		on := "every event"
		if al.Events != nil {
			on = strings.Join(al.Events, ", ")
		}
		var env []string // names only: values may hold tokens
		for _, kv := range al.Env {
			k, _, _ := strings.Cut(kv, "=")
			env = append(env, k)
		}
		extra := ""
		if len(env) > 0 {
			extra = ", env " + strings.Join(env, " ")
		}
		add("alert %s: %s on %s (killed after %v%s)", al.Name, al.Path, on, al.Timeout, extra)
	}

	var vips []string
	for _, res := range m.Resources {
		if res.IP != nil {
			vips = append(vips, res.IP.Address.Addr().String())
		}
	}
	if w := m.Watchdog; w.Device != "" {
		when := "every loop turn (a frozen agent stops petting it)"
		if m.Quorum.Mode == ModeMajority {
			when = "while its lease holds or nothing runs on the node (a node that keeps a group past its lease, or freezes, is reset)"
		}
		add("watchdog: %s resets the machine %v after the last pet; the agent pets it %s", w.Device, w.Timeout, when)
	}
	if m.Quorum.Mode == "two_node" && m.Fencing.Enabled {
		add("fencing: a peer that dies without a bye, is not heard by initdead, or has a failed stop is fenced before any takeover; the node not running %s waits %v first", firstGroup(m), m.Fencing.Delay)
	} else if m.Quorum.Mode == ModeMajority && m.Fencing.Enabled {
		add("fencing: the DC fences a node it does not hear before moving a group off it (in place of the R2/R3 wait), and a node where a stop failed; fencing.delay is not used (only the DC fences)")
	} else if m.Quorum.Mode == "two_node" && len(vips) > 0 {
		warn("two_node without fencing or witness: if the nodes lose sight of each other both will take the floating IP %s (the later taker gives it up when they see each other again)", strings.Join(vips, ", "))
	}
	if n := t.Deadtime / t.Keepalive; n < 5 {
		warn("deadtime is only %d heartbeats: one burst of loss can cause a false failover; use at least 5", n)
	}
	if chance > 1e-6 {
		warn("a false failover under 10%% loss is too likely (%.1e): add a link or raise deadtime/keepalive", chance)
	}
	if t.Initdead < 2*t.Deadtime {
		warn("initdead %v is less than twice deadtime: a peer that boots slowly may be declared dead at start", t.Initdead)
	}
	if links == 1 {
		warn("one link between the nodes: a cable or switch fault looks like a node death; add a second link on another network")
	}
	if m.Quorum.Mode == "two_node" && !m.Quorum.WaitForAll {
		warn("wait_for_all is off: a node that boots alone starts everything after initdead, even if its peer is running it unseen")
	}
	for _, res := range m.Resources {
		if res.Ops.MonitorInterval == 0 {
			warn("%s is never monitored: a crash of it will not be noticed", res.Name)
		}
		if res.Exec != nil && res.Exec.Daemon == "" && res.Exec.Monitor == "" {
			warn("%s has no monitor command: tandem can only remember whether it started it", res.Name)
		}
	}
	return r
}

// FormatScore prints a score as Pacemaker does.
func FormatScore(s int) string {
	switch {
	case s >= ScoreInfinity:
		return "INFINITY"
	case s <= -ScoreInfinity:
		return "-INFINITY"
	}
	return fmt.Sprint(s)
}

// String renders the report for people.
func (r Report) String() string {
	var b strings.Builder
	b.WriteString("Config is valid.\n\nSummary:\n")
	for _, s := range r.Summary {
		b.WriteString("  " + s + "\n")
	}
	if len(r.Rules) > 0 {
		b.WriteString("\nTiming rules (docs/design.md):\n")
		for _, rl := range r.Rules {
			mark := "ok"
			if !rl.Holds {
				mark = "BROKEN"
			}
			fmt.Fprintf(&b, "  %s %-6s %s\n", rl.Name, mark, rl.Text)
		}
	}
	b.WriteString("\nFailover bound (node death to group running on the survivor, worst case):\n")
	for _, g := range r.Bounds {
		fmt.Fprintf(&b, "  %-12s %8v = %s\n", g.Group, g.Bound, g.Explain)
	}
	if len(r.Warnings) > 0 {
		b.WriteString("\nWarnings:\n")
		for _, w := range r.Warnings {
			b.WriteString("  ! " + w + "\n")
		}
	}
	return b.String()
}

func orDash(s []string) string {
	if len(s) == 0 {
		return "no resource"
	}
	return strings.Join(s, ", ")
}

// firstGroup names the first (highest-priority) group, which wins fence races.
func firstGroup(m *Model) string {
	for _, g := range m.Groups {
		if m.CloneOf(g.Name) == nil {
			return g.Name
		}
	}
	return "-"
}
