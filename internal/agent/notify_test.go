package agent

import (
	"context"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"tandem/internal/authkey"
	"tandem/internal/config"
)

// notifySocket stands in for systemd: a unixgram socket in a temp dir, named
// by NOTIFY_SOCKET, with the watchdog armed (WATCHDOG_USEC, WATCHDOG_PID).
func notifySocket(t *testing.T, watchdog time.Duration) *net.UnixConn {
	t.Helper()
	path := filepath.Join(t.TempDir(), "notify.sock")
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	t.Setenv("NOTIFY_SOCKET", path)
	t.Setenv("WATCHDOG_USEC", strconv.FormatInt(watchdog.Microseconds(), 10))
	t.Setenv("WATCHDOG_PID", strconv.Itoa(os.Getpid()))
	return c
}

// nextNotify returns the next datagram, or "" after wait.
func nextNotify(t *testing.T, c *net.UnixConn, wait time.Duration) string {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(wait))
	buf := make([]byte, 4096)
	n, err := c.Read(buf)
	if err != nil {
		return ""
	}
	return string(buf[:n])
}

func TestNotifier(t *testing.T) {
	c := notifySocket(t, 2*time.Second)
	n := newNotifier(slog.New(slog.DiscardHandler))
	if n.every != time.Second {
		t.Fatalf("ping period %v, want WatchdogSec/2 = 1s", n.every)
	}
	t0 := time.Now()
	n.ready("node a up", t0)
	if got := nextNotify(t, c, time.Second); got != "READY=1\nSTATUS=node a up" {
		t.Fatalf("ready sent %q", got)
	}
	// The loop ticks far more often than the watchdog needs: only one ping
	// per half period goes out.
	for i := range 100 {
		n.watchdog(t0.Add(time.Duration(i) * 25 * time.Millisecond))
	}
	var pings []string
	for {
		got := nextNotify(t, c, 50*time.Millisecond)
		if got == "" {
			break
		}
		pings = append(pings, got)
	}
	if len(pings) != 2 || pings[0] != "WATCHDOG=1" || pings[1] != "WATCHDOG=1" {
		t.Fatalf("2.5 s of ticks sent %q, want two WATCHDOG=1", pings)
	}
	n.stopping("stopping")
	if got := nextNotify(t, c, time.Second); got != "STOPPING=1\nSTATUS=stopping" {
		t.Fatalf("stopping sent %q", got)
	}
}

func TestNotifierOffWithoutSystemd(t *testing.T) {
	t.Setenv("NOTIFY_SOCKET", "")
	t.Setenv("WATCHDOG_USEC", "5000000")
	n := newNotifier(slog.New(slog.DiscardHandler))
	n.ready("up", time.Now())
	n.watchdog(time.Now().Add(time.Hour))
	n.stopping("bye")
	if n.enabled || n.failed {
		t.Fatalf("notifier active without NOTIFY_SOCKET: %+v", n)
	}
	// Another process's watchdog (WATCHDOG_PID) is not ours: no pings.
	notifySocket(t, time.Second)
	t.Setenv("WATCHDOG_PID", strconv.Itoa(os.Getpid()+1))
	if n := newNotifier(slog.New(slog.DiscardHandler)); n.every != 0 {
		t.Fatalf("pinging a watchdog armed for another pid: %v", n.every)
	}
}

// TestAgentNotifiesSystemd runs a real agent (one node of two on loopback, no
// resources) under a fake systemd: READY=1 once it is up, WATCHDOG=1 from its
// loop, STOPPING=1 when it is told to stop.
func TestAgentNotifiesSystemd(t *testing.T) {
	c := notifySocket(t, 200*time.Millisecond)
	dir := t.TempDir()
	key := filepath.Join(dir, "authkey")
	if err := authkey.Generate(key); err != nil {
		t.Fatal(err)
	}
	u, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	port := u.LocalAddr().(*net.UDPAddr).Port
	u.Close()
	m := &config.Model{Path: "t.yaml", Cluster: "t", KeyFile: key, StateDir: dir, Port: port,
		Timing: config.Timing{Keepalive: 100 * time.Millisecond, Warntime: 500 * time.Millisecond, Deadtime: time.Second, Initdead: 3 * time.Second},
		Quorum: config.Quorum{Mode: config.ModeTwoNode},
		Nodes:  []config.Node{{Name: "a", Links: []netip.Addr{netip.MustParseAddr("127.0.0.1")}}, {Name: "b", Links: []netip.Addr{netip.MustParseAddr("127.0.0.2")}}}}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, Options{Model: m, Self: "a", Socket: filepath.Join(dir, "s.sock"), Log: slog.New(slog.DiscardHandler)})
	}()
	got := nextNotify(t, c, 10*time.Second)
	if !strings.HasPrefix(got, "READY=1\nSTATUS=node a of cluster t up") {
		t.Fatalf("first notification %q, want READY=1 with a status", got)
	}
	if _, err := os.Stat(filepath.Join(dir, "s.sock")); err != nil {
		t.Fatalf("READY=1 before the API listens: %v", err)
	}
	start := time.Now()
	pings := 0
	for time.Since(start) < time.Second {
		if got := nextNotify(t, c, time.Second); got == "WATCHDOG=1" {
			pings++
		} else if got != "" {
			t.Fatalf("unexpected %q", got)
		}
	}
	// 1 s at one ping per 100 ms (WatchdogSec/2) at most; fewer on a busy
	// machine, but never none.
	if pings < 3 || pings > 11 {
		t.Fatalf("%d watchdog pings in 1 s with WATCHDOG_USEC=200ms, want about 10 (at most 11)", pings)
	}
	cancel()
	for {
		got := nextNotify(t, c, 10*time.Second)
		if got == "" {
			t.Fatal("no STOPPING=1 after shutdown began")
		}
		if strings.HasPrefix(got, "STOPPING=1\n") {
			break
		}
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("agent: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("agent did not stop")
	}
}
