package cli

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"tandem/internal/agent"
	"tandem/internal/api"
	"tandem/internal/config"
	"tandem/internal/schedule"
)

func explainCmd(g *globals) *cobra.Command {
	var asJSON bool
	c := &cobra.Command{
		Use:   "explain RES",
		Short: "Why a group, clone or resource runs where it does: every node's score and its reasons",
		Long: `explain asks the local agent for the scheduler's current input, places
everything with it and shows, for RES (a group, clone or resource — a member
is explained with its group), where it runs, where the placement wants it,
every online node's score with the reasons that add up to it (location rules
and constraints, stickiness, fail counts, health attributes, standby,
maintenance, the operator's moves and bans) and the plan's steps for it —
crm_simulate -s for one resource, readable.`,
		Example: "  tandem explain voice\n  tandem explain fs --json",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, a []string) error {
			e, err := api.NewClient(g.socketPath("")).Explain(cmd.Context(), a[0])
			if err != nil {
				return err
			}
			if asJSON {
				enc := json.NewEncoder(g.stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(e)
			}
			fmt.Fprint(g.stdout, e.String())
			return nil
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print the explanation as JSON")
	return c
}

func simulateCmd(g *globals) *cobra.Command {
	var cfgPath, input, stateDir string
	var down, standby, online, fail []string
	c := &cobra.Command{
		Use:   "simulate [--node-down N] [--standby N] [--online N] [--fail RES@NODE] [--input FILE]",
		Short: "What the scheduler would do if a node died, a resource failed or a node went to standby",
		Long: `simulate replays a scheduler input the agent saved (like Pacemaker's
pe-input files: the agent keeps the last 20 under STATE_DIR/pe-input, one per
change of placement) with hypothetical changes, and prints what would move:
placement before → after, the plan, and the scores of the groups that move.
It needs no running agent: ask "what if b dies" on a saved input.`,
		Example: "  tandem simulate --node-down b\n  tandem simulate --fail fs@a --fail fs@a --fail fs@a\n  tandem simulate --standby a --input /var/lib/tandem/pe-input/pe-input-20261204T010203.000000000.json",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			m, err := config.Load(cfgPath)
			if err != nil {
				return err
			}
			if input == "" {
				dir := stateDir
				if dir == "" {
					dir = m.StateDir
				}
				files, err := agent.ListPEInputs(dir)
				if err != nil || len(files) == 0 {
					return fmt.Errorf("no saved scheduler input under %s/%s (%v): the agent saves one whenever the placement changes; --input FILE names one", dir, agent.PEInputDir, err)
				}
				input = files[len(files)-1]
			}
			in, err := agent.ReadPEInput(input)
			if err != nil {
				return err
			}
			if h := fmt.Sprintf("%016x", m.Hash); in.ConfigHash != h {
				fmt.Fprintf(g.stderr, "warning: %s was saved with config %s, %s is %s: placing with the file as it is now\n", input, in.ConfigHash, cfgPath, h)
			}
			after, err := Hypothesis(m, in.View, down, standby, online, fail)
			if err != nil {
				return err
			}
			fmt.Fprintf(g.stdout, "input: %s (node %s, %s)\n", input, in.Node, in.At.Format("2006-01-02 15:04:05"))
			fmt.Fprint(g.stdout, SimulateReport(m, in.View, after))
			return nil
		},
	}
	c.Flags().StringVar(&cfgPath, "config", "/etc/tandem/tandem.yaml", "config file")
	c.Flags().StringVar(&input, "input", "", "a saved scheduler input (default: the newest under the state directory)")
	c.Flags().StringVar(&stateDir, "state-dir", "", "where the agent keeps its state (default: the config's state_dir)")
	c.Flags().StringArrayVar(&down, "node-down", nil, "NODE dies (repeatable)")
	c.Flags().StringArrayVar(&standby, "standby", nil, "NODE goes to standby (repeatable)")
	c.Flags().StringArrayVar(&online, "online", nil, "NODE leaves standby (repeatable)")
	c.Flags().StringArrayVar(&fail, "fail", nil, "RES@NODE fails once more there: its fail count +1 (repeatable)")
	return c
}

// Hypothesis applies simulate's changes to a copy of v.
func Hypothesis(m *config.Model, v schedule.View, down, standby, online, fail []string) (schedule.View, error) {
	isNode := func(n string) bool {
		return slices.ContainsFunc(m.Nodes, func(nd config.Node) bool { return nd.Name == n })
	}
	for _, n := range slices.Concat(down, standby, online) {
		if !isNode(n) {
			return v, fmt.Errorf("no node named %q", n)
		}
	}
	out := v
	out.Online = slices.DeleteFunc(slices.Clone(v.Online), func(n string) bool { return slices.Contains(down, n) })
	out.Running = maps.Clone(v.Running)
	maps.DeleteFunc(out.Running, func(_, n string) bool { return slices.Contains(down, n) })
	out.Active = map[string][]string{}
	for r, ns := range v.Active {
		out.Active[r] = slices.DeleteFunc(slices.Clone(ns), func(n string) bool { return slices.Contains(down, n) })
	}
	out.Standby = maps.Clone(v.Standby)
	if out.Standby == nil {
		out.Standby = map[string]bool{}
	}
	for _, n := range standby {
		out.Standby[n] = true
	}
	for _, n := range online {
		delete(out.Standby, n)
	}
	out.FailCounts = map[string]map[string]int{}
	for r, byNode := range v.FailCounts {
		out.FailCounts[r] = maps.Clone(byNode)
	}
	for _, f := range fail {
		r, n, ok := strings.Cut(f, "@")
		if !ok || !isNode(n) || !slices.ContainsFunc(m.Resources, func(x config.Resource) bool { return x.Name == r }) {
			return v, fmt.Errorf("--fail %q: want RES@NODE with a resource and a node of the config", f)
		}
		if out.FailCounts[r] == nil {
			out.FailCounts[r] = map[string]int{}
		}
		if out.FailCounts[r][n] < schedule.Infinity {
			out.FailCounts[r][n]++
		}
	}
	return out, nil
}

// SimulateReport says what would move between before and after.
func SimulateReport(m *config.Model, before, after schedule.View) string {
	pb, pa := schedule.Place(m, before), schedule.Place(m, after)
	var b strings.Builder
	b.WriteString("placement:\n")
	var moved []string
	for _, gr := range m.Groups {
		name := gr.Name
		was, now := orNowhere(pb.Placement[name]), orNowhere(pa.Placement[name])
		if c := m.CloneOf(name); c != nil {
			name = c.Name
			was, now = orNowhere(strings.Join(slices.Compact(pb.Clones[name]), " ")), orNowhere(strings.Join(slices.Compact(pa.Clones[name]), " "))
		}
		mark := "  "
		if was != now {
			mark = "* "
			moved = append(moved, name)
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
	for _, name := range moved {
		fmt.Fprintf(&b, "scores of %s:\n", name)
		for _, s := range pa.Scores[name] {
			fmt.Fprintf(&b, "  %-10s %9s  %s\n", s.Node, config.FormatScore(s.Total), strings.Join(s.Reasons, "; "))
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
