package node

import (
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"time"

	"tandem/internal/config"
	"tandem/internal/ownership"
	"tandem/internal/quorum"
	"tandem/internal/schedule"
	"tandem/internal/statelog"
	"tandem/internal/wire"
)

// Majority mode (docs/design.md, "Mechanism"): the raft leader is the DC,
// the only member that assigns; assignments are raft log entries; a node
// runs a group only while it is assigned there and holds a lease. The DC
// gives a group to a node only when every other node is known not to run
// it: it reported the group stopped in a heartbeat the DC heard within
// deadtime, or the R2/R3 wait has passed since the DC was elected or last
// granted that node a lease.

// Paused tells the core its loop stalled longer than δ: its own lease is
// gone (the agent may have slept through its end).
type Paused struct{}

func (Paused) input() {}

// Gate tells the agent to set a floating IP's gate element to expire at
// Until (the core's clock; Until ≤ now revokes). A gate is open only while
// the IP's group is assigned here and the lease holds: an address left on
// the interface by a crashed agent stays cut off. A renewal must be the
// atomic delete+add that fails once the element has lapsed, so a paused
// agent cannot resurrect it; only Fresh (the gate had closed before) may
// add an element anew.
type Gate struct {
	Resource string
	Until    time.Duration
	Fresh    bool
	// Hold opens the gate with no lease (Until unused) and the address with
	// no lifetime: maintenance (see maintenance.go). Release ends a hold;
	// the agent applies it before this Ready's messages go out, since they
	// may carry the write that lets the DC move the group.
	Hold, Release bool
}

// assignment is a committed placement: group → node, from log entry Index.
type assignment struct {
	Node  string
	Index uint64
}

// entry format: "assign <group> <node>", node "-" for nowhere.
func assignData(group, node string) []byte {
	if node == "" {
		node = "-"
	}
	return []byte("assign " + group + " " + node)
}

type majority struct {
	knobs     Knobs
	q         *quorum.Quorum
	witness   bool
	voters    map[string]bool // voting members, for status
	assign    map[string]assignment
	out       map[string][][]byte // quorum messages per peer for the next heartbeat
	proposed  map[string]string   // DC: group → node proposed and not yet applied
	propTerm  uint64
	transfer  time.Duration             // last leadership transfer attempt
	leased    bool                      // lease valid at the last check, for the log
	gateEnd   map[string]time.Duration  // ip resource → the end last sent to its gate
	state     map[string]statelog.Entry // committed cluster state (admin, fail counts): what placement reads
	propKV    map[string]statelog.Entry // DC: state entries proposed this term
	frozen    map[string]string         // DC: group → why its assignment is frozen (maintenance), for the log
	fenceWant map[string]string         // DC: node → why it must be fenced, this pass (fence_majority.go)
	version   uint64                    // bumped when state changes
	entries   []statelog.Entry          // clusterEntries at entriesAt (the log's version, version)
	entriesAt [2]uint64
}

func newMajority(cfg Config, now time.Duration) (*majority, error) {
	m := cfg.Model
	qc := quorum.Config{Self: cfg.Self, Tick: m.Timing.Keepalive, ElectionTimeout: m.Timing.ElectionTimeout(),
		Lease: m.Timing.Lease, State: cfg.Quorum, StateLost: cfg.QuorumLost, ReceiptLease: cfg.Knobs.ReceiptLease}
	mj := &majority{knobs: cfg.Knobs, voters: map[string]bool{}, assign: map[string]assignment{}, out: map[string][][]byte{}, proposed: map[string]string{},
		gateEnd: map[string]time.Duration{}, state: map[string]statelog.Entry{}, propKV: map[string]statelog.Entry{}, frozen: map[string]string{}}
	for _, r := range m.Resources {
		if r.Kind == config.KindIP {
			mj.gateEnd[r.Name] = gateUnknown // say at once what a previous agent left
		}
	}
	for _, nd := range m.Nodes {
		if nd.Voter {
			qc.Voters = append(qc.Voters, nd.Name)
			mj.voters[nd.Name] = true
		} else {
			qc.Learners = append(qc.Learners, nd.Name)
		}
	}
	for _, w := range m.Witnesses {
		qc.Voters = append(qc.Voters, w.Name)
		mj.voters[w.Name] = true
		if w.Name == cfg.Self {
			mj.witness = true
		}
	}
	q, err := quorum.New(qc, now)
	if err != nil {
		return nil, err
	}
	mj.q = q
	// Rebuild the state machine from what had committed before a restart.
	for _, e := range cfg.Quorum.Entries {
		if e.Index <= cfg.Quorum.Commit {
			mj.apply(e)
		}
	}
	return mj, nil
}

func (mj *majority) apply(e quorum.Entry) (group string, a assignment, ok bool) {
	if se, ok := decodeSet(e.Data); ok {
		if old, had := mj.state[se.Key]; !had || statelog.Newer(se, old) {
			mj.state[se.Key] = se
			mj.version++
		}
		return "", assignment{}, false
	}
	f := strings.Fields(string(e.Data))
	if len(f) != 3 || f[0] != "assign" {
		return "", assignment{}, false
	}
	node := f[2]
	if node == "-" {
		node = ""
	}
	a = assignment{Node: node, Index: e.Index}
	mj.assign[f[1]] = a
	return f[1], a, true
}

// isWitness reports whether name is a witness of the model.
func isWitness(m *config.Model, name string) bool {
	return slices.ContainsFunc(m.Witnesses, func(w config.Node) bool { return w.Name == name })
}

// leaseValid reports whether this node may run resources now.
func (n *Node) leaseValid() bool {
	return n.mj == nil || n.mj.q.LeaseEnd() > n.now
}

// quorumStep drains the quorum core's Ready into the node's.
func (n *Node) quorumStep() {
	q := n.mj.q
	rd := q.Ready()
	if rd.Persist != nil {
		p := *rd.Persist
		n.rd.PersistQuorum = &p
	}
	for _, m := range rd.Messages {
		n.mj.out[m.To] = append(n.mj.out[m.To], m.Data)
		n.sendNow = true
	}
	for _, e := range rd.Committed {
		if se, ok := decodeSet(e.Data); ok {
			n.logf(slog.LevelInfo, "committed cluster state "+se.Key+" = "+orNone(se.Value), "key", se.Key, "index", e.Index)
			n.sendNow = true
			if node, ok := strings.CutPrefix(se.Key, keyFenced); ok {
				n.fenceConfirmed(node, se.Value, e.Term)
			}
		}
		if g, a, ok := n.mj.apply(e); ok {
			if n.mj.proposed[g] == a.Node {
				delete(n.mj.proposed, g)
			}
			n.logf(slog.LevelInfo, "assigned "+g+" → "+orNone(a.Node), "group", g, "index", a.Index, "term", e.Term)
		}
	}
	for _, l := range rd.Logs {
		n.logf(slog.LevelInfo, "quorum: "+l)
	}
	q.Advance()
	n.noteHold(n.gates())
	if v := n.leaseValid(); v != n.mj.leased {
		n.mj.leased = v
		if v {
			n.logf(slog.LevelInfo, "lease granted: may run assigned groups", "dc", n.mj.q.Leader())
		} else if n.inMaintenance(n.self) || n.holdGates() {
			n.logf(slog.LevelWarn, "lease lost: in maintenance, resources left as they are", "dc", n.mj.q.Leader())
		} else {
			n.logf(slog.LevelWarn, "lease lost: stopping every group here (addresses first)", "dc", n.mj.q.Leader())
		}
	}
}

// receiveQuorum hands a heartbeat's quorum messages to the quorum core.
func (n *Node) receiveQuorum(from string, m *wire.Message) {
	for _, qm := range m.Quorum {
		if err := n.mj.q.Step(n.now, from, qm); err != nil {
			n.logf(slog.LevelWarn, "quorum message dropped", "peer", from, "err", err.Error())
		}
	}
}

// majorityView is the DC's view for placement: only nodes it knows hold a
// lease (granted within L, or not yet asked of a DC elected within L) may
// run anything; witnesses never.
func (n *Node) majorityView() schedule.View {
	v := n.view()
	lease := n.m.Timing.Lease
	v.Online = slices.DeleteFunc(v.Online, func(name string) bool {
		if isWitness(n.m, name) {
			return true
		}
		if name == n.self {
			return !n.leaseValid()
		}
		at, ok := n.mj.q.LastGrant(name)
		if !ok {
			// A new DC has granted nobody yet: give every node a lease's
			// time to ask before taking its groups away (a node that is
			// really gone loses them after the R2 wait all the same).
			return n.now-n.mj.q.ElectedAt() > lease
		}
		return n.now-at > lease
	})
	return v
}

// assignAsDC proposes assignments toward the placement. A group moves in
// two commits: first taken away (assigned nowhere), then given to its
// target once every other node is known not to run it (see safeToAssign).
func (n *Node) assignAsDC() {
	mj := n.mj
	mj.fenceWant = map[string]string{}
	if !mj.q.IsDC(n.now) {
		return
	}
	if n.fencing() {
		n.wantFenceBlocked()
	}
	if t := mj.q.Term(); t != mj.propTerm {
		mj.propTerm, mj.proposed, mj.propKV = t, map[string]string{}, map[string]statelog.Entry{}
	}
	n.commitState()
	v := n.majorityView()
	res := n.place(v)
	n.placement = res
	n.notePlaced(v)
	for _, g := range n.groups {
		if n.clones[g.Name] != "" {
			continue // not exclusive: every node runs its own instance
		}
		cur := mj.assign[g.Name].Node
		target := res.Placement[g.Name]
		why, frozen := n.frozen(g.Name)
		if mj.frozen[g.Name] != why {
			if frozen {
				n.logf(slog.LevelInfo, "DC keeps "+g.Name+" on "+cur+": "+why, "group", g.Name)
			}
			mj.frozen[g.Name] = why
		}
		if target == cur || frozen {
			continue
		}
		want := ""
		if cur == "" {
			if !n.safeToAssign(g, target) {
				continue // someone may still run it: wait for its report, or R2/R3
			}
			want = target
		}
		if _, ok := mj.proposed[g.Name]; ok {
			continue // one change per group in flight: each is judged on the last applied
		}
		if err := mj.q.Propose(assignData(g.Name, want)); err != nil {
			n.logf(slog.LevelWarn, "propose assignment", "group", g.Name, "err", err.Error())
			continue
		}
		mj.proposed[g.Name] = want
		n.logf(slog.LevelInfo, "DC proposes "+g.Name+" → "+orNone(want), "group", g.Name, "placement", orNone(target), "scores", scoreLine(res.Scores[g.Name]))
		n.quorumStep()
	}
	n.keepDCWithResources()
}

// safeToAssign reports whether g, now assigned nowhere (from log index
// idx), may go to target: no other node may be running any member of it.
// A node is out of the way when it has applied idx (so no lease lets it
// start g again) and reports g stopped; or, if it cannot show that, when
// R2 (since this DC's election) and R3 (since its last grant to that node)
// have passed.
func (n *Node) safeToAssign(g *ownership.Group, target string) bool {
	idx := n.mj.assign[g.Name].Index
	for _, nd := range n.m.Nodes {
		if nd.Name == target {
			continue
		}
		if nd.Name == n.self {
			if g.Active() {
				return false
			}
			continue
		}
		if (n.inMaintenance(nd.Name) || n.heldBy(nd.Name)) && !n.maintenanceSafe(nd.Name, g, idx) {
			return false // it leaves what it runs alone: only its report frees g
		}
		if p := n.peer(nd.Name); n.live(p) && p.last != nil && n.mj.q.Applied(nd.Name) >= idx && !peerActive(p, g) {
			continue
		}
		if n.fencing() {
			if n.fenceCounts(nd.Name) {
				continue // powered off since it last got a lease
			}
			if n.needsFence(nd.Name, g.Name) {
				return false
			}
		}
		from := n.mj.q.ElectedAt()
		if at, ok := n.mj.q.LastGrant(nd.Name); ok {
			from = max(from, at)
		}
		wait, _ := n.m.ReassignWait(n.cfgGroup(g.Name))
		if n.mj.knobs.NoReassignWait {
			wait = 0
		}
		if n.now < from+wait {
			return false
		}
	}
	return true
}

func (n *Node) cfgGroup(name string) config.Group {
	for _, g := range n.m.Groups {
		if g.Name == name {
			return g
		}
	}
	return config.Group{Name: name}
}

// keepDCWithResources hands the DC role to the node running the first
// group (so cutting only the node-to-node link moves nothing), and a
// witness hands it to a node at once.
func (n *Node) keepDCWithResources() {
	mj := n.mj
	if n.now-mj.transfer < n.m.Timing.ElectionTimeout() {
		return
	}
	to := ""
	if len(n.groups) > 0 {
		if a := mj.assign[n.groups[0].Name]; a.Node != "" && a.Node != n.self && mj.voters[a.Node] && mj.q.Voting(a.Node) && n.peerRunning(a.Node, n.groups[0]) {
			to = a.Node
		}
	}
	blocked := n.fencing() && n.blockedForFence(n.self) != ""
	if to == "" && (mj.witness || n.leaving || blocked) {
		for _, nd := range n.m.Nodes {
			if p := n.peer(nd.Name); nd.Voter && mj.q.Voting(nd.Name) && p != nil && n.live(p) && p.last != nil && p.last.Flags&wire.FlagLeaving == 0 {
				to = nd.Name
				break
			}
		}
	}
	if to != "" {
		mj.transfer = n.now
		why := "it runs " + n.groups[0].Name
		switch {
		case n.leaving:
			why = "this node is leaving"
		case blocked:
			why = "a stop failed here: another node must fence this one"
		case mj.witness && mj.assign[n.groups[0].Name].Node != to:
			why = "a witness does not lead"
		}
		n.logf(slog.LevelInfo, "handing the DC role to "+to, "reason", why)
		mj.q.TransferLeader(to)
		n.quorumStep()
	}
}

// peerRunning reports whether a live peer reports every member of g running.
func (n *Node) peerRunning(name string, g *ownership.Group) bool {
	p := n.peer(name)
	if p == nil || !n.live(p) || p.last == nil {
		return false
	}
	for _, mb := range g.Members {
		if !slices.Contains(p.last.Resources, wire.Resource{Name: mb.Name, State: wire.ResRunning}) {
			return false
		}
	}
	return true
}

// assignedHere reports whether g is assigned to this node, and the
// assignment's index (the group's epoch).
func (n *Node) assignedHere(g string) (uint64, bool) {
	a := n.mj.assign[g]
	return a.Index, a.Node == n.self && a.Node != ""
}

func (mj *majority) String() string {
	var b strings.Builder
	for g, a := range mj.assign {
		fmt.Fprintf(&b, "%s→%s@%d ", g, orNone(a.Node), a.Index)
	}
	return b.String()
}

// reconcileMajority runs each group toward its committed assignment: start
// it here only while assigned here with a valid lease and no peer we hear
// reports it active; stop it when assigned elsewhere, and drop it —
// addresses first — the moment the lease is gone (S3a).
func (n *Node) reconcileMajority(hold string) {
	n.assignAsDC()
	lease := n.leaseValid()
	if len(n.clones) > 0 && lease && !n.mj.witness && !n.mj.q.IsDC(n.now) {
		n.placement = n.place(n.view()) // where clone instances go; the DC's own is fresh
	}
	for _, g := range n.groups {
		if c := n.clones[g.Name]; c != "" {
			// Clones are not exclusive, so they need no assignment; still
			// only under a lease, as Pacemaker stops all without quorum.
			n.reconcileClone(g, c, hold == "" && lease && !n.mj.witness)
			continue
		}
		if n.unmanaged(g) {
			continue // maintenance: no start or stop, not even without a lease
		}
		idx, here := n.assignedHere(g.Name)
		want := here && lease && !n.leaving && !n.mj.witness
		if !lease && g.Active() && !g.Demote {
			g.Demote = true
		}
		mayStart := hold == "" && lease && len(n.blockedElsewhere(g)) == 0
		for _, p := range n.peers {
			if n.live(p) && peerActive(p, g) {
				mayStart = false // never start while a peer we hear holds it (S1)
			}
		}
		if !n.runNext(g, want, mayStart, func() { g.Epoch = idx }) && want && g.Running() && g.Epoch == 0 && mayStart {
			g.Epoch = idx
			n.logf(slog.LevelInfo, "keeping "+g.Name+" found running at start: it is assigned here", "group", g.Name, "epoch", g.Epoch)
			n.sendNow = true
		}
	}
	n.finishReconcile()
}

// gates opens each floating IP's gate to the lease end while its group is
// assigned here, holds it open while in maintenance with the hold committed,
// and closes it otherwise. It reports whether any gate is held.
func (n *Node) gates() (holding bool) {
	if n.mj.witness {
		return false
	}
	end := n.mj.q.LeaseEnd()
	hold := n.holdGates()
	for _, g := range n.groups {
		_, here := n.assignedHere(g.Name)
		for _, mb := range g.Members {
			if !mb.IsIP {
				continue
			}
			until := time.Duration(0)
			switch {
			case here && hold:
				until = gateHold
			case here && end > n.now:
				until = end
			}
			holding = holding || until == gateHold
			prev := n.mj.gateEnd[mb.Name]
			if until == prev || (until == 0 && prev != gateUnknown && prev <= n.now) {
				continue
			}
			gt := Gate{Resource: mb.Name, Until: until, Fresh: prev <= n.now, Hold: until == gateHold, Release: prev == gateHold}
			if gt.Hold {
				gt.Until = 0
				n.logf(slog.LevelInfo, "maintenance: holding the gate of "+mb.Name+" open outside the lease", "resource", mb.Name)
			} else if gt.Release {
				n.logf(slog.LevelInfo, "out of maintenance: the gate of "+mb.Name+" follows the lease again", "resource", mb.Name, "open", until > 0)
			}
			n.rd.Gates = append(n.rd.Gates, gt)
			n.mj.gateEnd[mb.Name] = until
		}
	}
	return holding
}

// Voting reports whether this node votes now: a voter (or witness) whose
// raft state is intact or was rejoined. two_node: every node does.
func (n *Node) Voting() bool { return n.mj == nil || n.mj.q.Voting(n.self) }

// LeaseEnd is when this node's lease ends on its own clock (0: none, or
// two_node, which has no lease).
func (n *Node) LeaseEnd() time.Duration {
	if n.mj == nil {
		return 0
	}
	return n.mj.q.LeaseEnd()
}

// Lease reports, in majority mode, when this node's lease ends on its own
// clock (0: it holds none) and the groups assigned to it, sorted: the
// authority S3 of docs/design.md is about. two_node has no lease: 0, nil.
func (n *Node) Lease() (end time.Duration, assigned []string) {
	if n.mj == nil {
		return 0, nil
	}
	for g, a := range n.mj.assign {
		if a.Node == n.self {
			assigned = append(assigned, g)
		}
	}
	slices.Sort(assigned)
	return n.mj.q.LeaseEnd(), assigned
}

// replicated reports whether a state-log key is cluster state that majority
// mode commits through raft: the operator's instructions and fail counts.
// Health attributes are each node's own and stay last-writer-wins.
func replicated(key string) bool {
	for _, p := range []string{keyStandby, keyMaintenance, keyHeld, keyMove, keyBan, keyRole, keyFenced, "fail/", "failat/"} {
		if strings.HasPrefix(key, p) {
			return true
		}
	}
	return false
}

// encodeSet and decodeSet are the raft entry of one state-log write:
// "set KEY EPOCH NODE VALUE" (VALUE may hold spaces; empty deletes).
func encodeSet(e statelog.Entry) []byte {
	return []byte(fmt.Sprintf("set %s %d %s %s", e.Key, e.Epoch, e.Node, e.Value))
}

func decodeSet(b []byte) (statelog.Entry, bool) {
	rest, ok := strings.CutPrefix(string(b), "set ")
	if !ok {
		return statelog.Entry{}, false
	}
	f := strings.SplitN(rest, " ", 4)
	if len(f) != 4 {
		return statelog.Entry{}, false
	}
	epoch, err := strconv.ParseUint(f[1], 10, 64)
	if err != nil {
		return statelog.Entry{}, false
	}
	return statelog.Entry{Key: f[0], Epoch: epoch, Node: f[2], Value: f[3]}, true
}

// commitState, on the DC, proposes every write to replicated cluster state
// that gossip brought and raft has not committed: raft orders them and keeps
// them on a majority, so a node that lost its state_dir gets them back, and a
// write in a minority partition takes effect only once a majority has it.
func (n *Node) commitState() {
	mj := n.mj
	for _, e := range n.log.Entries() {
		if !replicated(e.Key) {
			continue
		}
		if c, ok := mj.state[e.Key]; ok && !statelog.Newer(e, c) {
			continue
		}
		if p, ok := mj.propKV[e.Key]; ok && !statelog.Newer(e, p) {
			continue
		}
		if err := mj.q.Propose(encodeSet(e)); err != nil {
			return
		}
		mj.propKV[e.Key] = e
	}
}
