package e2e

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"tandem/internal/lab"
)

// failCount is echo's fail count on node on, as n's agent reports it.
func (e *env) failCount(n, on string) int {
	for _, r := range e.status(n).Resources {
		if r.Name == "echo" {
			return r.FailCounts[on]
		}
	}
	return 0
}

// answeredSince waits until n has answered through the floating IP after t
// (Answering alone still names the node that answered before an outage).
func (e *env) answeredSince(n string, t time.Time) time.Duration {
	e.t.Helper()
	var took time.Duration
	if err := lab.WaitFor(e.ctx, e.deadline, "an answer from "+n+" after the fault", func() (bool, error) {
		// The gap the fault made, not a reply that was already on its way.
		for _, o := range e.pr.Outages(30 * time.Millisecond) {
			if o.After == n && o.End.After(t) {
				took = o.End.Sub(t)
				return true, nil
			}
		}
		return false, nil
	}); err != nil {
		e.t.Fatal(err)
	}
	return took
}

func (e *env) waitFailCount(on string, want int) {
	e.t.Helper()
	if err := lab.WaitFor(e.ctx, e.deadline, "echo's fail count on "+on+" reaches "+strconv.Itoa(want), func() (bool, error) {
		return e.failCount("b", on) >= want, nil
	}); err != nil {
		e.t.Fatal(err)
	}
}

// Issue 5, item 8: the service dies on the active node and is restarted in
// place; the third death (migration_threshold 3) moves the group; tandem
// cleanup brings it back to its preferred node; a monitor that hangs is
// killed at its timeout with its process group, counted, and recovered
// from, with no process left behind. Times are logged, not asserted.
func TestServiceRecovery(t *testing.T) {
	s := defaultSpec("te2recov")
	s.LSBEcho, s.MigrationThreshold, s.Stickiness = true, 3, 0
	e := start(t, s)
	e.serving("a")

	for i := 1; i <= 2; i++ {
		t0 := time.Now()
		old := e.killEcho("a")
		e.waitFailCount("a", i)
		// Restarted: a new daemon (not the one killed) runs and answers.
		if err := lab.WaitFor(e.ctx, e.deadline, "a new echo daemon on a", func() (bool, error) {
			pid, err := e.echoPid("a")
			return err == nil && pid != old && syscall.Kill(pid, 0) == nil, nil
		}); err != nil {
			t.Fatal(err)
		}
		took := e.answeredSince("a", t0)
		e.t.Logf("kill %d: echo restarted in place on a, answering %v after the kill", i, took.Round(time.Millisecond))
	}
	t0 := time.Now()
	e.killEcho("a")
	e.waitFailCount("a", 3)
	took := e.answeredSince("b", t0)
	e.waitActive("b")
	e.exactlyOne("b")
	t.Logf("kill 3 (migration_threshold 3): the group moved to b, answering %v after the kill", took.Round(time.Millisecond))

	t0 = time.Now()
	t.Logf("tandem cleanup service: %s", e.tandem("b", "cleanup", "service"))
	took = e.answeredSince("a", t0)
	e.waitActive("a")
	t.Logf("cleanup: back on a, its preferred node, answering %v later", took.Round(time.Millisecond))

	// One status call hangs: the 1 s monitor timeout kills its process
	// group, the failure counts, and on_fail restart recovers in place.
	if err := os.WriteFile(filepath.Join(e.cl.Dir, "hang-status-a"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	t0 = time.Now()
	e.waitFailCount("a", 1)
	if err := lab.WaitFor(e.ctx, e.deadline, "echo running on a again", func() (bool, error) {
		for _, r := range e.status("a").Resources {
			if r.Name == "echo" {
				return len(r.Instances) == 1 && r.Instances[0].Node == "a" && r.Instances[0].State == "running", nil
			}
		}
		return false, nil
	}); err != nil {
		t.Fatal(err)
	}
	t.Logf("hung monitor: killed, counted and recovered in place %v after it hung", time.Since(t0).Round(time.Millisecond))
	if n := e.logLines("a", "monitor failed: recovering"); n == 0 {
		t.Fatal("a did not report the hung monitor as a failure")
	}
	if left := sleepers(); len(left) > 0 {
		t.Fatalf("the hung monitor left processes behind: %v", left)
	}
	e.logOutages()
	e.noDoubleAnswers()
}

// sleepers lists the processes still running the hung status's sleep.
func sleepers() []string {
	var out []string
	dirs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, f := range dirs {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		if cmd := strings.ReplaceAll(string(b), "\x00", " "); strings.HasPrefix(cmd, "sleep 3600") {
			out = append(out, filepath.Base(filepath.Dir(f))+": "+cmd)
		}
	}
	return out
}
