package cli

import (
	"context"
	"fmt"
	"io"
	"net/netip"
	"os"
	"time"

	"github.com/spf13/cobra"

	"tandem/internal/lab"
	"tandem/internal/probe"
)

func demoCmd(g *globals) *cobra.Command {
	var verbose bool
	c := &cobra.Command{
		Use:   "demo",
		Short: "Run a real two-node cluster in network namespaces, kill the active node and measure the failover",
		Long: `demo builds two node namespaces and an observer on a bridge (addresses from
198.18.0.0/24), starts two tandem agents that share a floating IP and a UDP echo
service, shows status, kills the active node (link down + SIGKILL), prints the
outage the observer measured and status again, and removes everything — also on
Ctrl-C or error. Needs root.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if os.Geteuid() != 0 {
				return fmt.Errorf("demo needs root: it creates network namespaces")
			}
			var logw io.Writer = io.Discard
			if verbose {
				logw = g.stderr
			}
			err := runDemo(cmd.Context(), g.stdout, logw)
			if err != nil && cmd.Context().Err() != nil {
				return fmt.Errorf("interrupted; everything the demo made is removed")
			}
			return err
		},
	}
	c.Flags().BoolVarP(&verbose, "verbose", "v", false, "show the agents' logs")
	return c
}

func runDemo(ctx context.Context, out io.Writer, agentLog io.Writer) (err error) {
	say := func(f string, a ...any) { fmt.Fprintf(out, f+"\n", a...) }
	say("• building namespaces: tdemo-a, tdemo-b (nodes), tdemo-obs (observer), bridged on 198.18.0.0/24")
	cl, err := lab.Start(ctx, lab.Spec{
		Prefix: "tdemo", Nodes: []string{"a", "b"}, Links: 1,
		Stickiness: 100, Prefer: "a", PreferScore: 50, WaitForAll: true,
		Log: agentLog,
	})
	if err != nil {
		return err
	}
	defer func() {
		say("• cleaning up: agents stopped, namespaces removed")
		if cerr := cl.Close(); cerr != nil && err == nil {
			err = cerr
		}
	}()
	say("• agents started; waiting for the cluster to place the floating IP %s and the echo service", lab.Floating)
	if err := cl.WaitActive(ctx, "a", 20*time.Second); err != nil {
		return err
	}
	target := netip.AddrPortFrom(lab.Floating, lab.EchoPort)
	pr := probe.NewProber(target, 10*time.Millisecond)
	pctx, stopProbe := context.WithCancel(ctx)
	defer stopProbe()
	perr := make(chan error, 1)
	if err := cl.Topo.Do("obs", func() error { return pr.Listen() }); err != nil {
		return err
	}
	go func() { perr <- pr.Run(pctx) }()
	if err := lab.WaitFor(ctx, 5*time.Second, "echo answers through the floating IP", func() (bool, error) {
		return pr.Answering() == "a", nil
	}); err != nil {
		return err
	}
	st, err := cl.Status(ctx, "b")
	if err != nil {
		return err
	}
	say("\n$ tandem status   (on b)")
	WriteStatus(out, st, false)
	say("\n• the observer sends a UDP datagram to %s every 10 ms; node a answers", target)
	time.Sleep(time.Second)
	say("• killing node a: link down + SIGKILL of its agent")
	killed := time.Now()
	if err := cl.Topo.SetLink("a", 0, false); err != nil {
		return err
	}
	if err := cl.Kill("a"); err != nil {
		return err
	}
	if err := lab.WaitFor(ctx, 15*time.Second, "b answers", func() (bool, error) {
		return pr.Answering() == "b", nil
	}); err != nil {
		return err
	}
	took := time.Since(killed)
	time.Sleep(500 * time.Millisecond)
	stopProbe()
	<-perr
	sent, recv := pr.Stats()
	outs := pr.Outages(30 * time.Millisecond)
	say("• b took over; the observer saw:")
	for _, o := range outs {
		say("    outage %v (last answer from %s, next from %s)", o.Duration().Round(time.Millisecond), o.Before, o.After)
	}
	say("    %d probes sent, %d answered; first answer from b %v after the kill", sent, recv, took.Round(time.Millisecond))
	st, err = cl.Status(ctx, "b")
	if err != nil {
		return err
	}
	say("\n$ tandem status   (on b)")
	WriteStatus(out, st, false)
	return nil
}
