package schedule

import "slices"

// distribute places a clone's instances: those running stay where they
// are while the clone's score there is not negative (instance stickiness
// only keeps an instance in place), the rest go to the best nodes, at most NodeMax per
// node and Max in all (Pacemaker's distribute_children, simplified).
func (s *scheduler) distribute(u *unit, allowed []int) {
	count := make([]int, len(s.nodes))
	usable := func(i int) bool { return s.avail[i] && allowed[i] >= 0 }
	place := func(i int) {
		count[i]++
		u.nodes = append(u.nodes, i)
		s.load[i] += len(u.members)
	}
	first := u.members[0]
	switch {
	case !first.managed:
		u.note = "unmanaged: left where it runs"
		for _, i := range first.active {
			place(i)
		}
	case first.stopped:
		u.note = "target-role is stopped"
	default:
		keep := slices.Clone(first.active)
		slices.SortStableFunc(keep, func(a, b int) int { return allowed[b] - allowed[a] })
		for _, i := range keep {
			if len(u.nodes) < u.clone.Max && usable(i) && count[i] < u.clone.NodeMax {
				place(i)
			}
		}
		for round := 1; round <= u.clone.NodeMax && len(u.nodes) < u.clone.Max; round++ {
			for len(u.nodes) < u.clone.Max {
				best := -1
				for i := range s.nodes {
					if !usable(i) || count[i] >= round {
						continue
					}
					if best < 0 || s.better(i, best, allowed, -1) {
						best = i
					}
				}
				if best < 0 {
					break
				}
				place(best)
			}
		}
		if len(u.nodes) == 0 {
			u.note = "no node may run it"
		}
	}
	slices.Sort(u.nodes)
	u.node = -1
	if len(u.nodes) > 0 {
		u.node = u.nodes[0]
	}
	for _, p := range u.members {
		p.node = u.node
	}
}
