package e2e

import (
	"math"
	"net"
	"testing"
	"time"

	"github.com/vishvananda/netlink"

	"tandem/internal/config"
	"tandem/internal/gate"
	"tandem/internal/lab"
)

// Issue 4, item 4, in majority mode: maintenance on the active node a, its
// agent stopped (an upgrade) for longer than the R6 bound and started
// again. a's floating IP keeps answering — its gate held open outside the
// lease, its address without a lifetime — b never takes it, and out of
// maintenance the gate follows a's lease again: no start, no stop.
// Outages are logged, not asserted.
func TestMajorityMaintenanceUpgrade(t *testing.T) {
	s := majoritySpec("te2mmaint")
	s.LSBEcho = true // the service outlives its agent (an exec one would not)
	e := startMajoritySpec(t, s)
	e.serving("a")
	starts, stops := e.logLines("a", "start vip"), e.logLines("a", "stop echo")+e.logLines("a", "stop vip")

	t0 := time.Now()
	e.tandem("b", "maintenance", "on", "a")
	if err := lab.WaitFor(e.ctx, e.deadline, "a's hold committed (status: held)", func() (bool, error) {
		return e.status("a").Nodes[0].Held && e.status("b").Nodes[0].Held, nil
	}); err != nil {
		t.Fatal(err)
	}
	t.Logf("a holds its gate %v after tandem maintenance on a", time.Since(t0).Round(time.Millisecond))
	if left, lft := e.gateLeft("a"), e.addrLifetime("a"); left < 24*time.Hour || lft != math.MaxUint32 {
		t.Fatalf("a's gate has %v left and its address valid_lft %d: want a hold (days) and forever", left, lft)
	}

	stopped := time.Now()
	if err := e.cl.Stop("a", 20*time.Second); err != nil {
		t.Fatal(err)
	}
	t.Logf("a's agent stopped in %v", time.Since(stopped).Round(time.Millisecond))
	// Past the election and the R2 wait (the R6 bound less the start
	// timeouts): without the hold, a's gate would have lapsed within a
	// lease and b answered within this (takeovers measure 7–9 s here).
	m, err := config.Load(e.cl.Config())
	if err != nil {
		t.Fatal(err)
	}
	wait, _ := m.ReassignWait(m.Groups[0])
	watch := 2*m.Timing.ElectionTimeout() + wait + 2*time.Second
	for end := time.Now().Add(watch); time.Now().Before(end); { // bounded: the watch, 50 ms apart
		if has, err := e.cl.HasFloating("a"); err != nil || !has || !e.gateOpen("a") {
			t.Fatalf("a lost its address or gate while its agent was stopped in maintenance (%v)", err)
		}
		if has, err := e.cl.HasFloating("b"); err != nil || has {
			t.Fatalf("b took the floating address while a was in maintenance (%v)", err)
		}
		select {
		case <-e.ctx.Done():
			t.Fatal(e.ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
	if n := e.pr.Answering(); n != "a" {
		t.Fatalf("the service answers from %q while a's agent is stopped, want a", n)
	}
	if e.logLines("b", "start vip") > 0 {
		t.Fatal("b started the address while a was in maintenance")
	}
	if err := e.cl.StartAgent("a"); err != nil {
		t.Fatal(err)
	}
	e.waitActive("a")
	t.Logf("a's agent back %v after it stopped (watched %v); the address stayed on a", time.Since(stopped).Round(time.Millisecond), watch)

	e.tandem("b", "maintenance", "off", "a")
	if err := lab.WaitFor(e.ctx, e.deadline, "a's hold cleared", func() (bool, error) {
		return !e.status("a").Nodes[0].Held && !e.status("b").Nodes[0].Held, nil
	}); err != nil {
		t.Fatal(err)
	}
	if left, lft := e.gateLeft("a"), e.addrLifetime("a"); left <= 0 || left > m.Timing.Lease || lft > uint32(gate.Lifetime(m.Timing.Lease)/time.Second) {
		t.Fatalf("out of maintenance a's gate has %v left and its address valid_lft %d s: want at most the lease (%v) and its backstop", left, lft, m.Timing.Lease)
	}
	e.waitAnswering("a")
	e.exactlyOne("a")
	if n := e.logLines("a", "start vip"); n != starts {
		t.Fatalf("a started the address again after its agent's restart (%d starts, %d before)", n, starts)
	}
	if n := e.logLines("a", "stop echo") + e.logLines("a", "stop vip"); n != stops {
		t.Fatal("a stopped something around its upgrade")
	}
	e.logOutages()
	e.noDoubleAnswers()
}

// gateLeft is what node n's lease gate element has left (0: none).
func (e *env) gateLeft(n string) time.Duration {
	e.t.Helper()
	var left time.Duration
	if err := e.cl.Topo.Do(n, func() error {
		g, err := gate.New("eth0", lab.Floating)
		if err != nil {
			return err
		}
		_, left, err = g.Valid(e.ctx)
		return err
	}); err != nil {
		e.t.Fatal(err)
	}
	return left
}

// addrLifetime is the valid_lft of the floating address on node n, in
// seconds (MaxUint32: forever; 0: no address).
func (e *env) addrLifetime(n string) uint32 {
	e.t.Helper()
	var lft uint32
	if err := e.cl.Topo.Do(n, func() error {
		l, err := netlink.LinkByName("eth0")
		if err != nil {
			return err
		}
		as, err := netlink.AddrList(l, netlink.FAMILY_V4)
		if err != nil {
			return err
		}
		for _, a := range as {
			if a.IP.Equal(net.IP(lab.Floating.AsSlice())) {
				lft = uint32(a.ValidLft)
			}
		}
		return nil
	}); err != nil {
		e.t.Fatal(err)
	}
	return lft
}
