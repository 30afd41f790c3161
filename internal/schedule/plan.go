package schedule

import (
	"container/heap"
	"slices"
)

// applyOrders stops the "then" side of a mandatory order while its
// "first" side runs nowhere, until nothing changes (orders chain).
func (s *scheduler) applyOrders() {
	for changed := true; changed; {
		changed = false
		for _, t := range s.units {
			if !runs(t) || !t.members[0].managed {
				continue // an unmanaged resource stays as it is
			}
			for _, f := range t.after {
				if !runs(f) {
					s.unplace(t, "order: "+f.name+" must start first, and it cannot run")
					changed = !runs(t)
					break
				}
			}
		}
	}
}

func runs(u *unit) bool { return u.node >= 0 || len(u.nodes) > 0 }

func (s *scheduler) unplace(u *unit, why string) {
	u.nodes, u.note = nil, why
	for _, p := range u.members {
		if p.managed {
			p.node, p.why = -1, why
		}
	}
	u.node = u.members[0].node
}

// step is one action being ordered.
type step struct {
	Action
	seq  int
	prim *prim
	next []int // steps that must wait for this one
	wait int
}

// plan lists the stops and starts that take the cluster from what runs to
// the placement: every stop first, then every start, each ordered by
// groups (start in order, stop in reverse) and order constraints.
func (s *scheduler) plan() []Action {
	stops, starts := map[*prim][]int{}, map[*prim][]int{}
	var steps []*step
	addStep := func(m map[*prim][]int, p *prim, op string, node int, why string) {
		st := &step{Action: Action{Op: op, Resource: p.name, Node: s.nodes[node], Why: why}, seq: len(steps), prim: p}
		m[p] = append(m[p], len(steps))
		steps = append(steps, st)
	}
	targets := func(u *unit, p *prim) []int {
		if u.clone != nil {
			return slices.Compact(slices.Clone(u.nodes))
		}
		if p.node >= 0 {
			return []int{p.node}
		}
		return nil
	}
	restart := map[*prim]string{}
	s.restarts(restart, targets)
	for _, u := range s.units {
		for k := len(u.members) - 1; k >= 0; k-- {
			p := u.members[k]
			if !p.managed {
				continue
			}
			to := targets(u, p)
			for _, i := range p.active {
				switch {
				case slices.Contains(to, i) && restart[p] != "":
					addStep(stops, p, OpStop, i, "restart: "+restart[p])
				case slices.Contains(to, i):
				case len(to) > 0 && u.clone == nil:
					addStep(stops, p, OpStop, i, "moving to "+s.nodes[to[0]])
				default:
					addStep(stops, p, OpStop, i, "stopping: "+whyStopped(u, p))
				}
			}
		}
	}
	for _, u := range s.units {
		for _, p := range u.members {
			if !p.managed {
				continue
			}
			for _, i := range targets(u, p) {
				switch {
				case slices.Contains(p.active, i) && restart[p] != "":
					addStep(starts, p, OpStart, i, "restart: "+restart[p])
				case slices.Contains(p.active, i):
				case len(p.active) > 0 && u.clone == nil:
					addStep(starts, p, OpStart, i, "moving from "+s.nodes[p.active[0]])
				default:
					addStep(starts, p, OpStart, i, "starting")
				}
			}
		}
	}
	before := func(m map[*prim][]int, a, b *prim) {
		for _, x := range m[a] {
			for _, y := range m[b] {
				steps[x].next = append(steps[x].next, y)
				steps[y].wait++
			}
		}
	}
	for _, u := range s.units {
		for k := 1; k < len(u.members); k++ {
			before(stops, u.members[k], u.members[k-1])
			before(starts, u.members[k-1], u.members[k])
		}
	}
	for _, o := range s.m.Orders {
		f, t := s.byName[o.First], s.byName[o.Then]
		if f == nil || t == nil {
			continue
		}
		for _, a := range f.members {
			for _, b := range t.members {
				before(starts, a, b)
				if o.Symmetrical {
					before(stops, b, a)
				}
			}
		}
	}
	// Every stop comes before every start: a sequential plan that keeps
	// both orders (Pacemaker would run independent actions in parallel).
	var out []Action
	out = append(out, topo(steps, func(st *step) bool { return st.Op == OpStop })...)
	out = append(out, topo(steps, func(st *step) bool { return st.Op == OpStart })...)
	return out
}

func whyStopped(u *unit, p *prim) string {
	if p.why != "" {
		return p.why
	}
	if u.note != "" {
		return u.note
	}
	return "no instance here"
}

// restarts finds running resources that stay but must restart because a
// resource they are ordered after (in their group, or by a mandatory
// order) stops first.
func (s *scheduler) restarts(restart map[*prim]string, targets func(*unit, *prim) []int) {
	stopping := func(u *unit, p *prim) bool {
		if !p.managed {
			return false
		}
		if restart[p] != "" {
			return true
		}
		to := targets(u, p)
		for _, i := range p.active {
			if !slices.Contains(to, i) {
				return true
			}
		}
		return false
	}
	stays := func(u *unit, p *prim) bool {
		if !p.managed || restart[p] != "" {
			return false
		}
		to := targets(u, p)
		for _, i := range p.active {
			if slices.Contains(to, i) {
				return true
			}
		}
		return false
	}
	for changed := true; changed; {
		changed = false
		for _, u := range s.units {
			for k := 1; k < len(u.members); k++ {
				if prev := u.members[k-1]; stopping(u, prev) && stays(u, u.members[k]) {
					restart[u.members[k]] = prev.name + " stops first"
					changed = true
				}
			}
			for _, f := range u.after {
				for _, fp := range f.members {
					if !stopping(f, fp) {
						continue
					}
					for _, p := range u.members {
						if stays(u, p) {
							restart[p] = fp.name + " stops first (order)"
							changed = true
						}
					}
				}
			}
		}
	}
}

// topo orders the selected steps after the ones they wait for, the
// earliest listed first among those ready.
func topo(steps []*step, sel func(*step) bool) []Action {
	h := &seqHeap{}
	for _, st := range steps {
		if sel(st) && st.wait == 0 {
			heap.Push(h, st.seq)
		}
	}
	var out []Action
	for h.Len() > 0 {
		st := steps[heap.Pop(h).(int)]
		out = append(out, st.Action)
		for _, n := range st.next {
			if steps[n].wait--; steps[n].wait == 0 {
				heap.Push(h, n)
			}
		}
	}
	return out
}

type seqHeap []int

func (h seqHeap) Len() int           { return len(h) }
func (h seqHeap) Less(i, j int) bool { return h[i] < h[j] }
func (h seqHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *seqHeap) Push(x any)        { *h = append(*h, x.(int)) }
func (h *seqHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}
