package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"tandem/internal/api"
)

// adminCmds are the operator's instructions. Each goes to the local agent,
// which writes it to the cluster's state log: every node sees it, it
// survives restarts, and `tandem status` shows it until it is undone.
func adminCmds(g *globals) []*cobra.Command {
	send := func(cmd *cobra.Command, req api.AdminRequest, done string) error {
		if err := api.NewClient(g.socketPath("")).Admin(cmd.Context(), req); err != nil {
			return err
		}
		fmt.Fprintln(g.stdout, done)
		return nil
	}
	simple := func(use, short, long, example string, args int, req func([]string) (api.AdminRequest, string)) *cobra.Command {
		return &cobra.Command{
			Use: use, Short: short, Long: long, Example: example,
			Args: cobra.ExactArgs(args),
			RunE: func(cmd *cobra.Command, a []string) error {
				r, done := req(a)
				return send(cmd, r, done)
			},
		}
	}
	standby := simple("standby NODE", "Move every resource off NODE and keep it empty",
		`standby empties NODE: its groups move to the best other node, as if it
were banned everywhere, and nothing starts there until `+"`tandem online NODE`"+`.
Pacemaker's node standby.`,
		"  tandem standby a", 1,
		func(a []string) (api.AdminRequest, string) {
			return api.AdminRequest{Op: "standby", Node: a[0]}, "node " + a[0] + " in standby: its resources move away"
		})
	online := simple("online NODE", "Let NODE run resources again after standby", "", "  tandem online a", 1,
		func(a []string) (api.AdminRequest, string) {
			return api.AdminRequest{Op: "online", Node: a[0]}, "node " + a[0] + " online"
		})
	maint := &cobra.Command{
		Use:   "maintenance on|off [NODE]",
		Short: "Leave resources as they are (the cluster, or one node) for an upgrade",
		Long: `maintenance on leaves resources exactly as they are — on every node, or on
NODE only: nothing is started, stopped, monitored or taken over. While a node
is in maintenance its agent may be stopped (SIGTERM, an upgrade) without its
resources stopping and without a peer taking them over; the restarted agent
finds them running and keeps them. Resources of type exec are the agent's own
child processes and stop with it; floating IPs, lsb, ocf, systemd and
freeswitch resources stay up. maintenance off manages them again: turn it
off only once every agent is back. In majority mode stop a node's agent only
once tandem status shows "held" on its line: its floating IPs are then held
open outside the lease (docs/admin.md).`,
		Example: "  tandem maintenance on b\n  systemctl restart tandem   # on b\n  tandem maintenance off b",
		Args:    cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, a []string) error {
			req := api.AdminRequest{}
			switch a[0] {
			case "on":
				req.Op = "maintenance-on"
			case "off":
				req.Op = "maintenance-off"
			default:
				return fmt.Errorf("maintenance %q: want on or off", a[0])
			}
			who := "the cluster"
			if len(a) == 2 {
				req.Node, who = a[1], "node "+a[1]
			}
			return send(cmd, req, who+" maintenance "+a[0])
		},
	}
	var lifetime string
	move := &cobra.Command{
		Use:   "move RES NODE [--lifetime D]",
		Short: "Move a group or resource to NODE and keep it there",
		Long: `move runs RES (a group, resource or clone) on NODE: it weighs +INFINITY there
until ` + "`tandem clear RES`" + ` or, with --lifetime, until the time is up. Unlike
Pacemaker's crm_resource --move no hidden constraint is left behind: the move
shows in ` + "`tandem status`" + ` and in ` + "`tandem explain`" + ` until it is cleared or
lapses. A failure ban on NODE still wins (clean it up first).`,
		Example: "  tandem move voice b\n  tandem move voice b --lifetime 30m",
		Args:    cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, a []string) error {
			done := "moving " + a[0] + " to " + a[1]
			if lifetime != "" {
				done += " for " + lifetime
			}
			return send(cmd, api.AdminRequest{Op: "move", Resource: a[0], Node: a[1], Lifetime: lifetime}, done)
		},
	}
	move.Flags().StringVar(&lifetime, "lifetime", "", "the move lapses after this long (e.g. 30m)")
	ban := simple("ban RES NODE", "Keep a group or resource off NODE", `ban keeps RES off NODE (-INFINITY) until `+"`tandem clear RES`"+`.`,
		"  tandem ban voice a", 2,
		func(a []string) (api.AdminRequest, string) {
			return api.AdminRequest{Op: "ban", Resource: a[0], Node: a[1]}, a[0] + " banned from " + a[1]
		})
	clear := simple("clear RES", "Drop the moves and bans of a group or resource", "", "  tandem clear voice", 1,
		func(a []string) (api.AdminRequest, string) {
			return api.AdminRequest{Op: "clear", Resource: a[0]}, "moves and bans of " + a[0] + " cleared"
		})
	var confirm string
	cleanup := &cobra.Command{
		Use:   "cleanup RES [NODE] | cleanup --confirm-stopped NODE [RES]",
		Short: "Forget the failures of a group or resource (on NODE, or everywhere)",
		Long: `cleanup resets the fail counts of RES (every member of a group) on NODE, or
on every node: a resource banned by migration-threshold or a failed start may
run there again, and may move back if its scores say so. A member blocked
(its stop failed, or on_fail: block) is probed again where it is blocked:
found stopped, it is unblocked; found running, it is managed again.

A blocked resource may still run, so no other node starts its group, not even
after the blocked node dies, until that node comes back and probes it. If the
node is known to be off (powered down, not merely unreachable), --confirm-stopped
NODE lets the group start elsewhere: if NODE is in fact up, the service then
runs twice.`,
		Example: "  tandem cleanup voice\n  tandem cleanup fs a\n  tandem cleanup --confirm-stopped a",
		Args:    cobra.RangeArgs(0, 2),
		RunE: func(cmd *cobra.Command, a []string) error {
			if confirm != "" {
				if len(a) > 1 {
					return fmt.Errorf("cleanup --confirm-stopped NODE takes at most one resource")
				}
				req, done := api.AdminRequest{Op: "confirm-stopped", Node: confirm}, "confirmed: nothing blocked on "+confirm+" runs any more"
				if len(a) == 1 {
					req.Resource, done = a[0], "confirmed: "+a[0]+" does not run on "+confirm
				}
				return send(cmd, req, done)
			}
			if len(a) == 0 {
				return fmt.Errorf("cleanup: which resource? tandem cleanup RES [NODE]")
			}
			req, done := api.AdminRequest{Op: "cleanup", Resource: a[0]}, "failures of "+a[0]+" forgotten"
			if len(a) == 2 {
				req.Node, done = a[1], done+" on "+a[1]
			}
			return send(cmd, req, done)
		},
	}
	cleanup.Flags().StringVar(&confirm, "confirm-stopped", "", "NODE is off: unblock what its failed stops held")
	enable := simple("enable RES", "Let a disabled group or resource run again", "", "  tandem enable voice", 1,
		func(a []string) (api.AdminRequest, string) {
			return api.AdminRequest{Op: "enable", Resource: a[0]}, a[0] + " enabled"
		})
	disable := simple("disable RES", "Stop a group or resource everywhere and keep it stopped", `disable stops RES on every node (Pacemaker's target-role=Stopped) until
`+"`tandem enable RES`"+`. A group stops in reverse order.`, "  tandem disable voice", 1,
		func(a []string) (api.AdminRequest, string) {
			return api.AdminRequest{Op: "disable", Resource: a[0]}, a[0] + " disabled: stopping everywhere"
		})
	return []*cobra.Command{standby, online, maint, move, ban, clear, cleanup, enable, disable, fenceCmd(g, send)}
}

// fenceCmd is tandem fence confirm: the operator's word for a fence that
// cannot succeed (a dead BMC, a node whose power the operator pulled).
func fenceCmd(g *globals, send func(*cobra.Command, api.AdminRequest, string) error) *cobra.Command {
	c := &cobra.Command{
		Use:     "fence",
		Short:   "Fencing overrides",
		Long:    "fence groups the operator's commands about fencing (docs/fencing.md).",
		Example: "  tandem fence confirm b --yes-node-is-off",
	}
	var sure bool
	confirm := &cobra.Command{
		Use:   "confirm NODE --yes-node-is-off",
		Short: "Tell this node that NODE is off, as a successful fence would",
		Long: `confirm stands in for a fence of NODE that cannot succeed (its BMC is dead,
its power cable pulled by hand): this node then takes over NODE's groups and
forgets the stops that failed there, as after a fence. It asks for
--yes-node-is-off because, if NODE is in fact running, both nodes run its
resources. Pacemaker's stonith_admin --confirm.`,
		Example: "  tandem fence confirm b --yes-node-is-off",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, a []string) error {
			if !sure {
				return fmt.Errorf("this lets this node take over what %s may still run: if %s is really off, repeat with --yes-node-is-off", a[0], a[0])
			}
			return send(cmd, api.AdminRequest{Op: "fence-confirm", Node: a[0]}, a[0]+" confirmed off")
		},
	}
	confirm.Flags().BoolVar(&sure, "yes-node-is-off", false, "confirm that NODE is powered off")
	c.AddCommand(confirm)
	return c
}
