package systemd

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
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

func TestUnitsInARealSystemd(t *testing.T) {
	init := container(t)
	units := fmt.Sprintf("/proc/%d/root/run/systemd/system", init)
	for name, body := range map[string]string{
		"tt-sleep.service": "[Service]\nExecStart=/bin/sleep 300\n",
		"tt-fail.service":  "[Service]\nType=oneshot\nRemainAfterExit=yes\nExecStart=/bin/false\n",
		"tt-agent.service": "[Service]\nExecStart=/bin/sleep 300\n", // stands in for tandem.service
		"tt-bound.service": "[Service]\nExecStart=/bin/sleep 300\n",
	} {
		if err := os.WriteFile(filepath.Join(units, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	log, lb := agenttest.Logger()
	agent := func(unit string) *Agent {
		a := NewWith("r-"+unit, config.SystemdParams{Unit: unit}, log, dial(init), units)
		t.Cleanup(a.Close)
		return a
	}
	ctx := func() context.Context {
		c, cancel := context.WithTimeout(t.Context(), 30*time.Second)
		t.Cleanup(cancel)
		return c
	}
	// systemd reads the units written above at the next daemon-reload.
	c, err := dial(init)(ctx())
	if err != nil {
		t.Fatal(err)
	}
	if err := c.ReloadContext(ctx()); err != nil {
		t.Fatal(err)
	}
	c.Close()
	a := agent("tt-sleep.service")
	if st, err := a.Monitor(ctx()); st != resource.Stopped || err != nil {
		t.Fatalf("monitor before start: %v %v", st, err)
	}
	if err := a.Start(ctx()); err != nil {
		t.Fatal(err)
	}
	if st, err := a.Monitor(ctx()); st != resource.Running || err != nil {
		t.Fatalf("monitor after start: %v %v", st, err)
	}
	if b, err := os.ReadFile(filepath.Join(units, "tt-sleep.service.d", "50-tandem.conf")); err != nil || !strings.Contains(string(b), "Restart=no") {
		t.Fatalf("drop-in: %q %v", b, err)
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

	f := agent("tt-fail.service")
	err = f.Start(ctx())
	if err == nil || !strings.Contains(err.Error(), "job failed") {
		t.Fatalf("start of a failing unit: %v", err)
	}
	if st, err := f.Monitor(ctx()); st != resource.Failed || err == nil || !strings.Contains(err.Error(), "exit-code") {
		t.Fatalf("monitor of the failed unit: %v %v", st, err)
	}
	if _, err := agent("tt-nosuch.service").Monitor(ctx()); !errors.Is(err, resource.ErrNotInstalled) {
		t.Fatalf("unknown unit: %v", err)
	}
	// BindsTo: the unit stops when the agent's own unit does.
	ag := agent("tt-agent.service")
	if err := ag.Start(ctx()); err != nil {
		t.Fatal(err)
	}
	bound := NewWith("r-bound", config.SystemdParams{Unit: "tt-bound.service", BindsTo: "tt-agent.service"}, log, dial(init), units)
	t.Cleanup(bound.Close)
	if err := bound.Start(ctx()); err != nil {
		t.Fatal(err)
	}
	if err := ag.Stop(ctx()); err != nil {
		t.Fatal(err)
	}
	for i := 0; ; i++ {
		st, err := bound.Monitor(ctx())
		if st == resource.Stopped && err == nil {
			break
		}
		if i == 100 {
			t.Fatalf("the bound unit still runs after the agent's unit stopped: %v %v", st, err)
		}
		time.Sleep(50 * time.Millisecond) // bounded poll: systemd stops it asynchronously
	}
	t.Logf("agent log:\n%s", lb.String())
}
