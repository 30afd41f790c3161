package node

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"tandem/internal/config"
	"tandem/internal/ownership"
	"tandem/internal/quorum"
	"tandem/internal/schedule"
	"tandem/internal/wire"
)

// pair is a two-node test harness in virtual time: a network with a fixed
// delay that can be cut, and an executor whose operations take opDelay and
// change a ground-truth world (which resources really run where).
type pair struct {
	t           *testing.T
	m           *config.Model
	now         time.Duration
	nodes       map[string]*Node
	world       map[string]map[string]bool // node → resource → running
	cut         bool                       // link between the nodes cut both ways
	cutDir      map[[2]string]bool         // majority tests: from → to dropped
	strict      bool                       // majority tests: S2, never two holders, at every step
	down        map[string]bool            // crashed nodes
	failOn      map[string]string          // resource → node where its start fails
	stopFailOn  map[string]string          // resource → node where its stop fails
	hard        ownership.Hard             // how failOn's start failures fail
	stopErrOnly bool                       // stopFailOn's stops still stop the resource
	fenceFails  bool                       // fences fail
	fenceLag    time.Duration              // a fence's result comes this long after the power-off
	lagged      []opRun                    // fences whose result is still on its way
	dispatched  []opRun                    // every action handed out, in order
	flight      []flight
	ops         []opRun
	log         []string
	events      []string // "node kind group/resource peer took"
	done        map[string]bool
	joined      time.Duration // since when the nodes hear each other (S1 applies after H)
	// lastQuorum is each node's raft state as last persisted (majority tests).
	lastQuorum map[string]quorum.Persisted
	placed     map[string][]schedule.View // node → scheduler inputs handed over to save, in order
}

type flight struct {
	at  time.Duration
	to  string
	rcv Receive
}

type opRun struct {
	at   time.Duration
	node string
	a    Action
}

const (
	netDelay = time.Millisecond
	opDelay  = 5 * time.Millisecond
	step     = time.Millisecond
)

func testModel(stickiness, pref int) *config.Model {
	ops := config.Ops{StartTimeout: time.Second, StopTimeout: time.Second, MonitorInterval: time.Second, MonitorTimeout: time.Second}
	return &config.Model{
		Path: "test.yaml", Cluster: "t", Hash: 42,
		Timing: config.Timing{Keepalive: 100 * time.Millisecond, Warntime: 500 * time.Millisecond, Deadtime: time.Second, Initdead: 3 * time.Second},
		Quorum: config.Quorum{Mode: "two_node", WaitForAll: true},
		Nodes: []config.Node{
			{Name: "a", Links: []netip.Addr{netip.MustParseAddr("198.18.0.10")}},
			{Name: "b", Links: []netip.Addr{netip.MustParseAddr("198.18.0.11")}},
		},
		Resources: []config.Resource{
			{Name: "vip", Kind: config.KindIP, Ops: ops, IP: &config.IPParams{ARPCount: 1, ARPInterval: time.Millisecond}},
			{Name: "svc", Kind: config.KindExec, Ops: ops, Exec: &config.ExecParams{Daemon: "x"}},
		},
		Groups:      []config.Group{{Name: "voice", Members: []string{"vip", "svc"}}},
		Constraints: []config.Location{{Target: "voice", Node: "a", Score: pref}},
		Defaults:    config.Defaults{Stickiness: stickiness},
	}
}

func newPair(t *testing.T, m *config.Model) *pair {
	p := &pair{t: t, m: m, nodes: map[string]*Node{}, world: map[string]map[string]bool{},
		down: map[string]bool{}, failOn: map[string]string{}, done: map[string]bool{}}
	for _, nd := range p.members() {
		p.world[nd.Name] = map[string]bool{}
		p.boot(nd.Name)
	}
	return p
}

func (p *pair) members() []config.Node { return slices.Concat(p.m.Nodes, p.m.Witnesses) }

func (p *pair) boot(name string) {
	n, err := New(Config{Model: p.m, Self: name, Incarnation: uint64(p.now) + 1}, p.now)
	if err != nil {
		p.t.Fatal(err)
	}
	p.nodes[name] = n
	delete(p.down, name)
	delete(p.done, name)
	p.drain(name)
}

// crash kills a node's agent; what it started keeps running in the world
// unless killAll (a whole-machine death).
func (p *pair) crash(name string, killAll bool) {
	p.down[name] = true
	if killAll {
		p.world[name] = map[string]bool{}
	}
	p.ops = slices.DeleteFunc(p.ops, func(o opRun) bool { return o.node == name })
	p.flight = slices.DeleteFunc(p.flight, func(f flight) bool { return f.to == name })
}

func (p *pair) drain(name string) {
	n := p.nodes[name]
	rd := n.Ready()
	for _, l := range rd.Logs {
		p.log = append(p.log, fmt.Sprintf("%v %s: %s", p.now, name, l.Msg))
	}
	for _, e := range rd.Events {
		line := fmt.Sprintf("%s %s", name, e.Kind)
		for _, f := range []string{e.Group, e.Resource, e.Peer} {
			if f != "" {
				line += " " + f
			}
		}
		if e.Took > 0 {
			line += " took=" + e.Took.String()
		}
		p.events = append(p.events, line)
	}
	for _, o := range rd.Messages {
		if p.cut || p.cutDir[[2]string{name, o.To}] {
			continue
		}
		msg := o.Msg
		p.flight = append(p.flight, flight{at: p.now + netDelay, to: o.To, rcv: Receive{From: name, Link: o.Link, Incarnation: n.inc, Msg: &msg}})
	}
	for _, g := range rd.Gates {
		p.log = append(p.log, fmt.Sprintf("%v %s: gate %s hold=%v release=%v open=%v", p.now, name, g.Resource, g.Hold, g.Release, g.Hold || g.Until > p.now))
	}
	for _, a := range rd.Actions {
		p.ops = append(p.ops, opRun{at: p.now + opDelay, node: name, a: a})
		p.dispatched = append(p.dispatched, opRun{at: p.now, node: name, a: a})
	}
	if rd.Done {
		p.done[name] = true
	}
	if rd.Placed != nil {
		if p.placed == nil {
			p.placed = map[string][]schedule.View{}
		}
		p.placed[name] = append(p.placed[name], *rd.Placed)
	}
	if rd.PersistQuorum != nil {
		if p.lastQuorum == nil {
			p.lastQuorum = map[string]quorum.Persisted{}
		}
		p.lastQuorum[name] = *rd.PersistQuorum
	}
	n.Advance()
}

func (p *pair) run(d time.Duration) {
	end := p.now + d
	for p.now < end {
		p.now += step
		// Take what is due first: handling it queues more (replies, new operations).
		var due []flight
		var later []flight
		for _, f := range p.flight {
			if f.at > p.now {
				later = append(later, f)
			} else {
				due = append(due, f)
			}
		}
		p.flight = later
		for _, f := range due {
			if !p.down[f.to] && !p.done[f.to] {
				p.nodes[f.to].Step(p.now, f.rcv)
				p.drain(f.to)
			}
		}
		var dueOps, laterOps []opRun
		for _, o := range p.ops {
			if o.at > p.now {
				laterOps = append(laterOps, o)
			} else {
				dueOps = append(dueOps, o)
			}
		}
		p.ops = laterOps
		for _, o := range dueOps {
			if p.down[o.node] {
				continue
			}
			out := p.execute(o.node, o.a)
			if o.a.Op == ownership.OpFence && p.fenceLag > 0 {
				p.lagged = append(p.lagged, opRun{at: p.now + p.fenceLag, node: o.node, a: o.a})
				continue
			}
			p.nodes[o.node].Step(p.now, Result{ID: o.a.ID, Outcome: out})
			p.drain(o.node)
		}
		for len(p.lagged) > 0 && p.lagged[0].at <= p.now {
			o := p.lagged[0]
			p.lagged = p.lagged[1:]
			if !p.down[o.node] {
				p.nodes[o.node].Step(p.now, Result{ID: o.a.ID})
				p.drain(o.node)
			}
		}
		for _, nd := range p.members() {
			if n := p.nodes[nd.Name]; n != nil && !p.down[nd.Name] && !p.done[nd.Name] {
				n.Step(p.now, Tick{})
				p.drain(nd.Name)
			}
		}
		p.check()
	}
}

func (p *pair) execute(node string, a Action) ownership.Outcome {
	w := p.world[node]
	switch a.Op {
	case ownership.OpFence:
		if p.fenceFails {
			return ownership.Outcome{Err: "fence_test: no route to the BMC"}
		}
		p.log = append(p.log, fmt.Sprintf("%v %s: fence powers %s off", p.now, node, a.Node))
		p.crash(a.Node, true)
	case ownership.OpStart:
		if p.failOn[a.Resource] == node {
			return ownership.Outcome{Err: "exit status 1", Hard: p.hard}
		}
		w[a.Resource] = true
	case ownership.OpStop:
		if p.stopFailOn[a.Resource] == node {
			if p.stopErrOnly {
				w[a.Resource] = false // the stop did its job but reported failure
			}
			return ownership.Outcome{Err: "exit status 1"}
		}
		w[a.Resource] = false
	case ownership.OpMonitor, ownership.OpProbe:
		return ownership.Outcome{Running: w[a.Resource], Stopped: !w[a.Resource]}
	}
	return ownership.Outcome{}
}

// check is S1 on ground truth: once the nodes have heard each other for
// longer than H = 2·keepalive + the largest stop timeout + δ, never both run the vip.
func (p *pair) check() {
	if p.strict {
		for _, r := range []string{"vip", "svc"} {
			if h := p.holder(r); strings.Contains(h, ",") {
				p.t.Fatalf("S2 violated at %v: %s runs on %s\nlog:\n%s", p.now, r, h, p.tail())
			}
		}
		return
	}
	h := 2*p.m.Timing.Keepalive + time.Second + p.m.Timing.Keepalive
	if !p.cut && p.now-p.joined > h && p.world["a"]["vip"] && p.world["b"]["vip"] {
		p.t.Fatalf("S1 violated at %v: both nodes run the vip\nlog:\n%s", p.now, p.tail())
	}
}

// heal reconnects the nodes after a split.
func (p *pair) heal() {
	p.cut = false
	p.joined = p.now
}

func (p *pair) holder(res string) string {
	var h []string
	for _, nd := range p.m.Nodes {
		if p.world[nd.Name][res] {
			h = append(h, nd.Name)
		}
	}
	return strings.Join(h, ",")
}

func (p *pair) expect(res, want string) {
	p.t.Helper()
	if got := p.holder(res); got != want {
		p.t.Fatalf("at %v %s runs on %q, want %q\nlog:\n%s", p.now, res, got, want, p.tail())
	}
}

func (p *pair) tail() string {
	l := p.log
	if len(l) > 60 {
		l = l[len(l)-60:]
	}
	return strings.Join(l, "\n")
}

func (p *pair) logged(sub string) bool {
	return slices.ContainsFunc(p.log, func(l string) bool { return strings.Contains(l, sub) })
}

func TestStartsOnPreferredNodeInOrder(t *testing.T) {
	p := newPair(t, testModel(100, 50))
	p.run(2 * time.Second)
	p.expect("vip", "a")
	p.expect("svc", "a")
	if !p.logged("a: start vip: taking the group") || !p.logged("a: start svc") {
		t.Fatalf("no ordered start in log:\n%s", p.tail())
	}
	if i, j := index(p.log, "start vip"), index(p.log, "start svc"); i > j {
		t.Fatal("svc started before vip")
	}
}

func index(l []string, sub string) int {
	return slices.IndexFunc(l, func(s string) bool { return strings.Contains(s, sub) })
}

func TestHardFailureTakeoverAfterDeadtime(t *testing.T) {
	p := newPair(t, testModel(100, 50))
	p.run(2 * time.Second)
	p.expect("vip", "a")
	p.crash("a", true)
	died := p.now
	p.run(900 * time.Millisecond)
	p.expect("vip", "") // not before deadtime
	p.run(400 * time.Millisecond)
	p.expect("vip", "b")
	p.expect("svc", "b")
	if p.now-died > 1500*time.Millisecond {
		t.Fatalf("takeover took %v", p.now-died)
	}
}

func TestGracefulShutdownHandsOffAtOnce(t *testing.T) {
	p := newPair(t, testModel(100, 50))
	p.run(2 * time.Second)
	p.nodes["a"].Step(p.now, Shutdown{})
	p.drain("a")
	p.run(200 * time.Millisecond) // far less than deadtime
	if !p.done["a"] {
		t.Fatalf("a not done:\n%s", p.tail())
	}
	p.expect("vip", "b")
	p.expect("svc", "b")
	if i, j := index(p.log, "a: stop svc"), index(p.log, "a: stop vip"); i < 0 || j < 0 || i > j {
		t.Fatalf("stops not in reverse order:\n%s", p.tail())
	}
}

func TestReturnNoFailbackWhileSticky(t *testing.T) {
	p := newPair(t, testModel(100, 50))
	p.run(2 * time.Second)
	p.crash("a", true)
	p.run(2 * time.Second)
	p.expect("vip", "b")
	p.boot("a")
	p.run(2 * time.Second)
	p.expect("vip", "b") // stickiness 200 > preference 50
}

func TestReturnFailbackWhenPreferred(t *testing.T) {
	p := newPair(t, testModel(10, 50))
	p.run(2 * time.Second)
	p.crash("a", true)
	p.run(2 * time.Second)
	p.expect("vip", "b")
	p.boot("a")
	p.run(2 * time.Second)
	p.expect("vip", "a") // preference 50 > stickiness 20
	p.expect("svc", "a")
}

func TestStartFailureMovesGroup(t *testing.T) {
	p := newPair(t, testModel(100, 50))
	p.failOn["svc"] = "a"
	p.run(3 * time.Second)
	p.expect("vip", "b")
	p.expect("svc", "b")
	st := p.nodes["b"].Status()
	var fc int
	for _, r := range st.Resources {
		if r.Name == "svc" {
			fc = r.FailCounts["a"]
		}
	}
	if fc == 0 || !slices.ContainsFunc(st.Warnings, func(w string) bool { return strings.Contains(w, "svc failed to start on a") }) {
		t.Fatalf("status on b does not show the failure: %+v", st)
	}
}

func TestSplitBrainHealEarlierTakerKeeps(t *testing.T) {
	p := newPair(t, testModel(100, 50))
	p.run(2 * time.Second)
	p.expect("vip", "a")
	p.cut = true
	p.flight = nil
	p.run(2 * time.Second)
	p.expect("vip", "a,b") // two_node without fencing: expected during the split
	p.heal()
	p.run(time.Second)
	p.expect("vip", "a")
	p.expect("svc", "a")
	if !p.logged("b: split brain: a also holds voice and took it first") || !p.logged("a: split brain: b also holds voice; keeping it") {
		t.Fatalf("heal not logged:\n%s", p.tail())
	}
}

func TestAdoptsWhatRunsNoDoubleStart(t *testing.T) {
	m := testModel(100, 50)
	p := &pair{t: t, m: m, nodes: map[string]*Node{}, world: map[string]map[string]bool{"a": {}, "b": {"vip": true, "svc": true}},
		down: map[string]bool{}, failOn: map[string]string{}, done: map[string]bool{}}
	p.boot("a")
	p.boot("b")
	p.run(3 * time.Second)
	// b already ran the group: it keeps it (stickiness 200 > 50) and never starts it again.
	p.expect("vip", "b")
	if p.logged("b: start vip") || p.logged("b: start svc") {
		t.Fatalf("b started something it already ran:\n%s", p.tail())
	}
}

func TestWaitForAllHoldsLoneNode(t *testing.T) {
	p := newPair(t, testModel(100, 50))
	p.crash("b", true)
	p.run(5 * time.Second)
	p.expect("vip", "")
	st := p.nodes["a"].Status()
	if st.Quorum.Quorate || !slices.Contains(st.Quorum.WaitingFor, "b") {
		t.Fatalf("quorum %+v, want waiting for b", st.Quorum)
	}
	p.nodes["a"].Step(p.now, Unblock{})
	p.drain("a")
	p.run(time.Second)
	p.expect("vip", "a")
}

func TestMonitorFailureRestartsInPlace(t *testing.T) {
	p := newPair(t, testModel(100, 50))
	p.run(2 * time.Second)
	p.world["a"]["svc"] = false // the service died behind our back
	p.run(2 * time.Second)
	p.expect("svc", "a")
	if !p.logged("monitor failed: recovering") {
		t.Fatalf("no recovery logged:\n%s", p.tail())
	}
}

func TestHeartbeatsCarryEchoForRTT(t *testing.T) {
	p := newPair(t, testModel(100, 50))
	p.run(time.Second)
	st := p.nodes["a"].Status()
	for _, nd := range st.Nodes {
		if nd.Name == "b" && (nd.State != "online" || nd.Links[0].RTT == "") {
			t.Fatalf("b as seen by a: %+v", nd)
		}
	}
	_ = wire.TypeHeartbeat
}

func TestConfigMismatchShows(t *testing.T) {
	ma, mb := testModel(100, 50), testModel(100, 50)
	mb.Hash = 43
	p := newPair(t, ma)
	// Replace b with a node running a different config file.
	n, err := New(Config{Model: mb, Self: "b", Incarnation: 7}, p.now)
	if err != nil {
		t.Fatal(err)
	}
	p.nodes["b"] = n
	p.run(time.Second)
	st := p.nodes["a"].Status()
	if !slices.ContainsFunc(st.Warnings, func(w string) bool { return strings.HasPrefix(w, "config differs on b") }) {
		t.Fatalf("no warning: %q", st.Warnings)
	}
	for _, nd := range st.Nodes {
		if nd.Name == "b" && nd.ConfigMatch {
			t.Fatal("b shown with a matching config")
		}
	}
	if !p.logged("a: config differs on peer") {
		t.Fatalf("not logged:\n%s", p.tail())
	}
}

// A heartbeat overtaken by a newer one (two links, or reordering) must not
// bring back its stale view: an old "stopped" would let b start what a runs.
func TestStaleHeartbeatIgnored(t *testing.T) {
	p := newPair(t, testModel(100, 50))
	p.run(2 * time.Second)
	p.expect("vip", "a")
	b := p.nodes["b"]
	stale := wire.Message{Type: wire.TypeHeartbeat, ConfigHash: 42, SentAt: 1,
		Resources: []wire.Resource{{Name: "vip", State: wire.ResStopped}, {Name: "svc", State: wire.ResStopped}},
		Groups:    []wire.Group{{Name: "voice"}}}
	b.Step(p.now, Receive{From: "a", Link: 0, Incarnation: p.nodes["a"].inc, Msg: &stale})
	p.drain("b")
	for _, nd := range b.Status().Groups {
		if nd.Name == "voice" && nd.Owner != "a" {
			t.Fatalf("b took a stale heartbeat for the current view: owner %q", nd.Owner)
		}
	}
	p.run(time.Second)
	p.expect("vip", "a")
}

// Events are raised on transitions only, and a takeover reports how long
// it took from the last word heard from the old holder.
func TestEventsOnHardFailure(t *testing.T) {
	p := newPair(t, testModel(100, 50))
	p.run(2 * time.Second)
	startup := slices.Clone(p.events)
	for _, want := range []string{"a resource_started voice vip", "a resource_started voice svc", "a became_active voice", "b node_up a", "a node_up b"} {
		if !slices.ContainsFunc(startup, func(l string) bool { return strings.HasPrefix(l, want) }) {
			t.Errorf("start-up events lack %q:\n%s", want, strings.Join(startup, "\n"))
		}
	}
	p.events = nil
	p.crash("a", true)
	p.run(2 * time.Second)
	var took time.Duration
	var order []string
	for _, l := range p.events {
		f := strings.Fields(l)
		order = append(order, f[0]+" "+f[1])
		if f[1] == "group_moved" {
			if l != fmt.Sprintf("b group_moved voice a %s", f[4]) {
				t.Errorf("group_moved line %q", l)
			}
			took, _ = time.ParseDuration(strings.TrimPrefix(f[4], "took="))
		}
	}
	want := []string{"b link_down", "b node_down", "b resource_started", "b resource_started", "b became_active", "b group_moved"}
	if !slices.Equal(order, want) {
		t.Fatalf("events after the crash:\n%s\nwant kinds %v", strings.Join(p.events, "\n"), want)
	}
	// deadtime, then two starts of opDelay each, measured from the last heartbeat.
	if lo, hi := p.m.Timing.Deadtime+2*opDelay, p.m.Timing.Deadtime+p.m.Timing.Keepalive+2*opDelay+10*step; took < lo || took > hi {
		t.Fatalf("took %v, want within [%v, %v]", took, lo, hi)
	}
}

func TestEventsQuorumAndSplitBrain(t *testing.T) {
	p := newPair(t, testModel(100, 50))
	p.run(2 * time.Second)
	if !slices.Contains(p.events, "a quorum_gained") {
		t.Errorf("wait_for_all satisfied without quorum_gained:\n%s", strings.Join(p.events, "\n"))
	}
	p.events = nil
	p.cut = true
	p.flight = nil
	p.run(2 * time.Second)
	p.heal()
	p.run(time.Second)
	for _, want := range []string{"b split_brain_healed voice a", "a split_brain_healed voice b", "b became_backup voice"} {
		if !slices.Contains(p.events, want) {
			t.Errorf("no %q in:\n%s", want, strings.Join(p.events, "\n"))
		}
	}
	if slices.ContainsFunc(p.events, func(l string) bool { return strings.Contains(l, "quorum_") }) {
		t.Errorf("quorum events though wait_for_all holds only at start:\n%s", strings.Join(p.events, "\n"))
	}
}

// The agent sleeps until NextDeadline: it must never be past the next
// heartbeat, and a Tick there must not find anything overdue.
func TestNextDeadline(t *testing.T) {
	p := newPair(t, testModel(100, 50))
	p.run(2 * time.Second)
	a := p.nodes["a"]
	d := a.NextDeadline()
	if d < p.now || d > p.now+p.m.Timing.Keepalive {
		t.Fatalf("next deadline %v, now %v: want within a keepalive", d, p.now)
	}
	// Crash b: a's next deadline is b's warn, then its death, exactly.
	p.crash("b", true)
	var warnAt time.Duration
	for range 2000 {
		p.run(time.Millisecond)
		if a.PeerState("b") == "warn" {
			warnAt = p.now
			break
		}
	}
	if warnAt == 0 {
		t.Fatal("b never went warn")
	}
	if nd := a.NextDeadline(); nd > warnAt+p.m.Timing.Deadtime-p.m.Timing.Warntime {
		t.Fatalf("after warn at %v the next deadline %v is past b's death", warnAt, nd)
	}
}
