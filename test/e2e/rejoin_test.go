package e2e

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"tandem/internal/api"
	"tandem/internal/lab"
	"tandem/internal/status"
)

// A voter whose raft state is lost (raft.json gone while its agent was
// down) comes back following but not voting, the service stays where it
// is, and it votes again — durably — after `tandem node rejoin`.
func TestMajorityLostRaftStateRejoins(t *testing.T) {
	e := startMajority(t, "te2mrejoin")
	e.serving("a")
	if err := e.cl.Stop("b", 15*time.Second); err != nil {
		t.Fatal(err)
	}
	raftFile := filepath.Join(e.cl.Dir, "b", "raft.json")
	if err := os.Remove(raftFile); err != nil {
		t.Fatalf("b left no raft state to lose: %v", err)
	}
	if err := e.cl.StartAgent("b"); err != nil {
		t.Fatal(err)
	}
	voting := func(want bool) func() (bool, error) {
		return func() (bool, error) {
			st, err := e.cl.Status(e.ctx, "b")
			if err != nil {
				return false, nil // still starting
			}
			lost := slices.ContainsFunc(st.Warnings, func(w string) bool { return strings.Contains(w, "raft state lost") })
			self := slices.IndexFunc(st.Nodes, func(n status.Node) bool { return n.Self })
			return self >= 0 && lost != want && (st.Nodes[self].Votes == 1) == want, nil
		}
	}
	if err := lab.WaitFor(e.ctx, 20*time.Second, "b to report its raft state lost and not vote", voting(false)); err != nil {
		t.Fatal(err)
	}
	e.exactlyOne("a")
	c := api.NewClient(e.cl.Socket("b"))
	if err := c.Rejoin(e.ctx, "a"); err == nil || !strings.Contains(err.Error(), "run it on a") {
		t.Fatalf("rejoin a on b's agent: %v, want a refusal naming where to run it", err)
	}
	if err := c.Rejoin(e.ctx, "b"); err != nil {
		t.Fatal(err)
	}
	if err := lab.WaitFor(e.ctx, 5*time.Second, "b to vote again", voting(true)); err != nil {
		t.Fatal(err)
	}
	// The flag was cleared in the persisted state, not only in memory.
	if err := e.cl.Stop("b", 15*time.Second); err != nil {
		t.Fatal(err)
	}
	if err := e.cl.StartAgent("b"); err != nil {
		t.Fatal(err)
	}
	if err := lab.WaitFor(e.ctx, 20*time.Second, "b to vote after a restart", voting(true)); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(raftFile); errors.Is(err, os.ErrNotExist) {
		t.Fatal("b runs without raft state on disk")
	}
	e.exactlyOne("a")
	e.noDoubleAnswers()
}
