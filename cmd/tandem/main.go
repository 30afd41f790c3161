// Command tandem is the cluster agent, the witness and the CLI in one binary.
package main

import (
	"os"

	"tandem/internal/cli"
)

func main() {
	os.Exit(cli.Main(os.Args[1:], os.Stdout, os.Stderr))
}
