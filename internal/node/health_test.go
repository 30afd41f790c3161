package node

import (
	"net/netip"
	"testing"
	"time"

	"tandem/internal/config"
)

// The quorum.ping heuristic of two_node: the active node that loses its
// uplink hands the group to the peer that still has it; when both lose
// it nothing moves (a heuristic, not a tie-breaker).
func TestQuorumPingMovesGroupOffNodeWithoutUplink(t *testing.T) {
	m := testModel(100, 50)
	m.Quorum.Ping = []netip.Addr{netip.MustParseAddr("198.18.0.1")}
	p := newPair(t, m)
	for _, n := range []string{"a", "b"} {
		p.nodes[n].Step(p.now, Attribute{Name: config.QuorumPingAttr, Value: "1"})
		p.drain(n)
	}
	p.run(2 * time.Second)
	p.expect("vip", "a")

	p.nodes["a"].Step(p.now, Attribute{Name: config.QuorumPingAttr, Value: "0"})
	p.drain("a")
	p.run(time.Second)
	p.expect("vip", "b")
	p.expect("svc", "b")
	if !p.logged("a: node attribute ping.quorum.ok = 0") {
		t.Fatalf("attribute change not logged:\n%s", p.tail())
	}
	st := p.nodes["b"].Status()
	if got := st.Nodes[0].Attributes[config.QuorumPingAttr]; got != "0" {
		t.Fatalf("b's status shows a's ping.quorum.ok = %q, want 0 (from the state log)", got)
	}

	// Both lost the uplink: equal reach, the group stays where it is.
	p.nodes["b"].Step(p.now, Attribute{Name: config.QuorumPingAttr, Value: "0"})
	p.drain("b")
	p.run(time.Second)
	p.expect("vip", "b")

	// a's uplink returns: stickiness 200 + 0 < preference 50 + 1000, so it goes back.
	p.nodes["a"].Step(p.now, Attribute{Name: config.QuorumPingAttr, Value: "1"})
	p.drain("a")
	p.run(time.Second)
	p.expect("vip", "a")
}

// A location rule on a link attribute (the client-side NIC lost carrier).
func TestLinkAttributeRuleMovesGroup(t *testing.T) {
	m := testModel(100, 50)
	m.Constraints = append(m.Constraints, config.Location{Target: "voice", Score: -config.ScoreInfinity,
		Rule: &config.NodeRule{Text: "link.eth1.up eq 0", Exprs: []config.RuleExpr{{Attr: "link.eth1.up", Op: "eq", Value: "0"}}}})
	p := newPair(t, m)
	p.run(2 * time.Second)
	p.expect("vip", "a")
	p.nodes["a"].Step(p.now, Attribute{Name: "link.eth1.up", Value: "0"})
	p.drain("a")
	p.run(time.Second)
	p.expect("vip", "b")
	// Restarting a's agent keeps the attribute until its prober says otherwise.
	p.crash("a", false)
	p.run(2 * time.Second)
	p.boot("a")
	p.run(2 * time.Second)
	p.expect("vip", "b")
}

// A node restarted without its state log sets an attribute before it hears
// the peer, whose copy of the old value has a higher epoch: the prober's
// fresh value must still win.
func TestAttributeSurvivesStaleCopyAfterStateLoss(t *testing.T) {
	p := newPair(t, testModel(100, 50))
	p.run(2 * time.Second)
	for range 5 {
		p.nodes["a"].Step(p.now, Attribute{Name: "link.eth1.up", Value: "0"})
		p.nodes["a"].Step(p.now, Attribute{Name: "link.eth1.up", Value: "1"})
	}
	p.nodes["a"].Step(p.now, Attribute{Name: "link.eth1.up", Value: "0"})
	p.drain("a")
	p.run(time.Second)
	p.crash("a", false)
	p.run(100 * time.Millisecond)
	p.boot("a") // no persisted state in this harness
	p.nodes["a"].Step(p.now, Attribute{Name: "link.eth1.up", Value: "1"})
	p.drain("a")
	p.run(2 * time.Second)
	for _, n := range []string{"a", "b"} {
		if got := p.nodes[n].attributes()["a"]["link.eth1.up"]; got != "1" {
			t.Errorf("%s sees a's link.eth1.up = %q, want 1", n, got)
		}
	}
}
