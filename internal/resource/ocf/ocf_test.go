package ocf

import (
	"context"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"tandem/internal/config"
	"tandem/internal/netns"
	"tandem/internal/resource"
	"tandem/internal/resource/agenttest"
)

var ctxT = agenttest.Ctx

// fakeRoot makes an OCF_ROOT holding one agent, ocf:test:fake, with script as its body.
func fakeRoot(t *testing.T, script string) string {
	t.Helper()
	root := t.TempDir()
	dir := filepath.Join(root, "resource.d", "test")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "fake"), []byte("#!/bin/sh\n"+script), 0o755); err != nil {
		t.Fatal(err)
	}
	return root
}

func newAgent(t *testing.T, root, provider, typ string, params map[string]string) (*Agent, *agenttest.LogBuf) {
	t.Helper()
	log, lb := agenttest.Logger()
	a, err := New("res1", config.OCFParams{Provider: provider, Type: typ, Params: params},
		config.Ops{MonitorInterval: 10 * time.Second}, log)
	if err != nil {
		t.Fatal(err)
	}
	a.root = root
	return a, lb
}

// heartbeat skips the test when Debian's resource-agents is not installed.
func heartbeat(t *testing.T, typ string) {
	t.Helper()
	if _, err := os.Stat(Path(DefaultRoot, config.OCFParams{Provider: "heartbeat", Type: typ})); err != nil {
		t.Skipf("ocf:heartbeat:%s is not installed (apt install resource-agents; scripts/deps.sh installs it): %v", typ, err)
	}
}

// Exit statuses map as Pacemaker maps them: states, soft errors, and the
// hard errors the core tells apart with errors.Is.
func TestExitCodes(t *testing.T) {
	root := fakeRoot(t, `exit "$OCF_RESKEY_rc"`)
	type want struct {
		st   resource.State
		err  bool
		hard error // errors.Is target, if any
	}
	tests := []struct {
		code             int
		start, stop, mon want
	}{
		{0, want{}, want{}, want{st: resource.Running}},
		{1, want{err: true}, want{err: true}, want{st: resource.Failed, err: true}},
		{2, want{err: true}, want{err: true}, want{st: resource.Failed, err: true}},
		{3, want{err: true}, want{err: true}, want{st: resource.Failed, err: true}},
		{4, want{err: true, hard: resource.ErrPermission}, want{err: true, hard: resource.ErrPermission}, want{st: resource.Failed, err: true, hard: resource.ErrPermission}},
		{5, want{err: true, hard: resource.ErrNotInstalled}, want{err: true, hard: resource.ErrNotInstalled}, want{st: resource.Failed, err: true, hard: resource.ErrNotInstalled}},
		{6, want{err: true, hard: resource.ErrNotConfigured}, want{err: true, hard: resource.ErrNotConfigured}, want{st: resource.Failed, err: true, hard: resource.ErrNotConfigured}},
		{7, want{err: true}, want{}, want{st: resource.Stopped}},
		{8, want{err: true}, want{err: true}, want{st: resource.Running}},
		{9, want{err: true}, want{err: true}, want{st: resource.Failed, err: true}},
		{190, want{err: true}, want{err: true}, want{st: resource.Running}},
	}
	hard := []error{resource.ErrNotInstalled, resource.ErrNotConfigured, resource.ErrPermission}
	check := func(op string, code int, st resource.State, err error, w want) {
		t.Helper()
		if (err != nil) != w.err || st != w.st {
			t.Errorf("exit %d: %s: %v %v, want %v (error %v)", code, op, st, err, w.st, w.err)
			return
		}
		for _, h := range hard {
			if errors.Is(err, h) != (h == w.hard) {
				t.Errorf("exit %d: %s: errors.Is(%v, %v) = %v", code, op, err, h, !(h == w.hard))
			}
		}
		var ee *resource.ExitError
		if err != nil && (!errors.As(err, &ee) || ee.Code != code || ee.Op != op) {
			t.Errorf("exit %d: %s: %v is not an ExitError with the code", code, op, err)
		}
	}
	for _, tc := range tests {
		a, _ := newAgent(t, root, "test", "fake", map[string]string{"rc": strconv.Itoa(tc.code)})
		err := a.Start(ctxT(t, 5*time.Second))
		check("start", tc.code, 0, err, tc.start)
		err = a.Stop(ctxT(t, 5*time.Second))
		check("stop", tc.code, 0, err, tc.stop)
		st, err := a.Monitor(ctxT(t, 5*time.Second))
		check("monitor", tc.code, st, err, tc.mon)
	}
}

// The agent sees what Pacemaker would give it: the action as $1, OCF_ROOT,
// the instance, OCF_RESKEY_* params and the timeout in milliseconds.
func TestEnvironment(t *testing.T) {
	out := filepath.Join(t.TempDir(), "env")
	root := fakeRoot(t, `{ echo "action=$1"; env; } > "$OCF_RESKEY_out"`)
	a, _ := newAgent(t, root, "test", "fake", map[string]string{"out": out, "ip": "198.18.0.100"})
	if st, err := a.Monitor(ctxT(t, 3*time.Second)); st != resource.Running || err != nil {
		t.Fatalf("monitor: %v %v", st, err)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	env := strings.Split(string(b), "\n")
	for _, want := range []string{"action=monitor", "OCF_ROOT=" + root, "OCF_RESOURCE_INSTANCE=res1", "OCF_RESKEY_ip=198.18.0.100",
		"OCF_RESOURCE_TYPE=fake", "OCF_RESOURCE_PROVIDER=test", "OCF_RA_VERSION_MAJOR=1", "OCF_RESKEY_CRM_meta_interval=10000"} {
		if !slices.Contains(env, want) {
			t.Errorf("environment lacks %s:\n%s", want, b)
		}
	}
	i := slices.IndexFunc(env, func(s string) bool { return strings.HasPrefix(s, "OCF_RESKEY_CRM_meta_timeout=") })
	if i < 0 {
		t.Fatalf("no OCF_RESKEY_CRM_meta_timeout:\n%s", b)
	}
	if ms, err := strconv.Atoi(strings.TrimPrefix(env[i], "OCF_RESKEY_CRM_meta_timeout=")); err != nil || ms < 2000 || ms > 3000 {
		t.Errorf("%s: want the 3 s deadline in ms", env[i])
	}
	if err := a.Start(ctxT(t, 3*time.Second)); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(out); !strings.Contains(string(b), "OCF_RESKEY_CRM_meta_interval=0\n") {
		t.Errorf("start is not a recurring action: want interval 0:\n%s", b)
	}
	// A second, deeper monitor: its own interval and OCF_CHECK_LEVEL.
	ctx := resource.WithRecurring(ctxT(t, 3*time.Second), resource.Recurring{Interval: time.Minute, Depth: 20})
	if _, err := a.Monitor(ctx); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(out); !strings.Contains(string(b), "OCF_RESKEY_CRM_meta_interval=60000\n") || !strings.Contains(string(b), "OCF_CHECK_LEVEL=20\n") {
		t.Errorf("the deeper monitor lacks its interval or depth:\n%s", b)
	}
}

// An action that outlives its deadline is killed with everything it spawned.
func TestTimeoutKillsGroup(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "pid")
	root := fakeRoot(t, `sleep 30 & echo $! > "$OCF_RESKEY_pid"; sleep 30`)
	a, _ := newAgent(t, root, "test", "fake", map[string]string{"pid": pidFile})
	began := time.Now()
	err := a.Start(ctxT(t, 300*time.Millisecond))
	if !errors.Is(err, resource.ErrTimeout) {
		t.Fatalf("got %v, want a timeout", err)
	}
	if d := time.Since(began); d > 3*time.Second {
		t.Errorf("took %v", d)
	}
	b, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	if b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat"); err == nil && !strings.Contains(string(b), ") Z ") {
		_ = syscall.Kill(pid, syscall.SIGKILL)
		t.Fatalf("the agent's child %d survived the timeout", pid)
	}
}

func TestNotInstalled(t *testing.T) {
	a, _ := newAgent(t, t.TempDir(), "test", "missing", nil)
	if err := a.Start(ctxT(t, time.Second)); !errors.Is(err, resource.ErrNotInstalled) {
		t.Fatalf("start: %v", err)
	}
	if st, err := a.Monitor(ctxT(t, time.Second)); st != resource.Failed || !errors.Is(err, resource.ErrNotInstalled) {
		t.Fatalf("monitor: %v %v", st, err)
	}
}

// Debian's ocf:heartbeat:Dummy through the agent: start, monitor, stop, monitor.
func TestDummy(t *testing.T) {
	heartbeat(t, "Dummy")
	state := filepath.Join(t.TempDir(), "dummy.state")
	a, lb := newAgent(t, DefaultRoot, "heartbeat", "Dummy", map[string]string{"state": state})
	steps := []struct {
		op   func(context.Context) error
		want resource.State
	}{
		{nil, resource.Stopped},
		{a.Start, resource.Running},
		{a.Start, resource.Running}, // OCF agents are idempotent
		{a.Stop, resource.Stopped},
		{a.Stop, resource.Stopped},
	}
	for i, s := range steps {
		if s.op != nil {
			if err := s.op(ctxT(t, 20*time.Second)); err != nil {
				t.Fatalf("step %d: %v\n%s", i, err, lb)
			}
		}
		if st, err := a.Monitor(ctxT(t, 20*time.Second)); st != s.want || err != nil {
			t.Fatalf("step %d: monitor %v %v, want %v\n%s", i, st, err, s.want, lb)
		}
	}
}

// Debian's ocf:heartbeat:IPaddr2 adds and removes an address on eth0 of a
// namespace the test builds (IPaddr2's own network_namespace parameter
// runs it there through `ip netns exec`).
func TestIPaddr2(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: creates network namespaces and adds addresses")
	}
	heartbeat(t, "IPaddr2")
	topo, err := netns.Build(ctxT(t, 30*time.Second), netns.Spec{Prefix: "ocfip", Nodes: []string{"n1"}, Links: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = topo.Close() })
	vip := netip.MustParsePrefix("198.18.0.200/24")
	a, lb := newAgent(t, DefaultRoot, "heartbeat", "IPaddr2", map[string]string{
		"ip": vip.Addr().String(), "cidr_netmask": "24", "nic": "eth0",
		"network_namespace": "ocfip-n1", "arp_count": "1",
	})
	has := func() bool {
		t.Helper()
		addrs, err := topo.Addrs("n1")
		if err != nil {
			t.Fatal(err)
		}
		return slices.Contains(addrs, vip)
	}
	if st, err := a.Monitor(ctxT(t, 20*time.Second)); st != resource.Stopped || err != nil {
		t.Fatalf("before start: %v %v\n%s", st, err, lb)
	}
	if err := a.Start(ctxT(t, 20*time.Second)); err != nil {
		t.Fatalf("start: %v\n%s", err, lb)
	}
	if !has() {
		t.Fatalf("%s not on n1's eth0 after start\n%s", vip, lb)
	}
	if st, err := a.Monitor(ctxT(t, 20*time.Second)); st != resource.Running || err != nil {
		t.Fatalf("after start: %v %v\n%s", st, err, lb)
	}
	if err := a.Stop(ctxT(t, 20*time.Second)); err != nil {
		t.Fatalf("stop: %v\n%s", err, lb)
	}
	if has() {
		t.Fatalf("%s still on n1's eth0 after stop", vip)
	}
	if st, err := a.Monitor(ctxT(t, 20*time.Second)); st != resource.Stopped || err != nil {
		t.Fatalf("after stop: %v %v\n%s", st, err, lb)
	}
}
