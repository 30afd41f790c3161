package node

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"tandem/internal/config"
)

// majorityModel is testModel with a witness: two nodes and w vote.
func majorityModel() *config.Model {
	m := testModel(100, 50)
	m.Quorum = config.Quorum{Mode: config.ModeMajority}
	m.Timing.Lease = 700 * time.Millisecond
	for i := range m.Nodes {
		m.Nodes[i].Voter = true
	}
	m.Witnesses = []config.Node{{Name: "w", Links: []netip.Addr{netip.MustParseAddr("198.18.0.30")}, Voter: true}}
	return m
}

func newMajorityPair(t *testing.T) *pair {
	p := newPair(t, majorityModel())
	p.strict = true
	p.cutDir = map[[2]string]bool{}
	return p
}

func (p *pair) cutBetween(a, b string) {
	p.cutDir[[2]string{a, b}], p.cutDir[[2]string{b, a}] = true, true
	// What is on the wire between them is lost too.
	var keep []flight
	for _, f := range p.flight {
		if !(f.rcv.From == a && f.to == b) && !(f.rcv.From == b && f.to == a) {
			keep = append(keep, f)
		}
	}
	p.flight = keep
}

func TestMajorityStartsOnPreferredNodeAndDCFollows(t *testing.T) {
	p := newMajorityPair(t)
	p.run(6 * time.Second)
	p.expect("vip", "a")
	p.expect("svc", "a")
	if p.world["w"]["vip"] || p.world["w"]["svc"] {
		t.Fatal("the witness runs a resource")
	}
	for _, n := range []string{"a", "b", "w"} {
		if dc := p.nodes[n].Status().DC; dc != "a" {
			t.Fatalf("%s sees DC %q, want a (the DC follows the resources)\n%s", n, dc, p.tail())
		}
	}
	st := p.nodes["b"].Status()
	if !st.Quorum.Quorate || st.Quorum.Votes != 3 || st.Quorum.Expected != 3 || st.Quorum.Mode != "majority" {
		t.Fatalf("b's quorum %+v", st.Quorum)
	}
}

// The owner (and DC) dies: b takes over only after the election and the R2
// wait, and never while a could still run it.
func TestMajorityHardFailure(t *testing.T) {
	p := newMajorityPair(t)
	p.run(6 * time.Second)
	p.expect("vip", "a")
	p.crash("a", true)
	died := p.now
	p.run(8 * time.Second)
	p.expect("vip", "b")
	p.expect("svc", "b")
	var moved string
	for _, l := range p.events {
		if strings.HasPrefix(l, "b group_moved voice a took=") {
			moved = l
		}
	}
	if moved == "" {
		t.Fatalf("b never took voice over from a:\n%s", strings.Join(p.events, "\n"))
	}
	// Deadtime-free: ET (1 s) + election + R2 wait ((0.7 s + 1 s stop) × 1.02 + 0.2 s) + starts.
	wait, _ := p.m.ReassignWait(p.m.Groups[0])
	t.Logf("a died at %v; R2 wait %v; %s", died, wait, moved)
}

// Cutting only the link between the nodes, both still reaching the
// witness, moves nothing.
func TestMajorityNodeLinkCutMovesNothing(t *testing.T) {
	p := newMajorityPair(t)
	p.run(6 * time.Second)
	p.expect("vip", "a")
	p.cutBetween("a", "b")
	p.run(10 * time.Second)
	p.expect("vip", "a")
	p.expect("svc", "a")
	if p.logged("b: start vip") || p.logged("b: start svc") {
		t.Fatalf("b started something while cut from a only:\n%s", p.tail())
	}
}

// The owner cut off from everyone loses its lease and stops, addresses
// first (S3a); b takes over only after R2/R3, never both at once (S2).
func TestMajorityIsolatedOwnerStops(t *testing.T) {
	p := newMajorityPair(t)
	p.run(6 * time.Second)
	p.expect("vip", "a")
	p.cutBetween("a", "b")
	p.cutBetween("a", "w")
	cut := p.now
	p.run(time.Second)
	p.expect("vip", "")
	if !p.logged("a: lease lost") {
		t.Fatalf("a did not report losing its lease:\n%s", p.tail())
	}
	p.run(8 * time.Second)
	p.expect("vip", "b")
	p.expect("svc", "b")
	t.Logf("cut at %v, b holds it by %v", cut, p.now)
	// Heal: a rejoins as a follower; nothing moves back while b is sticky.
	p.cutDir = map[[2]string]bool{}
	p.run(5 * time.Second)
	p.expect("vip", "b")
}

// A graceful stop of the owner, which is the DC, hands both the DC role
// and the group over without waiting out any lease.
func TestMajorityGracefulHandOff(t *testing.T) {
	p := newMajorityPair(t)
	p.run(6 * time.Second)
	p.expect("vip", "a")
	p.nodes["a"].Step(p.now, Shutdown{})
	p.drain("a")
	start := p.now
	p.run(2 * time.Second)
	if !p.done["a"] {
		t.Fatalf("a not done:\n%s", p.tail())
	}
	p.expect("vip", "b")
	p.expect("svc", "b")
	if d := p.nodes["b"].Status().DC; d != "b" {
		t.Fatalf("DC after a left: %q", d)
	}
	t.Logf("hand-off started %v", start)
}

// Seed 13 of the 2 + witness layout: with a change for a group in flight,
// the DC proposes nothing else for it until that change is applied — two
// entries committed in turn once gave the group to two nodes.
func TestMajorityOneChangePerGroupInFlight(t *testing.T) {
	p := newMajorityPair(t)
	p.run(6 * time.Second)
	a := p.nodes["a"]
	if !a.mj.q.IsDC(p.now) {
		t.Fatal("a is not the DC")
	}
	// As if "voice → b" had been proposed and not applied yet, while the
	// placement (stickiness, preference) now says a.
	a.mj.assign["voice"] = assignment{}
	a.mj.proposed["voice"] = "b"
	p.log = nil
	a.Step(p.now, Tick{})
	p.drain("a")
	if p.logged("DC proposes voice") {
		t.Fatalf("a second change for voice went out while one was in flight:\n%s", p.tail())
	}
}

// Majority mode: an instruction given on any node is gossiped to the DC,
// committed through raft, and only then placed by; one given on a node cut
// off from the majority waits for the heal. The committed state survives a
// restart that lost the node's own copy of the state log.
func TestMajorityAdminThroughRaft(t *testing.T) {
	p := newMajorityPair(t)
	p.run(6 * time.Second)
	p.expect("vip", "a")
	p.admin("b", Admin{Op: AdminMove, Resource: "voice", Node: "b"}) // b is not the DC
	p.run(4 * time.Second)
	p.expect("vip", "b")
	if !p.logged("a: committed cluster state move/voice = b") {
		t.Fatalf("the move was not committed by the DC:\n%s", p.tail())
	}
	for _, n := range []string{"a", "b", "w"} {
		if v, _ := p.nodes[n].clusterGet(keyMove + "voice"); v != "b" {
			t.Fatalf("%s's committed move is %q", n, v)
		}
	}

	// b alone: its clear cannot commit until it hears the majority again.
	p.cutBetween("b", "a")
	p.cutBetween("b", "w")
	p.admin("b", Admin{Op: AdminClear, Resource: "voice"})
	p.run(time.Second)
	if v, _ := p.nodes["b"].clusterGet(keyMove + "voice"); v != "b" {
		t.Fatalf("b applied a clear no majority has: committed move %q", v)
	}
	p.cutDir = map[[2]string]bool{}
	p.run(6 * time.Second)
	for _, n := range []string{"a", "b", "w"} {
		if v, ok := p.nodes[n].clusterGet(keyMove + "voice"); ok {
			t.Fatalf("%s still has the move %q after the heal", n, v)
		}
	}

	// w restarts with its raft state but an empty state log: the
	// committed state comes back from raft alone.
	p.admin("a", Admin{Op: AdminBan, Resource: "voice", Node: "a"})
	p.run(2 * time.Second)
	persisted := p.lastQuorum["w"]
	p.crash("w", true)
	nd, err := New(Config{Model: p.m, Self: "w", Incarnation: uint64(p.now) + 2, Quorum: persisted}, p.now)
	if err != nil {
		t.Fatal(err)
	}
	p.nodes["w"] = nd
	delete(p.down, "w")
	p.drain("w")
	if v, _ := nd.clusterGet(keyBan + "voice/a"); v != "on" {
		t.Fatalf("w lost the committed ban across a restart: %q", v)
	}
}
