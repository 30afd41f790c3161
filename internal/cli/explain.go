package cli

import (
	"encoding/json"
	"fmt"
	"path/filepath"

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
every node's score with the reasons that add up to it (location rules
and constraints, stickiness, fail counts, health attributes, standby,
maintenance, quorum.ping reach, the operator's moves and bans) and the plan's steps for it —
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
	var h schedule.Hypothesis
	c := &cobra.Command{
		Use:   "simulate [--node-down N] [--node-up N] [--standby N] [--online N] [--fail RES@NODE] [--input FILE] [--config FILE]",
		Short: "What the scheduler would do if a node died, a resource failed or a node went to standby",
		Long: `simulate replays a scheduler input the agent saved (like Pacemaker's
pe-input files: the agent keeps the last 20 distinct ones under
STATE_DIR/pe-input) with hypothetical changes, and prints what would move:
placement before → after, the plan, and the scores of the groups the
changes touch or move. It needs no running agent: ask "what if b dies" on a
saved input. Quorum, leases and fencing are not simulated: a node down is
one the survivors already count as dead.`,
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
					return fmt.Errorf("no saved scheduler input under %s (%v): the agent saves one whenever its input changes; --input FILE names one", filepath.Join(dir, agent.PEInputDir), err)
				}
				input = files[len(files)-1]
			}
			in, err := agent.ReadPEInput(input)
			if err != nil {
				return err
			}
			if hash := fmt.Sprintf("%016x", m.Hash); in.ConfigHash != hash {
				fmt.Fprintf(g.stderr, "warning: %s was saved with config %s, %s is %s: placing with the file as it is now\n", input, in.ConfigHash, cfgPath, hash)
			}
			after, err := h.Apply(m, in.View)
			if err != nil {
				return err
			}
			fmt.Fprintf(g.stdout, "input: %s (node %s, %s)\n", input, in.Node, in.At.UTC().Format("2006-01-02 15:04:05 UTC"))
			fmt.Fprint(g.stdout, schedule.SimulateReport(m, in.View, after, h))
			return nil
		},
	}
	c.Flags().StringVar(&cfgPath, "config", "/etc/tandem/tandem.yaml", "config file")
	c.Flags().StringVar(&input, "input", "", "a saved scheduler input (default: the newest under the state directory)")
	c.Flags().StringVar(&stateDir, "state-dir", "", "where the agent keeps its state (default: the config's state_dir)")
	c.Flags().StringArrayVar(&h.Down, "node-down", nil, "NODE dies (repeatable)")
	c.Flags().StringArrayVar(&h.Up, "node-up", nil, "NODE comes online, running nothing (repeatable)")
	c.Flags().StringArrayVar(&h.Standby, "standby", nil, "NODE goes to standby (repeatable)")
	c.Flags().StringArrayVar(&h.Online, "online", nil, "NODE leaves standby (repeatable)")
	c.Flags().StringArrayVar(&h.Fail, "fail", nil, "RES@NODE fails once more there: its fail count +1 (repeatable)")
	return c
}
