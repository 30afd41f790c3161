package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"tandem/internal/lab"
	"tandem/internal/status"
)

// tandem runs the CLI against node n's agent and returns its output.
func (e *env) tandem(n string, args ...string) string {
	e.t.Helper()
	out, err := exec.CommandContext(e.ctx, binary, append(args, "--socket", e.cl.Socket(n))...).CombinedOutput()
	if err != nil {
		e.t.Fatalf("tandem %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// moved runs an admin command and waits until to answers and holds the group.
func (e *env) moved(to string, on string, args ...string) {
	e.t.Helper()
	t0 := time.Now()
	e.t.Logf("tandem %s: %s", strings.Join(args, " "), e.tandem(on, args...))
	e.waitAnswering(to)
	e.waitActive(to)
	e.exactlyOne(to)
	e.t.Logf("  %s answers %v later", to, time.Since(t0).Round(time.Millisecond))
}

func (e *env) status(n string) status.Status {
	e.t.Helper()
	st, err := e.cl.Status(e.ctx, n)
	if err != nil {
		e.t.Fatal(err)
	}
	return st
}

// Issue 4, item 7: the operator's commands on a live two-node cluster, each
// observed by the prober and the ARP watcher (outages logged, not asserted).
func TestAdminCommands(t *testing.T) {
	s := defaultSpec("te2admin")
	s.LSBEcho = true // maintenance: the service must be able to outlive its agent
	e := start(t, s)
	e.serving("a")

	e.moved("b", "a", "move", "service", "b")
	if op := e.status("b").Operator; len(op) != 1 || op[0] != (status.Instruction{Op: "move", Target: "service", Node: "b"}) {
		t.Fatalf("status on b shows operator instructions %+v, want the move", op)
	}
	// explain and simulate on the live cluster: the move shows as what it
	// is, and the saved scheduler input replays "what if b dies".
	if out := e.tandem("a", "explain", "service"); !strings.Contains(out, "placement wants b") || !strings.Contains(out, "moved to b by the operator") {
		t.Fatalf("tandem explain service:\n%s", out)
	}
	if out := e.tandem("a", "simulate", "--config", e.cl.Config(), "--state-dir", filepath.Join(e.cl.Dir, "a"), "--node-down", "b"); !strings.Contains(out, "* service      b → a") {
		t.Fatalf("tandem simulate --node-down b:\n%s", out)
	} else {
		t.Logf("tandem simulate --node-down b:\n%s", out)
	}
	e.tandem("b", "clear", "service") // stickiness keeps it on b
	e.moved("a", "a", "standby", "b")
	if st := e.status("a"); !st.Nodes[1].Standby || len(st.Operator) != 0 {
		t.Fatalf("after clear and standby b: nodes %+v operator %+v", st.Nodes, st.Operator)
	}
	e.tandem("a", "online", "b")
	e.moved("b", "b", "ban", "service", "a")
	e.tandem("a", "clear", "service")

	// A monitor failure on b: restarted in place, counted; cleanup forgets it.
	e.killEcho("b")
	if err := lab.WaitFor(e.ctx, e.deadline, "a fail count for echo on b", func() (bool, error) {
		for _, r := range e.status("a").Resources {
			if r.Name == "echo" && r.FailCounts["b"] > 0 {
				return true, nil
			}
		}
		return false, nil
	}); err != nil {
		t.Fatal(err)
	}
	e.waitAnswering("b")
	e.tandem("a", "cleanup", "service")
	if err := lab.WaitFor(e.ctx, e.deadline, "fail counts gone on both nodes", func() (bool, error) {
		for _, n := range []string{"a", "b"} {
			for _, r := range e.status(n).Resources {
				if len(r.FailCounts) > 0 {
					return false, nil
				}
			}
		}
		return true, nil
	}); err != nil {
		t.Fatal(err)
	}

	// Maintenance on b: its agent stops and comes back (an upgrade) while
	// the address and the service stay up on b and a never takes over.
	e.tandem("a", "maintenance", "on", "b")
	if err := lab.WaitFor(e.ctx, e.deadline, "b sees its maintenance", func() (bool, error) {
		return e.status("b").Nodes[1].Maintenance, nil
	}); err != nil {
		t.Fatal(err)
	}
	starts, stops := e.logLines("b", "start vip"), e.logLines("b", "stop echo")+e.logLines("b", "stop vip")
	stopped := time.Now()
	if err := e.cl.Stop("b", 20*time.Second); err != nil {
		t.Fatal(err)
	}
	t.Logf("b's agent stopped in %v", time.Since(stopped).Round(time.Millisecond))
	// Three deadtimes with b's agent gone: a would have taken over in one.
	for end := time.Now().Add(3 * e.cl.Spec.Deadtime); time.Now().Before(end); {
		if has, err := e.cl.HasFloating("b"); err != nil || !has {
			t.Fatalf("b lost the floating address while its agent was stopped in maintenance (%v)", err)
		}
		if has, err := e.cl.HasFloating("a"); err != nil || has {
			t.Fatalf("a took the floating address while b was in maintenance (%v)", err)
		}
		select {
		case <-e.ctx.Done():
			t.Fatal(e.ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
	if e.pr.Answering() != "b" {
		t.Fatalf("the service answers from %q while b's agent is stopped, want b", e.pr.Answering())
	}
	if err := e.cl.StartAgent("b"); err != nil {
		t.Fatal(err)
	}
	e.waitActive("b")
	e.tandem("a", "maintenance", "off", "b")
	e.waitAnswering("b")
	e.exactlyOne("b")
	if n := e.logLines("b", "start vip"); n != starts {
		t.Fatalf("b started the address again after its agent's restart (%d starts, %d before)", n, starts)
	}
	if n := e.logLines("b", "stop echo") + e.logLines("b", "stop vip"); n != stops {
		t.Fatalf("b stopped something around its upgrade")
	}
	e.logOutages()
	e.noDoubleAnswers()
}

// killEcho kills node n's detached echo daemon, as a crash would.
// It returns the pid it killed.
func (e *env) killEcho(n string) int {
	e.t.Helper()
	pid, err := e.echoPid(n)
	if err != nil {
		e.t.Fatal(err)
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		e.t.Fatal(err)
	}
	return pid
}

func (e *env) echoPid(n string) (int, error) {
	b, err := os.ReadFile(filepath.Join(e.cl.Dir, "echo-"+n+".pid"))
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(strings.TrimSpace(string(b)))
}
