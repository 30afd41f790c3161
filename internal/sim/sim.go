// Package sim is tandem's deterministic simulator: real node cores
// (package node) in virtual time, over a network that loses, delays,
// duplicates, reorders and partitions packets, on machines that crash,
// restart, pause and run clocks up to 1 % fast or slow, with resource
// operations that fail, time out and hang. It keeps its own ground truth of
// which resources are active where — independent of what the nodes believe —
// and checks the safety and liveness contract of docs/design.md at every
// event. Everything comes from one seed: a failing seed replays exactly.
package sim

import (
	"container/heap"
	"fmt"
	"math"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strings"
	"time"

	"tandem/internal/config"
	"tandem/internal/node"
	"tandem/internal/ownership"
	"tandem/internal/quorum"
	"tandem/internal/statelog"
	"tandem/internal/wire"
)

// Options choose what a run does besides the seed.
type Options struct {
	Seed     uint64
	Duration time.Duration // simulated time; default 60s
	Profile  Profile
	// CheckS2 also checks S2 (never active on two nodes, whatever the
	// partitions). two_node cannot promise it: with CheckS2 on a two_node
	// cluster the simulator must find a violation (a negative control).
	CheckS2 bool
	// TraceLen is how many recent events a violation report shows.
	TraceLen int
	// Layout is the cluster's shape: two_node (default), or a majority
	// layout, where S2 is checked for floating IPs at every event.
	Layout Layout
	// Control plants one deliberate bug: a negative control the checks
	// must catch. "" for none.
	Control Control
	// Watchdog gives every node a hardware watchdog (majority layouts) that
	// resets the machine 1 s after its agent last petted it: S2 is then
	// checked for services too, frozen agents and failed stops included.
	Watchdog bool
	// Fencing enables fencing on a majority layout: the DC fences a node
	// it does not hear (or where a stop failed) before moving its groups,
	// and S2 is checked for every resource, frozen agents included.
	Fencing bool
}

// Control is a negative control of docs/design.md.
type Control string

// The negative controls besides two_node's (CheckS2 on a two_node layout).
const (
	ControlR2Zero       Control = "r2-zero"       // the DC reassigns without the R2/R3 wait
	ControlReceiptLease Control = "receipt-lease" // leases run from the grant's receipt
	ControlGateRecreate Control = "gate-recreate" // a renewal re-creates a lapsed gate element
	ControlNoDrain      Control = "no-drain"      // after a pause, time passes before the sockets are read
	ControlWatchdogOff  Control = "watchdog-off"  // Watchdog runs, but no machine is ever reset
	ControlFenceNoop    Control = "fence-noop"    // fences report success and power nothing off
)

// gateHeld is the end of a gate element held open for maintenance.
const gateHeld = time.Duration(math.MaxInt64)

// Layout is a cluster shape.
type Layout string

// Layouts the simulator runs.
const (
	TwoNode        Layout = "two_node"         // a, b; quorum two_node
	TwoNodeFencing Layout = "two_node_fencing" // a, b; two_node with fencing: S2 for every resource
	Witness        Layout = "two_plus_witness" // a, b and witness w; majority
	Three          Layout = "three"            // a, b, c; majority
	Five           Layout = "five"             // a … e; majority
)

// Majority reports whether the layout runs majority mode.
func (l Layout) Majority() bool { return l == Witness || l == Three || l == Five }

// fencing reports whether the run's cluster fences before takeovers.
func (s *Sim) fencing() bool { return s.m.Fencing.Enabled }

// Profile is a timing profile.
type Profile struct {
	Name                                    string
	Keepalive, Warntime, Deadtime, Initdead time.Duration
	Lease                                   time.Duration // majority mode's L (R1 and R4 hold)
}

// Profiles: Heartbeat-like defaults, and the fast profile of docs/design.md.
var (
	DefaultProfile = Profile{Name: "default", Keepalive: 100 * time.Millisecond, Warntime: 500 * time.Millisecond, Deadtime: time.Second, Initdead: 3 * time.Second, Lease: 700 * time.Millisecond}
	FastProfile    = Profile{Name: "fast", Keepalive: 2 * time.Millisecond, Warntime: 10 * time.Millisecond, Deadtime: 30 * time.Millisecond, Initdead: 200 * time.Millisecond, Lease: 20 * time.Millisecond}
)

// Result is what one run found.
type Result struct {
	Seed       uint64
	Simulated  time.Duration
	Events     int
	Violation  string // "" when every check held
	Trace      []string
	Coverage   Coverage
	FalseDeath int // deaths declared while the peer was alive and reachable (L2 counts them)
}

// Coverage counts fault classes and outcomes that occurred.
type Coverage map[string]int

// Classes every batch of seeds must exercise.
var Classes = []string{
	"partition-symmetric", "partition-one-way", "partition-one-link",
	"crash-machine", "crash-agent-state-kept", "crash-agent-state-lost",
	"pause", "pause-between-decision-and-effect", "clock-skew",
	"loss", "duplicate", "reorder", "delay-spike",
	"start-failure", "stop-failure", "monitor-failure", "op-hang", "service-death",
	"takeover", "hand-off", "uplink-lost",
}

// FencingClasses are the classes only a layout with fencing exercises.
var FencingClasses = []string{"fence", "fence-failed", "fence-race", "fence-quick-power-on", "watchdog-reset"}

// MajorityClasses are the classes only majority layouts can exercise.
var MajorityClasses = []string{"maintenance", "maintenance-agent-stopped", "rejoin", "calm", "l1-checked", "l1-checked-owner-outside", "pause-awaiting-reply", "partition-non-transitive", "partition-isolate", "gate-renewal-refused", "delay-spike", "slow-stop"}

// event kinds
type kind int

const (
	evDeliver kind = iota
	evTick
	evOpDone
	evFault
	evResume
)

type event struct {
	at   time.Duration
	seq  uint64
	kind kind
	node int
	// deliver
	sent time.Duration // when it was sent (real time)
	from int
	link int
	inc  uint64
	msg  *wire.Message
	// op
	gen    int // node generation the op belongs to
	action node.Action
	out    ownership.Outcome
	// fault
	fault func()
}

type queue []*event

func (q queue) Len() int { return len(q) }
func (q queue) Less(i, j int) bool {
	if q[i].at != q[j].at {
		return q[i].at < q[j].at
	}
	return q[i].seq < q[j].seq
}
func (q queue) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *queue) Push(x any)   { *q = append(*q, x.(*event)) }
func (q *queue) Pop() any {
	old := *q
	e := old[len(old)-1]
	*q = old[:len(old)-1]
	return e
}

// simNode is one machine: its agent (the core), its clock, and the ground
// truth of what runs on it.
type simNode struct {
	name   string
	core   *node.Node
	gen    int // bumped at every restart: stale events are dropped
	up     bool
	paused bool
	held   []*event // messages and results that arrived while paused
	// pendingReady: a decision made just before a pause, carried out at resume.
	pendingReady   *node.Ready
	decidedAt      time.Duration     // when pendingReady was decided, on the node's clock
	pauseAfterSend time.Duration     // a pause to begin once the next quorum message is sent
	slowStop       time.Duration     // scripts: how long a stop takes here (0: 5 ms)
	scripted       map[string]string // scripts: "OP RES" → fail or hang, for the next such operation
	rate           float64
	inc            uint64
	saved          []statelog.Entry         // the state log as persisted
	savedQuorum    quorum.Persisted         // majority mode's raft state as persisted
	quorumLost     bool                     // the next boot finds raft's state lost
	gateEnd        map[string]time.Duration // machine clock: each floating IP's gate element expires then
	gateFailed     bool                     // a renewal found the element lapsed: the agent tells the core
	active         map[string]bool          // ground truth: resource → active here
	running        map[string]bool          // is the service process really up (for monitors)
	stopFailed     map[string]bool          // a stop failed: S is infinite for it until a stop succeeds
	lastHeard      map[int]time.Duration
	heardSince     map[int]time.Duration
	lastMsg        map[int]*wire.Message
	lastInc        map[int]uint64
	peerState      map[int]string
	pausedSince    time.Duration
	resuming       bool // working through what queued up in a pause: pauses do not nest
	lastResume     time.Duration
	unread         map[int]bool // during a resume: peers whose packets still wait in the socket
	failStart      bool         // injected: starts fail on this node
	failStop       bool
	failMonitor    bool
	hang           bool           // injected: operations hang until their timeout
	inflight       map[string]int // operations dispatched and not yet returned, per resource
	fencing        int            // fences of a peer this node has under way
	armed          bool           // its watchdog is armed (the agent opened it and has not closed it)
	lastPet        time.Duration  // real time of the agent's last pet
	offUntil       time.Duration  // powered off by a fence: no boot before then
	leaseSeen      time.Duration  // majority mode: the latest lease end this agent held (its clock)
}

// Sim is one run.
type Sim struct {
	opt   Options
	rng   *rand.Rand
	m     *config.Model
	now   time.Duration
	seq   uint64
	q     queue
	nodes []*simNode
	// network: per directed pair and link
	blocked   [][][]bool // [from][to][link]
	loss      float64
	dup       float64
	jitter    time.Duration
	spike     map[[2]int]time.Duration // from, to → extra delay while a spike lasts
	trace     []traceLine
	traceNext int // where the ring of trace lines writes next, once full
	res       Result
	groupOf   map[string]string
	kinds     map[string]string // resource → kind
	script    []scriptOp        // a scripted run's faults (NewScript); nil: random faults
	// grew is set when something may have become active (a start, a gate
	// opening): S2 can only break then, since activity only lapses with time.
	grew    bool
	members map[string][]string
	h       map[string]time.Duration // S1's H per group
	// lastHeal is when a partition last ended: a death declared within
	// deadtime of it is not a false death.
	lastHeal time.Duration
	// lastFault is when anything was last injected, healed or rebooted, and
	// l1Checked when L1 was last evaluated (every 100 ms of quiet).
	lastFault, l1Checked time.Duration
	// up draws uplink faults; uplinkDown[i] says node i's quorum.ping
	// target does not answer it.
	up         *rand.Rand
	uplinkDown map[int]bool
	// mt draws majority layouts' maintenance episodes, from a stream of
	// its own too.
	mt *rand.Rand
	// l1Good is, per group, when it last ran on exactly one node of the
	// quorate set L1 looks at.
	l1Good map[string]time.Duration
}

// New builds a run from opt: a random two_node cluster drawn from the seed.
func New(opt Options) *Sim {
	if opt.Duration == 0 {
		opt.Duration = 60 * time.Second
	}
	if opt.Profile.Keepalive == 0 {
		opt.Profile = DefaultProfile
	}
	if opt.TraceLen == 0 {
		opt.TraceLen = 60
	}
	s := &Sim{opt: opt, rng: rand.New(rand.NewPCG(opt.Seed, 0x7a6d)), res: Result{Seed: opt.Seed, Coverage: Coverage{}}, l1Good: map[string]time.Duration{},
		spike: map[[2]int]time.Duration{}, up: rand.New(rand.NewPCG(opt.Seed, 0x75706c)), mt: rand.New(rand.NewPCG(opt.Seed, 0x6d61696e74))}
	s.m = s.model()
	if s.up.IntN(2) == 0 {
		// quorum.ping's heuristic (from a stream of its own, so seeds
		// without it replay as before): uplinks fail and return.
		s.m.Quorum.Ping = []netip.Addr{netip.MustParseAddr("198.18.9.1")}
	}
	s.indexModel()
	links := len(s.m.Nodes[0].Links)
	all := slices.Concat(s.m.Nodes, s.m.Witnesses)
	s.blocked = make([][][]bool, len(all))
	for i, nd := range all {
		s.blocked[i] = make([][]bool, len(all))
		for j := range all {
			s.blocked[i][j] = make([]bool, links)
		}
		sn := &simNode{name: nd.Name, rate: 1, active: map[string]bool{}, running: map[string]bool{}, stopFailed: map[string]bool{}, gateEnd: map[string]time.Duration{}}
		if s.rng.IntN(2) == 0 {
			sn.rate = 1 + (s.rng.Float64()*2-1)*0.01
			s.res.Coverage["clock-skew"]++
		}
		s.nodes = append(s.nodes, sn)
	}
	if s.rng.IntN(3) > 0 {
		s.loss = []float64{0.01, 0.05, 0.10}[s.rng.IntN(3)]
	}
	s.dup = []float64{0, 0.01, 0.05}[s.rng.IntN(3)]
	s.jitter = []time.Duration{0, time.Millisecond, 5 * time.Millisecond}[s.rng.IntN(3)]
	return s
}

// model draws the cluster of the layout: nodes with one or two links, a
// group of a floating IP and a service, sometimes a second group.
func (s *Sim) model() *config.Model {
	p := s.opt.Profile
	links := 1 + s.rng.IntN(2)
	m := &config.Model{Path: "sim.yaml", Cluster: "sim", Port: 694, Hash: 1,
		Timing: config.Timing{Keepalive: p.Keepalive, Warntime: p.Warntime, Deadtime: p.Deadtime, Initdead: p.Initdead, Lease: p.Lease},
		Quorum: config.Quorum{Mode: config.ModeTwoNode, WaitForAll: s.rng.IntN(4) > 0}}
	names, witnesses := []string{"a", "b"}, []string(nil)
	switch s.opt.Layout {
	case Witness:
		witnesses = []string{"w"}
	case Three:
		names = []string{"a", "b", "c"}
	case Five:
		names = []string{"a", "b", "c", "d", "e"}
	}
	if s.opt.Layout.Majority() {
		m.Quorum = config.Quorum{Mode: config.ModeMajority}
	}
	if s.opt.Watchdog {
		m.Watchdog = config.Watchdog{Device: "/dev/watchdog", Timeout: time.Second}
	}
	if s.opt.Fencing && s.opt.Layout.Majority() {
		m.Fencing = config.Fencing{Enabled: true, Timeout: 5 * time.Second}
	}
	if s.opt.Layout == TwoNodeFencing {
		// Sometimes with the priority delay, sometimes racing head on.
		m.Fencing = config.Fencing{Enabled: true, Timeout: 5 * time.Second, Delay: []time.Duration{0, time.Second}[s.rng.IntN(2)]}
	}
	for i, n := range slices.Concat(names, witnesses) {
		nd := config.Node{Name: n, Voter: true}
		for l := range links {
			nd.Links = append(nd.Links, netip.AddrFrom4([4]byte{198, 18, byte(l), byte(10 + i)}))
		}
		if i < len(names) {
			m.Nodes = append(m.Nodes, nd)
		} else {
			m.Witnesses = append(m.Witnesses, nd)
		}
	}
	ops := config.Ops{StartTimeout: 2 * time.Second, StopTimeout: 2 * time.Second, MonitorInterval: time.Second, MonitorTimeout: time.Second}
	if p.Keepalive < 10*time.Millisecond {
		ops = config.Ops{StartTimeout: 100 * time.Millisecond, StopTimeout: 100 * time.Millisecond, MonitorInterval: 50 * time.Millisecond, MonitorTimeout: 50 * time.Millisecond}
	}
	m.Resources = []config.Resource{
		{Name: "vip", Kind: config.KindIP, Ops: ops, IP: &config.IPParams{ARPCount: 1, ARPInterval: time.Millisecond, ARPRefresh: 5 * time.Second}},
		{Name: "svc", Kind: config.KindExec, Ops: ops, Exec: &config.ExecParams{Daemon: "svc"}},
	}
	m.Groups = []config.Group{{Name: "voice", Members: []string{"vip", "svc"}}}
	if s.rng.IntN(2) == 0 {
		m.Resources = append(m.Resources, config.Resource{Name: "vip2", Kind: config.KindIP, Ops: ops, IP: &config.IPParams{ARPCount: 1, ARPInterval: time.Millisecond}})
		m.Groups = append(m.Groups, config.Group{Name: "vip2", Members: []string{"vip2"}, Implicit: true})
	}
	m.Constraints = []config.Location{{Target: "voice", Node: "a", Score: []int{0, 50, 500}[s.rng.IntN(3)]}}
	if len(m.Groups) > 1 && s.rng.IntN(2) == 0 {
		// The second group prefers another node: groups on a DC and on a follower.
		m.Constraints = append(m.Constraints, config.Location{Target: "vip2", Node: "b", Score: 100})
	}
	m.Defaults.Stickiness = []int{0, 10, 100}[s.rng.IntN(3)]
	return m
}

func (s *Sim) push(e *event) {
	s.seq++
	e.seq = s.seq
	heap.Push(&s.q, e)
}

// local is node n's machine clock: it runs at the node's rate and does not
// restart with the agent (the gates' kernel timers run on it too).
func (s *Sim) local(n *simNode) time.Duration {
	return time.Duration(float64(s.now) * n.rate)
}

// traceLine is a trace entry kept unformatted: most are overwritten before
// anyone reads them, and formatting every event was a fifth of the run.
type traceLine struct {
	at     time.Duration
	format string
	args   []any
}

func (l traceLine) String() string {
	return fmt.Sprintf("%9.3fs  ", l.at.Seconds()) + fmt.Sprintf(l.format, l.args...)
}

// logf adds a line to the trace, a ring of the last TraceLen events. Its
// arguments must be values that do not change later (or lazy Stringers of such).
func (s *Sim) logf(format string, a ...any) {
	l := traceLine{at: s.now, format: format, args: a}
	if len(s.trace) < s.opt.TraceLen {
		s.trace = append(s.trace, l)
		return
	}
	s.trace[s.traceNext] = l
	s.traceNext = (s.traceNext + 1) % len(s.trace)
}

// traceText renders the trace, oldest first.
func (s *Sim) traceText() []string {
	out := make([]string, 0, len(s.trace))
	for i := range s.trace {
		out = append(out, s.trace[(s.traceNext+i)%len(s.trace)].String())
	}
	return out
}

func (s *Sim) fail(format string, a ...any) {
	if s.res.Violation == "" {
		s.res.Violation = fmt.Sprintf("%9.3fs  ", s.now.Seconds()) + fmt.Sprintf(format, a...)
		s.logf("VIOLATION: "+format, a...)
	}
}

// Run runs the simulation to its end or its first violation.
func (s *Sim) Run() Result {
	for i := range s.nodes {
		s.boot(i, true)
	}
	if s.script != nil {
		s.scheduleScript(s.script)
	} else {
		s.scheduleFault(s.randDur(2*time.Second, 6*time.Second))
		if len(s.m.Quorum.Ping) > 0 {
			s.scheduleUplink()
		}
		if s.opt.Layout.Majority() && s.mt.IntN(2) == 0 {
			s.scheduleMaintenance()
		}
	}
	end := s.opt.Duration
	for s.q.Len() > 0 && s.res.Violation == "" {
		e := heap.Pop(&s.q).(*event)
		if e.at > end {
			break
		}
		s.now = e.at
		s.res.Events++
		s.handle(e)
		s.check()
	}
	s.res.Simulated = s.now
	s.res.Trace = s.traceText()
	return s.res
}

func (s *Sim) randDur(lo, hi time.Duration) time.Duration {
	return lo + time.Duration(s.rng.Int64N(int64(hi-lo)+1))
}

func (s *Sim) boot(i int, first bool) {
	n := s.nodes[i]
	if s.now < n.offUntil {
		// Powered off by a fence: it stays off until the operator powers
		// it on again (fences use the off action).
		s.push(&event{at: n.offUntil, kind: evFault, fault: func() {
			if !n.up {
				s.boot(i, false)
			}
		}})
		return
	}
	n.gen++
	n.up, n.paused, n.held, n.pendingReady = true, false, nil, nil
	n.lastResume = s.now // a fresh process: like a resume, its peers heard nothing for a while
	n.inc++
	n.lastHeard, n.heardSince, n.lastMsg, n.lastInc, n.peerState = map[int]time.Duration{}, map[int]time.Duration{}, map[int]*wire.Message{}, map[int]uint64{}, map[int]string{}
	n.inflight, n.leaseSeen, n.fencing = map[string]int{}, 0, 0 // leases are never persisted
	if s.opt.Watchdog {
		n.armed, n.lastPet = true, s.now // the agent opens the device at start
	}
	knobs := node.Knobs{NoReassignWait: s.opt.Control == ControlR2Zero, ReceiptLease: s.opt.Control == ControlReceiptLease}
	core, err := node.New(node.Config{Model: s.m, Self: n.name, Incarnation: n.inc, State: n.saved, Quorum: n.savedQuorum, QuorumLost: n.quorumLost, Knobs: knobs}, s.local(n))
	if err != nil {
		panic(err) // the model is the simulator's own: a bug here is ours
	}
	n.core = core
	s.logf("%s boots (incarnation %d)", n.name, n.inc)
	s.tellUplink(i)
	if n.quorumLost {
		// The flag is in the persisted raft state from now on.
		n.quorumLost = false
		gen := n.gen
		s.push(&event{at: s.now + s.randDur(2*time.Second, 4*s.m.Timing.Deadtime+8*time.Second), kind: evFault, fault: func() {
			if n.up && n.gen == gen && !n.paused {
				s.res.Coverage["rejoin"]++
				s.logf("operator: tandem node rejoin %s", n.name)
				n.core.Step(s.local(n), node.Rejoin{})
				s.afterStep(i)
			}
		}})
	}
	s.carryOut(i)
	s.push(&event{at: s.now + s.tickEvery(), kind: evTick, node: i, gen: n.gen})
}

// watchdogs resets every machine whose armed watchdog went unpetted for
// its timeout: a frozen agent, a dead one, or one that keeps a group past
// its lease.
func (s *Sim) watchdogs() {
	if !s.opt.Watchdog || s.opt.Control == ControlWatchdogOff {
		return
	}
	for i, n := range s.nodes {
		if !n.armed || s.now-n.lastPet <= s.m.Watchdog.Timeout {
			continue
		}
		s.res.Coverage["watchdog-reset"]++
		s.logf("%s: watchdog expired (last pet %.3fs): the machine resets", n.name, n.lastPet.Seconds())
		n.armed = false
		if n.up {
			s.crash(i, true, true)
		} else {
			n.active, n.running, n.stopFailed = map[string]bool{}, map[string]bool{}, map[string]bool{}
			n.gateEnd = map[string]time.Duration{}
		}
	}
}

// tellUplink is the health prober's report to node i's core: whether it
// reaches the quorum.ping target (a witness runs no prober).
func (s *Sim) tellUplink(i int) {
	n := s.nodes[i]
	if len(s.m.Quorum.Ping) == 0 || i >= len(s.m.Nodes) || !n.up || n.paused {
		return
	}
	v := "1"
	if s.uplinkDown[i] {
		v = "0"
	}
	n.core.Step(s.local(n), node.Attribute{Name: config.QuorumPingAttr, Value: v})
}

// scheduleUplink makes one node's uplink fail or return every few seconds.
func (s *Sim) scheduleUplink() {
	at := s.now + 3*time.Second + time.Duration(s.up.Int64N(int64(12*time.Second)))
	s.push(&event{at: at, kind: evFault, fault: func() {
		i := s.up.IntN(len(s.m.Nodes))
		if s.uplinkDown == nil {
			s.uplinkDown = map[int]bool{}
		}
		s.uplinkDown[i] = !s.uplinkDown[i]
		if s.uplinkDown[i] {
			s.res.Coverage["uplink-lost"]++
			s.logf("%s's uplink fails: quorum.ping target unreachable", s.nodes[i].name)
		} else {
			s.logf("%s's uplink returns", s.nodes[i].name)
		}
		s.tellUplink(i)
		if n := s.nodes[i]; n.up && !n.paused {
			s.afterStep(i)
		}
		s.scheduleUplink()
	}})
}

// scheduleMaintenance puts a node (or the cluster) in maintenance for a
// few seconds, sometimes stopping that node's agent meanwhile (the
// upgrade), while the other faults go on.
func (s *Sim) scheduleMaintenance() {
	dur := func(lo, hi time.Duration) time.Duration { return lo + time.Duration(s.mt.Int64N(int64(hi-lo))) }
	s.push(&event{at: s.now + dur(4*time.Second, 14*time.Second), kind: evFault, fault: func() {
		target := ""
		if s.mt.IntN(4) > 0 {
			target = s.m.Nodes[s.mt.IntN(len(s.m.Nodes))].Name
		}
		if !s.operator(node.Admin{Op: node.AdminMaintenanceOn, Node: target, By: "sim"}) {
			s.scheduleMaintenance()
			return
		}
		s.res.Coverage["maintenance"]++
		if i := s.peerIndex(target); i >= 0 && s.mt.IntN(2) == 0 {
			s.push(&event{at: s.now + dur(500*time.Millisecond, 3*time.Second), kind: evFault, fault: func() {
				if n := s.nodes[i]; n.up && !n.paused {
					s.res.Coverage["maintenance-agent-stopped"]++
					s.logf("%s: operator stops the agent in maintenance (SIGTERM)", n.name)
					n.core.Step(s.local(n), node.Shutdown{})
					s.afterStep(i)
				}
			}})
		}
		s.push(&event{at: s.now + dur(4*time.Second, 12*time.Second), kind: evFault, fault: func() {
			s.operator(node.Admin{Op: node.AdminMaintenanceOff, Node: target, By: "sim"})
			s.scheduleMaintenance()
		}})
	}})
}

// operator gives a to a member that is up and running, drawn from the
// maintenance stream; false if there is none.
func (s *Sim) operator(a node.Admin) bool {
	var up []int
	for i, n := range s.nodes {
		if n.up && !n.paused {
			up = append(up, i)
		}
	}
	if len(up) == 0 {
		return false
	}
	i := up[s.mt.IntN(len(up))]
	n := s.nodes[i]
	s.logf("operator on %s: %s %s", n.name, a.Op, a.Node)
	n.core.Step(s.local(n), a)
	s.afterStep(i)
	return true
}

func (s *Sim) tickEvery() time.Duration { return max(s.m.Timing.Keepalive/4, time.Millisecond) }

func (s *Sim) handle(e *event) {
	s.watchdogs()
	if e.kind == evFault {
		s.lastFault = s.now
		e.fault()
		return
	}
	n := s.nodes[e.node]
	if e.kind != evResume && (e.gen != n.gen || !n.up) {
		return // for a process that has since died
	}
	switch e.kind {
	case evResume:
		if e.gen != n.gen || !n.up {
			return
		}
		s.resume(e.node)
	case evTick:
		if !n.paused && n.gateFailed {
			n.gateFailed = false
			n.core.Step(s.local(n), node.Paused{}) // the agent treats a refused renewal as a lost lease
			s.afterStep(e.node)
		}
		if !n.paused {
			n.core.Step(s.local(n), node.Tick{})
			s.afterStep(e.node)
		}
		s.push(&event{at: s.now + s.tickEvery(), kind: evTick, node: e.node, gen: n.gen})
	case evDeliver:
		if n.paused {
			n.held = append(n.held, e)
			return
		}
		s.deliver(e)
	case evOpDone:
		s.opDone(e)
	}
}

func (s *Sim) deliver(e *event) {
	n := s.nodes[e.node]
	delete(n.unread, e.from)
	if e.inc < n.lastInc[e.from] {
		// From an agent since restarted (delayed on the way): the wire
		// layer drops lower incarnations before the core sees them.
		return
	}
	if last, ok := n.lastHeard[e.from]; !ok || s.now-last >= s.m.Timing.Deadtime || s.now-e.sent > s.m.Timing.Keepalive {
		// S1's "heard each other" needs news, not a backlog: a packet that
		// spent more than a keepalive on the way restarts the window.
		n.heardSince[e.from] = s.now
	}
	n.lastHeard[e.from] = s.now
	if last := n.lastMsg[e.from]; last != nil && e.msg.SentAt < last.SentAt && e.inc == n.lastInc[e.from] {
		s.res.Coverage["reorder"]++ // an older heartbeat overtaken by a newer one
	} else if e.inc >= n.lastInc[e.from] {
		n.lastMsg[e.from], n.lastInc[e.from] = e.msg, e.inc
	}
	s.logf("%s ← %s link %d: %s", n.name, s.nodes[e.from].name, e.link, msgText{e.msg})
	n.core.Step(s.local(n), node.Receive{From: s.nodes[e.from].name, Link: e.link, Incarnation: e.inc, Msg: e.msg})
	s.afterStep(e.node)
}

// msgText describes a message when the trace is read: messages are never
// changed once sent.
type msgText struct{ m *wire.Message }

func (t msgText) String() string { return describe(t.m) }

func describe(m *wire.Message) string {
	var b strings.Builder
	if m.Type == wire.TypeBye {
		b.WriteString("bye ")
	}
	for _, r := range m.Resources {
		if r.State != wire.ResStopped {
			fmt.Fprintf(&b, "%s=%s ", r.Name, r.State)
		}
	}
	for _, g := range m.Groups {
		if g.Epoch > 0 {
			fmt.Fprintf(&b, "%s@%d ", g.Name, g.Epoch)
		}
	}
	if b.Len() == 0 {
		return "all stopped"
	}
	return strings.TrimSpace(b.String())
}

// afterStep carries out the core's Ready — or, sometimes, pauses the
// process between the decision and its effect.
func (s *Sim) afterStep(i int) {
	n := s.nodes[i]
	s.observeMembership(i)
	if s.opt.Layout.Majority() {
		if end := n.core.LeaseEnd(); end > n.leaseSeen {
			n.leaseSeen = end
		}
	}
	rd := n.core.Ready()
	if s.script == nil && !n.paused && !n.resuming && (len(rd.Actions) > 0 || len(rd.Messages) > 0 || len(rd.Gates) > 0) && s.rng.IntN(400) == 0 {
		cp := rd
		n.pendingReady, n.decidedAt = &cp, s.local(n)
		n.core.Advance()
		s.pause(i, s.randDur(50*time.Millisecond, 3*s.m.Timing.Deadtime), true)
		return
	}
	s.carryOut(i)
}

func (s *Sim) carryOut(i int) {
	n := s.nodes[i]
	if s.opt.Watchdog && n.up && !n.paused && n.core.MayPet() {
		n.lastPet = s.now // the agent pets once per loop turn
	}
	rd := n.core.Ready()
	n.core.Advance()
	s.apply(i, rd, s.local(n))
}

// apply carries out rd, decided at decided on the node's clock (earlier
// than now when a pause fell between the decision and its effect).
func (s *Sim) apply(i int, rd node.Ready, decided time.Duration) {
	n := s.nodes[i]
	for _, l := range rd.Logs {
		if l.Level >= 0 && interesting(l.Msg) {
			s.logf("%s: %s", n.name, l.Msg)
		}
	}
	quorumSent := false
	for _, o := range rd.Messages {
		s.send(i, o)
		quorumSent = quorumSent || len(o.Msg.Quorum) > 0
	}
	if d := n.pauseAfterSend; d > 0 && quorumSent && n.up && !n.paused && !n.resuming {
		n.pauseAfterSend = 0
		s.res.Coverage["pause-awaiting-reply"]++
		defer s.pause(i, d, false)
	}
	for _, a := range rd.Actions {
		s.dispatch(i, a, decided < s.local(n))
	}
	if rd.PersistState {
		n.saved = n.core.StateLog()
	}
	if rd.PersistQuorum != nil {
		n.savedQuorum = *rd.PersistQuorum
	}
	for _, g := range rd.Gates {
		// The nftables gate: a renewal is delete+add in one batch, which
		// fails once the element has lapsed; only a fresh grant adds anew.
		now := s.local(n)
		switch {
		case g.Hold:
			// Held open for maintenance: no lease, no lapse.
			n.gateEnd[g.Resource] = gateHeld
			s.grew = true
		case s.opt.Control == ControlGateRecreate && g.Until > decided && now >= n.gateEnd[g.Resource] && now > decided:
			// The bug: a late renewal that adds the element anew, with the
			// timeout it computed before the pause.
			n.gateEnd[g.Resource] = now + (g.Until - decided)
			s.grew = true
			s.logf("%s: gate of %s re-created by a late renewal", n.name, g.Resource)
		case g.Until <= now:
			n.gateEnd[g.Resource] = min(n.gateEnd[g.Resource], now)
		case g.Fresh || now < n.gateEnd[g.Resource]:
			n.gateEnd[g.Resource] = g.Until
			s.grew = true
		default:
			n.gateFailed = true
			s.res.Coverage["gate-renewal-refused"]++
			s.logf("%s: gate of %s: renewal refused, the element had lapsed", n.name, g.Resource)
		}
	}
	if rd.Done {
		s.logf("%s: agent exits after a graceful stop", n.name)
		n.up, n.armed = false, false // a graceful stop disarms the watchdog
		for r := range n.active {
			if s.kindOf(r) == config.KindExec {
				n.active[r], n.running[r] = false, false // they die with the agent (Pdeathsig)
			}
		}
		s.push(&event{at: s.now + s.randDur(time.Second, 5*time.Second), kind: evFault, fault: func() {
			if !n.up {
				s.boot(i, false)
			}
		}})
	}
}

func (s *Sim) peerIndex(name string) int {
	for i, n := range s.nodes {
		if n.name == name {
			return i
		}
	}
	return -1
}

func (s *Sim) send(from int, o node.Outbound) {
	to := s.peerIndex(o.To)
	if to < 0 || s.blocked[from][to][o.Link] {
		return
	}
	copies := 1
	if s.rng.Float64() < s.dup {
		copies = 2
		s.res.Coverage["duplicate"]++
	}
	for range copies {
		if s.rng.Float64() < s.loss {
			s.res.Coverage["loss"]++
			continue
		}
		delay := 100*time.Microsecond + time.Duration(s.rng.Int64N(int64(s.jitter)+1)) + s.spike[[2]int{from, to}]
		msg := o.Msg
		s.push(&event{at: s.now + delay, kind: evDeliver, node: to, from: from, link: o.Link, inc: s.nodes[from].inc, msg: &msg, gen: s.nodes[to].gen, sent: s.now})
	}
}

// dispatch starts an operation: the ground truth changes now (a start makes
// the resource active from the moment it is dispatched), its result comes
// later. stale: decided before a pause that fell between decision and effect.
func (s *Sim) dispatch(i int, a node.Action, stale bool) {
	n := s.nodes[i]
	if a.Op == ownership.OpFence {
		s.fence(i, a)
		return
	}
	n.inflight[a.Resource]++
	if a.Op == ownership.OpStart {
		s.grew = true
		s.checkStartAllowed(i, a.Resource)
		if s.opt.Layout.Majority() && !stale {
			// A start decided before a pause and carried out after it is a
			// frozen agent's, not a takeover: the gate (IPs) or a fence covers it.
			s.checkS3b(i, a.Resource)
		}
		n.active[a.Resource] = true
		n.running[a.Resource] = true
		if g := s.groupOf[a.Resource]; s.members[g][0] == a.Resource {
			s.classifyTake(i, g)
		}
	}
	d := s.randDur(time.Millisecond, s.m.Resources[0].Ops.StartTimeout/40)
	if s.script != nil {
		d = 5 * time.Millisecond
		if a.Op == ownership.OpStop && n.slowStop > 0 {
			d = n.slowStop
		}
	} else if a.Op == ownership.OpStop && s.rng.IntN(10) == 0 {
		d = s.randDur(d, a.Timeout*9/10) // a slow stop that still makes it in time
		s.res.Coverage["slow-stop"]++
	}
	out := ownership.Outcome{}
	switch a.Op {
	case ownership.OpStart:
		if n.failStart && s.rng.IntN(2) == 0 {
			out.Err = "injected start failure"
			s.res.Coverage["start-failure"]++
		}
	case ownership.OpStop:
		if n.failStop && s.rng.IntN(3) == 0 {
			out.Err = "injected stop failure"
			s.res.Coverage["stop-failure"]++
		}
	case ownership.OpMonitor, ownership.OpProbe:
		if n.failMonitor && a.Op == ownership.OpMonitor && s.rng.IntN(3) == 0 {
			out.Err = "injected monitor failure"
			s.res.Coverage["monitor-failure"]++
		} else {
			out.Running, out.Stopped = n.running[a.Resource], !n.running[a.Resource] && !n.active[a.Resource]
			if !n.running[a.Resource] && n.active[a.Resource] {
				out.Running = false // active but dead: the monitor reports it not running
				out.Stopped = true
			}
		}
	}
	if n.hang && a.Op != ownership.OpProbe && s.rng.IntN(4) == 0 {
		// The operation hangs: the agent kills it at its timeout and reports an error.
		d = a.Timeout
		out = ownership.Outcome{Err: "timed out"}
		s.res.Coverage["op-hang"]++
	}
	if k := a.Op.String() + " " + a.Resource; n.scripted[k] != "" {
		switch n.scripted[k] {
		case "fail":
			out = ownership.Outcome{Err: "scripted " + a.Op.String() + " failure"}
		case "hang":
			d, out = a.Timeout, ownership.Outcome{Err: "timed out"}
		}
		delete(n.scripted, k)
	}
	if a.Op == ownership.OpStart || a.Op == ownership.OpStop {
		s.logf("%s: %s %s dispatched (result in %v)", n.name, a.Op, a.Resource, d)
	}
	s.push(&event{at: s.now + d, kind: evOpDone, node: i, gen: n.gen, action: a, out: out})
}

// fence carries out node i's fence of a.Node: it takes 50 ms to 2 s and
// fails one time in five. A fence that succeeds powers the target off (a
// machine crash) somewhere within that time, before the fencer hears of it
// — even if the fencer itself died meanwhile: the device does not know.
// The target stays off 10–20 s, or one time in four only 0.1–2 s (powered
// on again at once), so it may boot before its fencer hears the fence
// confirmed: the two_node handshake's case.
func (s *Sim) fence(i int, a node.Action) {
	n := s.nodes[i]
	j := s.peerIndex(a.Node)
	d := s.randDur(50*time.Millisecond, 2*time.Second)
	offAt := s.randDur(50*time.Millisecond, d)
	fail := s.rng.IntN(5) == 0
	s.res.Coverage["fence"]++
	if t := s.nodes[j]; t.fencing > 0 {
		s.res.Coverage["fence-race"]++
	}
	n.fencing++
	s.logf("%s fences %s (done in %v, fails %v)", n.name, a.Node, d, fail)
	gen := n.gen
	if !fail && s.opt.Control != ControlFenceNoop {
		off := s.randDur(10*time.Second, 20*time.Second)
		if s.rng.IntN(4) == 0 {
			off = s.randDur(100*time.Millisecond, 2*time.Second)
		}
		s.push(&event{at: s.now + offAt, kind: evFault, fault: func() { s.powerOff(j, n.name, off) }})
	}
	s.push(&event{at: s.now + d, kind: evFault, fault: func() {
		if n.gen == gen {
			n.fencing--
		}
		out := ownership.Outcome{}
		if fail {
			out.Err = "injected fence failure"
			s.res.Coverage["fence-failed"]++
		} else if s.opt.Control == ControlFenceNoop {
			s.logf("%s's fence of %s reports success, but the power stays on (negative control)", n.name, s.nodes[j].name)
		}
		if n.gen != gen || !n.up {
			return // the fencer is gone: nobody hears the result
		}
		e := &event{kind: evOpDone, node: i, gen: gen, action: a, out: out}
		if n.paused {
			n.held = append(n.held, e)
			return
		}
		s.result(e)
	}})
}

// powerOff is a fence's effect on node j: off for the given time, and
// whatever ran there with it.
func (s *Sim) powerOff(j int, by string, off time.Duration) {
	t := s.nodes[j]
	t.offUntil = s.now + off
	if off < 10*time.Second {
		s.res.Coverage["fence-quick-power-on"]++
	}
	if t.up {
		s.logf("%s is powered off by %s's fence (off for %v)", t.name, by, off)
		s.crash(j, true, true)
		return
	}
	// Its agent is already gone (its restart is under way), but what it
	// left running goes with the power.
	s.logf("%s (agent down) is powered off by %s's fence (off for %v)", t.name, by, off)
	t.active, t.running, t.stopFailed = map[string]bool{}, map[string]bool{}, map[string]bool{}
	t.gateEnd = map[string]time.Duration{}
}

// classifyTake counts takeovers (the peer was dead) and hand-offs (the peer
// stopped it while alive) for the coverage report.
func (s *Sim) classifyTake(i int, g string) {
	for j, o := range s.nodes {
		if j == i {
			continue
		}
		if !o.up {
			s.res.Coverage["takeover"]++
		} else if m := s.nodes[i].lastMsg[j]; m != nil {
			for _, gr := range m.Groups {
				if gr.Name == g && gr.Epoch > 0 {
					s.res.Coverage["hand-off"]++
				}
			}
		}
		if st := s.nodes[i].peerState[j]; st == "dead" || st == "left" {
			s.res.Coverage["takeover"]++
		}
	}
}

func (s *Sim) opDone(e *event) {
	n := s.nodes[e.node]
	a := e.action
	if n.inflight[a.Resource]--; n.inflight[a.Resource] <= 0 {
		delete(n.inflight, a.Resource)
	}
	switch a.Op {
	case ownership.OpStop:
		if e.out.Err == "" {
			n.active[a.Resource] = false
			n.running[a.Resource] = false
			n.stopFailed[a.Resource] = false
		} else {
			n.stopFailed[a.Resource] = true
		}
	case ownership.OpMonitor, ownership.OpProbe:
		if e.out.Stopped && e.out.Err == "" {
			// A check that found it not running confirms it is gone (a
			// service that died on its own serves nothing).
			n.active[a.Resource] = false
		}
	case ownership.OpStart:
		if e.out.Err != "" && s.rng.IntN(2) == 0 {
			// The failed start left nothing behind (half of them do; the
			// other half leave it up until a stop): truthfully inactive.
			n.running[a.Resource] = false
			n.active[a.Resource] = false
		}
	}
	if n.paused {
		n.held = append(n.held, e)
		return
	}
	s.result(e)
}

func (s *Sim) result(e *event) {
	n := s.nodes[e.node]
	s.logf("%s: %s %s done %s", n.name, e.action.Op, e.action.Resource, orOK(e.out.Err))
	n.core.Step(s.local(n), node.Result{ID: e.action.ID, Outcome: e.out})
	s.afterStep(e.node)
}

func orOK(err string) string {
	if err == "" {
		return "ok"
	}
	return "(" + err + ")"
}

func (s *Sim) pause(i int, d time.Duration, betweenDecisionAndEffect bool) {
	n := s.nodes[i]
	n.paused = true
	n.pausedSince = s.now
	s.res.Coverage["pause"]++
	if betweenDecisionAndEffect {
		s.res.Coverage["pause-between-decision-and-effect"]++
	}
	s.logf("%s paused for %v", n.name, d)
	s.push(&event{at: s.now + d, kind: evResume, node: i, gen: n.gen})
}

// resume delivers what queued up during the pause before the burst of
// ticks, as a real agent's sockets and channels would.
func (s *Sim) resume(i int) {
	n := s.nodes[i]
	n.paused, n.resuming = false, true
	defer func() { n.resuming = false }()
	n.lastResume = s.now
	s.lastFault = s.now
	s.logf("%s resumes (%d queued)", n.name, len(n.held))
	if rd := n.pendingReady; rd != nil {
		n.pendingReady = nil
		s.apply(i, *rd, n.decidedAt)
		if !n.up {
			return // that decision was the agent's last: it has exited
		}
		// The agent finishes carrying out the old decision before its loop
		// notices the gap: the world is in that state for a moment.
		s.check()
	}
	held := n.held
	n.held = nil
	n.unread = map[int]bool{}
	for _, e := range held {
		if e.kind == evDeliver {
			n.unread[e.from] = true
		}
	}
	defer func() { n.unread = nil }()
	if s.now-n.pausedSince > 2*s.m.Timing.Keepalive {
		// The agent's loop sees the gap (δ) before anything else: its lease is void.
		n.core.Step(s.local(n), node.Paused{})
		s.afterStep(i)
	}
	if s.opt.Control == ControlNoDrain {
		// The bug: let time pass before reading what waited in the sockets.
		n.core.Step(s.local(n), node.Tick{})
		s.afterStep(i)
	}
	for _, e := range held {
		if e.gen != n.gen || !n.up {
			continue
		}
		switch e.kind {
		case evDeliver:
			s.deliver(e)
		case evOpDone:
			s.result(e)
		}
		// Each of these is an event of its own for the invariants: in the
		// agent, real time passes between them (an nftables call is ~14 ms).
		s.check()
	}
	if !n.up {
		return // a graceful stop finished among them: the agent has exited
	}
	s.tellUplink(i) // what the prober saw meanwhile
	n.core.Step(s.local(n), node.Tick{})
	s.afterStep(i)
}

// crash kills node i's agent. A machine crash takes everything with it; an
// agent crash leaves floating addresses on the interface (exec services die
// with the agent).
func (s *Sim) crash(i int, machine, keepState bool) {
	n := s.nodes[i]
	n.up = false
	n.gen++
	n.held, n.pendingReady = nil, nil
	clear(n.inflight) // the agent's operations die with it, or return to no one
	switch {
	case machine:
		n.active, n.running, n.stopFailed = map[string]bool{}, map[string]bool{}, map[string]bool{}
		n.gateEnd = map[string]time.Duration{}
		s.res.Coverage["crash-machine"]++
	default:
		for r := range n.active {
			if s.kindOf(r) == config.KindExec {
				n.active[r], n.running[r] = false, false
			}
		}
		if keepState {
			s.res.Coverage["crash-agent-state-kept"]++
		} else {
			s.res.Coverage["crash-agent-state-lost"]++
		}
	}
	if !keepState {
		n.saved = nil
		if s.opt.Layout.Majority() {
			// Raft's state goes too: the agent finds it missing or corrupt
			// and starts not voting until the operator rejoins it.
			n.savedQuorum, n.quorumLost = quorum.Persisted{}, true
		}
	}
	s.logf("%s crashes (machine=%v, state kept=%v)", n.name, machine, keepState)
	s.push(&event{at: s.now + s.randDur(500*time.Millisecond, 4*s.m.Timing.Deadtime+time.Second), kind: evFault, fault: func() {
		if !n.up {
			s.boot(i, false)
		}
	}})
}

func (s *Sim) kindOf(r string) string { return s.kinds[r] }

// scheduleFault draws the next fault and when it happens.
func (s *Sim) scheduleFault(after time.Duration) {
	s.push(&event{at: s.now + after, kind: evFault, fault: func() {
		if s.opt.Layout.Majority() && s.rng.IntN(6) == 0 {
			// A calm: every fault cleared for long enough that L1 must hold —
			// sometimes but for one node, cut off from everyone meanwhile
			// (L1 with the owner outside the set).
			s.calm()
			if s.rng.IntN(3) == 0 {
				s.isolate(s.rng.IntN(len(s.nodes)))
			}
			s.scheduleFault(s.randDur(12*time.Second, 20*time.Second))
			return
		}
		s.injectFault()
		s.scheduleFault(s.randDur(time.Second, 8*time.Second))
	}})
}

// calm clears every standing fault: links, spikes and injected failures.
// Down nodes come back by themselves (their restart is already scheduled).
func (s *Sim) calm() {
	for a := range s.blocked {
		for b := range s.blocked[a] {
			for l := range s.blocked[a][b] {
				s.blocked[a][b][l] = false
			}
		}
	}
	clear(s.spike)
	for _, n := range s.nodes {
		n.failStart, n.failStop, n.failMonitor, n.hang = false, false, false, false
	}
	s.res.Coverage["calm"]++
	s.logf("calm: every fault cleared")
}

// isolate cuts node i off from every other node, both ways, on every link,
// until the next fault heals the network or the next calm.
func (s *Sim) isolate(i int) {
	for k := range s.nodes {
		if k != i {
			for l := range s.blocked[i][k] {
				s.blocked[i][k][l], s.blocked[k][i][l] = true, true
			}
		}
	}
	s.logf("calm, but %s is cut off from everyone", s.nodes[i].name)
}

func (s *Sim) injectFault() {
	i := s.rng.IntN(len(s.nodes))
	j := (i + 1 + s.rng.IntN(len(s.nodes)-1)) % len(s.nodes)
	n := s.nodes[i]
	links := len(s.blocked[0][1])
	heal := func(after time.Duration, what string) {
		s.push(&event{at: s.now + after, kind: evFault, fault: func() {
			for a := range s.blocked {
				for b := range s.blocked[a] {
					for l := range s.blocked[a][b] {
						s.blocked[a][b][l] = false
					}
				}
			}
			s.lastHeal = s.now
			s.logf("network heals (%s)", what)
		}})
	}
	switch s.rng.IntN(13) {
	case 0:
		isolate := len(s.nodes) > 2 && s.rng.IntN(2) == 0
		for k := range s.nodes {
			if k == j || (isolate && k != i) {
				for l := range links {
					s.blocked[i][k][l], s.blocked[k][i][l] = true, true
				}
			}
		}
		s.res.Coverage["partition-symmetric"]++
		switch {
		case isolate:
			s.res.Coverage["partition-isolate"]++
			s.logf("partition: %s cut off from everyone", s.nodes[i].name)
		case len(s.nodes) > 2:
			s.res.Coverage["partition-non-transitive"]++
			s.logf("partition: %s ⇹ %s, both still reach the others", s.nodes[i].name, s.nodes[j].name)
		default:
			s.logf("partition: %s ⇹ %s", s.nodes[i].name, s.nodes[j].name)
		}
		heal(s.randDur(500*time.Millisecond, 4*s.m.Timing.Deadtime+2*time.Second), "symmetric")
	case 1:
		for l := range links {
			s.blocked[i][j][l] = true
		}
		s.res.Coverage["partition-one-way"]++
		s.logf("partition: %s → %s cut (one way)", s.nodes[i].name, s.nodes[j].name)
		heal(s.randDur(500*time.Millisecond, 4*s.m.Timing.Deadtime+2*time.Second), "one-way")
	case 2:
		l := s.rng.IntN(links)
		s.blocked[i][j][l], s.blocked[j][i][l] = true, true
		s.res.Coverage["partition-one-link"]++
		s.logf("link %d between the nodes cut", l)
		heal(s.randDur(time.Second, 5*time.Second), "one link")
	case 3:
		if n.up {
			s.crash(i, true, true)
		}
	case 4:
		if n.up {
			s.crash(i, false, s.rng.IntN(2) == 0)
		}
	case 5:
		d := s.randDur(50*time.Millisecond, 3*s.m.Timing.Deadtime)
		if s.opt.Watchdog {
			d *= 3 // freezes past the R2 wait: what only the watchdog covers
		}
		switch {
		case !n.up || n.paused:
		case s.opt.Layout.Majority() && s.rng.IntN(2) == 0:
			// Freeze right after the next quorum message goes out, while
			// its answer (a grant, a vote) is on its way back.
			n.pauseAfterSend = s.randDur(s.m.Timing.Deadtime, 3*s.m.Timing.Deadtime)
		default:
			s.pause(i, d, false)
		}
	case 6:
		n.failStart = !n.failStart
		s.logf("%s: start failures %v", n.name, n.failStart)
	case 7:
		n.failStop = !n.failStop
		s.logf("%s: stop failures %v", n.name, n.failStop)
	case 8:
		n.failMonitor = !n.failMonitor
		s.logf("%s: monitor failures %v", n.name, n.failMonitor)
	case 9:
		n.hang = !n.hang
		s.logf("%s: operations hang %v", n.name, n.hang)
	case 10:
		for r, on := range n.running {
			if on && s.kindOf(r) == config.KindExec {
				n.running[r] = false
				s.res.Coverage["service-death"]++
				s.logf("%s: service %s dies", n.name, r)
			}
		}
	case 12:
		// A congested path: everything between i and j arrives late, in
		// order; sometimes one way only, with the way back dead.
		d := s.randDur(s.m.Timing.Deadtime/2, 3*s.m.Timing.Deadtime)
		s.spike[[2]int{i, j}] = d
		s.res.Coverage["delay-spike"]++
		if s.rng.IntN(2) == 0 {
			s.spike[[2]int{j, i}] = d
			s.logf("delay spike: %s ⇄ %s +%v", s.nodes[i].name, s.nodes[j].name, d)
		} else {
			for l := range links {
				s.blocked[j][i][l] = true
			}
			s.logf("delay spike: %s → %s +%v, %s → %s cut", s.nodes[i].name, s.nodes[j].name, d, s.nodes[j].name, s.nodes[i].name)
			heal(s.randDur(time.Second, 4*time.Second), "one-way under a delay spike")
		}
		s.push(&event{at: s.now + s.randDur(time.Second, 4*time.Second), kind: evFault, fault: func() {
			delete(s.spike, [2]int{i, j})
			delete(s.spike, [2]int{j, i})
			s.lastHeal = s.now
			s.logf("delay spike ends")
		}})
	case 11:
		if n.up && !n.paused {
			s.logf("%s: operator stops the agent (SIGTERM)", n.name)
			n.core.Step(s.local(n), node.Shutdown{})
			s.afterStep(i)
		}
	}
}

// interesting picks the core's log lines worth a place in the trace.
func interesting(msg string) bool {
	for _, p := range []string{"start ", "stop ", "split brain", "peer ", "assigned ", "DC proposes", "lease ", "quorum: elected", "handing the DC", "this agent was paused", "maintenance", "in maintenance", "out of maintenance", "DC keeps"} {
		if strings.HasPrefix(msg, p) {
			return true
		}
	}
	return false
}

// NewScript builds a run that replays a fault script (see script.go)
// instead of drawing faults: the form a bug the generator found keeps.
func NewScript(opt Options, script []string) (*Sim, error) {
	s := New(opt)
	names, witnesses := layoutMembers(opt.Layout)
	ops, err := parseScript(script, slices.Concat(names, witnesses))
	if err != nil {
		return nil, err
	}
	s.script = ops
	s.m = s.scriptModel()
	s.indexModel()
	s.loss, s.dup, s.jitter = 0, 0, 0
	for _, n := range s.nodes {
		n.rate = 1
	}
	return s, nil
}

// indexModel derives the lookups and S1's H from the model.
func (s *Sim) indexModel() {
	s.kinds, s.groupOf, s.members = map[string]string{}, map[string]string{}, map[string][]string{}
	for _, r := range s.m.Resources {
		s.kinds[r.Name] = r.Kind
	}
	for _, g := range s.m.Groups {
		s.members[g.Name] = g.Members
		for _, r := range g.Members {
			s.groupOf[r] = g.Name
		}
	}
	s.computeH()
}

// computeH sets H of S1 per group from the model.
func (s *Sim) computeH() {
	// H of S1 per group: 2·keepalive + δ (2·keepalive) + an operation in
	// flight when demotion begins + the group's stops, one after another.
	s.h = map[string]time.Duration{}
	for _, g := range s.m.Groups {
		h := 4 * s.m.Timing.Keepalive
		var inflight time.Duration
		for _, r := range g.Members {
			for _, res := range s.m.Resources {
				if res.Name == r {
					inflight = max(inflight, res.Ops.StartTimeout, res.Ops.MonitorTimeout)
					h += res.Ops.StopTimeout
				}
			}
		}
		s.h[g.Name] = h + inflight
	}
}
