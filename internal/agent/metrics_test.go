package agent

import (
	"context"
	"log/slog"
	"net"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"tandem/internal/api"
	"tandem/internal/authkey"
	"tandem/internal/config"
)

// loopbackModel is one node of two on loopback, no resources.
func loopbackModel(t *testing.T) *config.Model {
	t.Helper()
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
	return &config.Model{Path: "t.yaml", Cluster: "t", KeyFile: key, StateDir: dir, Port: port,
		Timing: config.Timing{Keepalive: 100 * time.Millisecond, Warntime: 500 * time.Millisecond, Deadtime: time.Second, Initdead: 3 * time.Second},
		Quorum: config.Quorum{Mode: config.ModeTwoNode, WaitForAll: true},
		Nodes:  []config.Node{{Name: "a", Links: []netip.Addr{netip.MustParseAddr("127.0.0.1")}}, {Name: "b", Links: []netip.Addr{netip.MustParseAddr("127.0.0.2")}}}}
}

// TestAgentServesMetrics scrapes a real agent over its API socket: the state
// comes from the loop's status, the loop lag from its ticks.
func TestAgentServesMetrics(t *testing.T) {
	m := loopbackModel(t)
	m.Metrics.Listen = "127.0.0.1:0" // the listener opens; the socket is scraped
	sock := filepath.Join(m.StateDir, "s.sock")
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, Options{Model: m, Self: "a", Socket: sock, Log: slog.New(slog.DiscardHandler)})
	}()
	c := api.NewClient(sock)
	var body []byte
	var err error
	// Wait for the agent to be up and to have ticked at least once.
	for range 500 {
		if body, err = c.Metrics(ctx); err == nil && !strings.Contains(string(body), "tandem_loop_lag_seconds_count 0\n") {
			break
		}
		select {
		case err := <-done:
			t.Fatalf("agent stopped: %v", err)
		case <-time.After(10 * time.Millisecond):
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{
		"tandem_status_ok 1",
		`tandem_info{cluster="t",config_hash="0000000000000000",node="a"} 1`,
		`tandem_node_state{node="b",state="pending"} 1`,
		`tandem_node_up{node="a"} 1`,
		`tandem_link_up{link="0",peer="b"} 0`,
		"tandem_quorate 0", // wait_for_all: b not seen yet
		`tandem_events_total{kind="node_down"} 0`,
		"go_goroutines ",
	} {
		if !strings.Contains(string(body), s) {
			t.Errorf("scrape lacks %q", s)
		}
	}
	if strings.Contains(string(body), "tandem_loop_lag_seconds_count 0\n") {
		t.Error("the loop never ticked")
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("agent: %v", err)
	}
}

// A metrics listener that cannot open stops the agent at start.
func TestMetricsListenTaken(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	m := loopbackModel(t)
	m.Metrics.Listen = l.Addr().String()
	err = Run(t.Context(), Options{Model: m, Self: "a", Socket: filepath.Join(m.StateDir, "s.sock"), Log: slog.New(slog.DiscardHandler)})
	if err == nil || !strings.Contains(err.Error(), "metrics.listen "+l.Addr().String()) {
		t.Fatalf("agent started without its metrics listener: %v", err)
	}
}
