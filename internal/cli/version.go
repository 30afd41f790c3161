package cli

import (
	"encoding/json"
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"

	"github.com/spf13/cobra"

	"tandem/internal/agent"
	"tandem/internal/status"
	"tandem/internal/wire"
)

// version is set at link time for a release build:
//
//	go build -ldflags "-X tandem/internal/cli.version=v1.2.0" ./cmd/tandem
//
// Without it the version comes from the build's VCS stamp.
var version string

// versionInfo is what `tandem version` prints.
type versionInfo struct {
	Version      string `json:"version"`
	Revision     string `json:"revision,omitempty"`
	RevisionTime string `json:"revision_time,omitempty"`
	Modified     bool   `json:"modified,omitempty"`
	Go           string `json:"go"`
	Platform     string `json:"platform"`
	Wire         int    `json:"wire_protocol"`
	StatusSchema int    `json:"status_schema"`
	StateFormat  int    `json:"state_format"`
}

func buildVersion() versionInfo {
	v := versionInfo{Version: version, Go: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH,
		Wire: wire.Version, StatusSchema: status.Schema, StateFormat: agent.StateFormat}
	if bi, ok := debug.ReadBuildInfo(); ok {
		if v.Version == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			v.Version = bi.Main.Version
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				v.Revision = s.Value
			case "vcs.time":
				v.RevisionTime = s.Value
			case "vcs.modified":
				v.Modified = s.Value == "true"
			}
		}
	}
	if v.Version == "" {
		v.Version = "devel"
	}
	return v
}

// short is the one-line version: "v1.2.0", "devel+3fe9710c4a1b" or
// "devel+3fe9710c4a1b-dirty".
func (v versionInfo) short() string {
	s := v.Version
	if v.Revision != "" && v.Version == "devel" {
		s += "+" + v.Revision[:min(12, len(v.Revision))]
		if v.Modified {
			s += "-dirty"
		}
	}
	return s
}

func (v versionInfo) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "tandem %s\n", v.short())
	if v.Revision != "" {
		fmt.Fprintf(&b, "revision:       %s", v.Revision)
		if v.RevisionTime != "" {
			fmt.Fprintf(&b, " (%s)", v.RevisionTime)
		}
		if v.Modified {
			b.WriteString(", modified")
		}
		b.WriteString("\n")
	}
	fmt.Fprintf(&b, "go:             %s %s\n", v.Go, v.Platform)
	fmt.Fprintf(&b, "wire protocol:  %d\n", v.Wire)
	fmt.Fprintf(&b, "status schema:  %d\n", v.StatusSchema)
	fmt.Fprintf(&b, "state format:   %d\n", v.StateFormat)
	return b.String()
}

func versionCmd(g *globals) *cobra.Command {
	var asJSON bool
	c := &cobra.Command{
		Use:   "version [--json]",
		Short: "Print the version, and the wire, status and state-dir format versions",
		Long: `version prints tandem's version (set at link time, else the source revision
it was built from), the Go version, and the versions of what it exchanges with
other nodes and programs:

  wire protocol  the heartbeat packet format; nodes drop packets of another
  status schema  the shape of ` + "`tandem status --json`" + ` (docs/status.md)
  state format   the files in state_dir (incarnation, cluster-state.json,
                 events.json)

Compare it on both nodes before a rolling upgrade.`,
		Example: "  tandem version\n  tandem version --json | jq .wire_protocol",
		Args:    cobra.NoArgs,
		RunE: func(_ *cobra.Command, _ []string) error {
			v := buildVersion()
			if !asJSON {
				_, err := fmt.Fprint(g.stdout, v)
				return err
			}
			b, err := json.MarshalIndent(v, "", "  ")
			if err != nil {
				return err
			}
			_, err = fmt.Fprintf(g.stdout, "%s\n", b)
			return err
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print the versions as a JSON object")
	return c
}
