package cli

import (
	"fmt"
	"log/slog"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"tandem/internal/agent"
	"tandem/internal/config"
)

func agentCmd(g *globals) *cobra.Command {
	var cfgPath, nodeName, logFormat, logLevel, stateDir string
	c := &cobra.Command{
		Use:   "agent --config FILE [--node NAME]",
		Short: "Run the cluster agent on this node",
		Long: `agent is the daemon that runs on every cluster node: it exchanges
authenticated heartbeats with the peers on every link, decides with them where
each group runs, and starts, stops and monitors the resources placed here.

It runs in the foreground and logs to stderr. Under systemd
(dist/systemd/tandem.service, Type=notify) it reports READY=1 once its links
are bound and its API socket listens, pings the watchdog from its event loop,
and reports STOPPING=1 when it begins to stop. SIGTERM (or Ctrl-C) stops it
gracefully: it stops its groups in reverse order, so the peer takes them over
at once, tells the peers and exits.`,
		Example: `  tandem agent --config /etc/tandem/tandem.yaml
  tandem agent --config ./tandem.yaml --node node1 --state-dir /tmp/t1 --socket /tmp/t1.sock --log-format json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			m, err := config.Load(cfgPath)
			if err != nil {
				return err
			}
			if nodeName == "" {
				if nodeName, err = os.Hostname(); err != nil {
					return fmt.Errorf("node name: %w (use --node NAME)", err)
				}
			}
			if stateDir != "" {
				m.StateDir = stateDir
			}
			log, err := newLogger(g, logFormat, logLevel)
			if err != nil {
				return err
			}
			return agent.Run(cmd.Context(), agent.Options{Model: m, Self: nodeName, Socket: g.socketPath(m.Socket), Log: log})
		},
	}
	c.Flags().StringVar(&cfgPath, "config", "/etc/tandem/tandem.yaml", "config file")
	c.Flags().StringVar(&nodeName, "node", "", "this node's name in the config (default: the hostname)")
	c.Flags().StringVar(&stateDir, "state-dir", "", "state directory (default: the config's state_dir, else "+config.DefaultStateDir+")")
	c.Flags().StringVar(&logFormat, "log-format", "text", "log format: text or json")
	c.Flags().StringVar(&logLevel, "log-level", "info", "log level: debug, info, warn, error")
	return c
}

// witnessCmd runs the agent as a witness: the same binary, wire and key,
// voting in majority mode and never running a resource.
func witnessCmd(g *globals) *cobra.Command {
	var cfgPath, name, logFormat, logLevel, stateDir string
	c := &cobra.Command{
		Use:   "witness --config FILE [--name NAME]",
		Short: "Run a quorum witness (majority mode): votes, never runs resources",
		Long: `witness runs the agent for one of the config's witnesses: it heartbeats with
every node, votes in the election of the DC and holds a copy of the
replicated cluster state, so two nodes plus a witness keep a majority when
either node fails or the link between them is cut. It never runs a
resource, and when it is elected DC it hands the role to a node at once.

Put the witness where the clients are (on the client network, not on one
of the nodes or their hypervisor): it then sides with the node the clients
can reach. It uses the same config file and key as the nodes.`,
		Example: `  tandem witness --config /etc/tandem/tandem.yaml --name w1`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			m, err := config.Load(cfgPath)
			if err != nil {
				return err
			}
			if name == "" {
				if name, err = os.Hostname(); err != nil {
					return fmt.Errorf("witness name: %w (use --name NAME)", err)
				}
			}
			found := false
			var names []string
			for _, w := range m.Witnesses {
				names = append(names, w.Name)
				found = found || w.Name == name
			}
			if !found {
				return fmt.Errorf("%s: %q is not one of the witnesses (%s): list it under witnesses:, with quorum.mode: majority", cfgPath, name, strings.Join(names, ", "))
			}
			if stateDir != "" {
				m.StateDir = stateDir
			}
			log, err := newLogger(g, logFormat, logLevel)
			if err != nil {
				return err
			}
			return agent.Run(cmd.Context(), agent.Options{Model: m, Self: name, Socket: g.socketPath(m.Socket), Log: log})
		},
	}
	c.Flags().StringVar(&cfgPath, "config", "/etc/tandem/tandem.yaml", "config file")
	c.Flags().StringVar(&name, "name", "", "this witness's name in the config (default: the hostname)")
	c.Flags().StringVar(&stateDir, "state-dir", "", "state directory (default: the config's state_dir, else "+config.DefaultStateDir+")")
	c.Flags().StringVar(&logFormat, "log-format", "text", "log format: text or json")
	c.Flags().StringVar(&logLevel, "log-level", "info", "log level: debug, info, warn, error")
	return c
}

func newLogger(g *globals, format, level string) (*slog.Logger, error) {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level %q: allowed: debug, info, warn, error", level)
	}
	opts := &slog.HandlerOptions{Level: lvl}
	switch strings.ToLower(format) {
	case "text":
		return slog.New(slog.NewTextHandler(g.stderr, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(g.stderr, opts)), nil
	}
	return nil, fmt.Errorf("--log-format %q: allowed: text, json", format)
}
