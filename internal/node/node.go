// Package node is tandem's sans-IO core: it composes membership, placement,
// ownership and the state log into one deterministic state machine, driven
// like etcd's raft.RawNode:
//
//	n.Step(now, input)   // a tick, a message, an operation's result, a shutdown
//	rd := n.Ready()      // messages to send, operations to run, log lines
//	...carry it out...
//	n.Advance()
//
// Time comes in as now (monotonic, since an arbitrary origin); nothing here
// reads a clock, a socket or a file, so the simulator can drive it.
package node

import (
	"cmp"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"time"

	"tandem/internal/config"
	"tandem/internal/membership"
	"tandem/internal/ownership"
	"tandem/internal/quorum"
	"tandem/internal/schedule"
	"tandem/internal/statelog"
	"tandem/internal/wire"
)

// Input is what a Step consumes: Tick, Receive, Result, Shutdown.
type Input interface{ input() }

// Tick lets time pass: heartbeats go out, deadlines fire. Wall is the wall
// clock, for the operator's moves with a lifetime (zero: not known; nothing
// lapses).
type Tick struct{ Wall time.Time }

// Receive is an authenticated message from a peer on a link.
type Receive struct {
	From        string
	Link        int
	Incarnation uint64
	Msg         *wire.Message
}

// Result is an operation's outcome, matched to its Action by ID.
type Result struct {
	ID      uint64
	Outcome ownership.Outcome
}

// Shutdown asks for a graceful stop: release every resource in order, tell
// the peers, then report Done.
type Shutdown struct{}

// Unblock releases a survivor held by wait_for_all (the operator vouches
// that the peer is down).
type Unblock struct{}

// Rejoin lets a voter whose raft state was lost vote again (majority mode;
// the operator vouches that it is the same machine, `tandem node rejoin`).
type Rejoin struct{}

// Attribute sets one of this node's health attributes (link.eth0.up,
// ping.gw.ok, ping.quorum.ok); the state log carries it to the peers,
// whose schedulers read it in location rules.
type Attribute struct{ Name, Value string }

func (Attribute) input() {}
func (Tick) input()      {}
func (Receive) input()   {}
func (Result) input()    {}
func (Shutdown) input()  {}
func (Unblock) input()   {}
func (Rejoin) input()    {}

// Outbound is a message for one peer on one link.
type Outbound struct {
	To   string
	Link int
	Msg  wire.Message
}

// Action is an operation for the executor. Every action gets exactly one Result.
type Action struct {
	ID       uint64
	Resource string
	Node     string // OpFence: the node to power off
	Op       ownership.Op
	Timeout  time.Duration
	// Interval and Depth say which recurring monitor this is (OCF's
	// CRM_meta_interval and OCF_CHECK_LEVEL); zero for the others.
	Interval time.Duration
	Depth    int
}

// Log is one line for the agent's log: a decision and why.
type Log struct {
	Level slog.Level
	Msg   string
	Attrs []slog.Attr
}

// Ready is everything the I/O shell must do now.
type Ready struct {
	Messages []Outbound
	Actions  []Action
	Logs     []Log
	Events   []Event
	// PersistState is set when the state log changed and must reach disk.
	PersistState bool
	// PersistQuorum is majority mode's raft state, when it changed: write and
	// fsync it BEFORE sending Messages (a vote or an ack must survive a crash).
	PersistQuorum *quorum.Persisted
	// Gates are majority mode's changes to the floating IPs' nftables
	// gates (see Gate).
	Gates []Gate
	// Done is set once a graceful shutdown has released everything and said bye.
	Done bool
	// Placed is the scheduler's input when it changed (its clock aside),
	// for the agent to keep (like Pacemaker's pe-input files): tandem
	// simulate replays it. Neither the core nor the agent modifies it.
	Placed *schedule.View
}

// Config configures a Node.
type Config struct {
	Model       *config.Model
	Self        string
	Incarnation uint64
	// State is the state log as persisted at the last run (fail counts, admin settings).
	State []statelog.Entry
	// Quorum is majority mode's raft state as persisted at the last run.
	Quorum quorum.Persisted
	// QuorumLost says Quorum is empty because this node's raft state was
	// lost: it follows but does not vote until the operator rejoins it.
	QuorumLost bool
	// Knobs break the core on purpose, for the simulator's negative controls.
	Knobs Knobs
}

// Knobs are deliberate bugs the simulator must catch (docs/design.md, "The
// simulator must be able to fail"). Never set outside tests.
type Knobs struct {
	NoReassignWait bool // the DC skips the R2/R3 wait
	ReceiptLease   bool // a lease runs from the grant's receipt, not the request's send time
}

type pending struct {
	member *ownership.Member
	group  *ownership.Group
	op     ownership.Op
	verify bool   // a monitor after a failed stop: stopped after all, or blocked
	mon    int    // which monitor (0: the first; i: MoreMonitors[i-1])
	fence  string // a fence of this node
}

// peer is what this node knows of another node from its heartbeats.
type peer struct {
	name        string
	links       []string // addresses, for status
	incarnation uint64
	last        *wire.Message // latest heartbeat; nil before the first
	echo        []echo        // per link
	linkSeq     []uint32      // per link, our counter towards it
	leftInc     uint64        // incarnation that said bye
	hashWarned  bool
}

type echo struct {
	sentAt   int64         // peer's SentAt of its last heartbeat on this link
	received time.Duration // when we got it
}

// Node is one cluster member's core. Not safe for concurrent use.
type Node struct {
	m      *config.Model
	self   string
	inc    uint64
	start  time.Duration
	now    time.Duration
	det    *membership.Detector
	log    *statelog.Pair
	peers  []*peer // sorted by name
	groups []*ownership.Group
	byRes  map[string]*ownership.Member
	resCfg map[string]config.Resource
	resGrp map[string]*ownership.Group

	nextID    uint64
	inflight  map[uint64]pending
	monitorAt map[string]time.Duration // resource → next monitor
	announce  map[string]time.Duration // ip resource → next refresh
	probing   int                      // probes outstanding
	clock     uint64                   // highest claim epoch seen

	leaving     bool
	done        bool
	unblocked   bool
	sendNow     bool
	nextBeat    time.Duration
	healed      map[string]bool // group → keeper already re-announced for this conflict
	placement   schedule.Result
	placedFrom  *schedule.View // the input of the last schedule.Place, for place's reuse
	placedRes   schedule.Result
	lastInput   *schedule.View           // the scheduler input last handed to the agent to save
	holdWhy     string                   // why starts are held, for the log on change
	claims      map[string]time.Duration // two_node with fencing: group → the last heartbeat sent before claiming it (claim.go)
	lastSent    time.Duration            // when the last heartbeat went out
	stopBlocked map[string]bool          // resource → blocked by a failed stop (not on_fail block): blocked.go
	ev          eventState
	mj          *majority         // majority mode; nil in two_node
	attrs       map[string]string // this node's health attributes as its probers last said
	attrsKnown  bool              // every health attribute has been reported once
	wall        time.Time         // the wall clock at the last Tick that carried it
	lastHeld    map[string]string // group → the node last seen holding it (for maintenance)
	clones      map[string]string // cloned group → its clone: runs wherever placed, not exclusive
	fences      map[string]*fenceState
	devErr      map[string]string // fence device → its last monitor's error ("" fine)
	limitsAt    [2]uint64         // state versions (log, committed) the member limits were computed at
	limitsSet   bool

	rd Ready
}

// New returns a node that starts by probing every resource.
func New(cfg Config, now time.Duration) (*Node, error) {
	m := cfg.Model
	n := &Node{
		m: m, self: cfg.Self, inc: cfg.Incarnation, start: now, now: now,
		log:         statelog.NewPair(cfg.Self),
		attrs:       map[string]string{},
		byRes:       map[string]*ownership.Member{},
		resCfg:      map[string]config.Resource{},
		resGrp:      map[string]*ownership.Group{},
		inflight:    map[uint64]pending{},
		monitorAt:   map[string]time.Duration{},
		announce:    map[string]time.Duration{},
		healed:      map[string]bool{},
		lastHeld:    map[string]string{},
		clones:      map[string]string{},
		fences:      map[string]*fenceState{},
		claims:      map[string]time.Duration{},
		stopBlocked: map[string]bool{},
		devErr:      map[string]string{},
		ev:          eventState{active: map[string]bool{}, holder: map[string]string{}, lostAt: map[string]time.Duration{}},
	}
	var mcfg membership.Config
	mcfg.Keepalive, mcfg.Warntime, mcfg.Deadtime, mcfg.Initdead = m.Timing.Keepalive, m.Timing.Warntime, m.Timing.Deadtime, m.Timing.Initdead
	found := false
	for _, nd := range slices.Concat(m.Nodes, m.Witnesses) {
		if nd.Name == cfg.Self {
			found = true
			continue
		}
		p := &peer{name: nd.Name, echo: make([]echo, len(nd.Links)), linkSeq: make([]uint32, len(nd.Links))}
		for _, a := range nd.Links {
			p.links = append(p.links, a.String())
		}
		n.peers = append(n.peers, p)
		mcfg.Peers = append(mcfg.Peers, membership.Peer{Name: nd.Name, Links: len(nd.Links)})
	}
	if !found {
		return nil, fmt.Errorf("node %q is not in %s (nodes: %s)", cfg.Self, m.Path, nodeNames(m))
	}
	slices.SortFunc(n.peers, func(a, b *peer) int { return cmp.Compare(a.name, b.name) })
	n.det = membership.New(mcfg, now)
	if m.Quorum.Mode == config.ModeMajority {
		mj, err := newMajority(cfg, now)
		if err != nil {
			return nil, err
		}
		n.mj = mj
	}
	n.log.Merge(cfg.State)
	for _, r := range m.Resources {
		n.resCfg[r.Name] = r
	}
	for _, g := range m.Groups {
		og := &ownership.Group{Name: g.Name, Implicit: g.Implicit}
		for _, name := range g.Members {
			mb := &ownership.Member{Name: name, IsIP: n.resCfg[name].Kind == config.KindIP, State: wire.ResUnknown}
			og.Members = append(og.Members, mb)
			n.byRes[name] = mb
			n.resGrp[name] = og
		}
		n.groups = append(n.groups, og)
		if c := m.CloneOf(g.Name); c != nil {
			n.clones[g.Name] = c.Name
		}
	}
	// Probe everything once: adopt or stop what already runs, never start
	// twice. A witness runs nothing and probes nothing.
	for _, g := range n.groups {
		if n.mj != nil && n.mj.witness {
			break
		}
		for _, mb := range g.Members {
			n.dispatch(g, mb, ownership.OpProbe)
			n.probing++
		}
	}
	n.logf(slog.LevelInfo, "agent started: probing resources", "node", n.self, "incarnation", n.inc, "resources", len(n.byRes))
	n.nextBeat = now
	return n, nil
}

func nodeNames(m *config.Model) string {
	var s []string
	for _, nd := range m.Nodes {
		s = append(s, nd.Name)
	}
	return strings.Join(s, ", ")
}

// Step feeds one input at time now.
func (n *Node) Step(now time.Duration, in Input) {
	if now > n.now {
		n.now = now
	}
	switch in := in.(type) {
	case Tick:
		if !in.Wall.IsZero() {
			n.wall = in.Wall
			n.expireMoves()
			n.expireFailures()
		}
	case Admin:
		n.admin(in)
	case Receive:
		n.receive(in)
	case Result:
		n.result(in)
	case Shutdown:
		if !n.leaving {
			n.leaving = true
			n.sendNow = true
			n.logf(slog.LevelInfo, "shutting down: releasing resources in order, then telling peers")
		}
	case Unblock:
		if !n.unblocked {
			n.unblocked = true
			n.logf(slog.LevelWarn, "wait_for_all released by the operator: starting without having seen every peer")
		}
	case Rejoin:
		switch {
		case n.mj == nil:
			n.logf(slog.LevelWarn, "rejoin: only majority mode has votes to rejoin")
		case n.mj.q.Voting(n.self):
			n.logf(slog.LevelInfo, "rejoin: this node already votes")
		default:
			if err := n.mj.q.Rejoin(); err != nil {
				n.logf(slog.LevelWarn, "rejoin refused", "err", err.Error())
			}
			n.quorumStep()
		}
	case Attribute:
		n.setAttribute(in)
	case FenceDevice:
		n.fenceDevice(in)
	case Paused:
		if n.mj != nil {
			n.logf(slog.LevelWarn, "this agent was paused longer than δ: its own lease is void")
			n.mj.q.LoseLease()
		}
	}
	if _, ok := in.(Tick); ok {
		// Deaths are judged on ticks only: after a pause the agent delivers
		// everything that waited in its sockets first, and a packet from one
		// peer must not get another, whose packets are next in line, judged dead.
		for _, e := range n.det.Tick(n.now) {
			n.memberEvent(e)
		}
	}
	if n.mj != nil {
		n.mj.q.Tick(n.now)
		n.quorumStep()
	}
	n.reconcile()
	n.transitions()
	n.heartbeats()
}

// NextDeadline is when the core next needs a Tick if no other input comes
// first: the next heartbeat, a failure-detector deadline, a monitor or an
// announcement due; in majority mode also the lease's end and at most a
// keepalive away (lease rounds and raft's ticks). The agent sleeps until then.
func (n *Node) NextDeadline() time.Duration {
	if n.sendNow {
		return n.now
	}
	d := n.nextBeat
	if t, ok := n.det.NextDeadline(); ok {
		d = min(d, t)
	}
	for _, t := range n.monitorAt {
		d = min(d, t)
	}
	for _, t := range n.announce {
		d = min(d, t)
	}
	if n.mj != nil {
		d = min(d, n.now+n.m.Timing.Keepalive)
		if end := n.mj.q.LeaseEnd(); end > n.now {
			d = min(d, end)
		}
	}
	return max(d, n.now)
}

// Ready returns what to do now; call Advance once it is carried out.
func (n *Node) Ready() Ready { return n.rd }

// Advance clears the Ready returned last.
func (n *Node) Advance() { n.rd = Ready{Done: n.rd.Done} }

// StateLog returns the state log's entries, for persistence.
func (n *Node) StateLog() []statelog.Entry { return n.log.Entries() }

func (n *Node) peer(name string) *peer {
	for _, p := range n.peers {
		if p.name == name {
			return p
		}
	}
	return nil
}

func (n *Node) receive(in Receive) {
	p := n.peer(in.From)
	if p == nil || in.Msg == nil || in.Link < 0 || in.Link >= len(p.echo) {
		return
	}
	m := in.Msg
	if in.Incarnation < p.incarnation {
		return // the wire layer drops these; be safe anyway
	}
	if p.leftInc != 0 && in.Incarnation <= p.leftInc {
		return // a late packet from an agent that already said bye
	}
	if n.mj != nil && len(in.Msg.Quorum) > 0 {
		// Raft orders its own messages: even a heartbeat overtaken by a
		// newer one carries them.
		n.receiveQuorum(p.name, in.Msg)
		n.quorumStep()
	}
	rtt := time.Duration(-1)
	if m.EchoSentAt > 0 {
		rtt = n.now - time.Duration(m.EchoSentAt) - time.Duration(m.EchoHeld)
		if rtt < 0 {
			rtt = 0
		}
	}
	p.echo[in.Link] = echo{sentAt: m.SentAt, received: n.now}
	sameRun := in.Incarnation == p.incarnation
	if !sameRun && p.incarnation != 0 {
		n.logf(slog.LevelInfo, "peer restarted", "peer", p.name, "incarnation", in.Incarnation)
	}
	p.incarnation = in.Incarnation
	var evs []membership.Event
	if m.Type == wire.TypeBye {
		p.leftInc = in.Incarnation
		evs = n.det.Left(n.now, p.name, in.Incarnation)
	} else {
		evs = n.det.Heard(n.now, p.name, in.Link, in.Incarnation, m.LinkSeq, rtt)
	}
	prev := p.last
	if prev != nil && sameRun && m.SentAt < prev.SentAt {
		// Overtaken by a newer heartbeat (another link, or reordering): it
		// proves the peer alive, but its view is stale and must not replace
		// the newer one — an old "stopped" would let us start what it runs.
		for _, e := range evs {
			n.memberEvent(e)
		}
		return
	}
	p.last = m
	for _, e := range evs {
		n.memberEvent(e)
	}
	if m.ConfigHash != n.m.Hash {
		if !p.hashWarned {
			p.hashWarned = true
			n.logf(slog.LevelWarn, "config differs on peer: compare the files", "peer", p.name,
				"peer_hash", fmt.Sprintf("%016x", m.ConfigHash), "our_hash", fmt.Sprintf("%016x", n.m.Hash))
		}
	} else if p.hashWarned {
		p.hashWarned = false
		n.logf(slog.LevelInfo, "config matches peer again", "peer", p.name)
	}
	for _, g := range m.Groups {
		n.clock = max(n.clock, g.Epoch)
		if n.fencing() && msgEpoch(prev, g.Name) != g.Epoch {
			n.sendNow = true // a claim (or its withdrawal) waits for our answer
		}
	}
	var es []statelog.Entry
	for _, e := range m.Log {
		es = append(es, statelog.Entry{Key: e.Key, Value: e.Value, Epoch: e.Epoch, Node: e.Node})
	}
	if ch := n.log.Merge(es); len(ch) > 0 {
		n.rd.PersistState = true
		for _, k := range ch {
			v, _ := n.log.Get(k)
			if name, ok := strings.CutPrefix(k, attrKey(n.self, "")); ok {
				if mine, known := n.attrs[name]; known && mine != v {
					// A peer's copy of our attribute from before a restart
					// that lost our state: what our probers say now wins.
					n.log.Set(k, mine)
					continue
				}
			}
			n.logf(slog.LevelInfo, "cluster state updated by peer", "peer", p.name, "key", k, "value", v)
			for _, e := range m.Log {
				if e.Key == k {
					n.stateChanged(k, v, e.Node)
				}
			}
		}
	}
	if prev == nil || changedState(prev, m) {
		// A peer's resources changed: act now rather than at the next tick.
		n.sendNow = n.sendNow || prev == nil
	}
}

func changedState(a, b *wire.Message) bool {
	return a.Flags != b.Flags || !slices.Equal(a.Resources, b.Resources) || !slices.Equal(a.Groups, b.Groups)
}

func (n *Node) memberEvent(e membership.Event) {
	n.memberTransition(e)
	n.fenceMember(e)
	lvl := slog.LevelInfo
	if e.To == "dead" || e.To == "warn" {
		lvl = slog.LevelWarn
	}
	if e.Link >= 0 {
		n.logf(lvl, fmt.Sprintf("link %d to %s %s", e.Link, e.Peer, e.To), "peer", e.Peer, "link", e.Link, "from", e.From, "why", e.Reason)
		return
	}
	n.logf(lvl, fmt.Sprintf("peer %s %s", e.Peer, e.To), "peer", e.Peer, "from", e.From, "why", e.Reason)
	n.sendNow = true
}

func (n *Node) result(in Result) {
	pd, ok := n.inflight[in.ID]
	if !ok {
		return
	}
	delete(n.inflight, in.ID)
	if pd.fence != "" {
		n.fenceDone(pd.fence, in.Outcome)
		return
	}
	mb, g, op, o := pd.member, pd.group, pd.op, in.Outcome
	if pd.verify {
		n.verified(g, mb, o)
		return
	}
	before := mb.State
	if op == ownership.OpAnnounce {
		if o.Err != "" {
			n.logf(slog.LevelWarn, "announce failed", "resource", mb.Name, "err", o.Err)
		}
		return
	}
	startFailed := mb.Finished(op, o)
	if op == ownership.OpProbe {
		n.probing--
		n.logf(slog.LevelInfo, "probe: "+mb.State.String(), "resource", mb.Name, "err", o.Err)
		if n.probing == 0 {
			n.logf(slog.LevelInfo, "all resources probed")
		}
	}
	failed := startFailed || (op == ownership.OpMonitor && before == wire.ResRunning && mb.State == wire.ResFailed)
	switch {
	case failed && o.Hard != ownership.HardNone:
		n.hardFailure(g, mb, op, o)
	case startFailed:
		n.setFail(mb.Name, schedule.Infinity)
		n.event(Event{Kind: ResourceFailed, Resource: mb.Name, Group: g.Name, Detail: "start: " + o.Err})
		switch f := n.resCfg[mb.Name].Ops.StartOnFail; f {
		case config.OnFailStandby, config.OnFailStop, config.OnFailBlock:
			n.onFail(g, mb, "start", f, o.Err)
		default:
			n.logf(slog.LevelError, "start failed: banning the group from this node", "resource", mb.Name, "group", g.Name, "err", o.Err)
		}
	case op == ownership.OpStart:
		n.logf(slog.LevelInfo, "started", "resource", mb.Name, "group", g.Name)
		n.event(Event{Kind: ResourceStarted, Resource: mb.Name, Group: g.Name})
	case op == ownership.OpStop && mb.State == wire.ResBlocked:
		// The stop's process group is dead (killed at the timeout, if it
		// came to that): ask the agent once more whether it still runs.
		n.logf(slog.LevelWarn, "stop failed: checking whether "+mb.Name+" still runs", "resource", mb.Name, "err", o.Err)
		n.event(Event{Kind: ResourceFailed, Resource: mb.Name, Group: g.Name, Detail: "stop: " + o.Err})
		mb.State = wire.ResStopping
		n.nextID++
		n.inflight[n.nextID] = pending{member: mb, group: g, op: ownership.OpMonitor, verify: true}
		n.rd.Actions = append(n.rd.Actions, Action{ID: n.nextID, Resource: mb.Name, Op: ownership.OpMonitor, Timeout: n.resCfg[mb.Name].Ops.MonitorTimeout})
	case op == ownership.OpStop:
		n.logf(slog.LevelInfo, "stopped", "resource", mb.Name, "group", g.Name)
		n.event(Event{Kind: ResourceStopped, Resource: mb.Name, Group: g.Name})
	case op == ownership.OpMonitor && before == wire.ResRunning && mb.State == wire.ResFailed:
		n.event(Event{Kind: ResourceFailed, Resource: mb.Name, Group: g.Name, Detail: "monitor: " + o.Err})
		mons := n.monitors(mb.Name)
		switch f := mons[min(pd.mon, len(mons)-1)].OnFail; f {
		case config.OnFailMove, config.OnFailStandby, config.OnFailStop, config.OnFailIgnore, config.OnFailBlock:
			n.onFail(g, mb, "monitor", f, o.Err)
		default:
			n.bumpFail(mb.Name)
			n.logf(slog.LevelError, "monitor failed: recovering", "resource", mb.Name, "group", g.Name, "err", o.Err)
		}
	}
	if mb.State == wire.ResRunning && before != wire.ResRunning {
		n.scheduleMonitor(mb.Name)
		if mb.IsIP {
			n.scheduleAnnounce(mb.Name)
		}
	}
	if !g.Active() {
		g.Epoch, g.Demote = 0, false
	}
	if before != mb.State {
		n.sendNow = true
	}
}

func failKey(res, node string) string { return "fail/" + res + "/" + node }

// failAtKey holds the wall time of the last failure counted in failKey, for
// failure_timeout.
func failAtKey(res, node string) string { return "failat/" + res + "/" + node }

func attrKey(node, name string) string { return "attr/" + node + "/" + name }

func (n *Node) setAttribute(a Attribute) {
	n.attrs[a.Name] = a.Value
	if old, _ := n.log.Get(attrKey(n.self, a.Name)); old == a.Value {
		return
	}
	n.log.Set(attrKey(n.self, a.Name), a.Value)
	n.rd.PersistState = true
	n.sendNow = true // peers place with it: tell them now, not at the next beat
	n.logf(slog.LevelInfo, "node attribute "+a.Name+" = "+a.Value, "attribute", a.Name, "value", a.Value)
}

// attrsPending names a health attribute this node's prober has not
// reported yet since start ("" when all are known; a witness has none).
func (n *Node) attrsPending() string {
	if n.attrsKnown || isWitness(n.m, n.self) {
		return ""
	}
	for _, a := range n.m.HealthAttrs() {
		if _, ok := n.attrs[a]; !ok {
			return a
		}
	}
	n.attrsKnown = true // attributes are never forgotten: known for good
	return ""
}

// attributes are every node's health attributes, from the state log.
func (n *Node) attributes() map[string]map[string]string {
	out := map[string]map[string]string{}
	for _, e := range n.log.Entries() {
		rest, ok := strings.CutPrefix(e.Key, "attr/")
		if !ok || e.Value == "" {
			continue
		}
		node, name, ok := strings.Cut(rest, "/")
		if !ok {
			continue
		}
		if out[node] == nil {
			out[node] = map[string]string{}
		}
		out[node][name] = e.Value
	}
	return out
}

func (n *Node) failCount(res, node string) int {
	return parseFail(n.clusterGet(failKey(res, node)))
}

func parseFail(v string, ok bool) int {
	if !ok {
		return 0
	}
	if v == "INFINITY" {
		return schedule.Infinity
	}
	c, _ := strconv.Atoi(v)
	return c
}

func (n *Node) setFail(res string, c int) {
	v := strconv.Itoa(c)
	if c >= schedule.Infinity {
		v = "INFINITY"
	}
	n.log.Set(failKey(res, n.self), v)
	if !n.wall.IsZero() {
		n.log.Set(failAtKey(res, n.self), n.wall.UTC().Format(time.RFC3339Nano))
	}
	n.rd.PersistState = true
}

func (n *Node) bumpFail(res string) {
	// Counted on our own copy: in majority mode the committed one may lag.
	if c := parseFail(n.log.Get(failKey(res, n.self))); c < schedule.Infinity {
		n.setFail(res, c+1)
	}
}

func (n *Node) dispatch(g *ownership.Group, mb *ownership.Member, op ownership.Op) {
	n.nextID++
	r := n.resCfg[mb.Name]
	var to time.Duration
	switch op {
	case ownership.OpStart:
		to = r.Ops.StartTimeout
	case ownership.OpStop:
		to = r.Ops.StopTimeout
	case ownership.OpAnnounce:
		if r.IP != nil {
			to = time.Duration(r.IP.ARPCount+1)*r.IP.ARPInterval + time.Second
		}
	default:
		to = r.Ops.MonitorTimeout
	}
	if to <= 0 {
		to = 20 * time.Second
	}
	mb.Dispatched(op)
	n.inflight[n.nextID] = pending{member: mb, group: g, op: op}
	n.rd.Actions = append(n.rd.Actions, Action{ID: n.nextID, Resource: mb.Name, Op: op, Timeout: to})
}

// dispatchMonitor runs monitor i of mb with its own timeout and depth.
func (n *Node) dispatchMonitor(g *ownership.Group, mb *ownership.Member, i int, m config.Monitor) {
	n.nextID++
	to := m.Timeout
	if to <= 0 {
		to = 20 * time.Second
	}
	n.inflight[n.nextID] = pending{member: mb, group: g, op: ownership.OpMonitor, mon: i}
	n.rd.Actions = append(n.rd.Actions, Action{ID: n.nextID, Resource: mb.Name, Op: ownership.OpMonitor, Timeout: to, Interval: m.Interval, Depth: m.Depth})
}

func (n *Node) busy(mb *ownership.Member) bool {
	for _, p := range n.inflight {
		if p.member == mb {
			return true
		}
	}
	return false
}

// monitors are res's recurring monitors: the first, then MoreMonitors.
func (n *Node) monitors(res string) []config.Monitor {
	o := n.resCfg[res].Ops
	return append([]config.Monitor{{Interval: o.MonitorInterval, Timeout: o.MonitorTimeout, OnFail: o.MonitorOnFail, Depth: o.MonitorDepth}}, o.MoreMonitors...)
}

func monKey(res string, i int) string {
	if i == 0 {
		return res
	}
	return res + "#" + strconv.Itoa(i)
}

// scheduleMonitor schedules every monitor of res one interval from now.
func (n *Node) scheduleMonitor(res string) {
	for i, m := range n.monitors(res) {
		n.scheduleMonitorN(res, i, m)
	}
}

func (n *Node) scheduleMonitorN(res string, i int, m config.Monitor) {
	if m.Interval <= 0 {
		delete(n.monitorAt, monKey(res, i))
		return
	}
	n.monitorAt[monKey(res, i)] = n.now + m.Interval
}

func (n *Node) scheduleAnnounce(res string) {
	r := n.resCfg[res]
	if r.IP == nil || r.IP.ARPRefresh <= 0 {
		return
	}
	n.announce[res] = n.now + r.IP.ARPRefresh
}

// live reports whether a peer counts as present: heard within deadtime.
func (n *Node) live(p *peer) bool {
	if p == nil {
		return false
	}
	st, _ := n.det.State(p.name)
	return st == membership.Up || st == membership.Warn
}

// peerActive reports whether a peer reports any member of g as possibly
// running (anything but confirmed stopped, including not yet probed).
func peerActive(p *peer, g *ownership.Group) bool {
	return peerMembers(p, g, func(s wire.ResState) bool { return s != wire.ResStopped })
}

// peerHolds reports whether a peer reports any member of g as known to be
// running or in transition: a holder, not merely undecided.
func peerHolds(p *peer, g *ownership.Group) bool {
	return peerMembers(p, g, func(s wire.ResState) bool { return s != wire.ResStopped && s != wire.ResUnknown })
}

func peerMembers(p *peer, g *ownership.Group, match func(wire.ResState) bool) bool {
	if p.last == nil {
		return false
	}
	for _, r := range p.last.Resources {
		if match(r.State) && slices.ContainsFunc(g.Members, func(m *ownership.Member) bool { return m.Name == r.Name }) {
			return true
		}
	}
	return false
}

func peerEpoch(p *peer, group string) uint64 { return msgEpoch(p.last, group) }

// msgEpoch is the epoch a message gives group (0: none, or no message).
func msgEpoch(m *wire.Message, group string) uint64 {
	if m == nil {
		return 0
	}
	for _, g := range m.Groups {
		if g.Name == group {
			return g.Epoch
		}
	}
	return 0
}

// holds reports why starts are held: probes outstanding, a peer not yet
// decided (within initdead), or wait_for_all.
func (n *Node) holds() string {
	if n.probing > 0 {
		return "probing resources"
	}
	if a := n.attrsPending(); a != "" {
		return "waiting for the health prober's first " + a
	}
	for _, p := range n.peers {
		state, seen := n.det.State(p.name)
		if n.mj != nil {
			// Majority mode needs no initdead or wait_for_all: the lease and
			// the DC's R2 wait stand in for them.
			if n.live(p) && p.last != nil && p.last.Flags&wire.FlagProbing != 0 {
				return "waiting for " + p.name + " to finish probing"
			}
			continue
		}
		if state == membership.Pending {
			return "waiting for " + p.name + " (initdead)"
		}
		if n.m.Quorum.WaitForAll && !seen && !n.unblocked {
			return "wait_for_all: " + p.name + " has not been seen since start (tandem quorum unblock releases this)"
		}
		if n.live(p) && p.last != nil && p.last.Flags&wire.FlagProbing != 0 {
			return "waiting for " + p.name + " to finish probing"
		}
	}
	return ""
}

// laterTaker reports whether this node's claim on g is later than the
// peer's: the later taker gives the group up after a split heals. Unclaimed
// (adopted) copies count as latest; equal claims go by node name.
func (n *Node) laterTaker(g *ownership.Group, p *peer) bool {
	mine, theirs := g.Epoch, peerEpoch(p, g.Name)
	inf := func(e uint64) uint64 {
		if e == 0 {
			return ^uint64(0)
		}
		return e
	}
	if inf(mine) != inf(theirs) {
		return inf(mine) > inf(theirs)
	}
	return n.self > p.name
}

func (n *Node) view() schedule.View {
	v := schedule.View{Running: map[string]string{}, FailCounts: map[string]map[string]int{}, Attributes: n.attributes(), Now: n.wall}
	n.adminView(&v)
	if !n.leaving && !isWitness(n.m, n.self) {
		v.Online = append(v.Online, n.self)
	}
	for _, p := range n.peers {
		if n.live(p) && p.last != nil && p.last.Flags&(wire.FlagLeaving|wire.FlagProbing) == 0 && !isWitness(n.m, p.name) {
			v.Online = append(v.Online, p.name)
		}
	}
	for _, g := range n.groups {
		if n.clones[g.Name] != "" {
			n.cloneActive(g, &v)
			continue
		}
		if h := n.holder(g); h != "" {
			v.Running[g.Name] = h
		}
	}
	for r := range n.byRes {
		for _, nd := range n.m.Nodes {
			if c := n.failCount(r, nd.Name); c > 0 {
				if v.FailCounts[r] == nil {
					v.FailCounts[r] = map[string]int{}
				}
				v.FailCounts[r][nd.Name] = c
				if at := n.failedAt(r, nd.Name); !at.IsZero() {
					if v.FailedAt == nil {
						v.FailedAt = map[string]map[string]time.Time{}
					}
					if v.FailedAt[r] == nil {
						v.FailedAt[r] = map[string]time.Time{}
					}
					v.FailedAt[r][nd.Name] = at
				}
			}
		}
	}
	return v
}

// holder is the node this one believes holds g ("" for none): itself while
// any member may run here, else the live peer that took it last.
func (n *Node) holder(g *ownership.Group) string {
	h := ""
	if g.Active() {
		h = n.self
	}
	for _, p := range n.peers {
		if n.live(p) && peerHolds(p, g) && (h == "" || n.laterTaker(g, p)) {
			h = p.name
		}
	}
	return h
}

func (n *Node) reconcile() {
	hold := n.holds()
	if hold != n.holdWhy {
		if hold != "" {
			n.logf(slog.LevelInfo, "holding starts: "+hold)
		} else if n.holdWhy != "" {
			n.logf(slog.LevelInfo, "starts released")
		}
		n.holdWhy = hold
	}
	if n.probing > 0 {
		return
	}
	n.syncBlocked()
	n.memberLimits()
	if n.mj != nil {
		n.reconcileMajority(hold)
		n.fenceDue()
		return
	}
	n.fenceDue()
	unfenced := n.fencePending()
	v := n.view()
	old := n.placement
	n.placement = n.place(v)
	n.notePlaced(v)
	for _, g := range n.groups {
		if c := n.clones[g.Name]; c != "" {
			n.reconcileClone(g, c, hold == "")
			continue
		}
		target := n.placement.Placement[g.Name]
		if old.Placement != nil && old.Placement[g.Name] != target {
			n.logf(slog.LevelInfo, "placement: "+g.Name+" → "+orNone(target), "group", g.Name, "scores", scoreLine(n.placement.Scores[g.Name]))
		}
		if n.unmanaged(g) {
			continue // maintenance: no start, stop or takeover (monitors pause too)
		}
		mayStart := hold == "" && len(n.blockedElsewhere(g)) == 0
		if len(unfenced) > 0 && !g.Active() {
			mayStart = false // a takeover waits for the fence (running groups recover in place)
		}
		for _, p := range n.peers {
			if !n.live(p) {
				if st, _ := n.det.State(p.name); st == membership.Pending {
					mayStart = false
				}
				continue
			}
			if n.fencing() && !g.Active() && peerEpoch(p, g.Name) > 0 && n.laterTaker(g, p) {
				mayStart = false // it claimed g first (claim.go)
			}
			if !peerActive(p, g) {
				n.healed[g.Name+"/"+p.name] = false
				continue
			}
			mayStart = false // never start while a peer we hear holds it (S1)
			if !g.Active() || !peerHolds(p, g) {
				continue
			}
			// A blocked group is split too: its blocked members stay as they
			// are, but the later taker still gives up its addresses (S1).
			// Split brain healed: both hold the group.
			if n.laterTaker(g, p) {
				if !g.Demote {
					g.Demote = true
					n.logf(slog.LevelWarn, "split brain: "+p.name+" also holds "+g.Name+" and took it first; stopping it here",
						"group", g.Name, "peer", p.name, "our_epoch", g.Epoch, "peer_epoch", peerEpoch(p, g.Name))
					n.event(Event{Kind: SplitBrainHealed, Group: g.Name, Peer: p.name, Detail: "both held it; " + p.name + " took it first and keeps it, stopping it here"})
				}
			} else if !n.healed[g.Name+"/"+p.name] {
				n.healed[g.Name+"/"+p.name] = true
				n.logf(slog.LevelWarn, "split brain: "+p.name+" also holds "+g.Name+"; keeping it here and re-announcing addresses",
					"group", g.Name, "peer", p.name, "our_epoch", g.Epoch, "peer_epoch", peerEpoch(p, g.Name))
				n.event(Event{Kind: SplitBrainHealed, Group: g.Name, Peer: p.name, Detail: "both held it; keeping it here and re-announcing addresses"})
				for _, mb := range g.Members {
					if mb.IsIP && mb.State == wire.ResRunning && !n.busy(mb) {
						n.dispatch(g, mb, ownership.OpAnnounce)
					}
				}
			}
		}
		want := target == n.self && !n.leaving
		if n.fencing() && !g.Active() {
			mayStart = n.claimStart(g, want, mayStart)
		}
		if !n.runNext(g, want, mayStart, n.claimer(g)) && want && g.Running() && g.Epoch == 0 && mayStart {
			// An adopted copy that no live peer disputes becomes a claim.
			n.clock++
			g.Epoch = n.clock
			n.logf(slog.LevelInfo, "keeping "+g.Name+" found running at start", "group", g.Name, "epoch", g.Epoch)
			n.sendNow = true
		}
	}
	n.finishReconcile()
}

// memberLimits sets how many leading members of each group run: up to the
// first one whose target role is stopped (tandem disable MEMBER, or its
// target_role), as the scheduler's Result.Members has it.
func (n *Node) memberLimits() {
	ver := [2]uint64{n.log.Version(), 0}
	if n.mj != nil {
		ver[1] = n.mj.version
	}
	if ver == n.limitsAt && n.limitsSet {
		return // the roles come from the state: unchanged, so are the limits
	}
	n.limitsAt, n.limitsSet = ver, true
	v := schedule.View{}
	n.adminView(&v)
	for _, g := range n.groups {
		g.Limit = 0
		for i, mb := range g.Members {
			if i > 0 && schedule.TargetStopped(n.m, v, mb.Name) {
				g.Limit = i
				break
			}
		}
	}
}

// runNext dispatches what g.Next says — several stops at once when the
// group is demoting — and reports whether it dispatched anything. claim
// gives the group its epoch on its first start.
func (n *Node) runNext(g *ownership.Group, want, mayStart bool, claim func()) bool {
	did := false
	for range len(g.Members) {
		st, ok := g.Next(want, mayStart)
		if !ok {
			break
		}
		if st.Claim {
			claim()
		}
		n.logf(slog.LevelInfo, st.Op.String()+" "+st.Member.Name+": "+st.Why, "group", g.Name, "epoch", g.Epoch)
		n.dispatch(g, st.Member, st.Op)
		n.sendNow, did = true, true
	}
	return did
}

// finishReconcile runs what every mode does after deciding: recurring
// monitors and announcements, and the end of a graceful shutdown.
func (n *Node) finishReconcile() {
	n.recurring()
	if n.leaving && !n.done {
		for _, g := range n.groups {
			if g.Active() && !g.Blocked() && !n.unmanaged(g) {
				return
			}
		}
		if n.inMaintenance(n.self) {
			for _, g := range n.groups {
				if g.Active() {
					n.logf(slog.LevelWarn, "leaving "+g.Name+" running: this node is in maintenance, so peers do not take it over", "group", g.Name)
				}
			}
		}
		for _, g := range n.groups {
			if g.Blocked() {
				n.logf(slog.LevelError, "leaving with "+g.Name+" blocked: a stop failed; clean it up by hand", "group", g.Name)
			}
		}
		n.done = true
		n.rd.Done = true
		if n.inMaintenance(n.self) {
			n.logf(slog.LevelInfo, "in maintenance: resources left running; saying bye")
		} else {
			n.logf(slog.LevelInfo, "all resources released; saying bye")
		}
		n.sendAll(wire.TypeBye)
	}
}

func (n *Node) recurring() {
	// Walk groups and members in config order: map order would make the
	// action sequence differ between runs of the same seed.
	for _, g := range n.groups {
		maint := n.unmanaged(g)
		for _, mb := range g.Members {
			mons := n.monitors(mb.Name)
			if mb.State != wire.ResRunning || maint {
				for i := range mons {
					delete(n.monitorAt, monKey(mb.Name, i))
				}
				delete(n.announce, mb.Name)
				continue
			}
			for i, m := range mons {
				at, ok := n.monitorAt[monKey(mb.Name, i)]
				switch {
				case !ok && m.Interval > 0:
					n.scheduleMonitorN(mb.Name, i, m) // again after maintenance
				case ok && n.now >= at && !n.busy(mb):
					n.dispatchMonitor(g, mb, i, m)
					n.scheduleMonitorN(mb.Name, i, m)
				}
			}
			if at, ok := n.announce[mb.Name]; ok && n.now >= at && !n.busy(mb) {
				n.dispatch(g, mb, ownership.OpAnnounce)
				n.scheduleAnnounce(mb.Name)
			}
		}
	}
}

func orNone(s string) string {
	if s == "" {
		return "(nowhere)"
	}
	return s
}

func scoreLine(sc []schedule.Score) string {
	var parts []string
	for _, s := range sc {
		parts = append(parts, s.Node+"="+config.FormatScore(s.Total))
	}
	return strings.Join(parts, " ")
}

func (n *Node) heartbeats() {
	if n.done {
		return
	}
	if !n.sendNow && n.now < n.nextBeat {
		return
	}
	n.sendNow = false
	n.nextBeat = n.now + n.m.Timing.Keepalive
	n.sendAll(wire.TypeHeartbeat)
}

func (n *Node) sendAll(t wire.Type) {
	base := n.message(t)
	n.lastSent = n.now
	for _, p := range n.peers {
		base.HeardInc = p.incarnation
		var qs [][]byte
		if n.mj != nil {
			qs = n.mj.out[p.name]
			delete(n.mj.out, p.name)
		}
		for l := range p.echo {
			m := base
			m.Quorum = qs
			p.linkSeq[l]++
			m.LinkSeq = p.linkSeq[l]
			if e := p.echo[l]; e.sentAt != 0 {
				m.EchoSentAt = e.sentAt
				m.EchoHeld = int64(n.now - e.received)
			}
			n.rd.Messages = append(n.rd.Messages, Outbound{To: p.name, Link: l, Msg: m})
		}
	}
}

func (n *Node) message(t wire.Type) wire.Message {
	m := wire.Message{Type: t, ConfigHash: n.m.Hash, SentAt: int64(n.now)}
	if n.probing > 0 || n.attrsPending() != "" {
		// Until its health attributes are known too, a peer placing with
		// this node's would place without them.
		m.Flags |= wire.FlagProbing
	}
	if n.leaving {
		m.Flags |= wire.FlagLeaving
	}
	for _, g := range n.groups {
		if n.mj != nil && n.mj.witness {
			break // a witness runs nothing and reports nothing
		}
		for _, mb := range g.Members {
			m.Resources = append(m.Resources, wire.Resource{Name: mb.Name, State: mb.State})
		}
		m.Groups = append(m.Groups, wire.Group{Name: g.Name, Epoch: g.Epoch})
	}
	for _, e := range n.log.Entries() {
		m.Log = append(m.Log, wire.Entry{Key: e.Key, Value: e.Value, Epoch: e.Epoch, Node: e.Node})
	}
	return m
}

func (n *Node) logf(lvl slog.Level, msg string, kv ...any) {
	var attrs []slog.Attr
	for i := 0; i+1 < len(kv); i += 2 {
		k, _ := kv[i].(string)
		if s, ok := kv[i+1].(string); ok && s == "" {
			continue // drop empty values (e.g. no error)
		}
		attrs = append(attrs, slog.Any(k, kv[i+1]))
	}
	n.rd.Logs = append(n.rd.Logs, Log{Level: lvl, Msg: msg, Attrs: attrs})
}

// PeerState is the failure detector's verdict on a peer: pending, up,
// warn, dead or left (for the simulator's checks and for tests).
func (n *Node) PeerState(name string) string {
	st, _ := n.det.State(name)
	return st.String()
}

func (n *Node) failedAt(res, node string) time.Time {
	v, ok := n.clusterGet(failAtKey(res, node))
	if !ok {
		return time.Time{}
	}
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return time.Time{}
	}
	return t
}

// expireFailures forgets this node's own failures older than their
// resource's failure_timeout, as Pacemaker clears expired fail counts, so
// status stops showing them too. The scheduler ignores them already.
func (n *Node) expireFailures() {
	for r := range n.byRes {
		to := n.failureTimeout(r)
		if to <= 0 || parseFail(n.log.Get(failKey(r, n.self))) == 0 {
			continue
		}
		v, ok := n.log.Get(failAtKey(r, n.self))
		if !ok {
			continue
		}
		at, err := time.Parse(time.RFC3339Nano, v)
		if err != nil || n.wall.Sub(at) <= to {
			continue
		}
		n.log.Set(failKey(r, n.self), "")
		n.log.Set(failAtKey(r, n.self), "")
		n.rd.PersistState, n.sendNow = true, true
		n.logf(slog.LevelInfo, "failures of "+r+" here expired (failure_timeout "+to.String()+")", "resource", r)
	}
}

// failureTimeout resolves res's failure_timeout: its own, its group's, its
// clone's, then the defaults (the scheduler's meta inheritance).
func (n *Node) failureTimeout(res string) time.Duration {
	if ft := n.resCfg[res].Meta.FailureTimeout; ft != nil {
		return *ft
	}
	for _, g := range n.m.Groups {
		if !slices.Contains(g.Members, res) {
			continue
		}
		if ft := g.Meta.FailureTimeout; ft != nil {
			return *ft
		}
		if c := n.m.CloneOf(g.Name); c != nil && c.Meta.FailureTimeout != nil {
			return *c.Meta.FailureTimeout
		}
	}
	return n.m.Defaults.FailureTimeout
}

// onFail applies a resource's on_fail other than restart after its op
// failed (Pacemaker's on-fail). The fail count is already INFINITY for a
// failed start; a monitor failure is counted here, except when ignored.
func (n *Node) onFail(g *ownership.Group, mb *ownership.Member, op, how, err string) {
	if op == "monitor" && how != config.OnFailIgnore {
		if how == config.OnFailMove {
			n.setFail(mb.Name, schedule.Infinity)
		} else {
			n.bumpFail(mb.Name)
		}
	}
	target := g.Name
	if c := n.clones[g.Name]; c != "" {
		target = c
	}
	kv := []any{"resource", mb.Name, "group", g.Name, "on_fail", how, "err", err}
	switch how {
	case config.OnFailMove:
		n.logf(slog.LevelError, op+" failed: on_fail move: banning the group from this node", kv...)
	case config.OnFailStandby:
		n.log.Set(keyStandby+n.self, "on")
		n.logf(slog.LevelError, op+" failed: on_fail standby: this node goes to standby, every group moves off it (tandem online "+n.self+" undoes it)", kv...)
	case config.OnFailStop:
		n.log.Set(keyRole+target, config.RoleStopped)
		n.logf(slog.LevelError, op+" failed: on_fail stop: stopping "+target+" everywhere (tandem enable "+target+" starts it again)", kv...)
	case config.OnFailIgnore:
		mb.State = wire.ResRunning // as if it had not failed
		n.logf(slog.LevelWarn, op+" failed: on_fail ignore: leaving it as it is", kv...)
	case config.OnFailBlock:
		mb.State = wire.ResBlocked
		n.logf(slog.LevelError, op+" failed: on_fail block: leaving "+mb.Name+" alone and "+g.Name+" frozen here until tandem cleanup", kv...)
	}
	n.rd.PersistState, n.sendNow = true, true
}

// hardFailure handles what Pacemaker never retries where it happened: an
// agent not installed (or not permitted) here bans the resource's group
// from this node; a resource not configured stops everywhere, whatever
// on_fail says.
func (n *Node) hardFailure(g *ownership.Group, mb *ownership.Member, op ownership.Op, o ownership.Outcome) {
	n.setFail(mb.Name, schedule.Infinity)
	n.event(Event{Kind: ResourceFailed, Resource: mb.Name, Group: g.Name, Detail: op.String() + ": " + o.Err})
	kv := []any{"resource", mb.Name, "group", g.Name, "err", o.Err}
	if o.Hard == ownership.HardNotConfigured {
		target := g.Name
		if c := n.clones[g.Name]; c != "" {
			target = c
		}
		n.log.Set(keyRole+target, config.RoleStopped)
		n.logf(slog.LevelError, op.String()+" failed: "+mb.Name+" is not configured correctly: stopping "+target+" everywhere, no retry (fix the config, then tandem cleanup and tandem enable "+target+")", kv...)
		return
	}
	n.logf(slog.LevelError, op.String()+" failed: "+mb.Name+" cannot run on this node (not installed or not permitted): banning the group from it", kv...)
}

// verified ends a failed stop: a monitor that finds the resource cleanly
// stopped completes the stop; anything else blocks it here (it may still
// run), so no node starts its group until it is settled.
func (n *Node) verified(g *ownership.Group, mb *ownership.Member, o ownership.Outcome) {
	mb.Busy = false
	n.sendNow = true
	if o.Stopped && o.Err == "" {
		mb.State = wire.ResStopped
		n.logf(slog.LevelWarn, "stop failed, but "+mb.Name+" is found stopped: carrying on", "resource", mb.Name, "group", g.Name)
		n.event(Event{Kind: ResourceStopped, Resource: mb.Name, Group: g.Name})
	} else {
		mb.State = wire.ResBlocked
		n.stopBlocked[mb.Name] = true
		n.logf(slog.LevelError, "stop failed and "+mb.Name+" may still run: blocked here, no takeover until this node probes it again or tandem cleanup --confirm-stopped "+n.self, "resource", mb.Name, "group", g.Name, "err", o.Err)
	}
	if !g.Active() {
		g.Epoch, g.Demote = 0, false
	}
}

// place is schedule.Place, reusing the last result while its input is the
// same and time alone has not changed it (it runs on every message: the
// simulator spent a fifth of its time here).
func (n *Node) place(v schedule.View) schedule.Result {
	if c := n.placedFrom; c != nil && schedule.SameInput(*c, v) && (n.placedRes.Until.IsZero() || v.Now.Before(n.placedRes.Until)) {
		return n.placedRes
	}
	n.placedFrom, n.placedRes = &v, schedule.Place(n.m, v)
	return n.placedRes
}

// notePlaced hands the agent the scheduler's input when it differs from
// the last one handed over, its clock aside: one saved input per change,
// like Pacemaker's pe-input files (tandem simulate replays them).
func (n *Node) notePlaced(v schedule.View) {
	if n.lastInput != nil && schedule.SameInput(*n.lastInput, v) {
		return
	}
	n.lastInput, n.rd.Placed = &v, &v
}

// SchedulerInput is what this node's placement is computed from now: the
// view two_node nodes and majority mode's DC place with. A follower's
// placement is the DC's: it shows its own view, and placer is false.
func (n *Node) SchedulerInput() (v schedule.View, placer bool) {
	if n.mj == nil {
		return n.view(), true
	}
	if n.mj.q.IsDC(n.now) {
		return n.majorityView(), true
	}
	return n.view(), false
}
