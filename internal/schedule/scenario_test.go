package schedule

import (
	"flag"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/datadriven"
	"github.com/goccy/go-yaml"

	"tandem/internal/config"
)

var update = flag.Bool("update", false, "rewrite scenario transcripts, COVERAGE and benchmark cases")

// epoch is the scenarios' "now": failure times are written as "ago".
var epoch = time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)

// TestScenarios replays testdata/scenarios and testdata/pacemaker: state
// in, placement, plan and scores out. go test ./internal/schedule -run
// TestScenarios -update rewrites the outputs; review the diff.
//
//	config nodes=a,b,c
//	<YAML: resources (a name alone is an exec resource), groups, clones,
//	 constraints, defaults>
//	----
//	place
//	running GROUP_OR_RESOURCE=NODE ...   active RES=NODE,NODE
//	offline N / standby N / maintenance N|all
//	attr NODE NAME=VALUE ...
//	fail RES NODE COUNT|INFINITY [ago=DURATION]
//	----
//	<placement, actions, scores>
//
// explain RES and simulate node-down=N fail=(RES@NODE,...) take the same
// state lines and print what tandem explain and tandem simulate print.
func TestScenarios(t *testing.T) {
	if *update {
		if err := flag.Set("rewrite", "true"); err != nil {
			t.Fatal(err)
		}
	}
	for _, dir := range []string{"testdata/scenarios", "testdata/pacemaker"} {
		datadriven.Walk(t, dir, func(t *testing.T, path string) {
			var m *config.Model
			var nodes []string
			datadriven.RunTest(t, path, func(t *testing.T, d *datadriven.TestData) string {
				switch d.Cmd {
				case "config":
					var err error
					nodes = strings.Split(argOr(d, "nodes", "a,b"), ",")
					m, err = scenarioConfig(nodes, d.Input)
					if err != nil {
						return "error: " + err.Error() + "\n"
					}
					return ""
				case "place":
					if m == nil {
						d.Fatalf(t, "place before config")
					}
					v, err := scenarioView(nodes, d.Input)
					if err != nil {
						d.Fatalf(t, "%v", err)
					}
					return Transcript(m, v, Place(m, v), !d.HasArg("brief"))
				case "explain":
					// explain RES: what tandem explain prints for that view.
					if m == nil {
						d.Fatalf(t, "explain before config")
					}
					v, err := scenarioView(nodes, d.Input)
					if err != nil {
						d.Fatalf(t, "%v", err)
					}
					e, err := Explain(m, v, d.CmdArgs[0].Key)
					if err != nil {
						return "error: " + err.Error() + "\n"
					}
					return e.String()
				case "simulate":
					// simulate node-down=N node-up=N standby=N online=N
					// fail=(RES@NODE,...): what tandem simulate prints.
					if m == nil {
						d.Fatalf(t, "simulate before config")
					}
					v, err := scenarioView(nodes, d.Input)
					if err != nil {
						d.Fatalf(t, "%v", err)
					}
					h := scenarioHypothesis(t, d)
					after, err := h.Apply(m, v)
					if err != nil {
						return "error: " + err.Error() + "\n"
					}
					return SimulateReport(m, v, after, h)
				}
				d.Fatalf(t, "unknown command %q", d.Cmd)
				return ""
			})
		})
	}
}

// scenarioHypothesis reads simulate's arguments: node-down=N node-up=N
// standby=N online=N fail=(RES@NODE,...).
func scenarioHypothesis(t *testing.T, d *datadriven.TestData) Hypothesis {
	var h Hypothesis
	for _, a := range d.CmdArgs {
		p := map[string]*[]string{"node-down": &h.Down, "node-up": &h.Up, "standby": &h.Standby, "online": &h.Online, "fail": &h.Fail}[a.Key]
		if p == nil {
			d.Fatalf(t, "simulate: unknown argument %q", a.Key)
		}
		*p = append(*p, a.Vals...)
	}
	return h
}

func argOr(d *datadriven.TestData, key, def string) string {
	for _, a := range d.CmdArgs {
		if a.Key == key && len(a.Vals) > 0 {
			return strings.Join(a.Vals, ",")
		}
	}
	return def
}

// scenarioConfig wraps a scenario's placement YAML into a whole config:
// nodes with links, and exec resources for bare names.
func scenarioConfig(nodes []string, src string) (*config.Model, error) {
	var doc map[string]any
	if err := yaml.Unmarshal([]byte(src), &doc); err != nil {
		return nil, err
	}
	if doc == nil {
		doc = map[string]any{}
	}
	var res []any
	switch r := doc["resources"].(type) {
	case string:
		for _, n := range strings.Fields(r) {
			res = append(res, n)
		}
	case []any:
		res = r
	}
	for i, r := range res {
		switch r := r.(type) {
		case string:
			res[i] = map[string]any{"name": r, "type": "exec", "params": map[string]any{"daemon": "true"}}
		case map[string]any:
			if r["type"] == nil {
				r["type"], r["params"] = "exec", map[string]any{"daemon": "true"}
			}
		}
	}
	doc["resources"] = res
	doc["cluster"], doc["key_file"] = "t", "/tmp/k"
	var ns []any
	for i, n := range nodes {
		ns = append(ns, map[string]any{"name": n, "links": []string{fmt.Sprintf("198.18.%d.%d", i/200, 10+i%200)}})
	}
	doc["nodes"] = ns
	if len(nodes) != 2 {
		q, _ := doc["quorum"].(map[string]any)
		if q == nil {
			q = map[string]any{}
		}
		q["mode"] = "majority"
		doc["quorum"] = q
		if len(nodes) < 3 {
			doc["witnesses"] = []any{map[string]any{"name": "w1", "links": []string{"198.18.9.1"}}, map[string]any{"name": "w2", "links": []string{"198.18.9.2"}}}
		}
	}
	out, err := yaml.Marshal(doc)
	if err != nil {
		return nil, err
	}
	return config.Parse("scenario.yaml", out)
}

func scenarioView(nodes []string, src string) (View, error) {
	v := View{Now: epoch, Running: map[string]string{}, Active: map[string][]string{}, FailCounts: map[string]map[string]int{},
		FailedAt: map[string]map[string]time.Time{}, Attributes: map[string]map[string]string{}, Standby: map[string]bool{}, Maintenance: map[string]bool{}}
	offline := map[string]bool{}
	for _, line := range strings.Split(src, "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || strings.HasPrefix(f[0], "#") {
			continue
		}
		switch f[0] {
		case "running", "active":
			for _, kv := range f[1:] {
				k, val, _ := strings.Cut(kv, "=")
				if f[0] == "running" {
					v.Running[k] = val
				} else {
					v.Active[k] = strings.Split(val, ",")
				}
			}
		case "offline", "standby", "maintenance":
			for _, n := range f[1:] {
				switch {
				case f[0] == "offline":
					offline[n] = true
				case f[0] == "standby":
					v.Standby[n] = true
				case n == "all":
					v.ClusterMaintenance = true
				default:
					v.Maintenance[n] = true
				}
			}
		case "attr":
			if len(f) < 2 {
				return v, fmt.Errorf("attr NODE NAME=VALUE ...")
			}
			if v.Attributes[f[1]] == nil {
				v.Attributes[f[1]] = map[string]string{}
			}
			for _, kv := range f[2:] {
				k, val, _ := strings.Cut(kv, "=")
				v.Attributes[f[1]][k] = val
			}
		case "fail":
			if len(f) < 4 {
				return v, fmt.Errorf("fail RES NODE COUNT [ago=D]")
			}
			n, err := config.ParseScore(f[3])
			if err != nil {
				return v, err
			}
			if v.FailCounts[f[1]] == nil {
				v.FailCounts[f[1]], v.FailedAt[f[1]] = map[string]int{}, map[string]time.Time{}
			}
			v.FailCounts[f[1]][f[2]] = n
			v.FailedAt[f[1]][f[2]] = epoch
			if len(f) > 4 {
				d, err := time.ParseDuration(strings.TrimPrefix(f[4], "ago="))
				if err != nil {
					return v, err
				}
				v.FailedAt[f[1]][f[2]] = epoch.Add(-d)
			}
		case "move", "ban":
			if len(f) != 3 {
				return v, fmt.Errorf("%s RES NODE", f[0])
			}
			if f[0] == "move" {
				if v.Moves == nil {
					v.Moves = map[string]string{}
				}
				v.Moves[f[1]] = f[2]
			} else {
				if v.Bans == nil {
					v.Bans = map[string][]string{}
				}
				v.Bans[f[1]] = append(v.Bans[f[1]], f[2])
			}
		case "disable", "enable":
			if len(f) != 2 {
				return v, fmt.Errorf("%s RES", f[0])
			}
			if v.Roles == nil {
				v.Roles = map[string]string{}
			}
			v.Roles[f[1]] = map[string]string{"disable": config.RoleStopped, "enable": config.RoleStarted}[f[0]]
		default:
			return v, fmt.Errorf("unknown line %q", line)
		}
	}
	for _, n := range nodes {
		if !offline[n] {
			v.Online = append(v.Online, n)
		}
	}
	return v, nil
}

// Transcript renders a Result for people: where everything goes, the
// plan, and (unless brief) every group's scores with their reasons.
func Transcript(m *config.Model, v View, r Result, scores bool) string {
	var b strings.Builder
	b.WriteString("placement:\n")
	for _, g := range m.Groups {
		if c := m.CloneOf(g.Name); c != nil {
			fmt.Fprintf(&b, "  %s: %s", c.Name, orStopped(strings.Join(r.Clones[c.Name], " ")))
			if w := r.Why[c.Name]; w != "" {
				fmt.Fprintf(&b, " (%s)", w)
			}
			b.WriteByte('\n')
			continue
		}
		fmt.Fprintf(&b, "  %s: %s", g.Name, orStopped(r.Placement[g.Name]))
		if w := r.Why[g.Name]; w != "" {
			fmt.Fprintf(&b, " (%s)", w)
		}
		if !g.Implicit {
			var ms []string
			for _, mem := range g.Members {
				ms = append(ms, mem+"="+orStopped(r.Members[mem]))
			}
			fmt.Fprintf(&b, " [%s]", strings.Join(ms, " "))
		}
		b.WriteByte('\n')
	}
	b.WriteString("actions:\n")
	if len(r.Actions) == 0 {
		b.WriteString("  (none)\n")
	}
	for _, a := range r.Actions {
		fmt.Fprintf(&b, "  %s %s on %s: %s\n", a.Op, a.Resource, a.Node, a.Why)
	}
	if !scores {
		return b.String()
	}
	b.WriteString("scores:\n")
	names := make([]string, 0, len(m.Groups))
	for _, g := range m.Groups {
		if c := m.CloneOf(g.Name); c != nil {
			names = append(names, c.Name)
		} else {
			names = append(names, g.Name)
		}
	}
	for _, name := range names {
		fmt.Fprintf(&b, "  %s:\n", name)
		for _, s := range r.Scores[name] {
			fmt.Fprintf(&b, "    %-4s %9s  %s\n", s.Node, config.FormatScore(s.Total), strings.Join(s.Reasons, "; "))
		}
	}
	return b.String()
}

func orStopped(s string) string {
	if s == "" {
		return "stopped"
	}
	return s
}

// TestDeterministic: the same input gives the same output, whatever the
// order of the view's lists.
func TestDeterministic(t *testing.T) {
	m, err := scenarioConfig([]string{"a", "b", "c"}, "resources: r1 r2 r3 r4 r5\ngroups: [{name: g, members: [r1, r2]}]\nconstraints: [{colocation: r3, with: g, score: 50}]\n")
	if err != nil {
		t.Fatal(err)
	}
	v1 := View{Online: []string{"a", "b", "c"}, Running: map[string]string{"r4": "b"}}
	v2 := View{Online: []string{"c", "b", "a"}, Running: map[string]string{"r4": "b"}}
	a, b := Transcript(m, v1, Place(m, v1), true), Transcript(m, v2, Place(m, v2), true)
	if a != b {
		t.Fatalf("node order changed the result:\n%s\n---\n%s", a, b)
	}
	for range 20 {
		if c := Transcript(m, v1, Place(m, v1), true); c != a {
			t.Fatalf("run-to-run difference:\n%s\n---\n%s", a, c)
		}
	}
}
