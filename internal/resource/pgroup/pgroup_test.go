package pgroup

import (
	"errors"
	"strings"
	"testing"
	"time"

	"tandem/internal/resource"
	"tandem/internal/resource/agenttest"
)

// Captured stdout is returned whole; stderr is still logged.
func TestCapture(t *testing.T) {
	log, lb := agenttest.Logger()
	r, err := Run(agenttest.Ctx(t, 5*time.Second), Spec{
		Argv: []string{"/bin/sh", "-c", `echo "<xml>"; echo oops >&2; echo "</xml>"; exit 3`},
		Env:  []string{"X=1"}, Log: log, Op: "meta-data", Capture: true,
	})
	if err != nil || r.Code != 3 || string(r.Stdout) != "<xml>\n</xml>\n" || r.Pgid <= 0 {
		t.Fatalf("got %+v %v", r, err)
	}
	if logs := lb.String(); !strings.Contains(logs, "line=oops") || strings.Contains(logs, "xml") {
		t.Fatalf("stderr only should be logged:\n%s", logs)
	}
}

func TestCaptureBounded(t *testing.T) {
	log, lb := agenttest.Logger()
	r, err := Run(agenttest.Ctx(t, 10*time.Second), Spec{Argv: []string{"/bin/sh", "-c", "head -c 2000000 /dev/zero"}, Log: log, Op: "x", Capture: true})
	if err != nil || len(r.Stdout) != MaxCapture || !strings.Contains(lb.String(), "output truncated") {
		t.Fatalf("got %d bytes, %v\n%s", len(r.Stdout), err, lb)
	}
}

func TestDeadline(t *testing.T) {
	log, _ := agenttest.Logger()
	r, err := Run(agenttest.Ctx(t, 200*time.Millisecond), Spec{Argv: []string{"/bin/sh", "-c", "sleep 30 & sleep 30"}, Log: log, Op: "x"})
	if !errors.Is(err, resource.ErrTimeout) || r.Code != -1 || !strings.Contains(err.Error(), "killed") {
		t.Fatalf("got %+v %v", r, err)
	}
	if Alive(r.Pgid) {
		t.Fatalf("group %d alive after the deadline", r.Pgid)
	}
}

func TestNoCommand(t *testing.T) {
	if _, err := Run(agenttest.Ctx(t, time.Second), Spec{}); err == nil {
		t.Fatal("no error")
	}
	log, _ := agenttest.Logger()
	if r, err := Run(agenttest.Ctx(t, time.Second), Spec{Argv: []string{"/nonexistent/x"}, Log: log}); err == nil || r.Code != -1 {
		t.Fatalf("got %+v %v", r, err)
	}
}
