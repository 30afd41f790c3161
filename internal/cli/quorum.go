package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"tandem/internal/api"
)

func quorumCmd(g *globals) *cobra.Command {
	c := &cobra.Command{Use: "quorum", Short: "Quorum overrides"}
	var sure bool
	c.AddCommand(&cobra.Command{
		Use:   "unblock --yes-peer-is-down",
		Short: "Let a lone survivor start resources without having seen its peer (wait_for_all)",
		Args:  cobra.NoArgs,
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
