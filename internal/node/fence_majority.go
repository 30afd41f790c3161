package node

import (
	"fmt"
	"log/slog"
	"time"

	"tandem/internal/membership"
	"tandem/internal/wire"
)

// Fencing in majority mode (docs/fencing.md). Only the DC fences, and only
// when a move needs it: a group must leave a node the DC does not hear
// (in place of that node's R2/R3 wait, which trusts its agent to stop what
// it runs), or a stop failed on a node. A fence counts for the DC that
// asked for it, in that term, and only while the DC has granted the node
// no lease since asking: a node powered on again and granted a lease is
// judged by its reports, and a new DC fences again (off is idempotent).
// The operator's `fence confirm` is a committed write the DC in office
// takes as a fence.

// keyFenced + node → "confirmed ID": the operator vouches the node is off.
const keyFenced = "fenced/"

// fenceCounts reports whether this DC's fence (or a confirmation it
// applied) of node covers every lease the node may still hold.
func (n *Node) fenceCounts(node string) bool {
	f := n.fences[node]
	if f == nil || f.okTerm == 0 || f.okTerm != n.mj.q.Term() {
		return false
	}
	at, granted := n.mj.q.LastGrant(node)
	return !granted || at < f.okAt
}

// needsFence decides, for the DC, whether node must be fenced before a
// group may leave it, and asks for the fence: true when the node is not
// heard (a frozen or cut-off node may keep running the group's services);
// false when it is heard, said bye, or may still come up (initdead) —
// there the R2/R3 wait applies as without fencing.
func (n *Node) needsFence(node, group string) bool {
	if st, _ := n.det.State(node); st != membership.Dead {
		return false
	}
	n.wantFence(node, "not heard while "+group+" must move")
	return true
}

// wantFence asks for a fence of node, unless this is a witness: it hands
// the DC role to a node at once, and fence devices are the nodes' to use.
func (n *Node) wantFence(node, why string) {
	if !n.mj.witness && n.mj.fenceWant[node] == "" {
		n.mj.fenceWant[node] = why
	}
}

// wantFenceBlocked asks for a fence of every other node where a stop of a
// service failed. A DC with such a stop of its own hands the role on
// (keepDCWithResources), so that its successor fences it.
func (n *Node) wantFenceBlocked() {
	for _, nd := range n.m.Nodes {
		if nd.Name == n.self || n.fenceCounts(nd.Name) {
			continue
		}
		if r := n.blockedForFence(nd.Name); r != "" {
			n.wantFence(nd.Name, "the stop of "+r+" failed there (on_fail fence): it may still run")
		}
	}
}

// fenceWanted turns the DC's wants of this pass into fence states: a node
// no longer wanted (heard again, or no longer DC) is not fenced, unless a
// fence is already on its way.
func (n *Node) fenceWanted() {
	for _, p := range n.peers {
		why := n.mj.fenceWant[p.name]
		f := n.fences[p.name]
		switch {
		case why != "" && (f == nil || f.why == ""):
			f = n.fenceOf(p.name)
			f.why, f.since, f.notBefore, f.failures, f.lastErr = why, n.now, n.now, 0, ""
			n.logf(slog.LevelWarn, "DC: "+p.name+" must be fenced before its groups move: "+why, "peer", p.name)
		case why == "" && f != nil && f.why != "" && f.inflight == 0:
			f.why = ""
			n.logf(slog.LevelInfo, "DC: no fence of "+p.name+" needed any more", "peer", p.name)
		}
	}
}

// fencedAsDC records that node was off from at on (fenced, or confirmed
// by the operator) for the DC of term: its groups may move and what was
// blocked there is stopped.
func (n *Node) fencedAsDC(node string, at time.Duration, term uint64, how string) {
	f := n.fenceOf(node)
	f.why, f.failures, f.lastErr = "", 0, ""
	f.okAt, f.okTerm = at, term
	p := n.peer(node)
	if p == nil || p.incarnation == f.inc {
		n.unblock(node, n.blockedOn(node)) // a newer incarnation's blocks are its own
	}
	if p != nil && p.last != nil && n.live(p) && p.incarnation == f.inc {
		// Fenced while heard (a failed stop): whatever it reported is off now.
		p.last = &wire.Message{Type: p.last.Type, ConfigHash: p.last.ConfigHash, SentAt: p.last.SentAt}
	}
	n.sendNow = true
	if term != n.mj.q.Term() {
		n.logf(slog.LevelWarn, node+" "+how+", but under an earlier DC term: the DC fences it again before its groups move", "peer", node)
		return
	}
	n.logf(slog.LevelWarn, node+" "+how+": it is off; its groups may move", "peer", node)
}

// fenceConfirmed applies a committed `fence confirm`: the DC that commits
// it in its own term takes it as a fence from now on.
func (n *Node) fenceConfirmed(node, value string, term uint64) {
	if value == "" || node == n.self || term != n.mj.q.Term() || !n.mj.q.IsDC(n.now) {
		return
	}
	if p := n.peer(node); p != nil {
		n.fenceOf(node).inc = p.incarnation // the operator vouches for the one last heard
	}
	n.fencedAsDC(node, n.now, term, "confirmed off by the operator ("+value+")")
	n.event(Event{Kind: NodeFenced, Peer: node, Detail: "confirmed off by the operator"})
}

// confirmID names one `fence confirm`, so that a second one is a new write.
func (n *Node) confirmID(by string) string {
	n.nextID++
	return fmt.Sprintf("confirmed by %s via %s-%d-%d", orNone(by), n.self, n.inc, n.nextID)
}
