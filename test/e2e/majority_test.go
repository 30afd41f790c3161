package e2e

import (
	"context"
	"os"
	"path/filepath"
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
	e := start(t, majoritySpec(prefix))
	m, err := config.Load(e.cl.Config())
	if err != nil {
		t.Fatal(err)
	}
	e.deadline = 5*config.MajorityBound(m, m.Groups[0]).Bound + 5*time.Second
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
// witness, moves nothing: b neither takes the address nor answers.
func TestMajorityNodeLinkCutMovesNothing(t *testing.T) {
	e := startMajority(t, "te2mcut")
	e.serving("a")
	if err := e.cl.Topo.Block("a", "b", true); err != nil {
		t.Fatal(err)
	}
	// Long enough for a two_node pair to have split (deadtime 1 s) several times over.
	time.Sleep(4 * time.Second) // an observation window, not a timing assertion
	e.exactlyOne("a")
	if e.pr.Answering() != "a" {
		t.Fatalf("%s answers after cutting only a–b", e.pr.Answering())
	}
	if e.logLines("b", "start vip") > 0 {
		t.Fatal("b started the address while it reached the witness")
	}
	e.noDoubleAnswers()
}

// The owner is cut off from b and the witness but still reaches the
// clients: its lease ends, its nftables gate cuts the address off, b takes
// over — and no 10 ms window has two MACs answering ARP.
func TestMajorityIsolatedOwnerGatedOff(t *testing.T) {
	e := startMajority(t, "te2miso")
	e.serving("a")
	for _, o := range []string{"b", "w"} {
		if err := e.cl.Topo.Block("a", o, true); err != nil {
			t.Fatal(err)
		}
	}
	took := e.waitAnswering("b")
	t.Logf("b answers %v after a was cut off from b and w", took.Round(time.Millisecond))
	e.waitActive("b")
	if e.logLines("a", "lease lost") == 0 {
		t.Fatal("a did not report losing its lease")
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
