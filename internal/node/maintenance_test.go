package node

import (
	"slices"
	"strings"
	"testing"
	"time"
)

// logIndex is the position of the first log line containing sub, or -1.
func (p *pair) logIndex(sub string) int {
	return slices.IndexFunc(p.log, func(l string) bool { return strings.Contains(l, sub) })
}

func (p *pair) held(on, node string) bool {
	for _, n := range p.nodes[on].Status().Nodes {
		if n.Name == node {
			return n.Held
		}
	}
	return false
}

// Majority mode: maintenance holds a's gates open outside the lease only
// once held/a is committed; a's agent stops and restarts without a
// failover (the restarted agent takes the held gate over before it has a
// lease); out of maintenance the gate follows the lease again before
// held/a is cleared, and failover works as before.
func TestMajorityMaintenanceUpgradeWithoutFailover(t *testing.T) {
	p := newMajorityPair(t)
	p.run(6 * time.Second)
	p.expect("vip", "a")
	p.admin("b", Admin{Op: AdminMaintenanceOn, Node: "a"})
	p.run(time.Second)
	rec, hold := p.logIndex("a: in maintenance: recording"), p.logIndex("a: gate vip hold=true")
	if rec < 0 || hold < rec || !p.nodes["a"].HoldsGates() {
		t.Fatalf("a holds its gate %d, recorded held/a %d (the record must commit first)\n%s", hold, rec, p.tail())
	}
	for _, n := range []string{"a", "b", "w"} {
		if !p.held(n, "a") {
			t.Fatalf("%s's status does not show a held", n)
		}
	}
	saved, savedQ := p.nodes["a"].StateLog(), p.lastQuorum["a"]
	p.nodes["a"].Step(p.now, Shutdown{})
	p.drain("a")
	p.run(500 * time.Millisecond)
	if !p.done["a"] {
		t.Fatalf("a did not finish leaving:\n%s", p.tail())
	}
	p.down["a"] = true
	p.run(5 * time.Second) // far past the election, R2 and R3
	p.expect("vip", "a")
	p.expect("svc", "a")
	if p.logged("b: start vip") || p.logged("b: start svc") {
		t.Fatalf("b started something while a was in maintenance:\n%s", p.tail())
	}
	nd, err := New(Config{Model: p.m, Self: "a", Incarnation: uint64(p.now) + 2, State: saved, Quorum: savedQ}, p.now)
	if err != nil {
		t.Fatal(err)
	}
	p.nodes["a"] = nd
	delete(p.down, "a")
	delete(p.done, "a")
	from := len(p.log)
	nd.Step(p.now, Tick{})
	p.drain("a")
	if !slices.ContainsFunc(p.log[from:], func(l string) bool { return strings.Contains(l, "a: gate vip hold=true") }) {
		t.Fatalf("the restarted agent did not take the held gate over at once:\n%s", strings.Join(p.log[from:], "\n"))
	}
	p.run(2 * time.Second)
	p.admin("b", Admin{Op: AdminMaintenanceOff, Node: "a"})
	p.run(2 * time.Second)
	rel, clr := p.logIndex("a: out of maintenance: the gate of vip follows the lease again"), p.logIndex("clearing held/a")
	if rel < 0 || clr < rel || p.logIndex("a: gate vip hold=false release=true open=true") < 0 {
		t.Fatalf("release at %d, held/a cleared at %d: the gate must follow the lease before the clear\n%s", rel, clr, p.tail())
	}
	for _, n := range []string{"a", "b", "w"} {
		if p.held(n, "a") {
			t.Fatalf("%s still shows a held", n)
		}
	}
	p.expect("vip", "a")
	p.expect("svc", "a")
	if p.logged("a: stop") || (p.logged("b: start vip") || p.logged("b: start svc")) {
		t.Fatalf("voice was stopped or taken over around the upgrade:\n%s", p.tail())
	}
	p.crash("a", true)
	p.run(8 * time.Second)
	p.expect("vip", "b")
}

// Maintenance ends while a is cut off and cannot learn of it: a keeps its
// gate held, so the DC keeps voice on a — past R2 and R3, which a held
// gate does not honour — even once a is gone for good, until the operator
// vouches that it is off (confirm-stopped clears held/a).
func TestMajorityMaintenanceOffWhileCutOff(t *testing.T) {
	p := newMajorityPair(t)
	p.run(6 * time.Second)
	p.admin("b", Admin{Op: AdminMaintenanceOn, Node: "a"})
	p.run(time.Second)
	p.cutBetween("a", "b")
	p.cutBetween("a", "w")
	p.run(2 * time.Second)
	p.admin("b", Admin{Op: AdminMaintenanceOff, Node: "a"})
	p.run(5 * time.Second)
	if p.logged("b: start vip") || !p.nodes["a"].HoldsGates() {
		t.Fatalf("b took voice over from a held gate:\n%s", p.tail())
	}
	if w := strings.Join(p.nodes["b"].Status().Warnings, "\n"); !strings.Contains(w, "a is out of maintenance but still holds its groups") {
		t.Fatalf("b's status does not say why voice stays on a:\n%s", w)
	}
	p.crash("a", true)
	p.run(5 * time.Second)
	if p.logged("b: start vip") {
		t.Fatalf("b took voice over from a node that died holding its gate:\n%s", p.tail())
	}
	p.admin("b", Admin{Op: AdminConfirmStopped, Node: "a"})
	p.run(5 * time.Second)
	p.expect("vip", "b")
	p.expect("svc", "b")
}
