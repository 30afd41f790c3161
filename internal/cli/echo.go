package cli

import (
	"fmt"
	"net/netip"

	"github.com/spf13/cobra"

	"tandem/internal/probe"
)

// echoCmd is the demo's service: a UDP echo that names the node answering.
func echoCmd(g *globals) *cobra.Command {
	var listen, name string
	c := &cobra.Command{
		Use:   "echo --listen ADDR:PORT --name NODE",
		Short: "UDP echo service used by the demo and the end-to-end tests",
		Long: `echo answers every UDP datagram on --listen with the datagram and the
--name of the node, so an observer sees which node answered. The demo and the
end-to-end tests run it as the service behind the floating IP.`,
		Example: "  tandem echo --listen 198.18.0.100:7777 --name a",
		Hidden:  true,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ap, err := netip.ParseAddrPort(listen)
			if err != nil {
				return fmt.Errorf("--listen %q: %w (want ADDR:PORT)", listen, err)
			}
			return probe.Echo(cmd.Context(), ap, name)
		},
	}
	c.Flags().StringVar(&listen, "listen", "", "address and port to bind (the floating IP)")
	c.Flags().StringVar(&name, "name", "", "node name put in every reply")
	return c
}
