package exec

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"tandem/internal/config"
	"tandem/internal/resource"
)

type logBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuf) Write(p []byte) (int, error) { l.mu.Lock(); defer l.mu.Unlock(); return l.b.Write(p) }
func (l *logBuf) String() string              { l.mu.Lock(); defer l.mu.Unlock(); return l.b.String() }

func newAgent(t *testing.T, p config.ExecParams) (*Agent, *logBuf) {
	t.Helper()
	lb := &logBuf{}
	a, err := New("svc", p, slog.New(slog.NewTextHandler(lb, nil)))
	if err != nil {
		t.Fatal(err)
	}
	return a, lb
}

func ctxT(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// groupAlive reports whether any process in /proc has process group pgid.
func groupAlive(t *testing.T, pgid int) bool {
	t.Helper()
	ents, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// Fields after the ")" of comm: state ppid pgrp ...
		s := string(b)
		f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
		if len(f) > 2 && f[2] == strconv.Itoa(pgid) && pid != 0 {
			if f[0] != "Z" {
				return true
			}
		}
	}
	return false
}

func TestCommands(t *testing.T) {
	dir := t.TempDir()
	flag := filepath.Join(dir, "running")
	a, lb := newAgent(t, config.ExecParams{
		Start:   "touch " + flag + " && echo started it",
		Stop:    "rm -f " + flag,
		Monitor: "test -e " + flag + " || exit 7",
	})
	ctx := ctxT(t, 10*time.Second)
	if st, err := a.Monitor(ctx); st != resource.Stopped || err != nil {
		t.Fatalf("before start: %v %v", st, err)
	}
	if err := a.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if st, err := a.Monitor(ctx); st != resource.Running || err != nil {
		t.Fatalf("after start: %v %v", st, err)
	}
	if !strings.Contains(lb.String(), "started it") {
		t.Fatalf("output not logged: %s", lb.String())
	}
	if err := a.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if st, _ := a.Monitor(ctx); st != resource.Stopped {
		t.Fatalf("after stop: %v", st)
	}
}

func TestMonitorExitCodes(t *testing.T) {
	for code, want := range map[int]resource.State{0: resource.Running, 7: resource.Stopped, 1: resource.Failed} {
		a, _ := newAgent(t, config.ExecParams{Start: "true", Stop: "true", Monitor: "exit " + strconv.Itoa(code)})
		st, err := a.Monitor(ctxT(t, 5*time.Second))
		if st != want || (code == 1) != (err != nil) {
			t.Errorf("exit %d: %v %v, want %v", code, st, err, want)
		}
	}
}

func TestStartFailure(t *testing.T) {
	a, _ := newAgent(t, config.ExecParams{Start: "echo nope >&2; exit 3", Stop: "true"})
	err := a.Start(ctxT(t, 5*time.Second))
	if err == nil || !strings.Contains(err.Error(), "exit status 3") {
		t.Fatalf("got %v", err)
	}
}

// A start that outlives its timeout is killed with everything it spawned.
func TestTimeoutKillsWholeGroup(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "pid")
	a, _ := newAgent(t, config.ExecParams{Start: "echo $$ > " + pidFile + "; sleep 100 & sleep 100", Stop: "true"})
	err := a.Start(ctxT(t, 300*time.Millisecond))
	if !errors.Is(err, resource.ErrTimeout) {
		t.Fatalf("got %v, want a timeout", err)
	}
	b, rerr := os.ReadFile(pidFile)
	if rerr != nil {
		t.Fatal(rerr)
	}
	pgid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	if groupAlive(t, pgid) {
		t.Fatalf("process group %d still has processes after the timeout", pgid)
	}
}

// A start script that leaves a background child behind does not leave it
// running unsupervised, and does not hang.
func TestStrayChildReaped(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "pid")
	a, _ := newAgent(t, config.ExecParams{Start: "echo $$ > " + pidFile + "; sleep 100 &", Stop: "true"})
	if err := a.Start(ctxT(t, 5*time.Second)); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(pidFile)
	pgid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	waitGroupGone(pgid, 2*time.Second)
	if groupAlive(t, pgid) {
		t.Fatalf("stray child of group %d survived", pgid)
	}
}

func TestDaemon(t *testing.T) {
	a, lb := newAgent(t, config.ExecParams{Daemon: "echo hello from daemon; exec sleep 100"})
	ctx := ctxT(t, 10*time.Second)
	if err := a.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if err := a.Start(ctx); err != nil {
		t.Fatalf("second start: %v", err)
	}
	if st, err := a.Monitor(ctx); st != resource.Running || err != nil {
		t.Fatalf("monitor: %v %v", st, err)
	}
	pgid := a.daemon.cmd.Process.Pid
	if err := a.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if st, _ := a.Monitor(ctx); st != resource.Stopped {
		t.Fatalf("after stop: %v", st)
	}
	if groupAlive(t, pgid) {
		t.Fatal("daemon group survived stop")
	}
	if !strings.Contains(lb.String(), "hello from daemon") {
		t.Fatalf("daemon output not logged: %s", lb.String())
	}
}

func TestDaemonExitsAtOnceIsFailedStart(t *testing.T) {
	a, _ := newAgent(t, config.ExecParams{Daemon: "exit 2"})
	if err := a.Start(ctxT(t, 5*time.Second)); err == nil || !strings.Contains(err.Error(), "exited at once") {
		t.Fatalf("got %v", err)
	}
}

func TestDaemonDiesIsFailed(t *testing.T) {
	a, _ := newAgent(t, config.ExecParams{Daemon: "sleep 0.4; exit 3"})
	ctx := ctxT(t, 10*time.Second)
	if err := a.Start(ctx); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if st, err := a.Monitor(ctx); st == resource.Failed {
			if err == nil || !strings.Contains(err.Error(), "exit status 3") {
				t.Fatalf("failure without the exit status: %v", err)
			}
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatal("monitor never saw the daemon die")
}

func TestDaemonIgnoringTermIsKilled(t *testing.T) {
	a, _ := newAgent(t, config.ExecParams{Daemon: "trap '' TERM; while :; do sleep 0.05; done"})
	if err := a.Start(ctxT(t, 5*time.Second)); err != nil {
		t.Fatal(err)
	}
	pgid := a.daemon.cmd.Process.Pid
	if err := a.Stop(ctxT(t, 300*time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	if groupAlive(t, pgid) {
		t.Fatal("daemon ignoring SIGTERM survived stop")
	}
}
