package node

import (
	"strings"
	"testing"
	"time"

	"tandem/internal/config"
	"tandem/internal/ownership"
	"tandem/internal/schedule"
	"tandem/internal/wire"
)

// on_fail of a monitor, each as Pacemaker's on-fail does it.
func TestMonitorOnFail(t *testing.T) {
	for _, tc := range []struct {
		how   string
		check func(t *testing.T, p *pair)
	}{
		{config.OnFailMove, func(t *testing.T, p *pair) {
			p.expect("svc", "b")
			if c := p.nodes["b"].failCount("svc", "a"); c != schedule.Infinity {
				t.Fatalf("fail count on a %d, want INFINITY", c)
			}
		}},
		{config.OnFailStandby, func(t *testing.T, p *pair) {
			p.expect("svc", "b")
			if !p.nodes["b"].view().Standby["a"] {
				t.Fatal("a is not in standby")
			}
		}},
		{config.OnFailStop, func(t *testing.T, p *pair) {
			p.expect("svc", "")
			p.expect("vip", "")
			if r := p.nodes["b"].view().Roles["voice"]; r != config.RoleStopped {
				t.Fatalf("voice role %q, want stopped", r)
			}
		}},
		{config.OnFailIgnore, func(t *testing.T, p *pair) {
			p.expect("vip", "a")
			p.expect("svc", "") // dead, and left so
			if st := p.nodes["a"].byRes["svc"].State; st != wire.ResRunning {
				t.Fatalf("svc is %v on a, want running (ignored)", st)
			}
		}},
		{config.OnFailBlock, func(t *testing.T, p *pair) {
			p.expect("vip", "a")
			if st := p.nodes["a"].byRes["svc"].State; st != wire.ResBlocked {
				t.Fatalf("svc is %v on a, want blocked", st)
			}
			if got := p.nodes["b"].Blocked("voice"); len(got) != 1 || got[0] != "a" {
				t.Fatalf("b sees voice blocked on %v, want [a]", got)
			}
			// The operator fixes it and cleans up: a probes again, finds it
			// running and manages it again.
			p.world["a"]["svc"] = true
			p.admin("b", Admin{Op: AdminCleanup, Resource: "voice"})
			p.run(500 * time.Millisecond)
			if st := p.nodes["a"].byRes["svc"].State; st != wire.ResRunning {
				t.Fatalf("after cleanup svc is %v on a, want running", st)
			}
			if got := p.nodes["b"].Blocked("voice"); len(got) != 0 {
				t.Fatalf("still blocked on %v after cleanup", got)
			}
		}},
	} {
		t.Run(tc.how, func(t *testing.T) {
			m := testModel(100, 50)
			m.Resources[1].Ops.MonitorOnFail = tc.how
			p := newPair(t, m)
			p.run(2 * time.Second)
			p.expect("svc", "a")
			p.world["a"]["svc"] = false
			p.run(1500 * time.Millisecond)
			tc.check(t, p)
		})
	}
}

// A stop that fails blocks the group where it failed: no other node starts
// it, not even after that node's agent dies, until the operator confirms
// the node stopped it.
func TestStopFailureBlocksTakeoverUntilConfirmed(t *testing.T) {
	p := newPair(t, testModel(100, 50))
	p.stopFailOn = map[string]string{"svc": "a"}
	p.run(2 * time.Second)
	p.expect("svc", "a")
	p.admin("a", Admin{Op: AdminMove, Resource: "voice", Node: "b"})
	p.run(500 * time.Millisecond)
	if st := p.nodes["a"].byRes["svc"].State; st != wire.ResBlocked {
		t.Fatalf("svc is %v on a after its stop failed, want blocked", st)
	}
	p.crash("a", false) // the agent dies; svc may well still run there
	p.run(3 * time.Second)
	if p.logged("b: start svc") || p.logged("b: start vip") {
		t.Fatalf("b took over a group blocked on a:\n%s", p.tail())
	}
	st := p.nodes["b"].Status()
	if len(st.Warnings) == 0 || !contains(st.Warnings, "voice starts nowhere else while it is blocked on a") {
		t.Fatalf("no warning about the block: %v", st.Warnings)
	}
	p.world["a"] = map[string]bool{} // the operator powered a off
	p.admin("b", Admin{Op: AdminConfirmStopped, Node: "a"})
	p.run(500 * time.Millisecond)
	p.expect("svc", "b")
	p.expect("vip", "b")
}

func contains(ss []string, sub string) bool {
	for _, s := range ss {
		if len(s) >= len(sub) && strings.Contains(s, sub) {
			return true
		}
	}
	return false
}

// OCF 5 (not installed) bans the group from the node whatever on_fail
// says; OCF 6 (not configured) stops it everywhere, no retry.
func TestHardFailures(t *testing.T) {
	m := testModel(100, 50)
	m.Resources[1].Ops.StartOnFail = config.OnFailBlock // overridden: a hard error is never retried here
	p := newPair(t, m)
	p.failOn["svc"], p.hard = "a", ownership.HardNotInstalled
	p.run(2 * time.Second)
	p.expect("svc", "b")
	if !p.logged("a: start failed: svc cannot run on this node (not installed or not permitted)") {
		t.Fatalf("no log of the ban:\n%s", p.tail())
	}

	p = newPair(t, testModel(100, 50))
	p.failOn["svc"], p.hard = "a", ownership.HardNotConfigured
	p.run(2 * time.Second)
	p.expect("svc", "")
	p.expect("vip", "")
	if r := p.nodes["b"].view().Roles["voice"]; r != config.RoleStopped {
		t.Fatalf("voice role %q after a not-configured failure, want stopped", r)
	}
	if p.logged("b: start svc") {
		t.Fatalf("b retried a resource that is not configured:\n%s", p.tail())
	}
}

// A stop that reports failure but did stop the resource: the monitor after
// it finds it stopped, and the group moves on without blocking.
func TestFailedStopFoundStoppedCarriesOn(t *testing.T) {
	p := newPair(t, testModel(100, 50))
	p.stopFailOn, p.stopErrOnly = map[string]string{"svc": "a"}, true
	p.run(2 * time.Second)
	p.admin("a", Admin{Op: AdminMove, Resource: "voice", Node: "b"})
	p.run(500 * time.Millisecond)
	p.expect("svc", "b")
	p.expect("vip", "b")
	if !p.logged("a: stop failed, but svc is found stopped: carrying on") {
		t.Fatalf("no log of the check after the failed stop:\n%s", p.tail())
	}
}

// Several monitors run on their own intervals, each with its own timeout,
// depth and on_fail.
func TestSeveralMonitors(t *testing.T) {
	m := testModel(100, 50)
	m.Resources[1].Ops.MoreMonitors = []config.Monitor{{Interval: 3 * time.Second, Timeout: 2 * time.Second, OnFail: config.OnFailStandby, Depth: 20}}
	p := newPair(t, m)
	p.run(2 * time.Second)
	var deep, fast int
	p.dispatched = nil
	p.run(3 * time.Second)
	for _, o := range p.dispatched {
		if act := o.a; o.node == "a" && act.Op == ownership.OpMonitor && act.Resource == "svc" {
			if act.Depth == 20 && act.Interval == 3*time.Second && act.Timeout == 2*time.Second {
				deep++
			} else if act.Interval == time.Second {
				fast++
			}
		}
	}
	if deep != 1 || fast < 2 {
		t.Fatalf("in 3 s: %d deep monitors (want 1), %d 1 s monitors (want ≥ 2)", deep, fast)
	}
	// With the first monitor off, the deep one's failure takes its own
	// on_fail: standby.
	m.Resources[1].Ops.MonitorInterval = 0
	p = newPair(t, m)
	p.run(2 * time.Second)
	p.world["a"]["svc"] = false
	p.run(3500 * time.Millisecond)
	p.expect("svc", "b")
	if !p.nodes["b"].view().Standby["a"] {
		t.Fatal("the deep monitor's on_fail standby did not put a in standby")
	}
}
