package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"tandem/internal/api"
)

func quorumCmd(g *globals) *cobra.Command {
	c := &cobra.Command{
		Use:     "quorum",
		Short:   "Quorum overrides",
		Long:    "quorum groups the commands with which an operator overrides the quorum rules.",
		Example: "  tandem quorum unblock --yes-peer-is-down",
	}
	var sure bool
	c.AddCommand(&cobra.Command{
		Use:   "unblock --yes-peer-is-down",
		Short: "Let a lone survivor start resources without having seen its peer (wait_for_all)",
		Long: `unblock releases wait_for_all on this node: with wait_for_all a node that
starts alone holds its resources until it has seen every peer once, because a
peer it cannot hear may still be running them. If the peer is known to be
down (powered off, not only unreachable), unblock lets this node start them.
It asks for --yes-peer-is-down because, if the peer is in fact up, both nodes
run the resources.`,
		Example: "  tandem quorum unblock --yes-peer-is-down",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !sure {
				return fmt.Errorf("this lets this node take resources the peer may still hold: if the peer is really down, repeat with --yes-peer-is-down")
			}
			if err := api.NewClient(g.socketPath("")).Unblock(cmd.Context()); err != nil {
				return err
			}
			fmt.Fprintln(g.stdout, "wait_for_all released on this node")
			return nil
		},
	})
	c.Commands()[0].Flags().BoolVar(&sure, "yes-peer-is-down", false, "confirm that the peer is down")
	return c
}
