package exec

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"tandem/internal/config"
	"tandem/internal/resource"
	"tandem/internal/resource/pgroup"
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
	// Whatever a test leaves running goes with it.
	t.Cleanup(func() { _ = a.Stop(context.Background()) })
	return a, lb
}

func ctxT(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// live lists the live (not zombie) processes of group pgid, from /proc
// directly rather than through the code under test.
func live(t *testing.T, pgid int) []string {
	t.Helper()
	ents, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		s := string(b)
		f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
		if len(f) > 2 && f[2] == strconv.Itoa(pgid) && f[0] != "Z" {
			out = append(out, e.Name()+" "+s[:strings.LastIndexByte(s, ')')+1])
		}
	}
	return out
}

func readPid(t *testing.T, file string) int {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	return pid
}

func TestCommands(t *testing.T) {
	dir := t.TempDir()
	a, lb := newAgent(t, config.ExecParams{
		Start:   `touch running && echo "started $GREETING" && read x; echo "stdin gave $?" >&2`,
		Stop:    "rm -f running",
		Monitor: "test -e running || exit 7",
		Dir:     dir,
		Env:     []string{"GREETING=hello"},
	})
	ctx := ctxT(t, 10*time.Second)
	if st, err := a.Monitor(ctx); st != resource.Stopped || err != nil {
		t.Fatalf("before start: %v %v", st, err)
	}
	if err := a.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "running")); err != nil {
		t.Fatalf("start did not run in Dir: %v", err)
	}
	if st, err := a.Monitor(ctx); st != resource.Running || err != nil {
		t.Fatalf("after start: %v %v", st, err)
	}
	logs := lb.String()
	for _, want := range []string{`line="started hello"`, `line="stdin gave 1"`, "resource=svc", "op=start"} {
		if !strings.Contains(logs, want) {
			t.Errorf("log lacks %s:\n%s", want, logs)
		}
	}
	if err := a.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if st, err := a.Monitor(ctx); st != resource.Stopped || err != nil {
		t.Fatalf("after stop: %v %v", st, err)
	}
}

func TestMonitorExitCodes(t *testing.T) {
	for code, want := range map[int]resource.State{0: resource.Running, 7: resource.Stopped, 1: resource.Failed} {
		a, _ := newAgent(t, config.ExecParams{Start: "true", Stop: "true", Monitor: "exit " + strconv.Itoa(code)})
		st, err := a.Monitor(ctxT(t, 5*time.Second))
		if st != want || (code == 1) != (err != nil) {
			t.Errorf("exit %d: %v %v, want %v", code, st, err, want)
		}
		if code == 1 && !strings.Contains(err.Error(), "exit status 1") {
			t.Errorf("exit 1: error without the code: %v", err)
		}
	}
}

// Without a monitor command the agent reports what it did last (weak).
func TestNoMonitorCommand(t *testing.T) {
	a, _ := newAgent(t, config.ExecParams{Start: "true", Stop: "true"})
	ctx := ctxT(t, 5*time.Second)
	for _, step := range []struct {
		op   func(context.Context) error
		want resource.State
	}{{nil, resource.Stopped}, {a.Start, resource.Running}, {a.Stop, resource.Stopped}} {
		if step.op != nil {
			if err := step.op(ctx); err != nil {
				t.Fatal(err)
			}
		}
		if st, err := a.Monitor(ctx); st != step.want || err != nil {
			t.Fatalf("monitor: %v %v, want %v", st, err, step.want)
		}
	}
}

func TestStartFailure(t *testing.T) {
	a, lb := newAgent(t, config.ExecParams{Start: "echo nope >&2; exit 3", Stop: "true"})
	err := a.Start(ctxT(t, 5*time.Second))
	if err == nil || !strings.Contains(err.Error(), "exit status 3") {
		t.Fatalf("got %v", err)
	}
	if !strings.Contains(lb.String(), "line=nope") {
		t.Fatalf("stderr not logged: %s", lb.String())
	}
}

// A start that outlives its timeout is killed with everything it spawned.
func TestTimeoutKillsWholeGroup(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "pid")
	a, _ := newAgent(t, config.ExecParams{Start: "echo $$ > " + pidFile + "; sh -c 'sleep 100 & sleep 100' & sleep 100", Stop: "true"})
	err := a.Start(ctxT(t, 300*time.Millisecond))
	if !errors.Is(err, resource.ErrTimeout) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %v, want a timeout", err)
	}
	if left := live(t, readPid(t, pidFile)); len(left) > 0 {
		t.Fatalf("process group still has processes after the timeout: %v", left)
	}
}

// A cancelled operation is killed the same way, but is no timeout.
func TestCancelKillsWholeGroup(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "pid")
	a, _ := newAgent(t, config.ExecParams{Start: "true", Stop: "true", Monitor: "echo $$ > " + pidFile + "; sleep 100 & sleep 100"})
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		// Cancel once the monitor is under way.
		for range 500 {
			if _, err := os.Stat(pidFile); err == nil {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		cancel()
	}()
	st, err := a.Monitor(ctx)
	if st != resource.Failed || !errors.Is(err, context.Canceled) || errors.Is(err, resource.ErrTimeout) {
		t.Fatalf("got %v %v, want failed and cancelled", st, err)
	}
	if left := live(t, readPid(t, pidFile)); len(left) > 0 {
		t.Fatalf("process group still has processes after cancellation: %v", left)
	}
}

// A start command may leave the service running in the background; Start
// does not wait for it nor kill it. A failed stop then kills it.
func TestBackgroundServiceAndFailedStop(t *testing.T) {
	dir := t.TempDir()
	pidFile := filepath.Join(dir, "pid")
	a, _ := newAgent(t, config.ExecParams{
		Start: "sleep 100 & echo $! > " + pidFile,
		Stop:  "echo cannot; exit 1",
		// Running unless gone or a zombie (whoever inherited it may not reap it).
		Monitor: "s=$(cut -d' ' -f3 /proc/$(cat " + pidFile + ")/stat 2>/dev/null) && [ \"$s\" != Z ] || exit 7",
	})
	ctx := ctxT(t, 10*time.Second)
	if err := a.Start(ctx); err != nil {
		t.Fatal(err)
	}
	pid := readPid(t, pidFile)
	pgid, err := syscall.Getpgid(pid)
	if err != nil {
		t.Fatalf("background service gone after start: %v", err)
	}
	if st, err := a.Monitor(ctx); st != resource.Running {
		t.Fatalf("monitor: %v %v", st, err)
	}
	if err := a.Stop(ctx); err == nil || !strings.Contains(err.Error(), "exit status 1") {
		t.Fatalf("stop: %v, want the stop command's failure", err)
	}
	if left := live(t, pgid); len(left) > 0 {
		t.Fatalf("start's process group survived the escalation: %v", left)
	}
	if st, err := a.Monitor(ctx); st != resource.Stopped {
		t.Fatalf("monitor after escalation: %v %v", st, err)
	}
}

func TestOutputBounded(t *testing.T) {
	// 100000 lines of "y": more than 64 KiB.
	a, lb := newAgent(t, config.ExecParams{Start: "yes | head -n 100000", Stop: "true"})
	if err := a.Start(ctxT(t, 10*time.Second)); err != nil {
		t.Fatal(err)
	}
	logs := lb.String()
	if n := strings.Count(logs, "line=y"); n == 0 || n*2 > pgroup.MaxOutput {
		t.Errorf("%d lines logged, want some, at most %d bytes of output", n, pgroup.MaxOutput)
	}
	if !strings.Contains(logs, "output truncated") {
		t.Error("truncation not noted")
	}
}

func TestDaemon(t *testing.T) {
	a, lb := newAgent(t, config.ExecParams{Daemon: "sleep 100", Dir: t.TempDir()})
	ctx := ctxT(t, 10*time.Second)
	if st, err := a.Monitor(ctx); st != resource.Stopped || err != nil {
		t.Fatalf("before start: %v %v", st, err)
	}
	if err := a.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if err := a.Start(ctx); err != nil {
		t.Fatalf("second start: %v", err)
	}
	if st, err := a.Monitor(ctx); st != resource.Running || err != nil {
		t.Fatalf("monitor: %v %v", st, err)
	}
	pgid := a.daemon.pgid
	// A simple command replaces the shell, so the death signal reaches it.
	if comm, _ := os.ReadFile("/proc/" + strconv.Itoa(pgid) + "/comm"); strings.TrimSpace(string(comm)) != "sleep" {
		t.Errorf("supervised process is %q, want the daemon itself", comm)
	}
	if err := a.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if st, err := a.Monitor(ctx); st != resource.Stopped || err != nil {
		t.Fatalf("after stop: %v %v", st, err)
	}
	if left := live(t, pgid); len(left) > 0 {
		t.Fatalf("daemon group survived stop: %v", left)
	}
	if err := a.Stop(ctx); err != nil {
		t.Fatalf("second stop: %v", err)
	}
	if !strings.Contains(lb.String(), "daemon stopped") {
		t.Fatalf("stop not logged: %s", lb.String())
	}
}

func TestDaemonOutputLogged(t *testing.T) {
	a, lb := newAgent(t, config.ExecParams{Daemon: "echo hello from daemon; echo $FOO >&2; exec sleep 100", Env: []string{"FOO=bar"}})
	ctx := ctxT(t, 10*time.Second)
	if err := a.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if err := a.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`line="hello from daemon"`, "line=bar", "op=daemon"} {
		if !strings.Contains(lb.String(), want) {
			t.Errorf("log lacks %s:\n%s", want, lb.String())
		}
	}
}

func TestDaemonExitsAtOnceIsFailedStart(t *testing.T) {
	a, _ := newAgent(t, config.ExecParams{Daemon: "exit 2"})
	if err := a.Start(ctxT(t, 5*time.Second)); err == nil || !strings.Contains(err.Error(), "exit status 2") {
		t.Fatalf("got %v", err)
	}
}

func TestDaemonDiesIsFailed(t *testing.T) {
	dir := t.TempDir()
	// The daemon exits once the test lets it, leaving a child behind.
	a, _ := newAgent(t, config.ExecParams{Daemon: "sleep 100 & while [ ! -e go ]; do sleep 0.01; done; exit 3", Dir: dir})
	ctx := ctxT(t, 10*time.Second)
	if err := a.Start(ctx); err != nil {
		t.Fatal(err)
	}
	d := a.daemon
	if err := os.WriteFile(filepath.Join(dir, "go"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	<-d.done
	st, err := a.Monitor(ctx)
	if st != resource.Failed || err == nil || !strings.Contains(err.Error(), "exit status 3") {
		t.Fatalf("monitor after the daemon died: %v %v", st, err)
	}
	if left := live(t, d.pgid); len(left) > 0 {
		t.Fatalf("the dead daemon's child survived: %v", left)
	}
	// It can be started again.
	if err := os.Remove(filepath.Join(dir, "go")); err != nil {
		t.Fatal(err)
	}
	if err := a.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if st, err := a.Monitor(ctx); st != resource.Running {
		t.Fatalf("after restart: %v %v", st, err)
	}
}

func TestDaemonIgnoringTermIsKilled(t *testing.T) {
	a, lb := newAgent(t, config.ExecParams{Daemon: "trap '' TERM; sh -c 'trap \"\" TERM; sleep 100' & while :; do sleep 0.05; done"})
	if err := a.Start(ctxT(t, 5*time.Second)); err != nil {
		t.Fatal(err)
	}
	pgid := a.daemon.pgid
	if err := a.Stop(ctxT(t, 300*time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	if left := live(t, pgid); len(left) > 0 {
		t.Fatalf("daemon ignoring SIGTERM survived stop: %v", left)
	}
	if st, err := a.Monitor(context.Background()); st != resource.Stopped || err != nil {
		t.Fatalf("after stop: %v %v", st, err)
	}
	if !strings.Contains(lb.String(), "SIGKILL") {
		t.Fatalf("escalation not logged: %s", lb.String())
	}
}

// A daemon start that runs out of time leaves nothing behind.
func TestDaemonStartTimeout(t *testing.T) {
	a, _ := newAgent(t, config.ExecParams{Daemon: "sleep 100 & sleep 100"})
	ctx, cancel := context.WithTimeout(context.Background(), time.Millisecond)
	defer cancel()
	<-ctx.Done()
	err := a.Start(ctx)
	if !errors.Is(err, resource.ErrTimeout) {
		t.Fatalf("got %v, want a timeout", err)
	}
	m := regexp.MustCompile(`process group (\d+) killed`).FindStringSubmatch(err.Error())
	if m == nil {
		t.Fatalf("error does not name the group: %v", err)
	}
	pgid, _ := strconv.Atoi(m[1])
	if left := live(t, pgid); len(left) > 0 {
		t.Fatalf("group survived the start timeout: %v", left)
	}
	if st, err := a.Monitor(context.Background()); st != resource.Stopped || err != nil {
		t.Fatalf("after the start timeout: %v %v", st, err)
	}
}

func TestDaemonScript(t *testing.T) {
	for in, want := range map[string]string{
		"sleep 100":                 "exec sleep 100",
		"  /usr/bin/fs -nc ":        "exec /usr/bin/fs -nc",
		"exec sleep 1":              "exec sleep 1",
		"a; b":                      "a; b",
		"a && b":                    "a && b",
		"FOO=1 svc":                 "FOO=1 svc",
		"svc > log":                 "svc > log",
		"if true; then x; fi":       "if true; then x; fi",
		"echo $(date)":              "echo $(date)",
		"while :; do sleep 1; done": "while :; do sleep 1; done",
	} {
		if got := daemonScript(in); got != want {
			t.Errorf("daemonScript(%q) = %q, want %q", in, got, want)
		}
	}
}

// The agent's systemd notify socket is its own: services do not inherit it.
func TestNoSystemdNotifyEnv(t *testing.T) {
	t.Setenv("NOTIFY_SOCKET", "/run/systemd/notify")
	t.Setenv("WATCHDOG_USEC", "5000000")
	t.Setenv("TANDEM_TEST_KEPT", "yes")
	a, lb := newAgent(t, config.ExecParams{Start: `echo "env:${NOTIFY_SOCKET:-none}:${WATCHDOG_USEC:-none}:$TANDEM_TEST_KEPT"`, Stop: "true"})
	if err := a.Start(ctxT(t, 5*time.Second)); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(lb.String(), "env:none:none:yes") {
		t.Fatalf("service environment: %s", lb.String())
	}
}
