package cli

import (
	"fmt"
	"log/slog"

	"github.com/spf13/cobra"

	"tandem/internal/agent"
	"tandem/internal/config"
)

func configCmd(g *globals) *cobra.Command {
	c := &cobra.Command{
		Use:     "config",
		Short:   "Work with the config file",
		Long:    "config groups the commands that work on a config file without an agent.",
		Example: "  tandem config check /etc/tandem/tandem.yaml",
	}
	c.AddCommand(&cobra.Command{
		Use:   "check FILE",
		Short: "Validate a config file and print a summary, failover bounds and warnings",
		Long: `check loads the config as the agent would and, if it is valid, explains it:
nodes and links, each resource with its timeouts, the start order of each
group, the worst-case failover time of each group, and warnings about what can
go wrong (for example two nodes without fencing or a witness). It also runs
each OCF agent's meta-data action to check the resource's params, and checks
that every OCF agent and LSB init script is installed on this machine (as the
agent does at its start). Errors name file:line:column and the field; the exit
status is then 2.`,
		Example: "  tandem config check /etc/tandem/tandem.yaml",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			m, err := config.Load(args[0])
			if err != nil {
				return &exitError{code: 2, err: err}
			}
			// Load runs nothing; the ocf agents' meta-data and the installed
			// agents and init scripts are checked here and at the agent's start.
			log := slog.New(slog.NewTextHandler(g.stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
			if err := agent.CheckAgents(cmd.Context(), m, log); err != nil {
				return &exitError{code: 2, err: err}
			}
			fmt.Fprint(g.stdout, config.Check(m).String())
			return nil
		},
	})
	return c
}
