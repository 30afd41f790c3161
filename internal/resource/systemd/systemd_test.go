package systemd

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	sd "github.com/coreos/go-systemd/v22/dbus"
	godbus "github.com/godbus/dbus/v5"

	"tandem/internal/config"
	"tandem/internal/resource"
	"tandem/internal/resource/agenttest"
)

// container boots a real systemd as PID 1 of a systemd-nspawn container
// (Debian's systemd-container) over this machine's own root, read-only
// with a volatile /etc and /run, and returns its init's PID on the host;
// the container is killed when the test ends. This machine's PID 1 is not
// systemd, so nspawn runs without registering (--register=no, --keep-unit).
func container(t *testing.T) int {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: boots systemd in a systemd-nspawn container")
	}
	nspawn, err := exec.LookPath("systemd-nspawn")
	if err != nil {
		t.Skip("needs systemd-nspawn (Debian systemd-container; scripts/deps.sh installs it)")
	}
	name := fmt.Sprintf("tandem-sd-%d", os.Getpid())
	cmd := exec.Command(nspawn, "-D", "/", "--volatile=yes", "--boot", "--register=no", "--keep-unit", "-M", name, "--", "systemd.firstboot=off")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	init := 0
	t.Cleanup(func() {
		if init > 0 {
			syscall.Kill(init, syscall.SIGKILL) // PID 1 of its namespace: everything in it dies
		}
		cmd.Process.Kill()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Errorf("systemd-nspawn did not exit")
		}
	})
	// Its PID 1 is nspawn's child; systemd can take more than 20 s to
	// accept jobs on this kind of machine.
	deadline := time.Now().Add(90 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-done:
			t.Fatalf("systemd-nspawn exited: %v\n%s", err, out.String())
		case <-time.After(200 * time.Millisecond):
		}
		if init == 0 {
			init = childOf(cmd.Process.Pid)
			continue
		}
		c, err := dial(init)(t.Context())
		if err != nil {
			continue
		}
		state, err := c.SystemStateContext(t.Context())
		c.Close()
		if err == nil {
			if s := fmt.Sprint(state.Value.Value()); s == "running" || s == "degraded" {
				return init
			}
		}
	}
	t.Fatalf("systemd in the container did not come up within 90 s\n%s", out.String())
	return 0
}

// childOf finds the process whose parent is pid (nspawn's container init).
func childOf(pid int) int {
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	for _, f := range stats {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		s := string(b)
		rest := s[strings.LastIndexByte(s, ')')+2:]
		fields := strings.Fields(rest)
		if len(fields) > 1 && fields[1] == strconv.Itoa(pid) {
			child, _ := strconv.Atoi(filepath.Base(filepath.Dir(f)))
			return child
		}
	}
	return 0
}

// dial connects to the container's systemd through its system bus,
// reached via the init's root directory. (Its private socket, which the
// agent uses on a host, refuses peers from outside its PID namespace.)
func dial(init int) func(context.Context) (*sd.Conn, error) {
	sock := fmt.Sprintf("/proc/%d/root/run/dbus/system_bus_socket", init)
	return func(ctx context.Context) (*sd.Conn, error) {
		return sd.NewConnection(func() (*godbus.Conn, error) {
			c, err := godbus.Dial("unix:path="+sock, godbus.WithContext(ctx))
			if err != nil {
				return nil, err
			}
			if err := c.Auth([]godbus.Auth{godbus.AuthExternal("0")}); err != nil {
				c.Close()
				return nil, err
			}
			if err := c.Hello(); err != nil {
				c.Close()
				return nil, err
			}
			return c, nil
		})
	}
}

// helperEnv, when set, makes TestAgentInContainer the agent process run by
// TestUnitsInARealSystemd inside the container, as a service of its own.
const helperEnv = "TANDEM_SYSTEMD_TEST_HELPER"

// TestAgentInContainer is not a test by itself: run inside the container
// as tt-self.service, it starts tt-self-bound.service through the agent as
// tandem would on a host (New: systemd's private socket, the drop-in bound
// to the agent's own unit), then waits to be killed.
func TestAgentInContainer(t *testing.T) {
	unit := os.Getenv(helperEnv)
	if unit == "" {
		t.Skip("the agent side of TestUnitsInARealSystemd, run only inside its container")
	}
	log, lb := agenttest.Logger()
	a, err := New("r-self", config.SystemdParams{Unit: unit}, log)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	if err := a.Start(ctx); err != nil {
		t.Fatalf("start %s from inside: %v\n%s", unit, err, lb)
	}
	fmt.Println("started", unit)
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM)
	<-sig // the outer test SIGKILLs this process; SIGTERM ends it cleanly
}

// poll calls ok until it is true, at most 200 times within 20 s.
func poll(t *testing.T, what string, ok func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	last := ""
	for i := 0; i < 200 && time.Now().Before(deadline); i++ {
		var done bool
		if done, last = ok(); done {
			return
		}
		<-time.After(100 * time.Millisecond)
	}
	t.Fatalf("%s: still %s after 20 s", what, last)
}

func TestUnitsInARealSystemd(t *testing.T) {
	init := container(t)
	root := fmt.Sprintf("/proc/%d/root", init)
	units := root + "/run/systemd/system"
	for name, body := range map[string]string{
		"tt-sleep.service":      "[Service]\nExecStart=/bin/sleep 300\n",
		"tt-fail.service":       "[Service]\nType=oneshot\nRemainAfterExit=yes\nExecStart=/bin/false\n",
		"tt-slow.service":       "[Service]\nExecStartPre=/bin/sleep 300\nExecStart=/bin/sleep 300\n",
		"tt-agent.service":      "[Service]\nExecStart=/bin/sleep 300\n", // stands in for tandem.service
		"tt-bound.service":      "[Service]\nExecStart=/bin/sleep 300\n",
		"tt-self-bound.service": "[Service]\nExecStart=/bin/sleep 300\n",
	} {
		if err := os.WriteFile(filepath.Join(units, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	log, lb := agenttest.Logger()
	agent := func(p config.SystemdParams) *Agent {
		a := NewWith("r-"+p.Unit, p, log, dial(init), units)
		t.Cleanup(a.Close)
		return a
	}
	ctx := func() context.Context {
		c, cancel := context.WithTimeout(t.Context(), 30*time.Second)
		t.Cleanup(cancel)
		return c
	}
	dropIn := func(unit string) string {
		b, _ := os.ReadFile(filepath.Join(units, unit+".d", "50-tandem.conf"))
		return string(b)
	}
	// systemd reads the units written above at the next daemon-reload.
	c, err := dial(init)(ctx())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	if err := c.ReloadContext(ctx()); err != nil {
		t.Fatal(err)
	}
	active := func(unit string) string {
		p, err := c.GetUnitPropertyContext(ctx(), unit, "ActiveState")
		if err != nil {
			return err.Error()
		}
		return fmt.Sprint(p.Value.Value())
	}

	a := agent(config.SystemdParams{Unit: "tt-sleep.service"})
	if st, err := a.Monitor(ctx()); st != resource.Stopped || err != nil {
		t.Fatalf("monitor before start: %v %v", st, err)
	}
	if err := a.Start(ctx()); err != nil {
		t.Fatal(err)
	}
	if st, err := a.Monitor(ctx()); st != resource.Running || err != nil {
		t.Fatalf("monitor after start: %v %v", st, err)
	}
	// This test runs outside the container's systemd: no unit of its own
	// there, so the default binding is none.
	if d := dropIn("tt-sleep.service"); !strings.Contains(d, "Restart=no") || strings.Contains(d, "BindsTo") {
		t.Fatalf("drop-in: %q", d)
	}
	if err := a.Start(ctx()); err != nil {
		t.Fatalf("a second start must succeed: %v", err)
	}
	if err := a.Stop(ctx()); err != nil {
		t.Fatal(err)
	}
	if st, err := a.Monitor(ctx()); st != resource.Stopped || err != nil {
		t.Fatalf("monitor after stop: %v %v", st, err)
	}
	if err := a.Stop(ctx()); err != nil {
		t.Fatalf("stopping a stopped unit must succeed: %v", err)
	}

	f := agent(config.SystemdParams{Unit: "tt-fail.service"})
	err = f.Start(ctx())
	if err == nil || !strings.Contains(err.Error(), "job failed") || !strings.Contains(err.Error(), "result exit-code") {
		t.Fatalf("start of a failing unit must fail with the unit's result: %v", err)
	}
	t.Logf("start of a failing unit: %v", err)
	if st, err := f.Monitor(ctx()); st != resource.Failed || err == nil || !strings.Contains(err.Error(), "exit-code") {
		t.Fatalf("monitor of the failed unit: %v %v", st, err)
	}
	if _, err := agent(config.SystemdParams{Unit: "tt-nosuch.service"}).Monitor(ctx()); !errors.Is(err, resource.ErrNotInstalled) {
		t.Fatalf("unknown unit: %v", err)
	}

	// A start that outlasts the operation's timeout is a timeout; the stop
	// job that follows replaces the pending start.
	slow := agent(config.SystemdParams{Unit: "tt-slow.service"})
	short, cancel := context.WithTimeout(t.Context(), time.Second)
	err = slow.Start(short)
	cancel()
	if !errors.Is(err, resource.ErrTimeout) {
		t.Fatalf("start past its timeout: %v", err)
	}
	if err := slow.Stop(ctx()); err != nil {
		t.Fatalf("stop after a start timeout: %v", err)
	}
	if st, err := slow.Monitor(ctx()); st != resource.Stopped || err != nil {
		t.Fatalf("monitor after the stop: %v %v", st, err)
	}

	// binds_to a unit that does not run: BindsTo= would start it too, so
	// the start is refused and names why.
	bound := agent(config.SystemdParams{Unit: "tt-bound.service", BindsTo: "tt-agent.service"})
	if err := bound.Start(ctx()); err == nil || !strings.Contains(err.Error(), "binds_to tt-agent.service is inactive: starting tt-bound.service would start it too") {
		t.Fatalf("start bound to an inactive unit: %v", err)
	}
	if s := active("tt-agent.service"); s != "inactive" {
		t.Fatalf("the unit bound to was started: %s", s)
	}
	// Bound to a running unit: it stops when that unit stops.
	if err := agent(config.SystemdParams{Unit: "tt-agent.service", Unbound: true}).Start(ctx()); err != nil {
		t.Fatal(err)
	}
	if err := bound.Start(ctx()); err != nil {
		t.Fatal(err)
	}
	if d := dropIn("tt-bound.service"); !strings.Contains(d, "BindsTo=tt-agent.service\nBefore=tt-agent.service\n") {
		t.Fatalf("bound drop-in: %q", d)
	}
	if _, err := c.StopUnitContext(ctx(), "tt-agent.service", "replace", nil); err != nil {
		t.Fatal(err)
	}
	poll(t, "the unit bound to a stopped unit", func() (bool, string) {
		st, err := bound.Monitor(ctx())
		return st == resource.Stopped && err == nil, fmt.Sprint(st, err)
	})

	// The agent as it runs on a host: a process of its own service, on
	// systemd's private socket, binding by default to that service. Its
	// crash (SIGKILL) stops the unit it started.
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	bin, err := os.ReadFile(self)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(root+"/run/tt-agent.test", bin, 0o755); err != nil {
		t.Fatal(err)
	}
	run := exec.Command("nsenter", "-t", strconv.Itoa(init), "-m", "-p", "-u", "-i", "-n", "--",
		"systemd-run", "--unit=tt-self.service", "--setenv="+helperEnv+"=tt-self-bound.service",
		"-p", "StandardOutput=file:/run/tt-self.log", "-p", "StandardError=file:/run/tt-self.log",
		"/run/tt-agent.test", "-test.run=^TestAgentInContainer$", "-test.v")
	if out, err := run.CombinedOutput(); err != nil {
		t.Fatalf("%v: %v\n%s", run, err, out)
	}
	helperLog := func() string { b, _ := os.ReadFile(root + "/run/tt-self.log"); return string(b) }
	poll(t, "tt-self-bound.service started by the agent in the container", func() (bool, string) {
		s := active("tt-self-bound.service")
		if s == "active" && !strings.Contains(helperLog(), "started tt-self-bound.service") {
			s = "active, the helper not yet done"
		}
		if strings.Contains(helperLog(), "FAIL") {
			t.Fatalf("the agent in the container failed:\n%s", helperLog())
		}
		return strings.HasPrefix(s, "active") && !strings.Contains(s, ","), s
	})
	if d := dropIn("tt-self-bound.service"); !strings.Contains(d, "BindsTo=tt-self.service\nBefore=tt-self.service\n") {
		t.Fatalf("the drop-in does not bind to the agent's own unit: %q\n%s", d, helperLog())
	}
	if err := c.KillUnitWithTarget(ctx(), "tt-self.service", sd.Main, int32(syscall.SIGKILL)); err != nil {
		t.Fatal(err)
	}
	poll(t, "the unit started by an agent that was killed", func() (bool, string) {
		s := active("tt-self-bound.service")
		return s == "inactive", s
	})
	t.Logf("agent log:\n%s\nagent in the container:\n%s", lb.String(), helperLog())
}
