package node

import (
	"strings"
	"testing"
	"time"
)

func (p *pair) admin(on string, a Admin) {
	p.t.Helper()
	if err := CheckAdmin(p.m, a); err != nil {
		p.t.Fatalf("CheckAdmin(%+v): %v", a, err)
	}
	p.nodes[on].Step(p.now, a)
	p.drain(on)
}

func TestAdminStandbyMoveBanClearDisable(t *testing.T) {
	p := newPair(t, testModel(100, 50))
	p.run(2 * time.Second)
	p.expect("vip", "a")

	p.admin("b", Admin{Op: AdminStandby, Node: "a"}) // given on b, acted on by both
	p.run(300 * time.Millisecond)
	p.expect("vip", "b")
	p.expect("svc", "b")
	p.admin("a", Admin{Op: AdminOnline, Node: "a"})
	p.run(300 * time.Millisecond)
	p.expect("vip", "b") // stickiness 200 beats the preference for a (50)

	p.admin("a", Admin{Op: AdminMove, Resource: "voice", Node: "a"})
	p.run(300 * time.Millisecond)
	p.expect("vip", "a")
	p.admin("b", Admin{Op: AdminBan, Resource: "voice", Node: "a"}) // replaces the move to a
	p.run(300 * time.Millisecond)
	p.expect("vip", "b")
	for _, n := range []string{"a", "b"} {
		v := p.nodes[n].view()
		if v.Moves["voice"] != "" || len(v.Bans["voice"]) != 1 {
			t.Fatalf("%s: moves %v bans %v: the ban should have replaced the move", n, v.Moves, v.Bans)
		}
	}
	p.admin("a", Admin{Op: AdminClear, Resource: "voice"})
	p.run(300 * time.Millisecond)
	p.expect("vip", "b") // cleared: nothing pulls it back past stickiness
	if v := p.nodes["b"].view(); len(v.Bans) != 0 || len(v.Moves) != 0 {
		t.Fatalf("clear left moves %v bans %v", v.Moves, v.Bans)
	}

	p.admin("a", Admin{Op: AdminDisable, Resource: "voice"})
	p.run(300 * time.Millisecond)
	p.expect("vip", "")
	p.expect("svc", "")
	p.admin("b", Admin{Op: AdminEnable, Resource: "voice"})
	p.run(300 * time.Millisecond)
	p.expect("vip", "a") // nothing sticks it anywhere now: back to the preferred node
}

// The operator's instructions are in the state log: a node that restarts
// with its saved log, or a peer that merges it, places by them.
func TestAdminSurvivesRestart(t *testing.T) {
	p := newPair(t, testModel(100, 50))
	p.run(2 * time.Second)
	p.admin("a", Admin{Op: AdminMove, Resource: "voice", Node: "b"})
	p.run(300 * time.Millisecond)
	p.expect("vip", "b")
	saved := p.nodes["b"].StateLog()
	p.crash("a", true)
	p.crash("b", true)
	for _, n := range []string{"a", "b"} {
		nd, err := New(Config{Model: p.m, Self: n, Incarnation: uint64(p.now) + 2, State: saved}, p.now)
		if err != nil {
			t.Fatal(err)
		}
		p.nodes[n] = nd
		delete(p.down, n)
		p.drain(n)
	}
	p.run(4 * time.Second)
	p.expect("vip", "b") // not a, which it prefers: the move is still there
}

func TestAdminMoveLifetimeLapses(t *testing.T) {
	p := newPair(t, testModel(100, 50))
	p.run(2 * time.Second)
	wall := time.Date(2026, 12, 4, 2, 0, 0, 0, time.UTC)
	tick := func(at time.Time) {
		for _, n := range []string{"a", "b"} {
			p.nodes[n].Step(p.now, Tick{Wall: at})
			p.drain(n)
		}
	}
	tick(wall)
	p.admin("a", Admin{Op: AdminMove, Resource: "voice", Node: "b", Until: wall.Add(30 * time.Minute)})
	p.run(300 * time.Millisecond)
	p.expect("vip", "b")
	tick(wall.Add(29 * time.Minute))
	p.run(100 * time.Millisecond)
	if p.nodes["a"].view().Moves["voice"] != "b" {
		t.Fatal("the move lapsed early")
	}
	tick(wall.Add(30 * time.Minute))
	p.run(300 * time.Millisecond)
	for _, n := range []string{"a", "b"} {
		if v, ok := p.nodes[n].log.Get(keyMove + "voice"); ok {
			t.Fatalf("%s still has the lapsed move %q", n, v)
		}
	}
	if !p.logged("the move of voice to b lapsed") {
		t.Fatalf("no log line for the lapse:\n%s", p.tail())
	}
}

func TestAdminCleanupForgetsFailures(t *testing.T) {
	p := newPair(t, testModel(100, 50))
	p.failOn["svc"] = "a"
	p.run(2 * time.Second)
	p.expect("svc", "b") // failed to start on a: INFINITY there
	if c := p.nodes["b"].failCount("svc", "a"); c == 0 {
		t.Fatal("no fail count for svc on a")
	}
	delete(p.failOn, "svc")
	p.admin("b", Admin{Op: AdminCleanup, Resource: "voice", Node: "a"})
	p.run(300 * time.Millisecond)
	for _, n := range []string{"a", "b"} {
		if c := p.nodes[n].failCount("svc", "a"); c != 0 {
			t.Fatalf("%s: fail count of svc on a still %d", n, c)
		}
	}
	p.expect("svc", "b") // stickiness keeps it; the ban is gone, not the group's place
}

// Maintenance on a node: its agent stops (an upgrade) without stopping what
// it runs, the peer does not take over, and the restarted agent keeps it.
func TestAdminMaintenanceUpgradeWithoutFailover(t *testing.T) {
	p := newPair(t, testModel(100, 50))
	p.run(2 * time.Second)
	p.expect("vip", "a")
	p.admin("b", Admin{Op: AdminMaintenanceOn, Node: "a"})
	p.run(200 * time.Millisecond)
	saved := p.nodes["a"].StateLog()
	p.nodes["a"].Step(p.now, Shutdown{})
	p.drain("a")
	p.run(200 * time.Millisecond)
	if !p.done["a"] {
		t.Fatalf("a did not finish leaving:\n%s", p.tail())
	}
	p.down["a"] = true
	p.run(3 * time.Second) // three deadtimes: b would have taken over long ago
	p.expect("vip", "a")
	p.expect("svc", "a")
	if p.logged("b: start vip") || p.logged("b: start svc") {
		t.Fatalf("b started something while a was in maintenance:\n%s", p.tail())
	}
	nd, err := New(Config{Model: p.m, Self: "a", Incarnation: uint64(p.now) + 2, State: saved}, p.now)
	if err != nil {
		t.Fatal(err)
	}
	p.nodes["a"] = nd
	delete(p.down, "a")
	delete(p.done, "a")
	p.drain("a")
	p.run(4 * time.Second)
	p.expect("vip", "a")
	p.admin("a", Admin{Op: AdminMaintenanceOff, Node: "a"})
	p.run(2 * time.Second)
	p.expect("vip", "a")
	p.expect("svc", "a")
	all := strings.Join(p.log, "\n")
	if strings.Count(all, "a: start vip") != 1 || strings.Contains(all, "a: stop") || p.logged("b: start vip") {
		t.Fatalf("voice was stopped, restarted or taken over around the upgrade:\n%s", p.tail())
	}
}

func TestCheckAdmin(t *testing.T) {
	m := testModel(100, 50)
	for _, tc := range []struct {
		a    Admin
		want string
	}{
		{Admin{Op: AdminStandby, Node: "c"}, `standby: no node named "c"; nodes: a, b`},
		{Admin{Op: AdminStandby}, "standby: a node name is required"},
		{Admin{Op: AdminMove, Resource: "voic", Node: "a"}, `move: no resource, group or clone named "voic"; there are: voice, vip, svc`},
		{Admin{Op: AdminBan, Resource: "voice", Node: "a", Until: time.Now()}, "ban: a lifetime is for move only"},
		{Admin{Op: "reboot"}, `unknown operator instruction "reboot"`},
	} {
		err := CheckAdmin(m, tc.a)
		if err == nil || err.Error() != tc.want {
			t.Errorf("CheckAdmin(%+v) = %v, want %q", tc.a, err, tc.want)
		}
	}
	for _, mode := range []string{"two_node", "majority"} {
		m.Quorum.Mode = mode
		for _, a := range []Admin{{Op: AdminMaintenanceOn}, {Op: AdminMaintenanceOff, Node: "a"}, {Op: AdminCleanup, Resource: "svc"}, {Op: AdminMove, Resource: "svc", Node: "b"}} {
			if err := CheckAdmin(m, a); err != nil {
				t.Errorf("%s: CheckAdmin(%+v): %v", mode, a, err)
			}
		}
	}
}

// failure_timeout: a failure older than it no longer bans the node, and the
// node that counted it forgets it (status stops showing it).
func TestFailureTimeoutForgets(t *testing.T) {
	m := testModel(100, 50)
	m.Defaults.MigrationThreshold, m.Defaults.FailureTimeout = 1, time.Minute
	p := newPair(t, m)
	wall := time.Date(2026, 12, 4, 2, 0, 0, 0, time.UTC)
	tick := func(at time.Time) {
		for _, n := range []string{"a", "b"} {
			p.nodes[n].Step(p.now, Tick{Wall: at})
			p.drain(n)
		}
	}
	tick(wall)
	p.run(2 * time.Second)
	p.expect("svc", "a")
	p.world["a"]["svc"] = false // the service dies: the next monitor fails
	p.run(1500 * time.Millisecond)
	p.expect("svc", "b") // migration_threshold 1: banned from a
	if at := p.nodes["b"].failedAt("svc", "a"); at.IsZero() {
		t.Fatal("no failure time recorded for svc on a")
	}
	tick(wall.Add(59 * time.Second))
	p.run(100 * time.Millisecond)
	if c := p.nodes["b"].failCount("svc", "a"); c != 1 {
		t.Fatalf("fail count %d before failure_timeout, want 1", c)
	}
	tick(wall.Add(2 * time.Minute))
	p.run(300 * time.Millisecond)
	for _, n := range []string{"a", "b"} {
		if c := p.nodes[n].failCount("svc", "a"); c != 0 {
			t.Fatalf("%s: fail count %d after failure_timeout", n, c)
		}
	}
	if !p.logged("a: failures of svc here expired (failure_timeout 1m0s)") {
		t.Fatalf("no log line for the expiry:\n%s", p.tail())
	}
	p.expect("svc", "b") // forgetting does not move it back past stickiness
}

// Monitors pause in maintenance and resume after it.
func TestMonitorsResumeAfterMaintenance(t *testing.T) {
	p := newPair(t, testModel(100, 50))
	p.run(2 * time.Second)
	p.admin("a", Admin{Op: AdminMaintenanceOn})
	p.run(200 * time.Millisecond)
	p.world["a"]["svc"] = false // dies unnoticed: nothing is monitored
	p.run(3 * time.Second)
	if p.logged("a: monitor failed") {
		t.Fatalf("a monitored svc in maintenance:\n%s", p.tail())
	}
	p.admin("a", Admin{Op: AdminMaintenanceOff})
	p.run(2500 * time.Millisecond)
	if !p.logged("a: monitor failed: recovering") {
		t.Fatalf("monitors did not resume after maintenance:\n%s", p.tail())
	}
	p.expect("svc", "a")
}

// Disabling a group member stops it and the members after it, where the
// group runs; the members before it keep running; enable starts it again.
// Both quorum modes.
func TestAdminDisableMember(t *testing.T) {
	for _, majority := range []bool{false, true} {
		var p *pair
		if majority {
			p = newMajorityPair(t)
		} else {
			p = newPair(t, testModel(100, 50))
		}
		p.run(6 * time.Second)
		p.expect("svc", "a")
		p.admin("b", Admin{Op: AdminDisable, Resource: "svc"})
		p.run(2 * time.Second)
		p.expect("vip", "a")
		if p.world["a"]["svc"] || p.world["b"]["svc"] {
			t.Fatalf("majority %v: svc still runs after disable svc:\n%s", majority, p.tail())
		}
		if p.logged("a: stop vip") {
			t.Fatalf("majority %v: disabling svc stopped vip:\n%s", majority, p.tail())
		}
		p.admin("a", Admin{Op: AdminEnable, Resource: "svc"})
		p.run(2 * time.Second)
		p.expect("vip", "a")
		p.expect("svc", "a")
	}
}
