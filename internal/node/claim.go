package node

import (
	"log/slog"
	"strings"

	"tandem/internal/ownership"
)

// Claims (two_node with fencing). Two live nodes decide from each other's
// last reports, and those can cross: a placement that changes on one side
// (a failed start, an uplink back) while the other starts the group; a
// decision carried out after a pause; a node powered on again after a
// fence its fencer has not heard confirmed yet. So a group that runs
// nowhere is first claimed — its epoch set, members still stopped — and
// started only once every peer this node hears has answered a heartbeat
// that carried the claim, from this incarnation (wire.Message.HeardInc).
// Of two claims the earlier epoch (then the lower name) wins and the other
// is withdrawn; a peer's claim blocks starts as its running group does.
// A hand-off or start costs one round trip more; a takeover from a dead
// peer none (it waits for the fence).

// claimer gives g its epoch on its first start, unless a claim already did.
func (n *Node) claimer(g *ownership.Group) func() {
	return func() {
		if g.Epoch == 0 {
			n.clock++
			g.Epoch = n.clock
		}
	}
}

// claimStart decides, for g not active here, whether its start may go out
// now: claims it when it should start, withdraws a claim when it should
// not, and reports true once every live peer has answered the claim.
func (n *Node) claimStart(g *ownership.Group, want, mayStart bool) bool {
	_, claimed := n.claims[g.Name]
	if !want || !mayStart {
		if claimed || g.Epoch != 0 {
			delete(n.claims, g.Name)
			g.Epoch = 0
			n.sendNow = true
			n.logf(slog.LevelInfo, "withdrawing the claim on "+g.Name, "group", g.Name)
		}
		return false
	}
	if !claimed || g.Epoch == 0 {
		n.clock++
		g.Epoch = n.clock
		n.claims[g.Name] = n.lastSent // answers must echo a heartbeat sent after this
		n.sendNow = true
	}
	bar := n.claims[g.Name]
	var waiting []string
	for _, p := range n.peers {
		if n.live(p) && (p.last == nil || p.last.HeardInc != n.inc || p.last.EchoSentAt <= int64(bar)) {
			waiting = append(waiting, p.name)
		}
	}
	if len(waiting) > 0 {
		if !claimed {
			n.logf(slog.LevelInfo, "claiming "+g.Name+": starting once "+strings.Join(waiting, ", ")+" has heard the claim", "group", g.Name, "epoch", g.Epoch)
		}
		return false
	}
	delete(n.claims, g.Name)
	return true
}
