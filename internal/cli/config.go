package cli

import (
	"fmt"
	"log/slog"
	"os"

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
	var node string
	check := &cobra.Command{
		Use:   "check FILE",
		Short: "Validate a config file and print a summary, failover bounds and warnings",
		Long: `check loads the config as the agent would and, if it is valid, explains it:
nodes and links, each resource with its timeouts, the start order of each
group, the worst-case failover time of each group, and warnings about what can
go wrong (for example two nodes without fencing or a witness). It also runs
each OCF agent's meta-data action to check the resource's params, and checks
that every OCF agent and LSB init script is installed on this machine (as the
agent does at its start), and, when this machine is one of the nodes (--node,
default the hostname), that it can bind the floating IP FreeSWITCH listens on
(net.ipv4.ip_nonlocal_bind). Errors name file:line:column and the field; the
exit status is then 2.`,
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
			rep := config.Check(m)
			// What only this machine can tell (sysctls), when it is one of the nodes.
			if node == "" {
				node, _ = os.Hostname()
			}
			rep.Warnings = append(rep.Warnings, agent.HostWarnings(m, node)...)
			fmt.Fprint(g.stdout, rep.String())
			return nil
		},
	}
	check.Flags().StringVar(&node, "node", "", "this machine's node name in the config, for the checks of this machine (default: the hostname)")
	c.AddCommand(check)
	return c
}
