package lsb

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"tandem/internal/config"
	"tandem/internal/resource"
	"tandem/internal/resource/agenttest"
)

var ctxT = agenttest.Ctx

// script writes an init script into dir and returns its path.
func script(t *testing.T, dir, body string) string {
	t.Helper()
	p := filepath.Join(dir, "svc")
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"+body), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

func newAgent(t *testing.T, path string) (*Agent, *agenttest.LogBuf) {
	t.Helper()
	log, lb := agenttest.Logger()
	a, err := New("svc", config.LSBParams{Name: "svc", Path: path}, log)
	if err != nil {
		t.Fatal(err)
	}
	return a, lb
}

// A real, badly behaved init script: every start launches another daemon
// (detached in its own session, as daemons do) and overwrites the pid file;
// stop fails when nothing runs; status follows LSB (0, 1 dead with a pid
// file, 3 not running).
const naughty = `dir=$(dirname "$0")
pidfile=$dir/svc.pid
case "$1" in
start)
	echo started >> "$dir/starts"
	setsid sleep 300 </dev/null >/dev/null 2>&1 &
	echo $! > "$pidfile"
	echo $! >> "$dir/pids"
	;;
stop)
	[ -f "$pidfile" ] || { echo "svc is not running" >&2; exit 1; }
	kill "$(cat "$pidfile")" || exit 1
	rm -f "$pidfile"
	;;
status)
	[ -f "$pidfile" ] || exit 3
	# Alive and not a zombie (PID 1 in a container may reap late).
	state=$(sed 's/.*) //' "/proc/$(cat "$pidfile")/stat" 2>/dev/null | cut -c1)
	case "$state" in ""|Z|X) exit 1;; esac
	exit 0
	;;
*)
	exit 2
	;;
esac
`

// daemons kills, at the end of the test, every daemon the script started,
// and returns how many starts it saw.
func daemons(t *testing.T, dir string) int {
	t.Helper()
	b, _ := os.ReadFile(filepath.Join(dir, "pids"))
	pids := strings.Fields(string(b))
	t.Cleanup(func() {
		for _, p := range pids {
			if pid, err := strconv.Atoi(p); err == nil {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	})
	return len(pids)
}

func TestLifecycleNotIdempotentScript(t *testing.T) {
	dir := t.TempDir()
	a, lb := newAgent(t, script(t, dir, naughty))
	t.Cleanup(func() { daemons(t, dir) })
	ctx := ctxT(t, 20*time.Second)
	if st, err := a.Monitor(ctx); st != resource.Stopped || err != nil {
		t.Fatalf("before start: %v %v", st, err)
	}
	// Stopping a stopped service is success, though this script's stop fails.
	if err := a.Stop(ctx); err != nil {
		t.Fatalf("stop while stopped: %v\n%s", err, lb)
	}
	for i := range 2 {
		if err := a.Start(ctx); err != nil {
			t.Fatalf("start %d: %v\n%s", i, err, lb)
		}
		if st, err := a.Monitor(ctx); st != resource.Running || err != nil {
			t.Fatalf("after start %d: %v %v", i, st, err)
		}
	}
	if n := daemons(t, dir); n != 1 {
		t.Fatalf("the script's start ran %d times: a running service was started again", n)
	}
	if err := a.Stop(ctx); err != nil {
		t.Fatalf("stop: %v\n%s", err, lb)
	}
	if st, err := a.Monitor(ctx); st != resource.Stopped || err != nil {
		t.Fatalf("after stop: %v %v", st, err)
	}
	if err := a.Stop(ctx); err != nil {
		t.Fatalf("second stop: %v", err)
	}
}

// A daemon that died behind the script's back leaves its pid file: status
// 1 reads as stopped (Pacemaker), and the next start runs again.
func TestDeadWithPidFile(t *testing.T) {
	dir := t.TempDir()
	a, _ := newAgent(t, script(t, dir, naughty))
	t.Cleanup(func() { daemons(t, dir) })
	ctx := ctxT(t, 20*time.Second)
	if err := a.Start(ctx); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(filepath.Join(dir, "svc.pid"))
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitGone(t, pid)
	if st, err := a.Monitor(ctx); st != resource.Stopped || err != nil {
		t.Fatalf("dead with pid file: %v %v, want stopped", st, err)
	}
	if err := a.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if n := daemons(t, dir); n != 2 {
		t.Fatalf("%d starts, want the restart to run the script", n)
	}
	if st, err := a.Monitor(ctx); st != resource.Running || err != nil {
		t.Fatalf("after restart: %v %v", st, err)
	}
}

func waitGone(t *testing.T, pid int) {
	t.Helper()
	for range 500 {
		b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
		if err != nil || strings.Contains(string(b), ") Z ") {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("%d did not die", pid)
}

// Status codes as Pacemaker's services__lsb2ocf reads them.
func TestStatusCodes(t *testing.T) {
	dir := t.TempDir()
	a, _ := newAgent(t, script(t, dir, `exit "$(cat "$(dirname "$0")/rc")"`))
	for _, tc := range []struct {
		code int
		st   resource.State
		err  error // errors.Is target; nil: no error unless st is Failed
	}{
		{0, resource.Running, nil},
		{1, resource.Stopped, nil},
		{2, resource.Stopped, nil},
		{3, resource.Stopped, nil},
		{4, resource.Failed, nil},
		{5, resource.Failed, nil},
		{150, resource.Failed, resource.ErrNotInstalled},
		{151, resource.Failed, resource.ErrPermission},
	} {
		if err := os.WriteFile(filepath.Join(dir, "rc"), []byte(strconv.Itoa(tc.code)), 0o644); err != nil {
			t.Fatal(err)
		}
		st, err := a.Monitor(ctxT(t, 5*time.Second))
		if st != tc.st || (err != nil) != (st == resource.Failed) || (tc.err != nil && !errors.Is(err, tc.err)) {
			t.Errorf("status %d: %v %v, want %v %v", tc.code, st, err, tc.st, tc.err)
		}
		if tc.code == 4 && (errors.Is(err, resource.ErrPermission) || !strings.Contains(err.Error(), "exit status 4")) {
			t.Errorf("status 4 is LSB's unknown, not OCF's insufficient privileges: %v", err)
		}
	}
}

// start and stop exit codes share OCF's meaning (0..7), hard errors included.
func TestActionCodes(t *testing.T) {
	dir := t.TempDir()
	// status says stopped until started, then running; start and stop exit rc.
	a, _ := newAgent(t, script(t, dir, `d=$(dirname "$0")
case "$1" in
status) [ -f "$d/on" ] && exit 0; exit 3;;
*) exit "$(cat "$d/rc")";;
esac
`))
	for _, tc := range []struct {
		code int
		hard error
	}{{1, nil}, {2, nil}, {5, resource.ErrNotInstalled}, {6, resource.ErrNotConfigured}, {4, resource.ErrPermission}, {42, nil}} {
		os.WriteFile(filepath.Join(dir, "rc"), []byte(strconv.Itoa(tc.code)), 0o644)
		os.Remove(filepath.Join(dir, "on"))
		err := a.Start(ctxT(t, 5*time.Second))
		var ee *resource.ExitError
		if !errors.As(err, &ee) || ee.Code != tc.code || (tc.hard != nil) != errors.Is(err, tc.hard) {
			t.Errorf("start exit %d: %v", tc.code, err)
		}
		os.WriteFile(filepath.Join(dir, "on"), nil, 0o644)
		if err := a.Stop(ctxT(t, 5*time.Second)); !errors.As(err, &ee) || ee.Code != tc.code {
			t.Errorf("stop exit %d while status says running: %v", tc.code, err)
		}
	}
}

// A status that cannot tell (4: unknown) stops a start: the service might run.
func TestUnknownStatusBlocksStart(t *testing.T) {
	dir := t.TempDir()
	a, _ := newAgent(t, script(t, dir, `[ "$1" = status ] && exit 4
echo "$1" >> "$(dirname "$0")/ran"
`))
	if err := a.Start(ctxT(t, 5*time.Second)); err == nil || !strings.Contains(err.Error(), "not started") {
		t.Fatalf("start: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "ran")); err == nil {
		t.Fatal("start ran although status was unknown")
	}
	// Stop runs: the service may be running.
	if err := a.Stop(ctxT(t, 5*time.Second)); err != nil {
		t.Fatalf("stop: %v", err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "ran")); string(b) != "stop\n" {
		t.Fatalf("ran %q, want stop", b)
	}
}

// A stop that fails but leaves the service stopped counts as done.
func TestFailedStopButStopped(t *testing.T) {
	dir := t.TempDir()
	a, lb := newAgent(t, script(t, dir, `d=$(dirname "$0")
case "$1" in
status) [ -f "$d/on" ] && exit 0; exit 3;;
stop) rm -f "$d/on"; exit 1;;
esac
`))
	os.WriteFile(filepath.Join(dir, "on"), nil, 0o644)
	if err := a.Stop(ctxT(t, 5*time.Second)); err != nil {
		t.Fatalf("stop: %v", err)
	}
	if !strings.Contains(lb.String(), "counted as stopped") {
		t.Errorf("not logged:\n%s", lb)
	}
}

// A hung status is killed at the deadline with everything it spawned.
func TestTimeout(t *testing.T) {
	dir := t.TempDir()
	a, _ := newAgent(t, script(t, dir, `sleep 30 & echo $! > "$(dirname "$0")/child"; sleep 30`))
	st, err := a.Monitor(ctxT(t, 300*time.Millisecond))
	if st != resource.Failed || !errors.Is(err, resource.ErrTimeout) {
		t.Fatalf("got %v %v, want failed by timeout", st, err)
	}
	b, _ := os.ReadFile(filepath.Join(dir, "child"))
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	if pid <= 0 {
		t.Fatal("no child pid")
	}
	waitGone(t, pid)
}

func TestNotInstalled(t *testing.T) {
	a, _ := newAgent(t, filepath.Join(t.TempDir(), "none"))
	if st, err := a.Monitor(ctxT(t, time.Second)); st != resource.Failed || !errors.Is(err, resource.ErrNotInstalled) {
		t.Fatalf("monitor: %v %v", st, err)
	}
	if err := a.Start(ctxT(t, time.Second)); !errors.Is(err, resource.ErrNotInstalled) {
		t.Fatalf("start: %v", err)
	}
}

func TestCheck(t *testing.T) {
	dir := t.TempDir()
	exe := script(t, dir, "exit 0\n")
	plain := filepath.Join(dir, "plain")
	os.WriteFile(plain, nil, 0o644)
	src := `cluster: t
key_file: /tmp/k
nodes:
  - {name: a, links: [198.18.0.10]}
  - {name: b, links: [198.18.0.11]}
resources:
  - {name: ok, type: lsb:svc, params: {path: ` + exe + `}}
  - {name: plain, type: lsb:plain, params: {path: ` + plain + `}}
  - name: gone
    type: lsb:tandem-test-no-such-script
`
	m, err := config.Parse("tandem.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range Check(m) {
		got = append(got, e.Error())
	}
	want := []string{
		`tandem.yaml:8:45: resources[1].params.path: init script ` + plain + ` is not an executable file`,
		`tandem.yaml:10:5: resources[2].type: init script /etc/init.d/tandem-test-no-such-script is not installed here`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("got:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
