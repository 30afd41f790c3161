package node

import (
	"time"

	"tandem/internal/membership"
)

// EventKind names a transition an operator may hang an alert or a counter
// on. The names are stable: alert hooks see them as TANDEM_EVENT.
type EventKind string

// Event kinds.
const (
	NodeUp           EventKind = "node_up"
	NodeDown         EventKind = "node_down" // dead, or left (Detail says which)
	LinkUp           EventKind = "link_up"
	LinkDown         EventKind = "link_down"
	QuorumGained     EventKind = "quorum_gained"
	QuorumLost       EventKind = "quorum_lost"
	ResourceStarted  EventKind = "resource_started"
	ResourceStopped  EventKind = "resource_stopped"
	ResourceFailed   EventKind = "resource_failed" // a start, stop or monitor failed (Detail)
	GroupMoved       EventKind = "group_moved"     // now running here, last seen on Peer
	SplitBrainHealed EventKind = "split_brain_healed"
	BecameActive     EventKind = "became_active"       // every member of Group runs here
	BecameBackup     EventKind = "became_backup"       // Group no longer runs here
	NodeFenced       EventKind = "node_fenced"         // Peer was powered off (or confirmed off by the operator)
	FenceFailed      EventKind = "fence_failed"        // fencing Peer failed (Detail); its groups wait
	FenceDeviceBad   EventKind = "fence_device_failed" // a fence device failed its monitor (Detail)
)

// Event is one transition, raised on the node where it is seen. Events are
// facts for hooks and metrics; the decisions and their reasons are in Logs.
type Event struct {
	Kind     EventKind
	Peer     string // the other node involved, if any
	Link     int    // link events; -1 otherwise
	Resource string
	Group    string
	Detail   string // why, or the error
	// Took is set on group_moved when the previous holder was lost: the time
	// from the last word heard from it (heartbeat or bye) to the group
	// running here — the failover as this node saw it.
	Took time.Duration
}

// eventState is what the node remembers to raise events on changes only.
type eventState struct {
	quorate bool
	started bool              // quorate has been computed once
	active  map[string]bool   // group → ran here at the last check
	holder  map[string]string // group → last other node seen holding it
	lostAt  map[string]time.Duration
}

func (n *Node) event(e Event) {
	if e.Kind != LinkUp && e.Kind != LinkDown {
		e.Link = -1
	}
	n.rd.Events = append(n.rd.Events, e)
}

// memberTransition raises node and link events, and notes when the holder
// of a group was lost, so the takeover can report how long it took.
func (n *Node) memberTransition(e membership.Event) {
	switch {
	case e.Link >= 0 && e.To == "up":
		n.event(Event{Kind: LinkUp, Peer: e.Peer, Link: e.Link, Detail: e.Reason})
	case e.Link >= 0 && e.To == "dead":
		n.event(Event{Kind: LinkDown, Peer: e.Peer, Link: e.Link, Detail: e.Reason})
	case e.Link < 0 && e.To == "up":
		n.event(Event{Kind: NodeUp, Peer: e.Peer, Detail: e.Reason})
	case e.Link < 0 && (e.To == "dead" || e.To == "left"):
		n.event(Event{Kind: NodeDown, Peer: e.Peer, Detail: e.To + ": " + e.Reason})
		last := n.det.Peer(e.Peer).LastHeard
		for g, h := range n.ev.holder {
			if h == e.Peer {
				n.ev.lostAt[g] = last
			}
		}
	}
}

// transitions raises quorum and active/backup events after a step.
func (n *Node) transitions() {
	q := n.quorate()
	if n.ev.started && q != n.ev.quorate {
		k := QuorumLost
		if q {
			k = QuorumGained
		}
		n.event(Event{Kind: k})
	}
	n.ev.quorate, n.ev.started = q, true
	if n.probing > 0 {
		return
	}
	for _, g := range n.groups {
		here := g.Running()
		if here != n.ev.active[g.Name] {
			n.ev.active[g.Name] = here
			if here {
				n.event(Event{Kind: BecameActive, Group: g.Name})
				if from := n.ev.holder[g.Name]; from != "" && n.clones[g.Name] == "" {
					e := Event{Kind: GroupMoved, Group: g.Name, Peer: from}
					if at, ok := n.ev.lostAt[g.Name]; ok {
						e.Took = n.now - at
					}
					n.event(e)
				}
			} else {
				n.event(Event{Kind: BecameBackup, Group: g.Name})
			}
		}
		switch h := n.holder(g); {
		case here:
			delete(n.ev.holder, g.Name)
			delete(n.ev.lostAt, g.Name)
		case h != "" && h != n.self && h != n.ev.holder[g.Name]:
			n.ev.holder[g.Name] = h
			delete(n.ev.lostAt, g.Name)
		}
	}
}

// quorate is two_node's quorum: once wait_for_all is satisfied, one vote
// is enough; in majority mode, holding a lease.
func (n *Node) quorate() bool {
	if n.mj != nil {
		return n.leaseValid()
	}
	if !n.m.Quorum.WaitForAll || n.unblocked {
		return true
	}
	for _, p := range n.peers {
		if _, seen := n.det.State(p.name); !seen {
			return false
		}
	}
	return true
}
