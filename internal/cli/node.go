package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"tandem/internal/api"
)

func nodeCmd(g *globals) *cobra.Command {
	c := &cobra.Command{
		Use:     "node",
		Short:   "Commands about one cluster member",
		Long:    "node groups the commands that act on one member of the cluster.",
		Example: "  tandem node rejoin b",
	}
	c.AddCommand(&cobra.Command{
		Use:   "rejoin NAME",
		Short: "Let a voter whose raft state was lost vote again (majority mode)",
		Long: `rejoin lets NAME vote again after its raft state (raft.json in state_dir) was
found missing or corrupt. Until then NAME follows the replicated state and may
run resources, but does not vote: it may have voted in a term it no longer
remembers, and voting again in that term could elect two DCs. After rejoin it
votes only in terms above the highest it has seen.

Run it on NAME itself, once you are sure it is the machine it was (not a
copy of another member's disk).`,
		Example: "  tandem node rejoin b",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := api.NewClient(g.socketPath("")).Rejoin(cmd.Context(), args[0]); err != nil {
				return err
			}
			fmt.Fprintf(g.stdout, "%s votes again\n", args[0])
			return nil
		},
	})
	return c
}
