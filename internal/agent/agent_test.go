package agent

import (
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"tandem/internal/authkey"
	"tandem/internal/config"
)

func TestRefusesReadableKey(t *testing.T) {
	dir := t.TempDir()
	key := filepath.Join(dir, "authkey")
	if err := authkey.Generate(key); err != nil {
		t.Fatal(err)
	}
	os.Chmod(key, 0o644)
	m := &config.Model{Path: "t.yaml", Cluster: "t", KeyFile: key, StateDir: dir, Port: 694,
		Timing: config.Timing{Keepalive: 100 * time.Millisecond},
		Nodes:  []config.Node{{Name: "a", Links: []netip.Addr{netip.MustParseAddr("127.0.0.1")}}, {Name: "b", Links: []netip.Addr{netip.MustParseAddr("127.0.0.2")}}}}
	err := Run(t.Context(), Options{Model: m, Self: "a", Socket: filepath.Join(dir, "s.sock"), Log: slog.New(slog.DiscardHandler)})
	if err == nil || !strings.Contains(err.Error(), "group or others") {
		t.Fatalf("agent started with a readable key: %v", err)
	}
	err = Run(t.Context(), Options{Model: m, Self: "zz", Socket: filepath.Join(dir, "s.sock"), Log: slog.New(slog.DiscardHandler)})
	if err == nil || !strings.Contains(err.Error(), `node "zz" is not listed`) {
		t.Fatalf("unknown node: %v", err)
	}
}

func TestIncarnationAlwaysGrows(t *testing.T) {
	s, err := openState(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	a, err := s.nextIncarnation(now)
	if err != nil {
		t.Fatal(err)
	}
	// The clock stepped back an hour: the incarnation must still grow.
	b, err := s.nextIncarnation(now.Add(-time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if b <= a {
		t.Fatalf("incarnation went from %d to %d", a, b)
	}
}
