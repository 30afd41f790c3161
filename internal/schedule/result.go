package schedule

import (
	"cmp"
	"slices"
)

func (s *scheduler) name(i int) string {
	if i < 0 {
		return ""
	}
	return s.nodes[i]
}

func (s *scheduler) result() Result {
	r := Result{
		Placement: make(map[string]string, len(s.units)),
		Members:   map[string]string{},
		Clones:    map[string][]string{},
		Scores:    make(map[string][]Score, len(s.units)),
		Why:       map[string]string{},
		Until:     s.until,
	}
	for _, u := range s.units {
		r.Placement[u.group] = s.name(u.node)
		if u.note != "" {
			r.Why[u.name] = u.note
		}
		sc := s.scores(u)
		r.Scores[u.name] = sc
		if u.clone != nil {
			r.Scores[u.group] = sc
			nodes := make([]string, len(u.nodes))
			for i, n := range u.nodes {
				nodes[i] = s.nodes[n]
			}
			r.Clones[u.name] = nodes
			continue
		}
		for _, p := range u.members {
			if p.node >= 0 {
				r.Members[p.name] = s.nodes[p.node]
			}
		}
	}
	r.Actions = s.plan()
	return r
}

// scores lists u's final score on every online node, the chosen one first.
func (s *scheduler) scores(u *unit) []Score {
	if len(s.nodes) == 0 {
		return nil
	}
	out := make([]Score, len(s.nodes))
	for i, n := range s.nodes {
		why := u.finalWhy[i]
		if len(why) == 0 {
			why = []string{"no preference"}
		}
		out[i] = Score{Node: n, Total: u.final[i], Reasons: why}
	}
	chosen := s.name(u.node)
	slices.SortStableFunc(out, func(a, b Score) int {
		if (a.Node == chosen) != (b.Node == chosen) {
			if a.Node == chosen {
				return -1
			}
			return 1
		}
		return cmp.Compare(b.Total, a.Total)
	})
	return out
}
