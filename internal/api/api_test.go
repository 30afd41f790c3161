package api

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"tandem/internal/schedule"
	"tandem/internal/status"
)

type fake struct {
	unblocked bool
	rejoined  string
	admin     AdminRequest
}

func (f *fake) Status(context.Context) (status.Status, error) {
	return status.Status{Schema: status.Schema, Cluster: "c", Node: "a"}, nil
}

func (f *fake) Unblock(context.Context) error { f.unblocked = true; return nil }

func (f *fake) Admin(_ context.Context, req AdminRequest) error {
	if req.Node != "a" {
		return fmt.Errorf("%s: no node named %q; nodes: a", req.Op, req.Node)
	}
	f.admin = req
	return nil
}

func (f *fake) Explain(_ context.Context, target string) (schedule.Explanation, error) {
	return schedule.Explanation{Asked: target, Unit: target}, nil
}

func (f *fake) Rejoin(_ context.Context, node string) error {
	if node != "a" {
		return fmt.Errorf("rejoin %s: run it on %s", node, node)
	}
	f.rejoined = node
	return nil
}

func TestSocketIsRootOnlyAndServes(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "run")
	sock := filepath.Join(dir, "tandem.sock")
	l, err := Listen(sock)
	if err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]os.FileMode{dir: 0o700, sock: 0o600} {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != want {
			t.Errorf("%s mode %v, want %v", path, fi.Mode().Perm(), want)
		}
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	b := &fake{}
	go Serve(ctx, l, b)
	c := NewClient(sock)
	st, err := c.Status(ctx)
	if err != nil || st.Node != "a" {
		t.Fatalf("status %+v %v", st, err)
	}
	if err := c.Rejoin(ctx, "a"); err != nil || b.rejoined != "a" {
		t.Fatalf("rejoin: %v, backend saw %q", err, b.rejoined)
	}
	if err := c.Rejoin(ctx, "b"); err == nil || !strings.Contains(err.Error(), "run it on b") {
		t.Fatalf("rejoin of another node: %v, want the backend's reason", err)
	}
	if err := c.Unblock(ctx); err != nil || !b.unblocked {
		t.Fatalf("unblock: %v", err)
	}
	want := AdminRequest{Op: "move", Resource: "voice", Node: "a", Lifetime: "30m"}
	if err := c.Admin(ctx, want); err != nil || b.admin != want {
		t.Fatalf("admin: %v, backend saw %+v", err, b.admin)
	}
	// A refused instruction comes back in the agent's words, nothing added.
	if err := c.Admin(ctx, AdminRequest{Op: "standby", Node: "x"}); err == nil || err.Error() != `standby: no node named "x"; nodes: a` {
		t.Fatalf("refused admin: %v", err)
	}
	// A second agent on the same socket is refused, not allowed to steal it.
	if _, err := Listen(sock); err == nil {
		t.Fatal("a second listener took over a live socket")
	}
}
