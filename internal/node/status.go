package node

import (
	"fmt"
	"slices"
	"strings"
	"tandem/internal/config"
	"time"

	"tandem/internal/membership"
	"tandem/internal/schedule"
	"tandem/internal/status"
	"tandem/internal/wire"
)

func roundDur(d time.Duration) string {
	switch {
	case d <= 0:
		return ""
	case d < time.Millisecond:
		return d.Round(time.Microsecond).String()
	case d < time.Second:
		return d.Round(10 * time.Microsecond).String()
	}
	return d.Round(time.Millisecond).String()
}

// Status returns this node's view of the cluster (schema 2). The agent adds
// what only it knows: packet drops and the event history (wall-clock times,
// kept across restarts).
func (n *Node) Status() status.Status {
	st := status.Status{
		Schema:      status.Schema,
		Cluster:     n.m.Cluster,
		Node:        n.self,
		ConfigHash:  fmt.Sprintf("%016x", n.m.Hash),
		Incarnation: n.inc,
		Uptime:      (n.now - n.start).Round(time.Second).String(),
		Warnings:    []string{},
		Drops:       []status.Drop{},
		Events:      []status.Event{},
		Operator:    n.instructions(),
	}
	st.Maintenance = n.inMaintenance("")
	// Nodes.
	votes := 0
	attrs := n.attributes()
	for _, nd := range slices.Concat(n.m.Nodes, n.m.Witnesses) {
		sn := status.Node{Name: nd.Name, Role: "node", Votes: 1, Links: []status.Link{}, Attributes: attrs[nd.Name]}
		if v, _ := n.clusterGet(keyStandby + nd.Name); v != "" {
			sn.Standby = true
		}
		if v, _ := n.clusterGet(keyMaintenance + nd.Name); v != "" {
			sn.Maintenance = true
		}
		if n.mj != nil && n.heldBy(nd.Name) {
			sn.Held = true
			switch {
			case !n.inMaintenance(nd.Name):
				st.Warnings = append(st.Warnings, fmt.Sprintf("%s is out of maintenance but still holds its groups outside the lease: they stay on %s until its agent runs again (or tandem cleanup --confirm-stopped %s once it is off)", nd.Name, nd.Name, nd.Name))
			}
		} else if n.mj != nil && n.inMaintenance(nd.Name) && !isWitness(n.m, nd.Name) {
			st.Warnings = append(st.Warnings, fmt.Sprintf("%s is in maintenance but its hold is not committed yet: stopping its agent now would let its floating IPs lapse", nd.Name))
		}
		if isWitness(n.m, nd.Name) {
			sn.Role = "witness"
		}
		if n.mj != nil && (!n.mj.voters[nd.Name] || !n.mj.q.Voting(nd.Name)) {
			sn.Votes = 0 // a learner, or a voter whose raft state was lost
		}
		if nd.Name == n.self {
			sn.Self, sn.State, sn.ConfigMatch, sn.Incarnation = true, "online", true, n.inc
			switch {
			case n.leaving:
				sn.State = "leaving"
			case n.probing > 0:
				sn.State = "probing"
			}
			for _, a := range nd.Links {
				sn.Links = append(sn.Links, status.Link{Addr: a.String(), State: "local"})
			}
			votes++
			st.Nodes = append(st.Nodes, sn)
			continue
		}
		p := n.peer(nd.Name)
		v := n.det.Peer(nd.Name)
		sn.State = peerStateName(v.State)
		sn.Incarnation = p.incarnation
		sn.ConfigMatch = p.last != nil && p.last.ConfigHash == n.m.Hash
		if n.live(p) {
			votes++
			if p.last != nil && p.last.Flags&wire.FlagLeaving != 0 {
				sn.State = "leaving"
			} else if p.last != nil && p.last.Flags&wire.FlagProbing != 0 {
				sn.State = "probing"
			}
		}
		down := 0
		for i, a := range p.links {
			l := status.Link{Addr: a, State: "unknown"}
			if i < len(v.Links) {
				lv := v.Links[i]
				l.State, l.RTT, l.Loss = lv.State.String(), roundDur(lv.RTT), lv.Loss
				if lv.State == membership.LinkDead {
					down++
				}
			}
			sn.Links = append(sn.Links, l)
		}
		if sn.Role == "witness" && !n.live(p) {
			st.Warnings = append(st.Warnings, fmt.Sprintf("witness %s unreachable: losing one more voter stops every resource", p.name))
		}
		if n.live(p) && down > 0 {
			st.Warnings = append(st.Warnings, fmt.Sprintf("%d of %d links to %s down", down, len(p.links), p.name))
		}
		if p.last != nil && !sn.ConfigMatch {
			st.Warnings = append(st.Warnings, fmt.Sprintf("config differs on %s (theirs %016x, ours %016x)", p.name, p.last.ConfigHash, n.m.Hash))
		}
		st.Nodes = append(st.Nodes, sn)
	}
	// Quorum: two_node keeps quorum with one vote once wait_for_all is satisfied.
	st.Quorum = status.Quorum{Mode: n.m.Quorum.Mode, Votes: votes, Expected: len(n.m.Nodes), WaitingFor: []string{}}
	for _, p := range n.peers {
		if n.m.Quorum.WaitForAll && !n.det.Peer(p.name).Seen && !n.unblocked {
			st.Quorum.WaitingFor = append(st.Quorum.WaitingFor, p.name)
		}
	}
	st.Quorum.Quorate = n.quorate()
	if n.mj != nil {
		st.Quorum.Votes, st.Quorum.Expected, st.Quorum.WaitingFor = 0, len(n.mj.voters), []string{}
		for name := range n.mj.voters {
			if p := n.peer(name); n.mj.q.Voting(name) && (name == n.self || (p != nil && n.live(p))) {
				st.Quorum.Votes++
			}
		}
		if n.mj.voters[n.self] && !n.mj.q.Voting(n.self) {
			st.Warnings = append(st.Warnings, "raft state lost: this node does not vote until `tandem node rejoin "+n.self+"`")
		}
		if !st.Quorum.Quorate {
			st.Warnings = append(st.Warnings, "no lease: this node runs nothing until the DC grants one")
		}
	}
	if h := n.holds(); h != "" {
		st.Warnings = append(st.Warnings, "blocked: "+h)
	}
	st.Warnings = append(st.Warnings, n.fenceWarnings()...)
	st.Warnings = append(st.Warnings, n.deviceWarnings()...)
	// Resources and groups.
	v := n.view()
	for _, g := range n.groups {
		sg := status.Group{Name: g.Name, Owner: v.Running[g.Name], Epoch: g.Epoch, Scores: []status.Score{}}
		key := g.Name
		if c := n.clones[g.Name]; c != "" {
			// A clone has instances, not an owner: where its first member
			// runs, and where the placement wants them.
			key, sg.Clone, sg.Epoch = c, c, 0
			sg.Instances = append([]string{}, v.Active[g.Members[0].Name]...)
			slices.Sort(sg.Instances)
			sg.Targets = slices.Compact(slices.Clone(n.placement.Clones[c]))
		}
		if n.placement.Placement != nil {
			sg.Target = n.placement.Placement[g.Name]
			for _, s := range n.placement.Scores[key] {
				sg.Scores = append(sg.Scores, status.Score{Node: s.Node, Score: config.FormatScore(s.Total), Reasons: s.Reasons})
			}
		}
		if g.Blocked() {
			st.Warnings = append(st.Warnings, fmt.Sprintf("%s is blocked on %s: a stop failed (or on_fail block); tandem cleanup %s probes it again", g.Name, n.self, g.Name))
		}
		if nodes := n.blockedElsewhere(g); len(nodes) > 0 {
			st.Warnings = append(st.Warnings, fmt.Sprintf("%s starts nowhere else while it is blocked on %s (a stop failed there): bring %s back, or tandem cleanup --confirm-stopped NODE once it is off",
				g.Name, strings.Join(nodes, ", "), strings.Join(nodes, ", ")))
		}
		for _, mb := range g.Members {
			sg.Members = append(sg.Members, mb.Name)
			r := status.Resource{Name: mb.Name, Kind: n.resCfg[mb.Name].Kind, Instances: []status.Instance{}}
			if !g.Implicit {
				r.Group = g.Name
			}
			if mb.State != wire.ResStopped {
				r.Instances = append(r.Instances, status.Instance{Node: n.self, State: mb.State.String(), Role: "started"})
			}
			for _, p := range n.peers {
				if !n.live(p) || p.last == nil {
					continue
				}
				for _, pr := range p.last.Resources {
					if pr.Name == mb.Name && pr.State != wire.ResStopped {
						r.Instances = append(r.Instances, status.Instance{Node: p.name, State: pr.State.String(), Role: "started"})
					}
				}
			}
			for _, nd := range n.m.Nodes {
				if c := n.failCount(mb.Name, nd.Name); c > 0 {
					if r.FailCounts == nil {
						r.FailCounts = map[string]int{}
					}
					r.FailCounts[nd.Name] = c
					if c >= schedule.Infinity {
						st.Warnings = append(st.Warnings, fmt.Sprintf("%s failed to start on %s: banned there until cleaned up", mb.Name, nd.Name))
					}
				}
			}
			st.Resources = append(st.Resources, r)
		}
		st.Groups = append(st.Groups, sg)
	}
	st.DC = n.dc(v)
	if n.mj != nil {
		st.DC = n.mj.q.Leader()
	}
	return st
}

// dc is two_node's designated coordinator: the node holding the first
// active group, else the lowest-named online node.
func (n *Node) dc(v schedule.View) string {
	for _, g := range n.groups {
		if n.clones[g.Name] != "" {
			continue
		}
		if h := v.Running[g.Name]; h != "" {
			return h
		}
	}
	if len(v.Online) == 0 {
		return ""
	}
	return slices.Min(v.Online)
}

func peerStateName(s membership.State) string {
	switch s {
	case membership.Up:
		return "online"
	case membership.Warn:
		return "warn"
	case membership.Pending:
		return "pending"
	case membership.Left:
		return "left"
	}
	return "offline"
}
