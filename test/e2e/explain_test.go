package e2e

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"tandem/internal/agent"
	"tandem/internal/lab"
)

// run is tandem for a command that may fail: its output, and an error
// that carries the output when it does.
func (e *env) run(n string, args ...string) (string, error) {
	out, err := exec.CommandContext(e.ctx, binary, append(args, "--socket", e.cl.Socket(n))...).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("tandem %s: %w: %s", strings.Join(args, " "), err, out)
	}
	return string(out), nil
}

// scoreLead is the node explain's score table puts first: the winner.
func scoreLead(out string) string {
	lines := strings.Split(out, "\n")
	for i, l := range lines {
		if strings.HasPrefix(l, "scores (") && i+1 < len(lines) {
			if f := strings.Fields(lines[i+1]); len(f) > 0 {
				return f[0]
			}
		}
	}
	return ""
}

// Issue 4, item 5, on a live two-node cluster: tandem explain names where
// the group runs and why, from either agent; tandem simulate --node-down
// on a saved input names the survivor, and after a really dies, the same
// question on a's files — its agent gone — gets the answer that came true.
func TestExplainAndSimulate(t *testing.T) {
	e := start(t, defaultSpec("te2expl"))
	e.serving("a")

	for _, on := range []string{"a", "b"} {
		out := e.tandem(on, "explain", "echo") // a member: explained with its group
		t.Logf("tandem explain echo (on %s):\n%s", on, out)
		for _, want := range []string{"echo is placed with its group.", "service (group of vip, echo): runs on a; placement wants a",
			"location service on a: 50", "stickiness: running here"} {
			if !strings.Contains(out, want) {
				t.Fatalf("explain on %s lacks %q:\n%s", on, want, out)
			}
		}
		if lead := scoreLead(out); lead != "a" {
			t.Fatalf("explain on %s puts %q first, want a:\n%s", on, lead, out)
		}
	}
	if _, err := e.run("a", "explain", "nosuch"); err == nil || !strings.Contains(err.Error(), `no group, clone or resource named "nosuch"; there are: service`) {
		t.Fatalf("explain nosuch: %v", err)
	}

	stateA := filepath.Join(e.cl.Dir, "a")
	out := e.tandem("b", "simulate", "--config", e.cl.Config(), "--state-dir", stateA, "--node-down", "a")
	t.Logf("tandem simulate --node-down a:\n%s", out)
	if !strings.Contains(out, "* service      a → b") || !strings.Contains(out, "start vip on b") {
		t.Fatalf("simulate --node-down a does not move service to b:\n%s", out)
	}
	if out := e.tandem("b", "simulate", "--config", e.cl.Config(), "--state-dir", stateA, "--node-down", "b"); !strings.Contains(out, "  service      a → a") {
		t.Fatalf("simulate --node-down b moves service off a:\n%s", out)
	}

	files, err := agent.ListPEInputs(stateA)
	if err != nil || len(files) == 0 {
		t.Fatalf("a saved no scheduler input: %v", err)
	}
	newest := files[len(files)-1]
	e.hardFailure("a", "b")
	// a's agent is dead: simulate reads its files alone, and agrees with what happened.
	out = e.tandem("b", "simulate", "--config", e.cl.Config(), "--input", newest, "--node-down", "a")
	if !strings.Contains(out, "* service      a → b") {
		t.Fatalf("simulate on a's last input with a's agent dead:\n%s", out)
	}
	// b's own newest input has a gone: b keeps the group and would keep it
	// were a back (stickiness 2 × 100 beats a's 50).
	// b saves its inputs off its loop: wait for the one without a.
	stateB := filepath.Join(e.cl.Dir, "b")
	if err := lab.WaitFor(e.ctx, e.deadline, "b saves an input with a offline", func() (bool, error) {
		files, err := agent.ListPEInputs(stateB)
		if err != nil || len(files) == 0 {
			return false, err
		}
		in, err := agent.ReadPEInput(files[len(files)-1])
		return err == nil && !slices.Contains(in.View.Online, "a") && in.View.Running["service"] == "b", err
	}); err != nil {
		t.Fatal(err)
	}
	out = e.tandem("b", "simulate", "--config", e.cl.Config(), "--state-dir", stateB, "--node-up", "a")
	t.Logf("tandem simulate --node-up a (b's input after the failure):\n%s", out)
	if !strings.Contains(out, "  service      b → b") {
		t.Fatalf("simulate --node-up a on b's input:\n%s", out)
	}
	if out := e.tandem("b", "explain", "service"); !strings.Contains(out, "runs on b; placement wants b") || !strings.Contains(out, "a                  -  offline") {
		t.Fatalf("explain on b after a died:\n%s", out)
	}
}
