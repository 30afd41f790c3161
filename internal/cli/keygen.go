package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"tandem/internal/authkey"
)

func keygenCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "keygen FILE",
		Short: "Write a new random cluster key (mode 0600); copy it to every node",
		Args:  cobra.ExactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			if err := authkey.Generate(args[0]); err != nil {
				return err
			}
			fmt.Fprintf(g.stdout, "wrote %s (mode 0600): copy it to every node, e.g. scp -p %s PEER:%s\n", args[0], args[0], args[0])
			return nil
		},
	}
}
