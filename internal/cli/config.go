package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"tandem/internal/config"
)

func configCmd(g *globals) *cobra.Command {
	c := &cobra.Command{Use: "config", Short: "Work with the config file"}
	c.AddCommand(&cobra.Command{
		Use:   "check FILE",
		Short: "Validate a config file and print a summary, failover bounds and warnings",
		Args:  cobra.ExactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			m, err := config.Load(args[0])
			if err != nil {
				return &exitError{code: 2, err: err}
			}
			fmt.Fprint(g.stdout, config.Check(m).String())
			return nil
		},
	})
	return c
}
