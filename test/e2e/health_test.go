package e2e

import (
	"net/netip"
	"testing"
	"time"

	"tandem/internal/lab"
)

// observerAddr is the netns observer's address on link 0: it stands in for
// the gateway the nodes ping.
var observerAddr = netip.MustParseAddr("198.18.0.250")

// The client-side interface of the active node loses carrier while the
// heartbeats go on over the second link: the link attribute's location
// rule moves the group to the peer (issue 5, health attributes).
func TestClientLinkCarrierLossMovesGroup(t *testing.T) {
	s := defaultSpec("te2carrier")
	s.Links = 2
	s.Health = "{links: [eth0]}"
	s.Constraints = []string{`{location: service, rule: "link.eth0.up eq 0", score: -INFINITY}`}
	e := start(t, s)
	e.serving("a")
	if err := e.cl.Topo.SetLink("a", 0, false); err != nil {
		t.Fatal(err)
	}
	took := e.waitAnswering("b")
	t.Logf("b answers %v after a's eth0 lost carrier", took.Round(time.Millisecond))
	e.waitActive("b")
	e.exactlyOne("b")
	if n := e.logLines("a", "node attribute link.eth0.up = 0"); n == 0 {
		t.Fatal("a never reported link.eth0.up = 0")
	}
	if n := e.logLines("b", "peer a dead"); n > 0 {
		t.Fatal("b declared a dead: the heartbeats over eth1 should have kept it alive")
	}
	e.logOutages()
	e.noDoubleAnswers()
}

// two_node's quorum.ping heuristic: the active node stops reaching the ping
// target (the observer, standing in for the gateway) while everything else
// works; the peer still reaches it, so the group moves there. When the
// target answers a again, stickiness keeps the group on b.
func TestQuorumPingMovesGroupOffNodeWithoutUplink(t *testing.T) {
	s := defaultSpec("te2qping")
	s.Links = 2
	s.QuorumPing = []netip.Addr{observerAddr}
	e := start(t, s)
	e.serving("a")
	if err := lab.WaitFor(e.ctx, e.deadline, "both nodes reach the ping target", func() (bool, error) {
		st, err := e.cl.Status(e.ctx, "a")
		if err != nil {
			return false, err
		}
		for _, n := range st.Nodes {
			if n.Attributes["ping.quorum.ok"] != "1" {
				return false, nil
			}
		}
		return true, nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := e.cl.Topo.Block("a", "obs", true); err != nil {
		t.Fatal(err)
	}
	// The observer cannot reach a now either: wait for b through the VIP.
	took := e.waitAnswering("b")
	t.Logf("b answers %v after a lost the ping target", took.Round(time.Millisecond))
	e.waitActive("b")
	e.exactlyOne("b")
	if err := e.cl.Topo.Block("a", "obs", false); err != nil {
		t.Fatal(err)
	}
	if err := lab.WaitFor(e.ctx, e.deadline, "a reaches the ping target again", func() (bool, error) {
		st, err := e.cl.Status(e.ctx, "b")
		if err != nil {
			return false, err
		}
		return st.Nodes[0].Attributes["ping.quorum.ok"] == "1", nil
	}); err != nil {
		t.Fatal(err)
	}
	e.waitActive("b") // equal reach: stickiness keeps it
	e.logOutages()
	e.noDoubleAnswers()
}
