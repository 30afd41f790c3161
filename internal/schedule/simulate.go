package schedule

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"tandem/internal/config"
)

// Hypothesis is a what-if for tandem simulate: changes applied to a saved
// View before placing it again. Quorum, leases and fencing are not part of
// a View: a node down here is a node the survivors already count as dead.
type Hypothesis struct {
	Down    []string // nodes that die: offline, and nothing of theirs runs
	Up      []string // nodes that come (back) online, running nothing yet
	Standby []string // nodes put in standby
	Online  []string // nodes taken out of standby
	Fail    []string // RES@NODE: one more failure of RES on NODE (repeatable)
}

// Empty reports whether h changes nothing.
func (h Hypothesis) Empty() bool {
	return len(h.Down)+len(h.Up)+len(h.Standby)+len(h.Online)+len(h.Fail) == 0
}

// String lists the changes, for the report's first line.
func (h Hypothesis) String() string {
	var out []string
	for _, x := range []struct {
		what string
		ns   []string
	}{{"down", h.Down}, {"up", h.Up}, {"standby", h.Standby}, {"online", h.Online}} {
		for _, n := range x.ns {
			out = append(out, "node "+n+" "+x.what)
		}
	}
	count := map[string]int{}
	for _, f := range h.Fail {
		count[f]++
	}
	for _, f := range slices.Compact(slices.Sorted(maps.Keys(count))) {
		r, n, _ := strings.Cut(f, "@")
		if count[f] == 1 {
			out = append(out, r+" fails on "+n)
		} else {
			out = append(out, fmt.Sprintf("%s fails %d times on %s", r, count[f], n))
		}
	}
	if len(out) == 0 {
		return "none"
	}
	return strings.Join(out, ", ")
}

// Apply returns a copy of v with h's changes; v is not modified. A name
// the config does not know is an error that lists what it knows.
func (h Hypothesis) Apply(m *config.Model, v View) (View, error) {
	var nodes []string
	for _, nd := range m.Nodes {
		nodes = append(nodes, nd.Name)
	}
	for _, x := range []struct {
		flag string
		ns   []string
	}{{"node-down", h.Down}, {"node-up", h.Up}, {"standby", h.Standby}, {"online", h.Online}} {
		for _, n := range x.ns {
			if !slices.Contains(nodes, n) {
				return v, fmt.Errorf("--%s %s: no node named %q; nodes: %s", x.flag, n, n, strings.Join(nodes, ", "))
			}
		}
	}
	for _, n := range h.Down {
		if slices.Contains(h.Up, n) {
			return v, fmt.Errorf("node %s both down and up: pick one", n)
		}
	}
	for _, n := range h.Standby {
		if slices.Contains(h.Online, n) {
			return v, fmt.Errorf("node %s both in standby and online: pick one", n)
		}
	}
	// A node that comes up runs nothing yet, as one that dies runs nothing
	// any more; one that is already online stays as it is.
	var up []string
	for _, n := range h.Up {
		if !slices.Contains(v.Online, n) {
			up = append(up, n)
		}
	}
	down := func(n string) bool { return slices.Contains(h.Down, n) || slices.Contains(up, n) }
	out := v
	out.Online = slices.DeleteFunc(slices.Clone(v.Online), down)
	out.Online = append(out.Online, up...)
	out.Running = maps.Clone(v.Running)
	maps.DeleteFunc(out.Running, func(_, n string) bool { return down(n) })
	if v.Active != nil {
		out.Active = map[string][]string{}
		for r, ns := range v.Active {
			out.Active[r] = slices.DeleteFunc(slices.Clone(ns), down)
		}
	}
	out.Standby = maps.Clone(v.Standby)
	if out.Standby == nil {
		out.Standby = map[string]bool{}
	}
	for _, n := range h.Standby {
		out.Standby[n] = true
	}
	for _, n := range h.Online {
		delete(out.Standby, n)
	}
	out.FailCounts = map[string]map[string]int{}
	for r, byNode := range v.FailCounts {
		out.FailCounts[r] = maps.Clone(byNode)
	}
	out.FailedAt = map[string]map[string]time.Time{}
	for r, byNode := range v.FailedAt {
		out.FailedAt[r] = maps.Clone(byNode)
	}
	// Failures failure_timeout already forgot do not add up with new
	// ones: the node that counted them resets the count, as Pacemaker does.
	prims := map[string]*prim{}
	sched := newScheduler(m, v)
	for _, u := range sched.units {
		for _, p := range u.members {
			prims[p.name] = p
		}
	}
	for _, f := range h.Fail {
		r, n, ok := strings.Cut(f, "@")
		if !ok {
			return v, fmt.Errorf("--fail %q: want RES@NODE", f)
		}
		if !slices.ContainsFunc(m.Resources, func(x config.Resource) bool { return x.Name == r }) {
			var rs []string
			for _, x := range m.Resources {
				rs = append(rs, x.Name)
			}
			return v, fmt.Errorf("--fail %q: no resource named %q (a group fails through a member); resources: %s", f, r, strings.Join(rs, ", "))
		}
		if !slices.Contains(nodes, n) {
			return v, fmt.Errorf("--fail %q: no node named %q; nodes: %s", f, n, strings.Join(nodes, ", "))
		}
		if out.FailCounts[r] == nil {
			out.FailCounts[r] = map[string]int{}
		}
		if p := prims[r]; p != nil && out.FailCounts[r][n] == v.FailCounts[r][n] && sched.failures(p, n) == 0 {
			out.FailCounts[r][n] = 0
		}
		if out.FailCounts[r][n] < Infinity {
			out.FailCounts[r][n]++
		}
		// The failure happens now: failure_timeout counts from here.
		if !v.Now.IsZero() {
			if out.FailedAt[r] == nil {
				out.FailedAt[r] = map[string]time.Time{}
			}
			out.FailedAt[r][n] = v.Now
		}
	}
	return out, nil
}

// SimulateReport places before and after and says what would change:
// every group's placement before → after (a * marks a change), the plan
// from the after state, and the scores of the groups h touches or moves.
func SimulateReport(m *config.Model, before, after View, h Hypothesis) string {
	pb, pa := Place(m, before), Place(m, after)
	var b strings.Builder
	fmt.Fprintf(&b, "changes: %s\n", h)
	b.WriteString("placement (before → after):\n")
	var affected []string
	failed := map[string]bool{}
	for _, f := range h.Fail {
		r, _, _ := strings.Cut(f, "@")
		failed[r] = true
	}
	for _, gr := range m.Groups {
		name := gr.Name
		was, now := orNowhere(pb.Placement[name]), orNowhere(pa.Placement[name])
		if c := m.CloneOf(name); c != nil {
			name = c.Name
			was = orNowhere(strings.Join(slices.Compact(slices.Clone(pb.Clones[name])), " "))
			now = orNowhere(strings.Join(slices.Compact(slices.Clone(pa.Clones[name])), " "))
		}
		mark := "  "
		if was != now {
			mark = "* "
		}
		acts := slices.ContainsFunc(pa.Actions, func(a Action) bool { return slices.Contains(gr.Members, a.Resource) })
		if was != now || acts || slices.ContainsFunc(gr.Members, func(r string) bool { return failed[r] }) {
			affected = append(affected, name)
		}
		fmt.Fprintf(&b, "  %s%-12s %s → %s\n", mark, name, was, now)
	}
	b.WriteString("plan:\n")
	if len(pa.Actions) == 0 {
		b.WriteString("  nothing to do\n")
	}
	for _, a := range pa.Actions {
		fmt.Fprintf(&b, "  %s %s on %s: %s\n", a.Op, a.Resource, a.Node, a.Why)
	}
	for _, name := range affected {
		fmt.Fprintf(&b, "scores of %s:\n", name)
		for _, s := range pa.Scores[name] {
			fmt.Fprintf(&b, "  %-10s %9s  %s\n", s.Node, config.FormatScore(s.Total), strings.Join(s.Reasons, "; "))
		}
		if w := pa.Why[name]; w != "" {
			fmt.Fprintf(&b, "  (%s)\n", w)
		}
	}
	return b.String()
}

func orNowhere(s string) string {
	if s == "" {
		return "(nowhere)"
	}
	return s
}

// SameInput reports whether a and b would place alike at the same moment:
// equal but for Now, which moves at every tick. The core calls it at every
// reconcile, so it compares field by field rather than by reflection (a nil
// map equals an empty one).
func SameInput(a, b View) bool {
	return slices.Equal(a.Online, b.Online) &&
		maps.Equal(a.Running, b.Running) &&
		maps.EqualFunc(a.Active, b.Active, slices.Equal) &&
		maps.EqualFunc(a.FailCounts, b.FailCounts, maps.Equal) &&
		maps.EqualFunc(a.FailedAt, b.FailedAt, func(x, y map[string]time.Time) bool {
			return maps.EqualFunc(x, y, time.Time.Equal)
		}) &&
		maps.EqualFunc(a.Attributes, b.Attributes, maps.Equal) &&
		maps.Equal(a.Standby, b.Standby) &&
		maps.Equal(a.Maintenance, b.Maintenance) &&
		a.ClusterMaintenance == b.ClusterMaintenance &&
		maps.Equal(a.Moves, b.Moves) &&
		maps.EqualFunc(a.Bans, b.Bans, slices.Equal) &&
		maps.Equal(a.Roles, b.Roles)
}
