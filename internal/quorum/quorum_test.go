package quorum

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

// cluster runs members in virtual time over a network with a fixed delay
// and cuttable directions. Everything is deterministic.
type cluster struct {
	t         *testing.T
	now       time.Duration
	names     []string
	voters    []string
	m         map[string]*Quorum
	cut       map[[2]string]bool // from → to dropped
	down      map[string]bool
	flight    []flight
	persisted map[string]Persisted
	committed map[string][]string
	trace     []string
}

type flight struct {
	at       time.Duration
	from, to string
	data     []byte
}

const (
	tick  = 100 * time.Millisecond
	et    = time.Second
	lease = 700 * time.Millisecond
	delay = time.Millisecond
)

func newCluster(t *testing.T, voters, learners []string) *cluster {
	c := &cluster{t: t, names: slices.Concat(voters, learners), voters: voters, m: map[string]*Quorum{},
		cut: map[[2]string]bool{}, down: map[string]bool{}, persisted: map[string]Persisted{}, committed: map[string][]string{}}
	for _, n := range c.names {
		c.boot(n, Persisted{})
	}
	return c
}

func (c *cluster) boot(name string, st Persisted) { c.bootLost(name, st, false) }

// bootLost boots name; lost says its raft state was lost (st is empty).
func (c *cluster) bootLost(name string, st Persisted, lost bool) {
	voters, learners := c.voters, []string{}
	for _, n := range c.names {
		if !slices.Contains(voters, n) {
			learners = append(learners, n)
		}
	}
	q, err := New(Config{Self: name, Voters: voters, Learners: learners, Tick: tick, ElectionTimeout: et, Lease: lease, State: st, StateLost: lost}, c.now)
	if err != nil {
		c.t.Fatal(err)
	}
	c.m[name] = q
	delete(c.down, name)
	c.drain(name)
}

func (c *cluster) crash(name string) {
	c.down[name] = true
	c.flight = slices.DeleteFunc(c.flight, func(f flight) bool { return f.to == name || f.from == name })
}

func (c *cluster) drain(name string) {
	q := c.m[name]
	rd := q.Ready()
	if rd.Persist != nil {
		c.persisted[name] = *rd.Persist
	}
	for _, m := range rd.Messages {
		if !c.cut[[2]string{name, m.To}] {
			c.flight = append(c.flight, flight{at: c.now + delay, from: name, to: m.To, data: m.Data})
		}
	}
	for _, e := range rd.Committed {
		c.committed[name] = append(c.committed[name], string(e.Data))
	}
	for _, l := range rd.Logs {
		c.trace = append(c.trace, fmt.Sprintf("%v %s: %s", c.now, name, l))
	}
	q.Advance()
}

// run advances time in 1 ms steps: deliver what is due, tick every member
// every 25 ms (the agent's loop period at keepalive 100 ms), check.
func (c *cluster) run(d time.Duration, check func()) {
	end := c.now + d
	for c.now < end {
		c.now += time.Millisecond
		var due []flight
		c.flight = slices.DeleteFunc(c.flight, func(f flight) bool {
			if f.at <= c.now {
				due = append(due, f)
				return true
			}
			return false
		})
		for _, f := range due {
			if c.down[f.to] || c.cut[[2]string{f.from, f.to}] {
				continue
			}
			if err := c.m[f.to].Step(c.now, f.from, f.data); err != nil {
				c.t.Fatalf("%v %s: %v", c.now, f.to, err)
			}
			c.drain(f.to)
		}
		if c.now%(25*time.Millisecond) == 0 {
			for _, n := range c.names {
				if !c.down[n] {
					c.m[n].Tick(c.now)
					c.drain(n)
				}
			}
		}
		if check != nil {
			check()
		}
	}
}

// dcs lists the members that consider themselves DC now.
func (c *cluster) dcs() []string {
	var out []string
	for _, n := range c.names {
		if !c.down[n] && c.m[n].IsDC(c.now) {
			out = append(out, n)
		}
	}
	return out
}

// leased lists the members whose lease (leader or granted) is valid now.
func (c *cluster) leased() []string {
	var out []string
	for _, n := range c.names {
		if !c.down[n] && c.m[n].LeaseEnd() > c.now {
			out = append(out, n)
		}
	}
	return out
}

func (c *cluster) partition(a, b string) {
	c.cut[[2]string{a, b}], c.cut[[2]string{b, a}] = true, true
}

func (c *cluster) heal() { c.cut = map[[2]string]bool{} }

func (c *cluster) tail() string {
	return strings.Join(c.trace[max(0, len(c.trace)-30):], "\n")
}

// atMostOneDC is checked at every millisecond: two members that both
// believe they may assign would break S2.
func (c *cluster) atMostOneDC() func() {
	return func() {
		if d := c.dcs(); len(d) > 1 {
			c.t.Fatalf("%v: two DCs %v\n%s", c.now, d, c.tail())
		}
	}
}

func TestElectsOneDCAndGrantsLeases(t *testing.T) {
	c := newCluster(t, []string{"a", "b", "w"}, nil)
	c.run(5*time.Second, c.atMostOneDC())
	d := c.dcs()
	if len(d) != 1 {
		t.Fatalf("DCs %v after 5s\n%s", d, c.tail())
	}
	if got := c.leased(); len(got) != 3 {
		t.Fatalf("leases held by %v, want all three\n%s", got, c.tail())
	}
	for _, n := range c.names {
		if c.m[n].Leader() != d[0] {
			t.Errorf("%s follows %q, DC is %s", n, c.m[n].Leader(), d[0])
		}
	}
}

// R1 in action: when the DC dies, no successor is DC before the old
// leader lease has run out, and the followers' leases run out too.
func TestDCDeathSuccessorAfterOldLease(t *testing.T) {
	c := newCluster(t, []string{"a", "b", "c"}, nil)
	c.run(5*time.Second, nil)
	old := c.dcs()[0]
	oldEnd := c.m[old].LeaseEnd()
	term := c.m[old].Term()
	c.crash(old)
	var next string
	var at time.Duration
	c.run(5*time.Second, func() {
		if d := c.dcs(); len(d) == 1 && next == "" {
			next, at = d[0], c.now
		}
	})
	if next == "" || next == old {
		t.Fatalf("no new DC after %s died\n%s", old, c.tail())
	}
	if at <= oldEnd {
		t.Fatalf("new DC %s at %v, before the old leader lease ended at %v", next, at, oldEnd)
	}
	if el := c.m[next].ElectedAt(); el < oldEnd {
		// R1: a successor is elected only after ET without a word, which is longer than L.
		t.Fatalf("%s elected at %v, before the old lease ended at %v", next, el, oldEnd)
	}
	if c.m[next].Term() <= term {
		t.Fatalf("term %d did not advance past %d", c.m[next].Term(), term)
	}
	t.Logf("old DC %s lease to %v; %s elected %v, DC %v", old, oldEnd, next, c.m[next].ElectedAt(), at)
}

// Cutting only the link between the DC and another node, while both still
// reach the witness, moves nothing: the cut-off node cannot depose the DC.
func TestNonTransitiveCutKeepsDC(t *testing.T) {
	c := newCluster(t, []string{"a", "b", "w"}, nil)
	c.run(5*time.Second, nil)
	dc := c.dcs()[0]
	other := "a"
	if dc == "a" {
		other = "b"
	}
	if dc == "w" {
		// Deterministic: the layout elects a node first. Fail rather than
		// skip if that ever changes, so the case cannot go untested.
		t.Fatal("the witness leads: this test needs a node as DC")
	}
	term := c.m[dc].Term()
	c.partition(dc, other)
	c.run(10*time.Second, c.atMostOneDC())
	if d := c.dcs(); len(d) != 1 || d[0] != dc || c.m[dc].Term() != term {
		t.Fatalf("after cutting %s–%s: DCs %v, term %d→%d\n%s", dc, other, d, term, c.m[dc].Term(), c.tail())
	}
	if slices.Contains(c.leased(), other) {
		t.Fatalf("%s, cut from the DC, still holds a lease", other)
	}
	c.heal()
	c.run(3*time.Second, c.atMostOneDC())
	if c.m[dc].Term() != term || !slices.Contains(c.leased(), other) {
		t.Fatalf("heal disrupted the DC (term %d→%d) or %s got no lease back", term, c.m[dc].Term(), other)
	}
}

// An isolated follower loses its lease within L of its last grant round,
// and after healing it rejoins without disturbing the term (PreVote).
func TestIsolatedFollowerLosesLease(t *testing.T) {
	c := newCluster(t, []string{"a", "b", "c"}, nil)
	c.run(5*time.Second, nil)
	dc := c.dcs()[0]
	var f string
	for _, n := range c.names {
		if n != dc {
			f = n
			break
		}
	}
	term := c.m[dc].Term()
	for _, n := range c.names {
		if n != f {
			c.partition(f, n)
		}
	}
	cutAt := c.now
	var lostAt time.Duration
	c.run(5*time.Second, func() {
		if lostAt == 0 && c.m[f].LeaseEnd() <= c.now {
			lostAt = c.now
		}
	})
	if lostAt == 0 || lostAt-cutAt > lease {
		t.Fatalf("isolated %s lost its lease %v after the cut (lease %v)", f, lostAt-cutAt, lease)
	}
	c.heal()
	c.run(3*time.Second, c.atMostOneDC())
	if c.m[dc].Term() != term || len(c.dcs()) != 1 || c.dcs()[0] != dc {
		t.Fatalf("rejoining %s disturbed the DC: term %d→%d, DCs %v\n%s", f, term, c.m[dc].Term(), c.dcs(), c.tail())
	}
}

// The log survives a restart from the persisted state; a member restarted
// with its state catches up and applies the same entries.
func TestProposalsCommitAndSurviveRestart(t *testing.T) {
	c := newCluster(t, []string{"a", "b", "c"}, []string{"d"})
	c.run(5*time.Second, nil)
	dc := c.dcs()[0]
	for i := range 3 {
		if err := c.m[dc].Propose([]byte(fmt.Sprintf("assign g%d", i))); err != nil {
			t.Fatal(err)
		}
		c.drain(dc)
	}
	c.run(time.Second, nil)
	want := []string{"assign g0", "assign g1", "assign g2"}
	for _, n := range c.names {
		if !slices.Equal(c.committed[n], want) {
			t.Fatalf("%s applied %q, want %q", n, c.committed[n], want)
		}
	}
	var f string
	for _, n := range []string{"a", "b", "c"} {
		if n != dc {
			f = n
			break
		}
	}
	c.crash(f)
	c.committed[f] = nil
	c.run(time.Second, nil)
	c.boot(f, c.persisted[f])
	c.run(2*time.Second, nil)
	// Entries already applied before the crash are not re-applied (Applied = Commit).
	if len(c.committed[f]) != 0 {
		t.Fatalf("%s re-applied %q after restart", f, c.committed[f])
	}
	if err := c.m[dc].Propose([]byte("assign g3")); err != nil {
		t.Fatal(err)
	}
	c.drain(dc)
	c.run(time.Second, nil)
	if !slices.Equal(c.committed[f], []string{"assign g3"}) {
		t.Fatalf("%s applied %q after restart", f, c.committed[f])
	}
	if err := c.m[f].Propose([]byte("x")); err != ErrNotLeader {
		t.Fatalf("follower propose: %v", err)
	}
}

// A voter that lost its raft state follows the log but does not vote —
// not even after another restart — until it is rejoined; the cluster
// then elects again with its vote.
func TestLostStateDoesNotVoteUntilRejoin(t *testing.T) {
	c := newCluster(t, []string{"a", "b", "c"}, nil)
	c.run(5*time.Second, nil)
	dc := c.dcs()[0]
	if err := c.m[dc].Propose([]byte("assign g0")); err != nil {
		t.Fatal(err)
	}
	c.drain(dc)
	c.run(time.Second, nil)
	var f string // the follower that loses its state
	for _, n := range []string{"a", "b", "c"} {
		switch {
		case n == dc:
		case f == "":
			f = n
		}
	}
	c.crash(f)
	c.committed[f] = nil
	c.bootLost(f, Persisted{}, true)
	if p := c.persisted[f]; !p.NoVote {
		t.Fatalf("%s persisted %+v: the not-voting flag must outlive a restart", f, p)
	}
	c.run(2*time.Second, nil)
	if !slices.Equal(c.committed[f], []string{"assign g0"}) {
		t.Fatalf("%s applied %q after losing its state, want the log replayed", f, c.committed[f])
	}
	// The DC, which still counted the entries f had acknowledged, handed
	// leadership on so that f could catch up.
	dc = c.dcs()[0]
	if c.m[dc].Voting(f) || c.m[f].Voting(f) {
		t.Fatalf("%s counts as voting after losing its state", f)
	}
	// Restarted again before any rejoin: still not voting.
	c.crash(f)
	c.boot(f, c.persisted[f])
	c.run(time.Second, nil)
	// The DC dies: o alone cannot be elected without f's vote.
	c.crash(dc)
	c.run(4*et, func() {
		if d := c.dcs(); len(d) > 0 {
			t.Fatalf("%v: %v elected with a voter whose state was lost\n%s", c.now, d, c.tail())
		}
	})
	if err := c.m[f].Rejoin(); err != nil {
		t.Fatal(err)
	}
	c.drain(f)
	if p := c.persisted[f]; p.NoVote || p.VoteAbove == 0 {
		t.Fatalf("after rejoin %s persisted %+v", f, p)
	}
	c.run(4*et, c.atMostOneDC())
	if d := c.dcs(); len(d) != 1 || d[0] == dc {
		t.Fatalf("after rejoin: DCs %v, want one that is not the dead %s", d, dc)
	}
	if err := c.m[f].Rejoin(); err == nil {
		t.Fatal("a second rejoin was accepted")
	}
}

// The same inputs give the same outputs: no randomness leaks from raft.
func TestDeterministic(t *testing.T) {
	run := func() string {
		c := newCluster(t, []string{"a", "b", "c", "d", "e"}, nil)
		c.run(3*time.Second, nil)
		c.crash(c.dcs()[0])
		c.run(5*time.Second, nil)
		return strings.Join(c.trace, "\n") + fmt.Sprint(c.dcs())
	}
	a, b := run(), run()
	if a != b {
		t.Fatalf("two runs differ:\n%s\n---\n%s", a, b)
	}
}

func TestBadMessages(t *testing.T) {
	c := newCluster(t, []string{"a", "b", "c"}, nil)
	q := c.m["a"]
	for _, tc := range []struct {
		from string
		data []byte
		want string
	}{
		{"x", []byte{kindRaft}, `message from "x", not a member`},
		{"b", nil, "empty message from b"},
		{"b", []byte{9}, "message kind 9 from b"},
		{"b", []byte{kindReq, 1}, "lease request from b: 2 bytes, want 33"},
		{"b", []byte{kindGrant, 1, 2}, "grant from b: 3 bytes, want 41"},
		{"b", []byte{kindRaft, 0xff, 0xff}, "raft message from b"},
	} {
		err := q.Step(c.now, tc.from, tc.data)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Step(%s, %x) = %v, want %q", tc.from, tc.data, err, tc.want)
		}
	}
}
