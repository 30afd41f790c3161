package e2e

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"tandem/internal/config"
	"tandem/internal/gate"
	"tandem/internal/lab"
)

// Majority mode: two nodes and a witness, each in a namespace of its own,
// real raft, real leases and real nftables gates on the floating IP.

func majoritySpec(prefix string) lab.Spec {
	s := defaultSpec(prefix)
	s.Witnesses = []string{"w"}
	return s
}

// startMajority is start with the correctness deadline of majority mode's
// R6 bound (election + R2 wait + starts), not two_node's, and a watcher
// that reads both nodes' lease gates every 10 ms: two live gates at once
// fail the test when it ends.
func startMajority(t *testing.T, prefix string) *env {
	return startMajoritySpec(t, majoritySpec(prefix))
}

func startMajoritySpec(t *testing.T, spec lab.Spec) *env {
	e := start(t, spec)
	m, err := config.Load(e.cl.Config())
	if err != nil {
		t.Fatal(err)
	}
	e.setBound(config.MajorityBound(m, m.Groups[0]).Bound)
	ctx, cancel := context.WithCancel(e.ctx)
	var both []time.Duration
	start := time.Now()
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			if e.gateOpen("a") && e.gateOpen("b") {
				both = append(both, time.Since(start))
			}
		}
	}()
	t.Cleanup(func() {
		cancel()
		<-done
		if len(both) > 0 {
			t.Errorf("both nodes had a live lease gate at %v", both)
		}
	})
	return e
}

func TestMajorityStartsAndWitnessRunsNothing(t *testing.T) {
	e := startMajority(t, "te2mstart")
	e.serving("a")
	e.exactlyOne("a")
	if has, err := e.cl.HasFloating("w"); err != nil || has {
		t.Fatalf("the witness holds the floating IP (%v, %v)", has, err)
	}
	st, err := e.cl.Status(e.ctx, "w")
	if err != nil {
		t.Fatal(err)
	}
	if st.Quorum.Mode != "majority" || st.Quorum.Votes != 3 || st.DC != "a" {
		t.Fatalf("witness status: quorum %+v, DC %q", st.Quorum, st.DC)
	}
	e.noDoubleAnswers()
}

// The owner dies: b takes over once the election and the R2 wait have
// passed; two MACs never answer for the address.
func TestMajorityHardFailure(t *testing.T) {
	e := startMajority(t, "te2mhard")
	e.serving("a")
	e.hardFailure("a", "b") // after the election and the R2 wait
}

// Cutting only the link between the nodes, while both still reach the
// witness, moves nothing: the DC stays with the active node a, and b
// neither takes the address nor answers.
func TestMajorityNodeLinkCutMovesNothing(t *testing.T) {
	e := startMajority(t, "te2mcut")
	e.serving("a")
	e.nodeLinkCutMovesNothing()
}

// Then the active node loses the witness too (a–b still cut): b and the
// witness are a quorum without a, so b takes over — within the R6 bound,
// with no 10 ms window in which two MACs answered ARP and no moment with
// both gates live.
func TestMajorityNodeLinkThenWitnessCutMovesToB(t *testing.T) {
	e := startMajority(t, "te2mcutw")
	e.serving("a")
	e.nodeLinkCutMovesNothing()
	cut := time.Now()
	if err := e.cl.Topo.Block("a", "w", true); err != nil {
		t.Fatal(err)
	}
	e.takenOver("a", "b", cut, "a was cut off from w as well")
}

// The owner is cut off from b and the witness at once but still reaches
// the clients: its lease ends, its nftables gate cuts the address off, b
// takes over within the R6 bound — and no 10 ms window has two MACs
// answering ARP.
func TestMajorityIsolatedOwnerGatedOff(t *testing.T) {
	e := startMajority(t, "te2miso")
	e.serving("a")
	cut := time.Now()
	for _, o := range []string{"b", "w"} {
		if err := e.cl.Topo.Block("a", o, true); err != nil {
			t.Fatal(err)
		}
	}
	e.takenOver("a", "b", cut, "a was cut off from b and w")
}

// nodeLinkCutMovesNothing cuts the link between the nodes a (active, the
// DC) and b, and checks that both notice and that for an observation
// window nothing moves: a keeps the address, answers and stays DC; b never
// holds or starts it.
func (e *env) nodeLinkCutMovesNothing() {
	e.t.Helper()
	if err := e.cl.Topo.Block("a", "b", true); err != nil {
		e.t.Fatal(err)
	}
	cut := time.Now()
	// The cut is real: each declares the other offline.
	for _, p := range [][2]string{{"a", "b"}, {"b", "a"}} {
		if err := lab.WaitFor(e.ctx, e.deadline, p[0]+" sees "+p[1]+" offline", func() (bool, error) {
			st, err := e.cl.Status(e.ctx, p[0])
			if err != nil {
				return false, err
			}
			for _, n := range st.Nodes {
				if n.Name == p[1] {
					return n.State == "offline", nil
				}
			}
			return false, nil
		}); err != nil {
			e.t.Fatal(err)
		}
	}
	e.t.Logf("a and b see each other offline %v after the cut", time.Since(cut).Round(time.Millisecond))
	// Long enough for a two_node pair to have split (deadtime 1 s) several
	// times over; checked every 50 ms throughout, not only at the end.
	for time.Since(cut) < 4*time.Second { // bounded: 4 s of watching
		e.exactlyOne("a")
		if n := e.pr.Answering(); n != "a" {
			e.t.Fatalf("%s answers %v after cutting only a–b", n, time.Since(cut).Round(time.Millisecond))
		}
		time.Sleep(50 * time.Millisecond)
	}
	for _, n := range []string{"a", "w"} {
		st, err := e.cl.Status(e.ctx, n)
		if err != nil {
			e.t.Fatal(err)
		}
		if st.DC != "a" {
			e.t.Fatalf("%s says the DC is %q after cutting only a–b, want a", n, st.DC)
		}
	}
	if e.logLines("b", "start vip") > 0 {
		e.t.Fatal("b started the address while it reached the witness")
	}
	e.noDoubleAnswers()
}

// takenOver checks a takeover from owner by survivor after a cut at time
// cut: survivor answers through the floating address within the R6 bound,
// holds the group, owner reported losing its lease, and no 10 ms window had
// two MACs answering ARP. The bound is L1 of the design: from the cut on,
// the others are a quorate, connected set without the owner — with no
// pauses. An agent of that set that reports a stalled loop (a pause longer
// than δ, which voids its lease) is outside that premise: the time is then
// logged, not judged.
func (e *env) takenOver(owner, survivor string, cut time.Time, what string) {
	e.t.Helper()
	var others []string
	for _, n := range append(slices.Clone(e.cl.Spec.Nodes), e.cl.Spec.Witnesses...) {
		if n != owner {
			others = append(others, n)
		}
	}
	stalls := func() (c int) {
		for _, n := range others {
			c += e.logLines(n, "agent loop stalled")
		}
		return c
	}
	before := stalls()
	e.waitAnswering(survivor)
	took, ok := e.firstAnswer(survivor, cut)
	if !ok {
		e.t.Fatalf("%s answers, but the prober recorded no first answer from it after the cut", survivor)
	}
	e.t.Logf("%s answers %v after %s (R6 bound %v)", survivor, took.Round(time.Millisecond), what, e.bound)
	// The prober's 10 ms send interval is its resolution: an answer can
	// come that much after the service is back.
	if took > e.bound+10*time.Millisecond {
		if n := stalls() - before; n > 0 {
			e.t.Logf("beyond the R6 bound, but %v reported %d stalled loops since the cut (a busy machine): outside L1's premise, not judged", others, n)
		} else {
			e.t.Errorf("%s answered %v after the cut, beyond the R6 bound %v", survivor, took.Round(time.Millisecond), e.bound)
		}
	}
	e.waitActive(survivor)
	if e.logLines(owner, "lease lost") == 0 {
		e.t.Fatalf("%s did not report losing its lease", owner)
	}
	e.logOutages()
	e.noDoubleAnswers()
}

// gateOpen reads node n's lease gate for the floating IP.
func (e *env) gateOpen(n string) bool {
	e.t.Helper()
	var ok bool
	err := e.cl.Topo.Do(n, func() error {
		g, err := gate.New("eth0", lab.Floating)
		if err != nil {
			return err
		}
		ok, _, err = g.Valid(e.ctx)
		return err
	})
	if err != nil {
		return false // no table or set: no gate, closed
	}
	return ok
}

// A frozen agent (kill -STOP) with its node and links up: its gate lapses
// with its lease, so its address stops answering; the address itself goes
// with the backstop lifetime; the other node takes over; and after kill
// -CONT neither the gate nor the address comes back.
func TestMajorityFrozenAgent(t *testing.T) {
	e := startMajority(t, "te2mstop")
	e.serving("a")
	if !e.gateOpen("a") {
		t.Fatal("a serves the address but its gate reads closed")
	}
	if err := e.cl.Pause("a", true); err != nil {
		t.Fatal(err)
	}
	frozen := time.Now()
	if err := lab.WaitFor(e.ctx, e.deadline, "a's gate lapsed", func() (bool, error) { return !e.gateOpen("a"), nil }); err != nil {
		t.Fatal(err)
	}
	t.Logf("a's gate lapsed %v after the freeze (lease 700 ms + one renewal)", time.Since(frozen).Round(time.Millisecond))
	if err := lab.WaitFor(e.ctx, e.deadline, "a's address gone (backstop lifetime)", func() (bool, error) {
		has, err := e.cl.HasFloating("a")
		return !has, err
	}); err != nil {
		t.Fatal(err)
	}
	t.Logf("a's address gone %v after the freeze (lifetime ⌈L⌉+1 s = 2 s, reaped within ~1 s)", time.Since(frozen).Round(time.Millisecond))
	time.Sleep(3*time.Second - time.Since(frozen)) // kill -CONT 3 × deadtime after the freeze
	grantsBefore := e.logLines("a", "lease granted")
	if err := e.cl.Pause("a", false); err != nil {
		t.Fatal(err)
	}
	thawed := time.Now()
	for time.Since(thawed) < 5*time.Second { // bounded: 5 s of watching, 50 ms apart
		has, err := e.cl.HasFloating("a")
		if err != nil {
			t.Fatal(err)
		}
		if e.logLines("a", "lease granted") > grantsBefore {
			// A new DC granted a a new lease: from here the group may
			// legitimately return to a (it is the preferred node).
			t.Logf("a got a fresh grant %v after kill -CONT; address and gate stayed gone until then", time.Since(thawed).Round(time.Millisecond))
			break
		}
		if has || e.gateOpen("a") {
			t.Fatalf("%v after kill -CONT, without a new grant: a's address (%v) or gate came back", time.Since(thawed).Round(time.Millisecond), has)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err := lab.WaitFor(e.ctx, e.deadline, "the service answers again", func() (bool, error) {
		return time.Since(e.pr.LastAnswer()) < 100*time.Millisecond && e.pr.LastAnswer().After(thawed), nil
	}); err != nil {
		t.Fatal(err)
	}
	t.Logf("%s answers %v after the thaw", e.pr.Answering(), time.Since(thawed).Round(time.Millisecond))
	e.logOutages()
	e.noDoubleAnswers()
}

// kill -KILL of the active agent alone (node and links up): its service
// dies with it, its gate lapses, its address goes with the backstop, and b
// takes over without two MACs ever answering.
func TestMajorityKilledAgent(t *testing.T) {
	e := startMajority(t, "te2mkill")
	e.serving("a")
	if c := echoProcesses("a"); c != 1 {
		t.Fatalf("%d echo processes of a before the kill, want 1 (the check below would be blind)", c)
	}
	if err := e.cl.Kill("a"); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	if err := lab.WaitFor(e.ctx, e.deadline, "a's gate lapsed and address gone", func() (bool, error) {
		has, err := e.cl.HasFloating("a")
		return !has && !e.gateOpen("a"), err
	}); err != nil {
		t.Fatal(err)
	}
	t.Logf("a's gate and address gone %v after the kill", time.Since(killed).Round(time.Millisecond))
	if err := lab.WaitFor(e.ctx, 5*time.Second, "a's echo service gone with its agent", func() (bool, error) {
		return echoProcesses("a") == 0, nil
	}); err != nil {
		t.Fatal(err)
	}
	took := e.waitAnswering("b")
	t.Logf("b answers %v after the kill", took.Round(time.Millisecond))
	e.logOutages()
	e.noDoubleAnswers()
}

// echoProcesses counts node n's echo service processes (by command line).
func echoProcesses(n string) int {
	dirs, _ := os.ReadDir("/proc")
	c := 0
	for _, d := range dirs {
		b, err := os.ReadFile(filepath.Join("/proc", d.Name(), "cmdline"))
		if err != nil {
			continue
		}
		cl := strings.ReplaceAll(strings.TrimRight(string(b), "\x00"), "\x00", " ")
		if strings.Contains(cl, " echo --listen ") && strings.HasSuffix(cl, "--name "+n) {
			c++
		}
	}
	return c
}
