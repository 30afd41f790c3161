package health

import (
	"context"
	"log/slog"
	"net/netip"
	"os"
	"testing"
	"time"

	"tandem/internal/config"
	"tandem/internal/netns"
)

func TestReachHysteresis(t *testing.T) {
	r := reach{attempts: 3}
	steps := []struct {
		answered    bool
		up, changed bool
		why         string
	}{
		{false, false, false, "one miss at start: still unknown"},
		{false, false, false, "two misses"},
		{false, false, true, "three misses: down"},
		{true, true, true, "one answer: up"},
		{false, true, false, "one lost packet moves nothing"},
		{false, true, false, "two"},
		{true, true, false, "answered again: misses reset"},
		{false, true, false, ""},
		{false, true, false, ""},
		{false, false, true, "three in a row: down"},
		{false, false, false, "stays down quietly"},
	}
	for i, s := range steps {
		up, ch := r.observe(s.answered)
		if up != s.up || ch != s.changed {
			t.Fatalf("step %d (%s): up %v changed %v, want %v %v", i, s.why, up, ch, s.up, s.changed)
		}
	}
}

// Real carrier and real ICMP in namespaces: a's eth0 goes down at the
// switch (carrier lost) and comes back; the observer answers pings, a
// target nobody has does not.
func TestLinksAndPingsInNamespaces(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: creates network namespaces and raw ICMP sockets")
	}
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	topo, err := netns.Build(ctx, netns.Spec{Prefix: "thealth", Nodes: []string{"a"}, Links: 2})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := topo.Close(); err != nil {
			t.Error(err)
		}
	})
	m := &config.Model{
		Health: config.Health{Interval: 50 * time.Millisecond, Attempts: 2, Links: []string{"eth0", "eth1", "nosuch0"},
			Ping: []config.PingTarget{{Name: "obs", Address: topo.ObserverAddr()}, {Name: "void", Address: netip.MustParseAddr("198.18.0.249")}}},
		Quorum: config.Quorum{Ping: []netip.Addr{topo.ObserverAddr(), netip.MustParseAddr("198.18.0.248")}},
	}
	var p *Prober
	if err := topo.Do("a", func() (err error) { p, err = Open(m, slog.New(slog.DiscardHandler)); return err }); err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	out := make(chan Attr, 16)
	runCtx, stop := context.WithCancel(ctx)
	ran := make(chan struct{})
	go func() { p.Run(runCtx, out); close(ran) }()
	defer func() { stop(); <-ran }()

	got := map[string]string{}
	waitFor := func(want map[string]string) {
		t.Helper()
		for {
			ok := true
			for k, v := range want {
				ok = ok && got[k] == v
			}
			if ok {
				return
			}
			select {
			case a := <-out:
				t.Logf("%s = %s", a.Name, a.Value)
				got[a.Name] = a.Value
			case <-ctx.Done():
				t.Fatalf("waiting for %v; have %v", want, got)
			}
		}
	}
	waitFor(map[string]string{"link.eth0.up": "1", "link.eth1.up": "1", "link.nosuch0.up": "0",
		"ping.obs.ok": "1", "ping.void.ok": "0", "ping.quorum.ok": "1"})
	if err := topo.SetLink("a", 0, false); err != nil {
		t.Fatal(err)
	}
	waitFor(map[string]string{"link.eth0.up": "0", "ping.obs.ok": "0", "ping.quorum.ok": "0"})
	if got["link.eth1.up"] != "1" {
		t.Fatalf("eth1 followed eth0 down: %v", got)
	}
	if err := topo.SetLink("a", 0, true); err != nil {
		t.Fatal(err)
	}
	waitFor(map[string]string{"link.eth0.up": "1", "ping.obs.ok": "1", "ping.quorum.ok": "1"})
}
