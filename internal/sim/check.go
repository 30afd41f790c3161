package sim

import (
	"slices"
	"time"

	"tandem/internal/config"
	"tandem/internal/wire"
)

// check runs the invariants after every event.
func (s *Sim) check() {
	s.checkS1()
	if (s.opt.CheckS2 || s.opt.Layout.Majority() || s.fencing()) && s.grew {
		s.grew = false
		s.checkS2()
	}
	if s.opt.Layout.Majority() {
		s.checkS3a()
	}
	if s.opt.Layout.Majority() && s.now-s.l1Checked >= 100*time.Millisecond {
		s.l1Checked = s.now
		s.checkL1()
	}
}

// checkL1 is L1 of docs/design.md: once a quorate set of members that are
// up, running and fully connected among themselves has been quiet — no
// partition inside it, no spike, no injected failure, no failed stop, no
// ban — for longer than a group's R6 bound (plus 2 s of slack for the
// first starts), every group runs on exactly one node of the set. Members
// outside the set must be down or cut off from everyone (an owner that is
// dead or outside it); anything in between is not L1's case.
func (s *Sim) checkL1() {
	if len(s.spike) > 0 {
		return
	}
	var in []int
	votes, voters := 0, 0
	for i, n := range s.nodes {
		voter := i >= len(s.m.Nodes) || s.m.Nodes[i].Voter
		if voter {
			voters++
		}
		if !n.up || s.isolated(i) {
			continue // outside the set
		}
		if n.paused || n.failStart || n.failStop || n.failMonitor || n.hang || len(n.held) > 0 {
			return
		}
		for _, f := range n.stopFailed {
			if f {
				return
			}
		}
		if voter && n.core.Voting() {
			votes++
		}
		in = append(in, i)
	}
	if votes*2 <= voters || !slices.ContainsFunc(in, func(i int) bool { return i < len(s.m.Nodes) }) {
		return // not quorate, or only the witness: nothing may run
	}
	for _, a := range in {
		for _, b := range in {
			if a != b && s.partlyCut(a, b) {
				return
			}
		}
	}
	quiet := s.now - s.lastFault
	for _, g := range s.m.Groups {
		var holders []string
		for _, i := range in {
			n := s.nodes[i]
			all := true
			for _, r := range g.Members {
				all = all && s.isActive(n, r)
			}
			if all {
				holders = append(holders, n.name)
			}
		}
		bound := config.MajorityBound(s.m, g).Bound + 2*time.Second
		if quiet >= bound {
			s.res.Coverage["l1-checked"]++
			if len(in) < len(s.nodes) {
				s.res.Coverage["l1-checked-owner-outside"]++
			}
		}
		if len(holders) == 1 {
			s.l1Good[g.Name] = s.now
			continue
		}
		// A lossy network can let a lease lapse (several renewals lost in a
		// row) and stop the group for a moment even without a fault; L1 asks
		// only that it is back within the bound, from any moment of quiet.
		since := max(s.l1Good[g.Name], s.lastFault)
		if s.now-since < bound || quiet < bound {
			continue
		}
		if s.banned(s.nodes[in[0]], g) {
			continue // a start failed somewhere: the scheduler may have no eligible node left
		}
		if s.heldByBlock(g) {
			continue // a failed stop elsewhere holds the group until that node probes it again
		}
		if s.frozen(in, g.Name) {
			continue // maintenance: the group stays where it is, running or not
		}
		s.fail("L1: %s runs on %v of %v for %v (quiet %v, R6 bound %v)", g.Name, holders, s.names(in), (s.now - since).Round(time.Millisecond), quiet.Round(time.Millisecond), bound-2*time.Second)
		return
	}
}

// isolated reports whether node i is cut off from every other node, both ways.
func (s *Sim) isolated(i int) bool {
	for j := range s.nodes {
		if j != i && (!s.cut(i, j) || !s.cut(j, i)) {
			return false
		}
	}
	return true
}

func (s *Sim) names(idx []int) []string {
	var out []string
	for _, i := range idx {
		out = append(out, s.nodes[i].name)
	}
	return out
}

// banned reports whether a fail count is held for a member of g. Once all
// is quiet every node of the set holds the same state log: n's will do.
func (s *Sim) banned(n *simNode, g config.Group) bool {
	for _, r := range n.core.Status().Resources {
		if len(r.FailCounts) > 0 && slices.Contains(g.Members, r.Name) {
			return true
		}
	}
	return false
}

// isActive is active(R, N) of docs/design.md on the simulator's ground
// truth: from the dispatch of a start until a confirmed stop; in majority
// mode a floating IP only while its gate element has not lapsed.
func (s *Sim) isActive(n *simNode, r string) bool {
	if !n.active[r] {
		return false
	}
	if s.opt.Layout.Majority() && s.kindOf(r) == config.KindIP {
		return s.local(n) < n.gateEnd[r]
	}
	return true
}

// heardBothWaysSince returns since when nodes i and j have been hearing each
// other in both directions (deliveries without a gap of deadtime), and
// whether they do now.
func (s *Sim) heardBothWaysSince(i, j int) (time.Duration, bool) {
	a, b := s.nodes[i], s.nodes[j]
	la, oka := a.lastHeard[j]
	lb, okb := b.lastHeard[i]
	// Clocks run up to 1 % off, so a node may judge deadtime over 2 % early.
	hearing := time.Duration(float64(s.m.Timing.Deadtime) * 0.98)
	if !oka || !okb || s.now-la >= hearing || s.now-lb >= hearing {
		return 0, false
	}
	return max(a.heardSince[j], b.heardSince[i]), true
}

// checkS1: two nodes that have heard each other both ways for longer than
// H never both have a resource active.
func (s *Sim) checkS1() {
	if !s.activeTwice() {
		return // the common case, and cheap to see: nothing to pair up
	}
	for i := range s.nodes {
		for j := i + 1; j < len(s.nodes); j++ {
			a, b := s.nodes[i], s.nodes[j]
			if !a.up || !b.up || a.paused || b.paused {
				continue
			}
			since, ok := s.heardBothWaysSince(i, j)
			if !ok {
				continue
			}
			// A pause inside the window suspends the clock on that node.
			if a.lastResume > since || b.lastResume > since {
				continue
			}
			for r := range a.active {
				// A failed stop blocks its group with S infinite (until fenced or
				// cleaned up): S1 does not cover that group — except its
				// floating IPs whose own stop did not fail, which a later
				// taker can always drop.
				h := s.h[s.groupOf[r]]
				exempt := s.groupBlocked(a, r) || s.groupBlocked(b, r)
				if s.kindOf(r) == config.KindIP {
					exempt = a.stopFailed[r] || b.stopFailed[r]
				}
				if s.isActive(a, r) && s.isActive(b, r) && s.now-since > h && !exempt {
					s.fail("S1: %s active on %s and %s, which have heard each other both ways since %.3fs (H = %v)", r, a.name, b.name, since.Seconds(), h)
					return
				}
			}
		}
	}
}

// activeTwice reports whether some resource is active on two running nodes.
func (s *Sim) activeTwice() bool {
	for _, r := range s.m.Resources {
		count := 0
		for _, n := range s.nodes {
			if n.up && !n.paused && s.isActive(n, r.Name) {
				if count++; count == 2 {
					return true
				}
			}
		}
	}
	return false
}

func (s *Sim) groupBlocked(n *simNode, r string) bool {
	for _, m := range s.members[s.groupOf[r]] {
		if n.stopFailed[m] {
			return true
		}
	}
	return false
}

// checkStartAllowed is S1's second clause, checked when a start is
// dispatched: no node starts R while a peer it hears reports R active.
func (s *Sim) checkStartAllowed(i int, r string) {
	n := s.nodes[i]
	for j := range s.nodes {
		if j == i {
			continue
		}
		last, ok := n.lastHeard[j]
		m := n.lastMsg[j]
		// "Hears": processed a heartbeat within deadtime (on the slowest clock).
		if !ok || m == nil || m.Type == wire.TypeBye || float64(s.now-last) >= float64(s.m.Timing.Deadtime)*0.98 {
			continue
		}
		if p := s.nodes[j]; s.fencing() && !p.up && !p.active[r] {
			continue // powered off by a fence since: its last report is moot
		}
		for _, pr := range m.Resources {
			if pr.Name == r && pr.State != wire.ResStopped {
				s.fail("S1: %s starts %s while it hears %s report it %s", n.name, r, s.nodes[j].name, pr.State)
				return
			}
		}
	}
}

// checkS2: no floating IP is ever active on two nodes (majority mode,
// where S2 covers the fenced-safe resources; on two_node a negative control).
// In majority mode services are checked too, where the R2/R3 wait is what
// protects them: unless a stop failed (S is infinite until a fence) or a
// node was frozen within the wait (only fencing covers a frozen agent).
func (s *Sim) checkS2() {
	for i := range s.nodes {
		for j := i + 1; j < len(s.nodes); j++ {
			a, b := s.nodes[i], s.nodes[j]
			for r := range a.active {
				if !s.isActive(a, r) || !s.isActive(b, r) {
					continue
				}
				if s.kindOf(r) == config.KindIP {
					s.fail("S2: %s active on %s and %s", r, a.name, b.name)
					return
				}
				if s.fencing() {
					// Fencing covers every resource: no takeover before the
					// other node is off, frozen, blocked or not.
					s.fail("S2 (fencing): %s active on %s and %s", r, a.name, b.name)
					return
				}
				if s.opt.Layout.Majority() && (s.opt.Watchdog || !s.frozenOrBlocked(a, r) && !s.frozenOrBlocked(b, r)) {
					s.fail("S2 (service, R2/R3): %s active on %s and %s", r, a.name, b.name)
					return
				}
			}
		}
	}
}

// frozenOrBlocked reports whether node n may hold r beyond what the lease
// and the R2/R3 wait cover: a failed stop, or a pause within that wait.
func (s *Sim) frozenOrBlocked(n *simNode, r string) bool {
	wait, _ := s.m.ReassignWait(config.Group{Members: s.members[s.groupOf[r]]})
	return s.groupBlocked(n, r) || n.paused || s.now-n.lastResume < wait
}

// observeMembership checks L2 whenever node i declares a peer dead: it must
// have processed no heartbeat from it within deadtime, unless it was paused.
// It also counts false deaths: declared while the peer was up, reachable and
// sending.
func (s *Sim) observeMembership(i int) {
	n := s.nodes[i]
	for j, p := range s.nodes {
		if j == i {
			continue
		}
		st := n.core.PeerState(p.name)
		prev := n.peerState[j]
		n.peerState[j] = st
		if st != "dead" || prev == "dead" || prev == "" || prev == "pending" {
			continue
		}
		if n.unread[j] {
			s.fail("L2: %s declared %s dead with its packets still unread in the socket (no drain after a pause)", n.name, p.name)
			return
		}
		last, ok := n.lastHeard[j]
		pausedRecently := s.now-n.lastResume < s.m.Timing.Deadtime*2
		// Node clocks run up to 1 % off: allow that much.
		if ok && float64(s.now-last) < float64(s.m.Timing.Deadtime)*0.98 && !pausedRecently {
			s.fail("L2: %s declared %s dead %v after its last heartbeat (deadtime %v)", n.name, p.name, s.now-last, s.m.Timing.Deadtime)
			return
		}
		quiet := s.m.Timing.Deadtime * 2
		if p.up && !p.paused && s.now-p.lastResume > quiet && s.now-n.lastResume > quiet && s.now-s.lastHeal > quiet && !s.cut(j, i) && !s.partlyCut(j, i) && s.spike[[2]int{j, i}] == 0 {
			s.res.FalseDeath++
			s.logf("%s declared %s dead though it is up and reachable (false death)", n.name, p.name)
		}
	}
}

// partlyCut reports whether some link from i to j is blocked.
func (s *Sim) partlyCut(i, j int) bool {
	for _, b := range s.blocked[i][j] {
		if b {
			return true
		}
	}
	return false
}

// cut reports whether every link from i to j is blocked.
func (s *Sim) cut(i, j int) bool {
	for _, b := range s.blocked[i][j] {
		if !b {
			return false
		}
	}
	return true
}

// checkS3a: a node whose lease has expired has no IP gate left after δ and
// has dispatched stops for all its resources. An operation still in flight
// counts as dispatched (the stop follows it), as does a failed stop (the
// group is blocked until a fence). A node that was paused gets δ from its
// resume to notice the gap, as the agent's loop does.
func (s *Sim) checkS3a() {
	slop := s.m.Timing.Slop()
	for _, n := range s.nodes {
		if !n.up || n.paused || n.leaseSeen == 0 || s.now-n.lastResume <= slop {
			continue
		}
		local := s.local(n)
		if n.core.LeaseEnd() > local || local <= n.leaseSeen+slop {
			continue
		}
		for r, until := range n.gateEnd {
			if until > local && !(until == gateHeld && n.core.HoldsGates()) {
				s.fail("S3a: %s's lease ended at %v (its clock) but the gate of %s is live until %v", n.name, n.leaseSeen, r, until)
				return
			}
		}
		for r, on := range n.active {
			if on && n.inflight[r] == 0 && !n.stopFailed[r] && !n.core.InMaintenance() && !n.core.HoldsGates() {
				s.fail("S3a: %s's lease ended at %v (its clock) and %s is still active with no stop dispatched", n.name, n.leaseSeen, r)
				return
			}
		}
	}
}

// checkS3b runs when node i dispatches a start of r: no takeover while
// another node may still act for r's group — it believes the group
// assigned to it and its lease has not ended in real time.
func (s *Sim) checkS3b(i int, r string) {
	g := s.groupOf[r]
	for j, o := range s.nodes {
		if j == i || !o.up {
			continue
		}
		end, assigned := o.core.Lease()
		if !slices.Contains(assigned, g) {
			continue
		}
		if o.core.HoldsGates() {
			s.fail("S3b: %s starts %s while %s holds %s's assignment with its gates held open for maintenance", s.nodes[i].name, r, o.name, g)
			return
		}
		if real := time.Duration(float64(end) / o.rate); real > s.now {
			s.fail("S3b: %s starts %s while %s holds %s's assignment under a lease that ends at %.3fs", s.nodes[i].name, r, o.name, g, real.Seconds())
			return
		}
	}
}

// heldByBlock reports whether a member of g is blocked on some node (its
// stop failed and it may still run there), so no other node may start g
// until that node comes back and probes it — a deliberate hold, not an L1
// failure. In majority mode a floating address is not such a member: its
// gate closes with the lease.
func (s *Sim) heldByBlock(g config.Group) bool {
	for _, n := range s.nodes {
		for _, r := range g.Members {
			if n.stopFailed[r] && !(s.opt.Layout.Majority() && s.kindOf(r) == config.KindIP) {
				return true
			}
		}
	}
	return false
}

// frozen reports whether a node of the set keeps g where it is for
// maintenance (in majority mode the DC's view is the one that counts, and
// once all is quiet every node of the set has the same committed state).
func (s *Sim) frozen(in []int, g string) bool {
	for _, i := range in {
		if s.nodes[i].core.Frozen(g) {
			return true
		}
	}
	return false
}
