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
