// Package cli is tandem's command tree. Commands talk to the local agent only
// through api.Client; nothing here keeps package-level state.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"tandem/internal/config"
)

// exitError carries a specific exit code out of a command.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }

// globals are the flags every command shares.
type globals struct {
	socket string
	stdout io.Writer
	stderr io.Writer
}

// socketPath resolves the API socket: --socket, then TANDEM_SOCKET, then the
// config file's (for the agent), then the default.
func (g *globals) socketPath(fromConfig string) string {
	switch {
	case g.socket != "":
		return g.socket
	case os.Getenv("TANDEM_SOCKET") != "":
		return os.Getenv("TANDEM_SOCKET")
	case fromConfig != "":
		return fromConfig
	}
	return config.DefaultSocket
}

// Main runs the CLI with args and returns the exit code.
func Main(args []string, stdout, stderr io.Writer) int {
	g := &globals{stdout: stdout, stderr: stderr}
	root := newRoot(g)
	root.SetArgs(args)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := root.ExecuteContext(ctx); err != nil {
		fmt.Fprintln(stderr, "tandem:", err)
		var ee *exitError
		if errors.As(err, &ee) {
			return ee.code
		}
		return 1
	}
	return 0
}

const rootLong = `tandem keeps floating IP addresses and the services behind them available
on a group of Linux servers — Heartbeat and Pacemaker as one binary with one
YAML file. Run ` + "`tandem agent`" + ` on every node (dist/systemd/tandem.service);
the other commands talk to the local agent over its root-only unix socket.

Every command takes --socket PATH (or TANDEM_SOCKET). Shell completion:
` + "`tandem completion bash|zsh|fish --help`" + ` says how to install it.`

// newRoot builds the command tree; tests walk it.
func newRoot(g *globals) *cobra.Command {
	root := &cobra.Command{
		Use:           "tandem",
		Short:         "High-availability cluster manager: heartbeats, floating IPs and services",
		Long:          rootLong,
		Version:       buildVersion().short(),
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetVersionTemplate("tandem {{.Version}}\n")
	// `tandem completion bash|zsh|fish|powershell`: cobra's own, listed in help.
	root.CompletionOptions.DisableDefaultCmd = false
	root.SetOut(g.stdout)
	root.SetErr(g.stderr)
	root.PersistentFlags().StringVar(&g.socket, "socket", "", "agent API socket (default $TANDEM_SOCKET, else "+config.DefaultSocket+")")
	root.AddCommand(
		agentCmd(g),
		witnessCmd(g),
		statusCmd(g),
		configCmd(g),
		keygenCmd(g),
		quorumCmd(g),
		nodeCmd(g),
		demoCmd(g),
		echoCmd(g),
		versionCmd(g),
		reportCmd(g),
	)
	root.AddCommand(adminCmds(g)...)
	root.AddCommand(explainCmd(g), simulateCmd(g))
	return root
}
