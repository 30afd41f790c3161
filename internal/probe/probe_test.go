package probe

import (
	"context"
	"net"
	"net/netip"
	"os"
	"testing"
	"time"

	"tandem/internal/netns"
)

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if cond() {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("%s: not within 5s", what)
}

// Echo behind an address added by hand on a, probed from the observer; then
// the same address on b too: the ARP watcher must see two MACs (the
// negative control the end-to-end tests rely on).
func TestProbesInNamespaces(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: creates network namespaces")
	}
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	// Built twice with the same prefix: leftovers of the first are removed.
	first, err := netns.Build(ctx, netns.Spec{Prefix: "tprobe", Nodes: []string{"a", "b"}, Links: 1})
	if err != nil {
		t.Fatal(err)
	}
	topo, err := netns.Build(ctx, netns.Spec{Prefix: "tprobe", Nodes: []string{"a", "b"}, Links: 1})
	if err != nil {
		t.Fatal(err)
	}
	_ = first
	t.Cleanup(func() {
		if err := topo.Close(); err != nil {
			t.Error(err)
		}
		if m, _ := os.ReadDir("/run/netns"); len(m) > 0 {
			for _, e := range m {
				if len(e.Name()) > 6 && e.Name()[:6] == "tprobe" {
					t.Errorf("namespace %s left behind", e.Name())
				}
			}
		}
	})
	vip := netip.MustParsePrefix("198.18.0.100/24")
	if err := topo.AddAddr("a", vip); err != nil {
		t.Fatal(err)
	}
	var l net.PacketConn
	err = topo.Do("a", func() (err error) {
		l, err = net.ListenPacket("udp", "198.18.0.100:7777")
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	l.Close() // only checks the address is usable; Echo binds it next
	echoCtx, stopEcho := context.WithCancel(ctx)
	defer stopEcho()
	go func() {
		_ = topo.Do("a", func() error {
			// Bind inside a's namespace; serving continues on this goroutine.
			return Echo(echoCtx, netip.AddrPortFrom(vip.Addr(), 7777), "a")
		})
	}()
	pr := NewProber(netip.AddrPortFrom(vip.Addr(), 7777), 10*time.Millisecond)
	var w *ARPWatch
	if err := topo.Do(netns.Observer, func() (err error) {
		if err = pr.Listen(); err != nil {
			return err
		}
		w, err = NewARPWatch("eth0", vip.Addr(), 10*time.Millisecond)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	go pr.Run(ctx)
	go w.Run(ctx)
	waitFor(t, "a answers", func() bool { return pr.Answering() == "a" })
	waitFor(t, "a answers ARP", func() bool { return len(w.MACs()) == 1 })
	if c := w.DoubleAnswers(10 * time.Millisecond); len(c) > 0 {
		t.Fatalf("conflict with one holder: %v", c)
	}
	if err := topo.AddAddr("b", vip); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "conflict detected", func() bool { return len(w.DoubleAnswers(10*time.Millisecond)) > 0 })
	if err := topo.FlushAddr("b", vip.Addr()); err != nil {
		t.Fatal(err)
	}
	// A cut link is an outage.
	if err := topo.SetLink("a", 0, false); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond) // let an outage accumulate; no assert on its length
	if err := topo.SetLink("a", 0, true); err != nil {
		t.Fatal(err)
	}
	_, before := pr.Stats()
	waitFor(t, "answers resume", func() bool { _, n := pr.Stats(); return n > before })
	if len(pr.Outages(100*time.Millisecond)) == 0 {
		t.Fatal("no outage recorded across a cut link")
	}
	// Block a<->b (the switch drops their frames; internal/netns's test
	// shows a no longer reaches b): the observer still reaches a.
	if err := topo.Block("a", "b", true); err != nil {
		t.Fatal(err)
	}
	_, before = pr.Stats()
	waitFor(t, "observer still reaches a", func() bool { _, n := pr.Stats(); return n > before+5 })
	if err := topo.Block("a", "b", false); err != nil {
		t.Fatal(err)
	}
}
