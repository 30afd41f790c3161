package schedule

import (
	"slices"
	"strconv"

	"tandem/internal/config"
)

// unusable marks a node a positive-only merge pushed below zero
// (Pacemaker's INFINITY_HACK); it reads as 1 afterwards.
const unusable = Infinity * -2

// assignAll places every unit in configuration order: explicit groups as
// written, then ungrouped resources (Pacemaker 2.1 sorts resources only
// for utilization-aware placement strategies, which tandem does not have).
func (s *scheduler) assignAll() {
	for _, u := range s.units {
		s.assign(u)
	}
}

// Merge flags of addColocated, as in Pacemaker.
const (
	mergeForward  = 1 << iota // follow colocations to the units this one is placed with
	mergeRollback             // drop a unit's part if it leaves no node usable
	mergePositive             // a merge may not push a usable node below zero
)

// table is member k's own scores: the group-level ones belong to the first.
func (s *scheduler) table(u *unit, k int) []int {
	t := slices.Clone(u.mown[k])
	if k == 0 {
		for i := range t {
			t[i] = add(t[i], u.own[i])
		}
		if u.clone != nil {
			for j := 1; j < len(u.members); j++ {
				for i := range t {
					t[i] = add(t[i], u.mown[j][i])
				}
			}
		}
	}
	for i := range t {
		if u.ban[i] {
			t[i] = -Infinity // a failure ban covers the whole group
		}
	}
	return t
}

// addColocated merges member k of u (and what is colocated with it) into
// work, scaled by factor: Pacemaker's add_colocated_node_scores. A nil work
// starts from u's own scores.
func (s *scheduler) addColocated(u *unit, k int, work []int, factor float64, flags int) []int {
	if u.merging && k == 0 {
		return work
	}
	if k == 0 {
		u.merging = true
		defer func() { u.merging = false }()
	}
	var w []int
	if work == nil {
		w = s.table(u, k)
	} else {
		w = slices.Clone(work)
		s.addMatching(w, s.table(u, k), factor, flags&mergePositive != 0)
	}
	if s.anyUsable(w) {
		if flags&mergeForward != 0 {
			if k == 0 {
				for _, c := range u.with {
					w = s.addColocated(c.other, 0, w, factor*float64(c.score)/Infinity, flags)
				}
			}
		} else if k+1 < len(u.members) && u.clone == nil {
			w = s.addColocated(u, k+1, w, factor, flags)
		} else {
			for _, c := range u.deps {
				w = s.addColocated(c.other, 0, w, factor*float64(c.score)/Infinity, flags|s.positiveFor(u))
			}
		}
	} else if flags&mergeRollback != 0 {
		return work
	}
	if flags&mergePositive != 0 {
		for i := range w {
			if w[i] == unusable {
				w[i] = 1
			}
		}
	}
	return w
}

// positiveFor: dependents of a clone only ever attract its instances.
func (s *scheduler) positiveFor(u *unit) int {
	if u.clone != nil {
		return mergePositive
	}
	return 0
}

// addMatching adds factor × t to w node by node, with Pacemaker's rounding
// and its refusal to turn a double negative into a preference.
func (s *scheduler) addMatching(w, t []int, factor float64, positive bool) {
	for i := range w {
		score := t[i]
		if !s.avail[i] {
			score = -Infinity
		}
		if factor < 0 && score < 0 || w[i] == unusable {
			continue
		}
		f := factor * float64(score)
		weight := int(f + 0.5)
		if f < 0 {
			weight = int(f - 0.5)
		}
		if weight == 0 && score != 0 {
			weight = 1
			if factor < 0 {
				weight = -1
			}
		}
		n := add(weight, w[i])
		if positive && n < 0 && w[i] > 0 {
			w[i] = unusable
			continue
		}
		if positive && n < 0 && w[i] == 0 {
			continue
		}
		w[i] = n
	}
}

func (s *scheduler) anyUsable(w []int) bool {
	for i, v := range w {
		if s.avail[i] && v >= 0 {
			return true
		}
	}
	return false
}

// assign places u: first the units it is colocated with, then u by its
// scores with theirs applied and its dependents' merged in.
func (s *scheduler) assign(u *unit) {
	if u.assigned || u.busy {
		return
	}
	u.busy = true
	defer func() { u.busy, u.assigned = false, true }()
	allowed := s.table(u, 0)
	why := make([][]string, len(s.nodes))
	for i := range why {
		why[i] = append(why[i], u.why[i]...)
	}
	for _, c := range u.with {
		s.assign(c.other)
		s.colocate(allowed, why, c)
	}
	merged := len(u.members)
	if u.clone == nil {
		merged = s.mergedMembers(u, allowed)
	}
	s.memberWhy(u, why, merged)
	flags := mergeRollback
	before := allowed
	switch {
	case u.clone != nil:
		for _, c := range u.deps {
			allowed = s.addColocated(c.other, 0, allowed, float64(c.score)/Infinity, flags|mergePositive)
		}
	case len(u.members) > 1:
		allowed = s.addColocated(u, 1, allowed, 1, flags)
		before = slices.Clone(allowed) // members' parts are explained above
		if merged == len(u.members) {
			before = s.withoutDeps(u, allowed)
		}
	default:
		for _, c := range u.deps {
			allowed = s.addColocated(c.other, 0, allowed, float64(c.score)/Infinity, flags)
		}
	}
	for i := range allowed {
		if d := allowed[i] - before[i]; allowed[i] != before[i] {
			why[i] = append(why[i], "resources colocated with it: "+signed(d, allowed[i]))
		}
		if !s.avail[i] {
			allowed[i] = -Infinity
		}
	}
	u.final, u.finalWhy = allowed, why
	if u.clone != nil {
		s.distribute(u, allowed)
		return
	}
	s.placeGroup(u, allowed)
}

func signed(d, total int) string {
	if total <= -Infinity || total >= Infinity {
		return config.FormatScore(total)
	}
	if d > 0 {
		return "+" + strconv.Itoa(d)
	}
	return strconv.Itoa(d)
}

// colocate applies one colocation of u with c.other, as Pacemaker's
// apply_coloc_to_weights: nothing while the other is still being placed
// (a colocation loop); a finite score that leaves no node usable is undone.
func (s *scheduler) colocate(allowed []int, why [][]string, c coloc) {
	if !c.other.assigned {
		return
	}
	work := slices.Clone(allowed)
	var reasons []string
	on, missing := s.primaryNodes(c.other, c.score >= Infinity)
	switch {
	case len(on) == 0 && c.score < 0:
		return // anti-colocation with something that is not running
	case c.other.clone != nil && c.score >= Infinity:
		for i := range work {
			if !slices.Contains(on, i) {
				work[i] = -Infinity
			}
		}
		reasons = append(reasons, "colocation with "+c.other.name+": -INFINITY where it has no instance")
	default:
		for i := range work {
			for _, n := range on {
				if n == i && c.score < Infinity {
					work[i] = add(work[i], c.score)
				}
			}
			if c.score >= Infinity && (len(on) == 0 || on[0] != i) {
				work[i] = -Infinity
			}
			for range missing {
				if c.score > 0 && c.score < Infinity {
					work[i] = add(work[i], -c.score) // Pacemaker: a stopped primary repels
				}
			}
		}
		reasons = append(reasons, "colocation with "+c.other.name+": "+config.FormatScore(c.score))
	}
	if c.score > -Infinity && c.score < Infinity && !s.anyUsable(work) {
		return
	}
	for i := range allowed {
		if work[i] != allowed[i] {
			note(why, i, reasons[0]+" ("+signed(work[i]-allowed[i], work[i])+")")
		}
	}
	copy(allowed, work)
}

// primaryNodes is where a unit counts as running for a colocation with
// it, and how many of its instances run nowhere: a mandatory colocation
// with a group needs its last member, an advisory one its first.
func (s *scheduler) primaryNodes(u *unit, mandatory bool) (on []int, missing int) {
	if u.clone != nil {
		return slices.Clone(u.nodes), max(0, u.clone.Max-len(u.nodes))
	}
	p := u.members[0]
	if mandatory {
		p = u.members[len(u.members)-1]
	}
	if p.node < 0 {
		return nil, 1
	}
	return []int{p.node}, 0
}

// choose picks u's first member's node: Pacemaker's assign_best_node. Ties
// go to the node with fewer resources so far, then the current node, then
// the name; an equal-scored current node wins over a less loaded one when
// the score is positive.
func (s *scheduler) choose(allowed []int, current []int) int {
	cur := -1
	if len(current) > 0 {
		cur = current[0]
	}
	best := -1
	for i := range allowed {
		if !s.avail[i] {
			continue
		}
		if best < 0 || s.better(i, best, allowed, cur) {
			best = i
		}
	}
	if best < 0 || allowed[best] < 0 {
		return -1
	}
	if allowed[best] > 0 && cur >= 0 && s.avail[cur] && allowed[cur] == allowed[best] {
		return cur
	}
	return best
}

func (s *scheduler) better(i, j int, allowed []int, cur int) bool {
	if allowed[i] != allowed[j] {
		return allowed[i] > allowed[j]
	}
	if s.load[i] != s.load[j] {
		return s.load[i] < s.load[j]
	}
	if i == cur || j == cur {
		return i == cur
	}
	return i < j // s.nodes is sorted by name
}

// placeGroup places the first member by allowed, then each next member on
// the same node if its own scores (with the members after it) allow.
func (s *scheduler) placeGroup(u *unit, allowed []int) {
	prev := -1
	for k, p := range u.members {
		switch {
		case k > 0 && prev < 0:
			p.why = "the member before it is not running"
		case !p.managed:
			if len(p.active) > 0 {
				p.node = p.active[0]
				p.why = "unmanaged: left where it runs"
			} else {
				p.why = "unmanaged and not running"
			}
		case p.stopped:
			p.why = "target-role is stopped"
		case k == 0:
			p.node = s.choose(allowed, p.active)
			if p.node < 0 {
				p.why = "no node may run it"
			}
		default:
			t := make([]int, len(s.nodes))
			for i := range t {
				t[i] = -Infinity
			}
			own := s.table(u, k)
			t[prev] = own[prev]
			if k+1 < len(u.members) {
				t = s.addColocated(u, k+1, t, 1, mergeRollback)
			} else {
				for _, c := range u.deps {
					t = s.addColocated(c.other, 0, t, float64(c.score)/Infinity, mergeRollback)
				}
			}
			if s.avail[prev] && t[prev] >= 0 {
				p.node = prev
			} else {
				p.why = "cannot run on " + s.nodes[prev] + " with the members before it"
			}
		}
		if p.node >= 0 {
			s.load[p.node]++
		}
		prev = p.node
	}
	u.node = u.members[0].node
	if u.node < 0 {
		u.note = u.members[0].why
	} else if !u.members[0].managed {
		u.note = u.members[0].why
	}
}

// mergedMembers is how many members of u count in its scores: Pacemaker
// drops the part from the first member that leaves no node usable.
func (s *scheduler) mergedMembers(u *unit, allowed []int) int {
	w := slices.Clone(allowed)
	for k := 1; k < len(u.members); k++ {
		s.addMatching(w, s.table(u, k), 1, false)
		if !s.anyUsable(w) {
			return k
		}
	}
	return len(u.members)
}

// withoutDeps recomputes a group's merged scores without its dependents,
// so the explanation can show what they add.
func (s *scheduler) withoutDeps(u *unit, allowed []int) []int {
	if len(u.deps) == 0 {
		return allowed
	}
	deps := u.deps
	u.deps = nil
	w := s.table(u, 0)
	for _, c := range u.with {
		s.colocate(w, nil, c)
	}
	w = s.addColocated(u, 1, w, 1, mergeRollback)
	u.deps = deps
	return w
}

// memberWhy explains the members' part of a group's scores: their
// locations, and stickiness summed as Pacemaker does.
func (s *scheduler) memberWhy(u *unit, why [][]string, merged int) {
	for i := range why {
		var sticky []*prim
		for k, p := range u.members[:merged] {
			why[i] = append(why[i], u.mwhy[k][i]...)
			if slices.Contains(p.active, i) && p.managed && p.stickiness > 0 && len(p.active) == 1 && u.clone == nil {
				sticky = append(sticky, p)
			}
		}
		switch {
		case len(sticky) == 0:
		case len(sticky) == 1:
			why[i] = append(why[i], "stickiness: "+sticky[0].name+" runs here: "+config.FormatScore(sticky[0].stickiness))
		case allSame(sticky):
			why[i] = append(why[i], "stickiness: running here ("+strconv.Itoa(sticky[0].stickiness)+" × "+strconv.Itoa(len(sticky))+" members)")
		default:
			for _, p := range sticky {
				why[i] = append(why[i], "stickiness: "+p.name+" runs here: "+config.FormatScore(p.stickiness))
			}
		}
	}
}

func allSame(ps []*prim) bool {
	for _, p := range ps {
		if p.stickiness != ps[0].stickiness {
			return false
		}
	}
	return true
}

// note adds a reason for node i, if reasons are being kept.
func note(why [][]string, i int, reason string) {
	if why != nil {
		why[i] = append(why[i], reason)
	}
}
