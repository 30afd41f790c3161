package e2e

import (
	"strings"
	"testing"
	"time"

	"tandem/internal/lab"
)

// Issue 7, two_node with fencing, in namespaces. Each node has a BMC:
// OpenIPMI's ipmi_sim, driven by Debian's real fence_ipmilan; its chassis
// power off downs every link of the node's namespace and kills every
// process in it (the lab's power switch). The echo service is an LSB one,
// detached from its agent: it keeps answering after the agent dies, so
// without fencing the survivor would run it next to it.

func fencingSpec(prefix string) lab.Spec {
	s := defaultSpec(prefix)
	s.LSBEcho, s.Fence, s.IPMI, s.FenceDelay = true, true, true, 2*time.Second
	return s
}

// bmcSays logs (and returns) what ipmitool reads from n's BMC.
func (e *env) bmcSays(n string) string {
	e.t.Helper()
	out, err := e.cl.BMCPower(n)
	if err != nil {
		e.t.Fatalf("ipmitool chassis power status for %s: %v\n%s", n, err, out)
	}
	e.t.Logf("ipmitool, %s's BMC: %s", n, out)
	return out
}

// The active node's agent is killed; the node, its address and its service
// stay up. The survivor fences it (after the delay: it runs nothing) and
// starts the group only once the power switch has confirmed it off.
func TestFencingBeforeTakeover(t *testing.T) {
	e := start(t, fencingSpec("te2fence"))
	e.killThenFencedTakeover("deadtime 1 s + delay 2 s")
}

// killThenFencedTakeover kills a's agent (its LSB service keeps answering)
// and checks that b answers, and only after a's BMC powered a off.
func (e *env) killThenFencedTakeover(fenceTook string) {
	t := e.t
	t.Helper()
	e.serving("a")
	killed := time.Now()
	if err := e.cl.Kill("a"); err != nil {
		t.Fatal(err)
	}
	took := e.waitAnswering("b")
	fenced := e.cl.FencedAt("a")
	if fenced.IsZero() {
		t.Fatal("b answers, but a was never fenced")
	}
	first, ok := e.firstAnswer("b", killed)
	if !ok {
		t.Fatal("no first answer from b recorded")
	}
	if at := killed.Add(first); at.Before(fenced) {
		t.Fatalf("b answered %v before a was fenced", fenced.Sub(at))
	}
	t.Logf("a's agent killed; a fenced %v later (%s), b answers %v after the kill (waited %v)",
		fenced.Sub(killed).Round(time.Millisecond), fenceTook, first.Round(time.Millisecond), took.Round(time.Millisecond))
	e.waitActive("b")
	if p := e.bmcSays("a"); p != "Chassis Power is off" {
		t.Fatalf("a's BMC says %q after the fence", p)
	}
	e.logOutages()
	e.noDoubleAnswers()
}

// A fence device that fails: no takeover, the status says why, and the
// operator's fence confirm releases it.
func TestFencingFailsUntilConfirmed(t *testing.T) {
	e := start(t, fencingSpec("te2fencef"))
	e.serving("a")
	if err := e.cl.BreakFencing(true); err != nil {
		t.Fatal(err)
	}
	// The devices' monitor (every second here) notices before any fence.
	if err := lab.WaitFor(e.ctx, e.deadline, "a's status shows the broken device", func() (bool, error) {
		return strings.Contains(strings.Join(e.status("a").Warnings, "\n"), "fence device bmc-b fails its monitor"), nil
	}); err != nil {
		t.Fatal(err)
	}
	e.hardFailureNoWait("a")
	if err := lab.WaitFor(e.ctx, e.deadline, "b reports the failed fence", func() (bool, error) {
		return strings.Contains(strings.Join(e.status("b").Warnings, "\n"), "a must be fenced before any group is taken over"), nil
	}); err != nil {
		t.Fatal(err)
	}
	for end := time.Now().Add(3 * time.Second); time.Now().Before(end); { // bounded: 3 s, 50 ms apart
		if has, err := e.cl.HasFloating("b"); err != nil || has {
			t.Fatalf("b took the address without a fence (%v)", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if n := e.logLines("b", "fencing a failed"); n == 0 {
		t.Fatal("b did not log the failed fence")
	}
	confirmed := time.Now()
	t.Logf("tandem fence confirm a: %s", e.tandem("b", "fence", "confirm", "a", "--yes-node-is-off"))
	e.waitAnswering("b")
	t.Logf("b answers %v after the confirm", time.Since(confirmed).Round(time.Millisecond))
	e.waitActive("b")
	e.noDoubleAnswers()
}

// The link between the nodes fails: both fence; b, which runs nothing,
// waits the delay, so a fences it first and the service stays on a.
func TestFenceRaceKeepsActiveNode(t *testing.T) {
	e := start(t, fencingSpec("te2frace"))
	e.serving("a")
	cut := time.Now()
	if err := e.cl.Topo.Block("a", "b", true); err != nil {
		t.Fatal(err)
	}
	if err := lab.WaitFor(e.ctx, e.deadline, "b fenced", func() (bool, error) { return !e.cl.FencedAt("b").IsZero(), nil }); err != nil {
		t.Fatal(err)
	}
	t.Logf("b fenced %v after the cut", e.cl.FencedAt("b").Sub(cut).Round(time.Millisecond))
	if p := e.bmcSays("b"); p != "Chassis Power is off" {
		t.Fatalf("b's BMC says %q after the race", p)
	}
	// Past b's delay: had b survived, it would have fenced a by now.
	for end := time.Now().Add(3 * time.Second); time.Now().Before(end); { // bounded: 3 s, 50 ms apart
		if !e.cl.FencedAt("a").IsZero() {
			t.Fatal("a, the active node, was fenced too")
		}
		if n := e.pr.Answering(); n != "a" {
			t.Fatalf("the service answers from %q after the race, want a", n)
		}
		time.Sleep(50 * time.Millisecond)
	}
	e.logOutages()
	e.noDoubleAnswers()
}

// hardFailureNoWait cuts n's link and SIGKILLs its agent.
func (e *env) hardFailureNoWait(n string) {
	e.t.Helper()
	if err := e.cl.Topo.SetLink(n, 0, false); err != nil {
		e.t.Fatal(err)
	}
	if err := e.cl.Kill(n); err != nil {
		e.t.Fatal(err)
	}
}

// Majority mode (a, b and the witness w) with fencing: a's agent is killed,
// its address and LSB service still up. The new DC fences a through its
// BMC before moving the group — instead of the R2 wait, which trusts a's
// agent to stop what it runs — and b answers only after the power-off.
func TestMajorityFencingBeforeTakeover(t *testing.T) {
	s := fencingSpec("te2mfence")
	s.Witnesses, s.FenceDelay = []string{"w"}, 0
	e := startMajoritySpec(t, s)
	e.killThenFencedTakeover("election, then fence_ipmilan")
	if n := e.logLines("b", "fencing a: not heard while"); n == 0 {
		t.Fatal("b, the DC, did not log why it fenced a")
	}
}
