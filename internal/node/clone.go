package node

import (
	"slices"

	"tandem/internal/ownership"
	"tandem/internal/schedule"
	"tandem/internal/wire"
)

// reconcileClone runs this node's instance of a cloned group: wanted when
// the placement lists this node among the clone's instances, started
// without regard to peers (instances are meant to run on several nodes at
// once, so S1 does not apply). tandem's clones are anonymous and run at
// most one instance per node, whatever node_max plans.
func (n *Node) reconcileClone(g *ownership.Group, clone string, mayRun bool) {
	if n.unmanaged(g) {
		return
	}
	want := mayRun && !n.leaving && slices.Contains(n.placement.Clones[clone], n.self)
	n.runNext(g, want, mayRun, func() { n.clock++; g.Epoch = n.clock })
}

// cloneActive adds where each member of a cloned group runs to v.Active:
// this node and every live peer that reports it anything but stopped.
func (n *Node) cloneActive(g *ownership.Group, v *schedule.View) {
	if v.Active == nil {
		v.Active = map[string][]string{}
	}
	for _, mb := range g.Members {
		var on []string
		if mb.State != wire.ResStopped && mb.State != wire.ResUnknown {
			on = append(on, n.self)
		}
		for _, p := range n.peers {
			if !n.live(p) || p.last == nil {
				continue
			}
			for _, r := range p.last.Resources {
				if r.Name == mb.Name && r.State != wire.ResStopped && r.State != wire.ResUnknown {
					on = append(on, p.name)
				}
			}
		}
		v.Active[mb.Name] = on
	}
}
