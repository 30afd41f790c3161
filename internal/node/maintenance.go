package node

import (
	"log/slog"
	"math"
	"time"

	"tandem/internal/ownership"
	"tandem/internal/statelog"
)

// Maintenance in majority mode (docs/design.md, "Maintenance"). A node in
// maintenance leaves its resources as they are, and they must outlive its
// agent (stopped for an upgrade), so its floating IPs' gates cannot stay
// tied to its lease. The order keeps S1 and S2:
//
//  1. maintenance/NODE (or the cluster's) commits: the DC stops changing the
//     assignment of every group assigned to a node in maintenance, and the
//     node stops starting, stopping and monitoring;
//  2. the node writes held/NODE = on, which raft commits;
//  3. only then does it hold the gates of the groups assigned to it open
//     without a lease (and their addresses without a lifetime);
//  4. out of maintenance it ties those gates to its lease again (or closes
//     them, without one) and only then clears held/NODE.
//
// While held/NODE is committed the DC keeps NODE's groups where they are,
// in maintenance or not: a node that died holding its gates keeps its
// groups until its agent returns, or until the operator vouches that it is
// off (tandem cleanup --confirm-stopped NODE clears held/NODE).

const keyHeld = "held/" // + node → "on": its gates are held open outside the lease

// gateHold is the gate end of a gate held open for maintenance; gateUnknown
// the one of a gate a previous agent may have left (first Ready: say it).
const (
	gateHold    = time.Duration(math.MaxInt64)
	gateUnknown = time.Duration(-1)
)

// heldBy reports whether node's hold is committed (or, in two_node, set).
func (n *Node) heldBy(node string) bool {
	v, _ := n.clusterGet(keyHeld + node)
	return v != ""
}

// holdGates reports whether this node holds its assigned groups' gates
// open: its hold is committed, and it is in maintenance — or out of it,
// still holding, and without a lease yet to tie the gates to (closing them
// would take the addresses down for nothing: the DC keeps its groups here
// meanwhile). Once released, a gate is never held again on the strength
// of a hold whose clearing may have committed unseen (a pause, a restart):
// only maintenance itself holds anew.
func (n *Node) holdGates() bool {
	if n.mj == nil || n.mj.witness || !n.heldBy(n.self) {
		return false
	}
	if n.inMaintenance(n.self) {
		return true
	}
	holding := false
	for _, end := range n.mj.gateEnd {
		holding = holding || end == gateHold
	}
	return holding && !n.leaseValid()
}

// noteHold writes held/self once this node is in maintenance, and clears
// it once it is out and holds no gate any more (gates ran before it, in
// the same Ready: the agent applies a release before sending this Ready's
// messages).
func (n *Node) noteHold(holding bool) {
	if n.mj.witness {
		return
	}
	own, _ := n.log.Get(keyHeld + n.self)
	switch {
	case n.inMaintenance(n.self) && own == "":
		n.log.Set(keyHeld+n.self, "on")
		n.rd.PersistState, n.sendNow = true, true
		n.logf(slog.LevelInfo, "in maintenance: recording that this node holds its groups outside the lease (held/"+n.self+")")
	case !n.inMaintenance(n.self) && !holding && n.probing == 0 && (own != "" || n.heldBy(n.self)):
		if e, ok := n.log.Entry(keyHeld + n.self); ok && e.Value == "" && statelog.Newer(e, n.mj.state[keyHeld+n.self]) {
			return // cleared already, not yet committed
		}
		n.log.Set(keyHeld+n.self, "")
		n.rd.PersistState, n.sendNow = true, true
		n.logf(slog.LevelInfo, "out of maintenance: gates tied to the lease again; clearing held/"+n.self)
	}
}

// frozen reports why the DC must leave g's assignment as it is: the node it
// is assigned to is in maintenance, or still holds its gates from one.
func (n *Node) frozen(g string) (string, bool) {
	a := n.mj.assign[g].Node
	switch {
	case a == "":
		return "", false
	case n.inMaintenance(a):
		return a + " is in maintenance", true
	case n.heldBy(a):
		return a + " has not come back from maintenance (its addresses are held open outside the lease): its agent must return, or tandem cleanup --confirm-stopped " + a, true
	}
	return "", false
}

// maintenanceSafe reports whether node, in maintenance or still holding
// from one, is known not to run g: it leaves what it runs alone, so no
// R2/R3 wait frees g from it — only its own report of g stopped (its last
// one, if its agent is gone), after it applied the take-away at idx.
func (n *Node) maintenanceSafe(node string, g *ownership.Group, idx uint64) bool {
	p := n.peer(node)
	if p == nil || p.last == nil {
		return false
	}
	if n.live(p) && n.mj.q.Applied(node) < idx {
		return false
	}
	return !peerActive(p, g)
}

// InMaintenance reports whether this node leaves its resources alone now:
// it or the cluster is in maintenance (for the simulator's checks).
func (n *Node) InMaintenance() bool { return n.inMaintenance(n.self) }

// HoldsGates reports whether this node holds its gates open outside the
// lease now (majority mode, maintenance).
func (n *Node) HoldsGates() bool { return n.holdGates() }

// Frozen reports whether group stays where it is for maintenance, as this
// node sees it: the cluster is in maintenance, or (majority mode) the group
// is assigned to a node in maintenance or still holding from one.
func (n *Node) Frozen(group string) bool {
	if v, _ := n.clusterGet(keyMaintenance); v != "" {
		return true
	}
	if n.mj == nil {
		return false
	}
	_, f := n.frozen(group)
	return f
}
