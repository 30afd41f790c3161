// Package ownership runs one node's side of a group's life: start members in
// order, stop them in reverse, recover a failed member, demote at once. It
// decides the next operation from the members' states; it performs nothing.
//
// Safety lives in the caller's inputs: want says whether the placement puts
// the group here, mayStart says that no peer this node hears holds it.
package ownership

import "tandem/internal/wire"

// Op is an operation on a resource.
type Op uint8

const (
	OpStart Op = iota + 1
	OpStop
	OpMonitor  // recurring health check
	OpProbe    // one-off check at agent start: adopt what already runs
	OpAnnounce // re-send gratuitous ARP / unsolicited NA
	OpFence    // power a node off (the Action names it): fencing
)

func (o Op) String() string {
	switch o {
	case OpStart:
		return "start"
	case OpStop:
		return "stop"
	case OpMonitor:
		return "monitor"
	case OpProbe:
		return "probe"
	case OpAnnounce:
		return "announce"
	case OpFence:
		return "fence"
	}
	return "unknown"
}

// Member is one resource of a group as this node sees it.
type Member struct {
	Name  string
	IsIP  bool          // floating addresses go first when demoting
	State wire.ResState // local state
	Busy  bool          // a start or stop is in flight
}

// Group is this node's copy of one group.
type Group struct {
	Name    string
	Members []*Member
	// Epoch is this node's claim on the group (a cluster-wide Lamport
	// counter); 0 while it holds nothing or holds an unclaimed, adopted copy.
	Epoch uint64
	// Demote stops everything, floating IPs first, regardless of placement:
	// set when this node must give the group up at once (split-brain loser).
	Demote bool
	// Implicit marks the group made for a resource configured outside any group.
	Implicit bool
	// Limit, when above 0, is how many leading members run where the group
	// runs: a member whose target role is stopped stops, and so do the
	// members after it (each is ordered after and colocated with the one
	// before, as in a Pacemaker group). 0: all of them.
	Limit int
}

// runs is how many leading members run when the group does.
func (g *Group) runs() int {
	if g.Limit > 0 && g.Limit < len(g.Members) {
		return g.Limit
	}
	return len(g.Members)
}

// Active reports whether any member may be running here (not confirmed stopped).
func (g *Group) Active() bool {
	for _, m := range g.Members {
		if m.State != wire.ResStopped {
			return true
		}
	}
	return false
}

// Running reports whether every member that is to run (see Limit) runs.
func (g *Group) Running() bool {
	for _, m := range g.Members[:g.runs()] {
		if m.State != wire.ResRunning {
			return false
		}
	}
	return true
}

// Blocked reports whether a member's stop failed: the group then counts as
// running here until an operator cleans it up, and nothing else is done.
func (g *Group) Blocked() bool {
	for _, m := range g.Members {
		if m.State == wire.ResBlocked {
			return true
		}
	}
	return false
}

// Busy reports whether an operation on a member is in flight.
func (g *Group) Busy() bool {
	for _, m := range g.Members {
		if m.Busy {
			return true
		}
	}
	return false
}

// Step is the next operation for a group, if any.
type Step struct {
	Member *Member
	Op     Op
	// Claim is set on the first start of a group that holds nothing here:
	// the caller assigns a new epoch.
	Claim bool
	// Why says in words why this operation is next, for the log.
	Why string
}

// Next returns the operation to run next (groups change one member at a
// time, as Pacemaker's ordered groups do — except a demoting group, whose
// stops all go out at once: call Next until it says no), or ok=false when
// there is nothing to do or something must finish first.
func (g *Group) Next(want, mayStart bool) (Step, bool) {
	if g.Demote {
		// Giving the group up at once: every member's stop goes out now,
		// floating addresses first, then the rest in reverse order, none
		// waiting for another. A lost lease must have dispatched every stop
		// within δ (S3a), and R2 waits one stop timeout, not their sum.
		for _, ips := range []bool{true, false} {
			for i := len(g.Members) - 1; i >= 0; i-- {
				if m := g.Members[i]; m.IsIP == ips && needsStop(m) && !m.Busy {
					why := "demoting: floating addresses first"
					if !ips {
						why = "demoting: every member at once"
					}
					return Step{Member: m, Op: OpStop, Why: why}, true
				}
			}
		}
		return Step{}, false // the rest stop once their operation in flight returns
	}
	if g.Busy() {
		return Step{}, false
	}
	if g.Blocked() {
		// A failed stop freezes the group (a demoting node has already
		// taken its floating addresses down above).
		return Step{}, false
	}
	for _, m := range g.Members {
		if m.State == wire.ResUnknown || m.State == wire.ResStarting || m.State == wire.ResStopping {
			return Step{}, false // a probe or an operation is still to report
		}
	}
	if !want {
		if m := g.lastToStop(0); m != nil {
			return Step{Member: m, Op: OpStop, Why: "group placed elsewhere: stopping in reverse order"}, true
		}
		return Step{}, false
	}
	// A member disabled (target role stopped) stops, with those after it.
	if k := g.runs(); k < len(g.Members) {
		if m := g.lastToStop(k); m != nil {
			return Step{Member: m, Op: OpStop, Why: g.Members[k].Name + "'s target role is stopped: stopping it and the members after it"}, true
		}
	}
	// Recovery: a failed member and everything after it stop (in reverse), then start again.
	for i, m := range g.Members[:g.runs()] {
		if m.State == wire.ResFailed {
			s := g.lastToStop(i)
			return Step{Member: s, Op: OpStop, Why: "recovering " + m.Name + ": stopping it and the members after it"}, true
		}
	}
	// A gap (a stopped member before a running one, e.g. found so at
	// start) is closed by stopping from the gap on, so starts keep group order.
	for i, m := range g.Members[:g.runs()] {
		if m.State == wire.ResStopped {
			if s := g.lastToStop(i); s != nil {
				return Step{Member: s, Op: OpStop, Why: "members out of order: stopping after " + m.Name}, true
			}
			break
		}
	}
	if !mayStart {
		return Step{}, false
	}
	claim := !g.Active()
	for _, m := range g.Members[:g.runs()] {
		if m.State == wire.ResStopped {
			why := "starting in group order"
			if claim {
				why = "taking the group: starting in group order"
			}
			return Step{Member: m, Op: OpStart, Claim: claim, Why: why}, true
		}
	}
	return Step{}, false
}

func needsStop(m *Member) bool {
	return m.State == wire.ResRunning || m.State == wire.ResFailed
}

// lastToStop returns the highest-index member at or after from that still
// needs a stop.
func (g *Group) lastToStop(from int) *Member {
	for i := len(g.Members) - 1; i >= from; i-- {
		if needsStop(g.Members[i]) {
			return g.Members[i]
		}
	}
	return nil
}

// Dispatched records that op was sent to the executor for m.
func (m *Member) Dispatched(op Op) {
	switch op {
	case OpStart:
		m.State, m.Busy = wire.ResStarting, true
	case OpStop:
		m.State, m.Busy = wire.ResStopping, true
	}
}

// Outcome is what an operation found: the resource state afterwards, or an error.
type Outcome struct {
	Running bool // for monitor/probe: the resource runs
	Stopped bool // for monitor/probe: the resource is cleanly stopped
	Err     string
	Hard    Hard // a failure the node must not retry (OCF 4, 5, 6)
}

// Hard classifies the failures Pacemaker does not retry where they happen.
type Hard uint8

// Hard failures.
const (
	HardNone          Hard = iota
	HardNotInstalled       // OCF 5 (or 4, insufficient privileges): this node cannot run it; ban it here
	HardNotConfigured      // OCF 6: the configuration is wrong on every node; stop it everywhere
)

// Finished applies an operation's outcome to m and reports whether a start
// failed (the caller bans the node for the group, as Pacemaker's
// start-failure-is-fatal does).
func (m *Member) Finished(op Op, o Outcome) (startFailed bool) {
	switch op {
	case OpStart:
		m.Busy = false
		if o.Err != "" {
			m.State = wire.ResFailed
			return true
		}
		m.State = wire.ResRunning
	case OpStop:
		m.Busy = false
		if o.Err != "" {
			m.State = wire.ResBlocked
			return false
		}
		m.State = wire.ResStopped
	case OpProbe:
		switch {
		case o.Err != "" || (!o.Running && !o.Stopped):
			m.State = wire.ResFailed // found in a bad state: stop it before anything else
		case o.Running:
			m.State = wire.ResRunning
		default:
			m.State = wire.ResStopped
		}
	case OpMonitor:
		if m.State != wire.ResRunning {
			return false // a late monitor after a state change tells nothing new
		}
		if o.Err != "" || !o.Running {
			m.State = wire.ResFailed
		}
	}
	return false
}
