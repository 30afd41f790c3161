package node

import (
	"strings"
	"testing"
	"time"

	"tandem/internal/config"
)

// fencingModel is two_node with fencing, the survivor of a split waiting
// delay unless it runs the group.
func fencingModel(delay time.Duration) *config.Model {
	m := testModel(100, 50)
	m.Fencing = config.Fencing{Enabled: true, Timeout: 5 * time.Second, Delay: delay}
	return m
}

// The active node's agent dies, its resources still up: the survivor
// fences it (after the delay, since it runs nothing) and only then takes
// over; never both running anything (S2 for services too).
func TestFencingBeforeTakeover(t *testing.T) {
	p := newPair(t, fencingModel(time.Second))
	p.strict = true
	p.run(5 * time.Second)
	fencedBeforeTakeover(t, p, 5*time.Second)
}

// fencedBeforeTakeover kills a's agent, its resources still up, and checks
// that within d b runs the group, started only after it fenced a.
func fencedBeforeTakeover(t *testing.T, p *pair, d time.Duration) {
	t.Helper()
	p.expect("svc", "a")
	p.crash("a", false) // the agent only: vip and svc keep running on a
	p.run(d)
	p.expect("vip", "b")
	p.expect("svc", "b")
	fenced, started := p.logIndex("b: fence powers a off"), p.logIndex("b: start vip")
	if fenced < 0 || started < fenced {
		t.Fatalf("b started vip at %d, fenced a at %d: the takeover must wait for the fence\n%s", started, fenced, p.tail())
	}
	if !strings.Contains(strings.Join(p.events, "\n"), "b node_fenced a") {
		t.Fatalf("no node_fenced event:\n%s", strings.Join(p.events, "\n"))
	}
}

// A fence that keeps failing blocks the takeover and says so; the
// operator's fence confirm releases it.
func TestFencingFailsUntilConfirmed(t *testing.T) {
	p := newPair(t, fencingModel(0))
	p.strict = true
	p.run(5 * time.Second)
	fenceFailsUntilConfirmed(t, p, "b")
}

// fenceFailsUntilConfirmed crashes a with b's fences failing: nothing
// moves past 12 s, b retries, raises fence_failed and says why in status;
// a fence confirm given on confirmer moves the group to b.
func fenceFailsUntilConfirmed(t *testing.T, p *pair, confirmer string) {
	t.Helper()
	p.fenceFails = true
	p.crash("a", true) // the machine is gone, but b cannot prove it
	p.run(12 * time.Second)
	if p.logged("b: start vip") || p.logged("b: start svc") {
		t.Fatalf("b took over without a fence:\n%s", p.tail())
	}
	if n := strings.Count(strings.Join(p.events, "\n"), "b fence_failed a"); n < 2 {
		t.Fatalf("%d fence_failed events, want retries", n)
	}
	w := strings.Join(p.nodes["b"].Status().Warnings, "\n")
	if !strings.Contains(w, "a must be fenced") || !strings.Contains(w, "tandem fence confirm a --yes-node-is-off") {
		t.Fatalf("status does not say why nothing moves:\n%s", w)
	}
	p.admin(confirmer, Admin{Op: AdminFenceConfirm, Node: "a"})
	p.run(3 * time.Second)
	p.expect("vip", "b")
	p.expect("svc", "b")
}

// A split between the nodes: both try to fence; the one not running the
// group waits the delay, so the active node wins and the service stays.
func TestFenceRaceActiveNodeWins(t *testing.T) {
	p := newPair(t, fencingModel(2*time.Second))
	p.strict = true
	p.run(5 * time.Second)
	p.expect("svc", "a")
	p.cut = true
	p.run(5 * time.Second)
	if !p.down["b"] || p.down["a"] {
		t.Fatalf("after the race: a down %v, b down %v; want b fenced by a\n%s", p.down["a"], p.down["b"], p.tail())
	}
	p.expect("vip", "a")
	p.expect("svc", "a")
	if p.logged("b: start") && p.logged("b: start vip") {
		t.Fatalf("b started the group during the split:\n%s", p.tail())
	}
}

// A stop that failed blocks the group; with fencing the peer fences that
// node, which clears the block, and takes the group over.
func TestFencingClearsFailedStop(t *testing.T) {
	p := newPair(t, fencingModel(0))
	p.strict = true
	p.run(5 * time.Second)
	p.stopFailOn = map[string]string{"svc": "a"}
	p.admin("b", Admin{Op: AdminMove, Resource: "voice", Node: "b"})
	p.run(6 * time.Second)
	if p.logIndex("b: fence powers a off") < 0 {
		t.Fatalf("b did not fence a after its stop failed:\n%s", p.tail())
	}
	p.expect("vip", "b")
	p.expect("svc", "b")
}

func TestCheckAdminFenceConfirm(t *testing.T) {
	if err := CheckAdmin(testModel(100, 50), Admin{Op: AdminFenceConfirm, Node: "a"}); err == nil || !strings.Contains(err.Error(), "fencing is not enabled") {
		t.Fatalf("fence-confirm without fencing: %v", err)
	}
	if err := CheckAdmin(fencingModel(0), Admin{Op: AdminFenceConfirm, Node: "c"}); err == nil {
		t.Fatal("fence-confirm of an unknown node accepted")
	}
}

// A device failing its monitor shows in status and raises one event until
// it answers again.
func TestFenceDeviceMonitor(t *testing.T) {
	m := fencingModel(0)
	m.Fencing.Devices = []config.FenceDevice{{Name: "ipmi-a", Nodes: []string{"a"}}}
	p := newPair(t, m)
	b := p.nodes["b"]
	for range 3 {
		b.Step(p.now, FenceDevice{Name: "ipmi-a", Err: "ipmi-a monitor: fence failed: exit 1: Unable to connect"})
		p.drain("b")
	}
	if n := strings.Count(strings.Join(p.events, "\n"), "b fence_device_failed"); n != 1 {
		t.Fatalf("%d fence_device_failed events for one failing device, want 1", n)
	}
	if w := strings.Join(b.Status().Warnings, "\n"); !strings.Contains(w, "fence device ipmi-a fails its monitor: ipmi-a monitor: fence failed: exit 1") {
		t.Fatalf("status warnings:\n%s", w)
	}
	b.Step(p.now, FenceDevice{Name: "ipmi-a"})
	p.drain("b")
	if w := strings.Join(b.Status().Warnings, "\n"); strings.Contains(w, "fence device") || !p.logged("b: fence device ipmi-a answers its monitor again") {
		t.Fatalf("after the device answered again: warnings %q", w)
	}
}

// Majority mode: a node that loses its lease stops petting its watchdog
// while a group still runs there; once the stops are done it pets again —
// unless a stop fails, and the hardware resets it.
func TestMayPetWatchdog(t *testing.T) {
	for _, stopFails := range []bool{false, true} {
		p := newMajorityPair(t)
		p.run(6 * time.Second)
		p.expect("svc", "a")
		a := p.nodes["a"]
		if !a.MayPet() {
			t.Fatal("a holds its lease but may not pet")
		}
		if stopFails {
			p.stopFailOn = map[string]string{"svc": "a"}
		}
		p.cutBetween("a", "b")
		p.cutBetween("a", "w")
		lost := false
		for range 3000 { // bounded: 3 s of 1 ms steps
			p.run(time.Millisecond)
			if a.LeaseEnd() <= p.now {
				lost = true
				break
			}
		}
		if !lost {
			t.Fatal("a kept its lease while cut off")
		}
		if a.MayPet() {
			t.Fatalf("stop fails %v: a pets its watchdog without a lease while voice still runs", stopFails)
		}
		p.run(time.Second)
		if a.MayPet() == stopFails {
			t.Fatalf("stop fails %v: a may pet %v a second after losing its lease", stopFails, a.MayPet())
		}
	}
}

// majorityFencingPair is a and b with the witness w, fencing enabled.
func majorityFencingPair(t *testing.T) *pair {
	m := majorityModel()
	m.Fencing = config.Fencing{Enabled: true, Timeout: 5 * time.Second}
	p := newPair(t, m)
	p.strict = true
	p.cutDir = map[[2]string]bool{}
	return p
}

// Majority mode: the owner's agent dies, its service still up. The new DC
// fences it before moving the group — no R2 wait trusting a dead agent to
// stop — and the group moves only after the fence.
func TestMajorityFencingBeforeTakeover(t *testing.T) {
	p := majorityFencingPair(t)
	p.run(6 * time.Second)
	fencedBeforeTakeover(t, p, 8*time.Second)
}

// Majority mode: a fence that keeps failing blocks the move, past the R2
// wait, and status says so; a fence confirm given on any node — here the
// witness — reaches the DC through raft and releases it.
func TestMajorityFencingFailsUntilConfirmed(t *testing.T) {
	p := majorityFencingPair(t)
	p.run(6 * time.Second)
	fenceFailsUntilConfirmed(t, p, "w")
}

// Majority mode: a stop fails on the DC (it runs the group, so it leads).
// It hands the DC role on, and the new DC fences it, clears the block and
// starts the group — no operator needed.
func TestMajorityFencingFailedStop(t *testing.T) {
	p := majorityFencingPair(t)
	p.run(6 * time.Second)
	p.expect("svc", "a")
	p.stopFailOn = map[string]string{"svc": "a"}
	p.admin("a", Admin{Op: AdminMove, Resource: "voice", Node: "b"})
	p.run(10 * time.Second)
	if !p.down["a"] {
		t.Fatalf("a, where the stop failed, was not fenced:\n%s", p.tail())
	}
	p.expect("vip", "b")
	p.expect("svc", "b")
	if !p.logged("handing the DC role to b") {
		t.Fatalf("a kept the DC role:\n%s", p.tail())
	}
}

// A fenced node is powered on again and its agent starts before its fencer
// hears the fence confirmed (a slow fence agent), and only b's packets get
// through. a hears b run nothing, but its claim on the group never reaches
// b, so it starts nothing; b takes over alone once its fence reports.
// (Without claims a started the group here, and b too.)
func TestFenceClaimAfterQuickPowerOn(t *testing.T) {
	p := newPair(t, fencingModel(0))
	p.strict = true
	p.cutDir = map[[2]string]bool{}
	p.run(5 * time.Second)
	p.expect("svc", "a")
	p.fenceLag = 3 * time.Second
	p.cutDir[[2]string{"a", "b"}] = true // b stops hearing a: it fences a
	p.run(1500 * time.Millisecond)
	if !p.down["a"] {
		t.Fatalf("b did not fence a:\n%s", p.tail())
	}
	p.boot("a") // powered on again at once
	p.run(5 * time.Second)
	p.expect("vip", "b")
	p.expect("svc", "b")
	fenced, claimed := p.logIndex("b: fence powers a off"), false
	for _, l := range p.log[fenced:] {
		claimed = claimed || strings.Contains(l, "a: claiming voice: starting once b has heard the claim")
		if strings.Contains(l, "a: start vip") {
			t.Fatalf("a, powered on again, started the group:\n%s", p.tail())
		}
	}
	if !claimed {
		t.Fatalf("a, powered on again, did not claim the group:\n%s", p.tail())
	}
}

// A hand-off with fencing: the new owner claims the group once the old one
// reports it stopped, and starts it once the old one has answered the claim.
func TestFenceClaimOnHandOff(t *testing.T) {
	p := newPair(t, fencingModel(0))
	p.strict = true
	p.run(5 * time.Second)
	p.expect("svc", "a")
	p.admin("a", Admin{Op: AdminMove, Resource: "voice", Node: "b"})
	p.run(2 * time.Second)
	p.expect("vip", "b")
	p.expect("svc", "b")
	stopped, claimed, started := p.logIndex("a: stop vip"), p.logIndex("b: claiming voice"), p.logIndex("b: start vip")
	if stopped < 0 || claimed < stopped || started < claimed {
		t.Fatalf("want a's stop (%d), b's claim (%d), b's start (%d) in that order:\n%s", stopped, claimed, started, p.tail())
	}
}

// stop on_fail: block keeps a failed stop out of fencing's hands, as in
// Pacemaker: the group stays blocked, and the peer fences nothing.
func TestFencingStopOnFailBlock(t *testing.T) {
	m := fencingModel(0)
	m.Resources[1].Ops.StopOnFail = config.OnFailBlock
	p := newPair(t, m)
	p.strict = true
	p.run(5 * time.Second)
	p.stopFailOn = map[string]string{"svc": "a"}
	p.admin("a", Admin{Op: AdminMove, Resource: "voice", Node: "b"})
	p.run(5 * time.Second)
	if p.down["a"] || p.logged("b: fencing a") {
		t.Fatalf("b fenced a for a stop whose on_fail is block:\n%s", p.tail())
	}
	if p.logged("b: start svc") {
		t.Fatalf("b started svc while it may still run on a:\n%s", p.tail())
	}
}
