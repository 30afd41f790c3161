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
		Long: `keygen writes a new random 256-bit key that authenticates and encrypts
every heartbeat. Run it once, on one node, then copy the file to every node
keeping its mode (scp -p); the config's key_file names it. It never overwrites
an existing key: nodes with different keys cannot hear each other.`,
		Example: `  tandem keygen /etc/tandem/authkey
  scp -p /etc/tandem/authkey node2:/etc/tandem/authkey`,
		Args: cobra.ExactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			if err := authkey.Generate(args[0]); err != nil {
				return err
			}
			fmt.Fprintf(g.stdout, "wrote %s (mode 0600): copy it to every node, e.g. scp -p %s PEER:%s\n", args[0], args[0], args[0])
			return nil
		},
	}
}
