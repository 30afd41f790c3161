// Package schedule decides where each group should run: a pure,
// deterministic function of the configuration and the cluster view, so
// every node that sees the same view computes the same placement.
//
// The walking skeleton covers location scores, default stickiness and
// fail-count bans; the full Pacemaker model grows here.
package schedule

import (
	"cmp"
	"fmt"
	"slices"

	"tandem/internal/config"
)

// Infinity is Pacemaker's INFINITY: scores saturate at ±Infinity.
const Infinity = config.ScoreInfinity

// View is what the deciding node knows of the cluster.
type View struct {
	Online     []string                  // nodes that may run resources now
	Running    map[string]string         // group → node that holds it ("" or absent: nowhere)
	FailCounts map[string]map[string]int // resource → node → failures; Infinity bans
}

// Score is one node's total for a group, with the reasons that add up to it.
type Score struct {
	Node    string
	Total   int
	Reasons []string
}

// Result is the desired placement and how it was reached.
type Result struct {
	Placement map[string]string  // group → node, "" when it can run nowhere
	Scores    map[string][]Score // group → every online node's score, best first
}

// add sums scores with Pacemaker's saturation: -INFINITY wins over +INFINITY.
func add(a, b int) int {
	if a <= -Infinity || b <= -Infinity {
		return -Infinity
	}
	if a >= Infinity || b >= Infinity {
		return Infinity
	}
	return max(-Infinity, min(Infinity, a+b))
}

// Place computes where every group of m should run.
func Place(m *config.Model, v View) Result {
	res := Result{Placement: map[string]string{}, Scores: map[string][]Score{}}
	online := slices.Clone(v.Online)
	slices.Sort(online)
	for _, g := range m.Groups {
		var scores []Score
		for _, n := range online {
			scores = append(scores, score(m, v, g, n))
		}
		slices.SortStableFunc(scores, func(a, b Score) int {
			if c := cmp.Compare(b.Total, a.Total); c != 0 {
				return c
			}
			// Equal scores: stay where it runs (no needless move), then node name.
			ra, rb := v.Running[g.Name] == a.Node, v.Running[g.Name] == b.Node
			if ra != rb {
				if ra {
					return -1
				}
				return 1
			}
			return cmp.Compare(a.Node, b.Node)
		})
		res.Scores[g.Name] = scores
		if len(scores) > 0 && scores[0].Total >= 0 {
			res.Placement[g.Name] = scores[0].Node
		} else {
			res.Placement[g.Name] = ""
		}
	}
	return res
}

func score(m *config.Model, v View, g config.Group, node string) Score {
	s := Score{Node: node}
	inGroup := func(target string) bool { return target == g.Name || slices.Contains(g.Members, target) }
	for _, c := range m.Constraints {
		if c.Node == node && inGroup(c.Target) {
			s.Total = add(s.Total, c.Score)
			s.Reasons = append(s.Reasons, fmt.Sprintf("location %s on %s: %s", c.Target, node, config.FormatScore(c.Score)))
		}
	}
	if v.Running[g.Name] == node && m.Defaults.Stickiness != 0 {
		// As in Pacemaker, a group's stickiness is the sum of its members'.
		st := m.Defaults.Stickiness * len(g.Members)
		s.Total = add(s.Total, st)
		s.Reasons = append(s.Reasons, fmt.Sprintf("stickiness: running here (%d × %d members)", m.Defaults.Stickiness, len(g.Members)))
	}
	for _, r := range g.Members {
		if fc := v.FailCounts[r][node]; fc >= Infinity {
			s.Total = -Infinity
			s.Reasons = append(s.Reasons, fmt.Sprintf("%s failed to start here (fail count INFINITY)", r))
		}
	}
	if len(s.Reasons) == 0 {
		s.Reasons = append(s.Reasons, "no preference")
	}
	return s
}
