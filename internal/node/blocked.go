package node

import (
	"log/slog"
	"slices"
	"strings"

	"tandem/internal/config"
	"tandem/internal/ownership"
	"tandem/internal/wire"
)

// A resource whose stop failed (or whose on_fail is block) may still run
// where it is blocked, so no other node starts its group — not even after
// that node dies — until the node comes back and probes it, or the
// operator confirms it stopped (tandem cleanup --confirm-stopped NODE). The
// state log carries the fact, so it outlives the blocked node's agent.
const (
	keyBlocked = "blocked/" // + resource + "/" + node → "on", or "fence": a failed stop whose on_fail is fence
	keyReprobe = "reprobe/" // + node + "/" + resource → a request id: probe it again (tandem cleanup)
)

func blockedKey(res, node string) string { return keyBlocked + res + "/" + node }

// syncBlocked keeps this node's blocked/ keys equal to its members'
// states once they are known: set while blocked, deleted once a probe or
// a successful stop says otherwise (a restart resolves its own blocks).
func (n *Node) syncBlocked() {
	if n.probing > 0 {
		return
	}
	for _, g := range n.groups {
		for _, mb := range g.Members {
			k := blockedKey(mb.Name, n.self)
			v, _ := n.log.Get(k)
			want := ""
			if mb.State == wire.ResBlocked {
				want = "on"
				if n.stopBlocked[mb.Name] && n.stopOnFail(mb.Name) == config.OnFailFence {
					want = "fence"
				}
			} else {
				delete(n.stopBlocked, mb.Name)
			}
			if v != want {
				n.log.Set(k, want)
				n.rd.PersistState, n.sendNow = true, true
			}
		}
	}
}

// blockedOn lists the resources the state log says are blocked on node.
func (n *Node) blockedOn(node string) []string {
	var out []string
	for _, r := range n.m.Resources {
		if v, _ := n.log.Get(blockedKey(r.Name, node)); v != "" {
			out = append(out, r.Name)
		}
	}
	return out
}

// blockedForFence names a resource whose failed stop on node asks for a
// fence (stop on_fail: fence, the default with fencing), if any. In
// majority mode floating IPs do not count: their gate closes with the lease.
func (n *Node) blockedForFence(node string) string {
	for _, r := range n.m.Resources {
		if v, _ := n.log.Get(blockedKey(r.Name, node)); v == "fence" && (n.mj == nil || r.Kind != config.KindIP) {
			return r.Name
		}
	}
	return ""
}

// stopOnFail is the resource's stop on_fail; unset (a model built by
// hand, as the simulator's) is the config's default: fence with fencing.
func (n *Node) stopOnFail(res string) string {
	for _, r := range n.m.Resources {
		if r.Name == res && r.Ops.StopOnFail != "" {
			return r.Ops.StopOnFail
		}
	}
	if n.m.Fencing.Enabled {
		return config.OnFailFence
	}
	return config.OnFailBlock
}

// unblock deletes the blocked/ keys of rs on node — a fence or the
// operator vouched that node runs none of them — and returns those that
// were set. Blocked members here are stopped.
func (n *Node) unblock(node string, rs []string) []string {
	var freed []string
	for _, r := range rs {
		if v, _ := n.log.Get(blockedKey(r, node)); v != "" {
			n.log.Set(blockedKey(r, node), "")
			n.rd.PersistState = true
			freed = append(freed, r)
		}
		if mb := n.byRes[r]; node == n.self && mb != nil && mb.State == wire.ResBlocked {
			mb.State = wire.ResStopped
		}
	}
	return freed
}

// blockedElsewhere lists the other nodes where a member of g is blocked.
// In majority mode a blocked floating address does not count: its
// nftables gate closes with the node's lease, so it cannot answer.
func (n *Node) blockedElsewhere(g *ownership.Group) []string {
	var out []string
	for _, mb := range g.Members {
		if n.mj != nil && mb.IsIP {
			continue
		}
		for _, nd := range n.m.Nodes {
			if nd.Name == n.self {
				continue
			}
			if v, _ := n.log.Get(blockedKey(mb.Name, nd.Name)); v != "" && !slices.Contains(out, nd.Name) {
				out = append(out, nd.Name)
			}
		}
	}
	return out
}

// Blocked reports the nodes where a member of group is blocked, as this
// node's state log says (the simulator asks, to tell a deliberate hold from
// a liveness failure).
func (n *Node) Blocked(group string) []string {
	for _, g := range n.groups {
		if g.Name == group {
			out := n.blockedElsewhere(g)
			if g.Blocked() {
				out = append(out, n.self)
			}
			return out
		}
	}
	return nil
}

// stateChanged handles cluster-state keys that ask this node to act: the
// operator confirmed our blocked resource stopped, or asked for a re-probe.
func (n *Node) stateChanged(key, value, writer string) {
	if rest, ok := strings.CutPrefix(key, keyBlocked); ok && value == "" && writer != n.self {
		res, node, _ := strings.Cut(rest, "/")
		if mb := n.byRes[res]; node == n.self && mb != nil && mb.State == wire.ResBlocked {
			mb.State = wire.ResStopped
			n.sendNow = true
			n.logf(slog.LevelWarn, "operator confirmed "+res+" stopped here: unblocked", "resource", res, "by", writer)
		}
	}
	if rest, ok := strings.CutPrefix(key, keyReprobe+n.self+"/"); ok && value != "" {
		n.reprobe(rest)
	}
}

// reprobe probes res again if it is blocked here (tandem cleanup): a
// resource found stopped is unblocked, one found running is managed again.
func (n *Node) reprobe(res string) {
	mb, g := n.byRes[res], n.resGrp[res]
	if mb == nil || mb.State != wire.ResBlocked || n.busy(mb) {
		return
	}
	n.logf(slog.LevelInfo, "cleanup: probing "+res+" again", "resource", res)
	mb.State = wire.ResUnknown
	n.probing++
	n.dispatch(g, mb, ownership.OpProbe)
}
