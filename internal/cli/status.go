package cli

import (
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"tandem/internal/api"
	"tandem/internal/status"
)

func statusCmd(g *globals) *cobra.Command {
	var asJSON, watch bool
	var every time.Duration
	c := &cobra.Command{
		Use:   "status [--json] [--watch]",
		Short: "Show nodes, links, quorum and where resources run",
		Long: `status asks the local agent for its view of the cluster and prints it like
crm_mon -1: nodes and the state of each link (RTT, loss), quorum, where each
resource runs and its fail counts, warnings, dropped packets and the most
recent events. --json prints the whole document (schema in docs/status.md) for
scripts; --watch redraws it until interrupted.`,
		Example: `  tandem status
  tandem status --watch --interval 500ms
  tandem status --json | jq '.resources[] | {name, instances}'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cl := api.NewClient(g.socketPath(""))
			if asJSON {
				b, err := cl.StatusJSON(cmd.Context())
				if err != nil {
					return err
				}
				_, err = g.stdout.Write(b)
				return err
			}
			tty := false
			if f, ok := g.stdout.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
				tty = true
			}
			color := tty && os.Getenv("NO_COLOR") == ""
			for {
				st, err := cl.Status(cmd.Context())
				if !watch {
					if err != nil {
						return err
					}
					WriteStatus(g.stdout, st, color)
					return nil
				}
				var b strings.Builder
				if err != nil {
					fmt.Fprintf(&b, "%s\n", err)
				} else {
					WriteStatus(&b, st, color)
				}
				if tty {
					fmt.Fprint(g.stdout, "\x1b[H\x1b[2J") // redraw in place, like crm_mon
				} else {
					fmt.Fprintf(g.stdout, "--- %s\n", time.Now().Format(time.RFC3339))
				}
				fmt.Fprint(g.stdout, b.String())
				select {
				case <-cmd.Context().Done():
					return nil
				case <-time.After(every):
				}
			}
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print the status as JSON (schema in docs/status.md)")
	c.Flags().BoolVarP(&watch, "watch", "w", false, "redraw every --interval until interrupted")
	c.Flags().DurationVar(&every, "interval", time.Second, "redraw interval for --watch")
	return c
}

// WriteStatus prints st for people, like crm_mon -1; colour only on a terminal.
func WriteStatus(w io.Writer, st status.Status, color bool) {
	paint := func(s, code string) string {
		if !color {
			return s
		}
		return "\x1b[" + code + "m" + s + "\x1b[0m"
	}
	state := func(s string) string {
		switch s {
		case "online", "running", "up", "local":
			return paint(s, "32")
		case "offline", "dead", "failed", "blocked", "left":
			return paint(s, "31")
		}
		return paint(s, "33")
	}
	q := "quorate"
	if !st.Quorum.Quorate {
		q = "NOT quorate (waiting for " + strings.Join(st.Quorum.WaitingFor, ", ") + ")"
	}
	fmt.Fprintf(w, "Cluster %s — answered by %s (up %s), DC %s, config %s\n", st.Cluster, st.Node, st.Uptime, orDash(st.DC), st.ConfigHash)
	fmt.Fprintf(w, "Quorum: %s, %s, %d of %d votes\n", st.Quorum.Mode, q, st.Quorum.Votes, st.Quorum.Expected)
	if st.Maintenance {
		fmt.Fprintln(w, paint("MAINTENANCE: resources are left as they are (tandem maintenance off to manage them again)", "33"))
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NODE\tSTATE\tLINKS")
	for _, n := range st.Nodes {
		var links []string
		for _, l := range n.Links {
			s := l.Addr + " " + state(l.State)
			if l.RTT != "" {
				s += fmt.Sprintf(" rtt %s", l.RTT)
			}
			if l.Loss > 0 {
				s += fmt.Sprintf(" loss %.0f%%", l.Loss*100)
			}
			links = append(links, s)
		}
		name := n.Name
		if n.Role == "witness" {
			name += " (witness)"
		}
		if n.Self {
			name += " (self)"
		}
		ns := state(n.State)
		if n.Standby {
			ns += " " + paint("standby", "33")
		}
		if n.Maintenance {
			ns += " " + paint("maintenance", "33")
		}
		if n.Held {
			ns += " " + paint("held", "33")
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", name, ns, strings.Join(links, ", "))
		if len(n.Attributes) > 0 {
			var as []string
			for _, k := range slices.Sorted(maps.Keys(n.Attributes)) {
				as = append(as, k+"="+n.Attributes[k])
			}
			fmt.Fprintf(tw, "\t\tattributes: %s\n", strings.Join(as, " "))
		}
	}
	tw.Flush()
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "RESOURCE\tKIND\tGROUP\tWHERE\tFAILURES")
	for _, r := range st.Resources {
		var where []string
		for _, in := range r.Instances {
			where = append(where, in.Node+" "+state(in.State))
		}
		if len(where) == 0 {
			where = []string{paint("stopped", "2")}
		}
		var fails []string
		for n, c := range r.FailCounts {
			if c >= 1000000 {
				fails = append(fails, n+"=INFINITY")
			} else {
				fails = append(fails, fmt.Sprintf("%s=%d", n, c))
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", r.Name, r.Kind, orDash(r.Group), strings.Join(where, ", "), orDash(strings.Join(fails, " ")))
	}
	tw.Flush()
	if len(st.Operator) > 0 {
		// Shown like this, a move or ban cannot linger unnoticed.
		fmt.Fprintln(w, "\nOperator instructions (tandem clear / enable undo them):")
		for _, in := range st.Operator {
			line := in.Op + " " + in.Target
			switch in.Op {
			case "move":
				line += " to " + in.Node
			case "ban":
				line += " from " + in.Node
			}
			if in.Until != "" {
				line += " until " + in.Until
			}
			fmt.Fprintln(w, "  "+line)
		}
	}
	if len(st.Warnings) > 0 {
		fmt.Fprintln(w, "\nWarnings:")
		for _, x := range st.Warnings {
			fmt.Fprintln(w, "  "+paint("! ", "33")+x)
		}
	}
	if len(st.Drops) > 0 {
		var d []string
		for _, x := range st.Drops {
			d = append(d, fmt.Sprintf("%s %d", x.Reason, x.Count))
		}
		fmt.Fprintln(w, "\nDropped packets: "+strings.Join(d, ", "))
	}
	if n := len(st.Events); n > 0 {
		fmt.Fprintln(w, "\nRecent events:")
		for _, e := range st.Events[max(0, n-8):] {
			fmt.Fprintf(w, "  %8s  %s\n", e.At, e.Message)
		}
	}
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
