package schedule

import (
	"fmt"
	"slices"
	"strings"

	"tandem/internal/config"
)

// Explanation is why a group, clone or resource is placed where it is:
// `tandem explain RES`, like crm_simulate -s for one resource but readable.
type Explanation struct {
	Asked   string   `json:"asked"`   // what the operator named
	Unit    string   `json:"unit"`    // the group or clone placed as one (a member is placed with its group)
	Members []string `json:"members"` // its resources, in start order
	Running []string `json:"running"` // nodes where it runs now
	Placed  []string `json:"placed"`  // nodes the placement wants (several for a clone), empty: nowhere
	Why     string   `json:"why,omitempty"`
	Scores  []Score  `json:"scores"`  // every online node, the chosen first
	Actions []Action `json:"actions"` // the plan's steps for its members
	Offline []string `json:"offline"` // configured nodes not online: they get no score
	Kind    string   `json:"kind"`    // group, resource, or clone
	Note    string   `json:"note,omitempty"`
}

// Explain places everything with v and explains target, which may name a
// group, a clone or a resource.
func Explain(m *config.Model, v View, target string) (Explanation, error) {
	e := Explanation{Asked: target}
	var g *config.Group
	for i := range m.Groups {
		if m.Groups[i].Name == target || slices.Contains(m.Groups[i].Members, target) {
			g = &m.Groups[i]
		}
	}
	var c *config.Clone
	for i := range m.Clones {
		if m.Clones[i].Name == target {
			c = &m.Clones[i]
			for j := range m.Groups {
				if m.Groups[j].Name == c.Target {
					g = &m.Groups[j]
				}
			}
		}
	}
	if g == nil {
		var names []string
		for _, gr := range m.Groups {
			if !gr.Implicit {
				names = append(names, gr.Name)
			}
		}
		for _, r := range m.Resources {
			names = append(names, r.Name)
		}
		for _, cl := range m.Clones {
			names = append(names, cl.Name)
		}
		return e, fmt.Errorf("explain: no group, clone or resource named %q; there are: %s", target, strings.Join(names, ", "))
	}
	if c == nil {
		c = m.CloneOf(g.Name)
	}
	res := Place(m, v)
	e.Unit, e.Members, e.Kind = g.Name, g.Members, "group"
	if g.Implicit {
		e.Kind = "resource"
	}
	key := g.Name
	if c != nil {
		e.Unit, key, e.Kind = c.Name, c.Name, "clone"
		e.Placed = slices.Compact(slices.Clone(res.Clones[c.Name]))
	} else if n := res.Placement[g.Name]; n != "" {
		e.Placed = []string{n}
	}
	e.Why = res.Why[key]
	e.Scores = res.Scores[key]
	for _, a := range res.Actions {
		if slices.Contains(g.Members, a.Resource) {
			e.Actions = append(e.Actions, a)
		}
	}
	for _, r := range g.Members {
		for _, n := range activeNodes(m, v, r) {
			if !slices.Contains(e.Running, n) {
				e.Running = append(e.Running, n)
			}
		}
	}
	slices.Sort(e.Running)
	for _, nd := range m.Nodes {
		if !slices.Contains(v.Online, nd.Name) {
			e.Offline = append(e.Offline, nd.Name)
		}
	}
	return e, nil
}

// activeNodes is where v says resource res runs, as the scheduler reads it.
func activeNodes(m *config.Model, v View, res string) []string {
	if ns, ok := v.Active[res]; ok {
		return ns
	}
	for _, g := range m.Groups {
		if slices.Contains(g.Members, res) {
			if n := v.Running[g.Name]; n != "" {
				return []string{n}
			}
		}
	}
	if n := v.Running[res]; n != "" {
		return []string{n}
	}
	return nil
}

// String renders the explanation for an operator.
func (e Explanation) String() string {
	var b strings.Builder
	kind := e.Kind + " of " + strings.Join(e.Members, ", ")
	if e.Kind == "resource" {
		kind = "resource"
	}
	if e.Unit != e.Asked && slices.Contains(e.Members, e.Asked) {
		fmt.Fprintf(&b, "%s is placed with its group.\n", e.Asked)
	}
	orNowhere := func(ns []string) string {
		if len(ns) == 0 {
			return "nowhere"
		}
		return strings.Join(ns, ", ")
	}
	fmt.Fprintf(&b, "%s (%s): runs on %s; placement wants %s", e.Unit, kind, orNowhere(e.Running), orNowhere(e.Placed))
	if e.Why != "" {
		fmt.Fprintf(&b, " (%s)", e.Why)
	}
	b.WriteString("\n")
	if e.Note != "" {
		fmt.Fprintf(&b, "note: %s\n", e.Note)
	}
	b.WriteString("\nscores (highest wins; ties go to the node named first):\n")
	for _, s := range e.Scores {
		fmt.Fprintf(&b, "  %-10s %9s  %s\n", s.Node, config.FormatScore(s.Total), strings.Join(s.Reasons, "; "))
	}
	for _, n := range e.Offline {
		fmt.Fprintf(&b, "  %-10s %9s  offline\n", n, "-")
	}
	b.WriteString("\nplan:\n")
	if len(e.Actions) == 0 {
		b.WriteString("  nothing to do\n")
	}
	for _, a := range e.Actions {
		fmt.Fprintf(&b, "  %s %s on %s: %s\n", a.Op, a.Resource, a.Node, a.Why)
	}
	return b.String()
}
