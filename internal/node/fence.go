package node

import (
	"fmt"
	"log/slog"
	"time"

	"tandem/internal/membership"
	"tandem/internal/ownership"
	"tandem/internal/wire"
)

// Fencing in two_node mode (docs/fencing.md). With fencing.enabled a peer
// is unclean when it dies without saying bye, when initdead passes without
// a word from it (Pacemaker's startup-fencing), or when a stop failed there
// (blocked/RES/NODE): no group that does not run here already is started
// until that peer has been fenced — powered off by its devices, the fence
// agent's exit status the confirmation — or the operator vouches that it is
// off (tandem fence confirm NODE --yes-node-is-off). A fence that fails is
// retried, says so in status and raises fence_failed. In a split both nodes
// fence; the one not running the first group waits fencing.delay first
// (Pacemaker's priority-fencing-delay), so the active node wins.

// fenceRetry is the pause between failed fences of one node.
const fenceRetry = 5 * time.Second

type fenceState struct {
	why       string        // why it must be fenced ("" when it need not be)
	inc       uint64        // the incarnation to fence: a fence of it holds until a newer one is heard
	since     time.Duration // unclean since
	notBefore time.Duration // the next attempt not before
	inflight  uint64        // the fence action in flight (0: none)
	failures  int
	lastErr   string
	fenced    uint64 // the incarnation last fenced (or confirmed off): it does not need another
	// Majority mode (fence_majority.go): when and in which term the fence
	// in flight was asked for, and the last that succeeded.
	askedAt   time.Duration
	askedTerm uint64
	okAt      time.Duration
	okTerm    uint64
}

func (n *Node) fencing() bool { return n.m.Fencing.Enabled }

func (n *Node) fenceOf(peer string) *fenceState {
	f := n.fences[peer]
	if f == nil {
		f = &fenceState{}
		n.fences[peer] = f
	}
	return f
}

// unclean marks peer for fencing; an incarnation already fenced is off.
func (n *Node) unclean(peer, why string) {
	if !n.fencing() || n.mj != nil {
		return
	}
	p := n.peer(peer)
	f := n.fenceOf(peer)
	if f.why != "" || (p.incarnation != 0 && f.fenced == p.incarnation) {
		return
	}
	f.why, f.inc, f.since, f.failures, f.lastErr = why, p.incarnation, n.now, 0, ""
	f.notBefore = n.now
	if !n.runsFirstGroup() {
		f.notBefore += n.m.Fencing.Delay // the active node fences first
	}
	n.logf(slog.LevelWarn, "peer "+peer+" must be fenced before any group is taken over: "+why, "peer", peer, "delay", (f.notBefore - n.now).String())
}

// fenceMember reacts to a peer's membership change: death without a bye
// (or never heard by initdead) makes it unclean; hearing it again — alive,
// so it never was off — clears that, unless a fence is already on its way.
func (n *Node) fenceMember(e membership.Event) {
	if !n.fencing() || n.mj != nil || e.Link >= 0 {
		return // majority mode fences when a move needs it (fence_majority.go)
	}
	switch e.To {
	case "dead":
		why := "declared dead without a bye"
		if e.From == "pending" {
			why = "not heard from by initdead (startup fencing)"
		}
		n.unclean(e.Peer, why)
	case "up", "warn":
		if f := n.fences[e.Peer]; f != nil && f.why != "" && f.inflight == 0 && n.blockedForFence(e.Peer) == "" {
			f.why = ""
			n.logf(slog.LevelInfo, "peer "+e.Peer+" is heard again before it was fenced: no fence needed", "peer", e.Peer)
		}
	}
}

// fencePending reports the peers that must be fenced before a takeover.
func (n *Node) fencePending() []string {
	var out []string
	for _, p := range n.peers {
		if f := n.fences[p.name]; f != nil && f.why != "" {
			out = append(out, p.name)
		}
	}
	return out
}

// runsFirstGroup reports whether this node runs the first (highest-
// priority) group, which wins a fence race.
func (n *Node) runsFirstGroup() bool {
	for _, g := range n.groups {
		if n.clones[g.Name] == "" {
			return g.Active()
		}
	}
	return false
}

// fenceDue dispatches the fences that are due, and marks as unclean a peer
// on which a stop failed (two_node; the DC decides in majority mode).
func (n *Node) fenceDue() {
	if !n.fencing() {
		return
	}
	if n.mj != nil {
		n.fenceWanted()
	}
	for _, p := range n.peers {
		if r := n.blockedForFence(p.name); n.mj == nil && r != "" {
			n.unclean(p.name, "the stop of "+r+" failed there (on_fail fence): it may still run")
		}
		f := n.fences[p.name]
		if f == nil || f.why == "" || f.inflight != 0 || n.now < f.notBefore {
			continue
		}
		n.nextID++
		f.inflight = n.nextID
		if n.mj != nil {
			f.askedAt, f.askedTerm, f.inc = n.now, n.mj.q.Term(), p.incarnation
		}
		n.inflight[n.nextID] = pending{fence: p.name}
		n.rd.Actions = append(n.rd.Actions, Action{ID: n.nextID, Op: ownership.OpFence, Node: p.name, Timeout: n.m.Fencing.Timeout + time.Second})
		n.logf(slog.LevelWarn, "fencing "+p.name+": "+f.why, "peer", p.name, "attempt", f.failures+1)
	}
}

// fenceDone takes a fence's outcome.
func (n *Node) fenceDone(peer string, o ownership.Outcome) {
	f := n.fenceOf(peer)
	f.inflight = 0
	if o.Err != "" {
		f.failures++
		f.lastErr = o.Err
		f.notBefore = n.now + fenceRetry
		n.logf(slog.LevelError, fmt.Sprintf("fencing %s failed (attempt %d): no group is taken over until it is fenced, or tandem fence confirm %s --yes-node-is-off", peer, f.failures, peer), "peer", peer, "err", o.Err)
		n.event(Event{Kind: FenceFailed, Peer: peer, Detail: o.Err})
		if f.why == "" {
			f.failures = 0 // heard again meanwhile: it was alive, nothing to do
		}
		return
	}
	if n.mj != nil {
		n.fencedAsDC(peer, f.askedAt, f.askedTerm, "fenced")
		n.event(Event{Kind: NodeFenced, Peer: peer, Detail: "powered off by its fence devices"})
		return
	}
	n.fencedOff(peer, "fenced")
	n.event(Event{Kind: NodeFenced, Peer: peer, Detail: "powered off by its fence devices"})
}

// fencedOff records that peer is off (fenced, or confirmed by the
// operator): its groups may be taken over, and what was blocked there is
// stopped.
func (n *Node) fencedOff(peer, how string) {
	f := n.fenceOf(peer)
	p := n.peer(peer)
	if f.why == "" {
		f.inc = p.incarnation // confirmed by the operator without a fence pending
	}
	// The incarnation that was to be fenced is off; one heard since (the
	// node rebooted while the fence reported back) is a new, live one.
	f.why, f.failures, f.lastErr, f.fenced = "", 0, "", f.inc
	if f.fenced == 0 {
		f.fenced = ^uint64(0) // never heard: any incarnation that follows is a new one
	}
	if p.incarnation == f.inc {
		// What was blocked there is off; a newer incarnation's blocks are
		// its own (it probed them at start), and unclean again if still set.
		n.unblock(peer, n.blockedOn(peer))
	}
	if p.last != nil && n.live(p) && p.incarnation == f.inc {
		// Fenced while heard (a failed stop): whatever it reported is off now.
		p.last = &wire.Message{Type: p.last.Type, ConfigHash: p.last.ConfigHash, SentAt: p.last.SentAt}
	}
	n.sendNow = true
	n.logf(slog.LevelWarn, peer+" "+how+": it is off; its groups may be taken over", "peer", peer)
}

// fenceWarnings are status's lines for peers waiting for a fence.
func (n *Node) fenceWarnings() []string {
	var out []string
	for _, name := range n.fencePending() {
		f := n.fences[name]
		s := fmt.Sprintf("%s must be fenced before any group is taken over (%s)", name, f.why)
		switch {
		case f.inflight != 0:
			s += ": fencing now"
		case f.failures > 0:
			s += fmt.Sprintf(": %d attempts failed, last: %s; tandem fence confirm %s --yes-node-is-off once it is off", f.failures, f.lastErr, name)
		default:
			s += fmt.Sprintf(": fencing in %v", (f.notBefore - n.now).Round(time.Millisecond))
		}
		out = append(out, s)
	}
	return out
}

// FenceDevice is the outcome of a fence device's periodic monitor (the
// agent runs it every fencing.monitor_interval): Err "" when it answered.
type FenceDevice struct{ Name, Err string }

func (FenceDevice) input() {}

// fenceDevice records a device's monitor: a failure is logged and raised
// once, until the device answers again.
func (n *Node) fenceDevice(d FenceDevice) {
	old, known := n.devErr[d.Name]
	n.devErr[d.Name] = d.Err
	switch {
	case d.Err != "" && old != d.Err:
		n.logf(slog.LevelError, "fence device "+d.Name+" failed its monitor: a fence through it would fail too", "device", d.Name, "err", d.Err)
		if old == "" {
			n.event(Event{Kind: FenceDeviceBad, Detail: d.Name + ": " + d.Err})
		}
	case d.Err == "" && known && old != "":
		n.logf(slog.LevelInfo, "fence device "+d.Name+" answers its monitor again", "device", d.Name)
	}
}

// deviceWarnings are status's lines for devices failing their monitor.
func (n *Node) deviceWarnings() []string {
	var out []string
	for _, d := range n.m.Fencing.Devices {
		if err := n.devErr[d.Name]; err != "" {
			out = append(out, fmt.Sprintf("fence device %s fails its monitor: %s", d.Name, err))
		}
	}
	return out
}

// MayPet reports whether the agent may pet its watchdog now (watchdog
// self-fencing, SBD's diskless idea). In majority mode: while the lease
// holds, while maintenance leaves resources alone, or once nothing runs
// here — so a node that keeps a group past its lease (a stop that hangs or
// fails) is reset by the hardware a watchdog timeout later. A frozen agent
// pets nothing in any mode: in two_node that is what the watchdog covers.
func (n *Node) MayPet() bool {
	if n.mj == nil || n.mj.witness || n.leaseValid() || n.inMaintenance(n.self) || n.holdGates() {
		return true
	}
	for _, g := range n.groups {
		if g.Active() {
			return false
		}
	}
	return true
}
