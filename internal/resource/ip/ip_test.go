package ip

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/mdlayher/packet"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"tandem/internal/config"
	"tandem/internal/netns"
	"tandem/internal/resource"
)

// lab builds node "a" and the observer on one bridge, in namespaces this
// test owns; the agent runs inside a's namespace as it would on a node.
func lab(t *testing.T, prefix string) *netns.Topology {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: creates network namespaces")
	}
	topo, err := netns.Build(t.Context(), netns.Spec{Prefix: prefix, Nodes: []string{"a"}, Links: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := topo.Close(); err != nil {
			t.Error(err)
		}
	})
	return topo
}

// sniff opens a raw socket for ethertype proto on the observer's eth0.
func sniff(t *testing.T, topo *netns.Topology, proto uint16) *packet.Conn {
	t.Helper()
	var c *packet.Conn
	err := topo.Do(netns.Observer, func() error {
		ifi, err := net.InterfaceByName("eth0")
		if err != nil {
			return err
		}
		c, err = packet.Listen(ifi, packet.Raw, int(proto), nil)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// count reads frames until deadline and counts those match accepts.
func count(t *testing.T, c *packet.Conn, want int, match func([]byte) bool) int {
	t.Helper()
	buf := make([]byte, 2048)
	n := 0
	c.SetReadDeadline(time.Now().Add(3 * time.Second))
	for n < want {
		m, _, err := c.ReadFrom(buf)
		if err != nil {
			break
		}
		if match(buf[:m]) {
			n++
		}
	}
	return n
}

func in(t *testing.T, topo *netns.Topology, fn func() error) {
	t.Helper()
	if err := topo.Do("a", fn); err != nil {
		t.Fatal(err)
	}
}

func TestIPv4StartAnnounceStop(t *testing.T) {
	topo := lab(t, "tipv4")
	arpc := sniff(t, topo, unix.ETH_P_ARP)
	vip := netip.MustParseAddr("198.18.0.100")
	a, err := New("vip", config.IPParams{Address: netip.PrefixFrom(vip, 24), Interface: "eth0", Label: "eth0:7", ARPCount: 3, ARPInterval: 20 * time.Millisecond}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	var mac net.HardwareAddr
	in(t, topo, func() error {
		ifi, err := net.InterfaceByName("eth0")
		mac = ifi.HardwareAddr
		return err
	})
	in(t, topo, func() error { return a.Start(ctx) })
	in(t, topo, func() error { return a.Start(ctx) }) // idempotent
	in(t, topo, func() error {
		l, err := netlink.LinkByName("eth0")
		if err != nil {
			return err
		}
		addrs, err := netlink.AddrList(l, netlink.FAMILY_V4)
		if err != nil {
			return err
		}
		for _, ad := range addrs {
			if ad.IP.Equal(vip.AsSlice()) {
				if ad.Label != "eth0:7" {
					t.Errorf("label %q, want eth0:7", ad.Label)
				}
				return nil
			}
		}
		t.Errorf("%s not on eth0: %v", vip, addrs)
		return nil
	})
	// Gratuitous ARP: a request with sender and target both the VIP, from a's MAC.
	garp := func(f []byte) bool {
		if len(f) < 42 {
			return false
		}
		arpb := f[14:]
		return bytes.Equal(arpb[8:14], mac) && bytes.Equal(arpb[14:18], vip.AsSlice()) && bytes.Equal(arpb[24:28], vip.AsSlice())
	}
	// The second start restarts the burst: at least arp_count announcements.
	if n := count(t, arpc, 3, garp); n < 3 {
		t.Fatalf("saw %d gratuitous ARPs, want 3", n)
	}
	var st resource.State
	in(t, topo, func() (err error) { st, err = a.Monitor(ctx); return })
	if st != resource.Running {
		t.Fatalf("monitor after start: %v", st)
	}
	in(t, topo, func() error { return a.Stop(ctx) })
	in(t, topo, func() error { return a.Stop(ctx) }) // idempotent
	in(t, topo, func() (err error) { st, err = a.Monitor(ctx); return })
	if st != resource.Stopped {
		t.Fatalf("monitor after stop: %v", st)
	}
	if has, _ := topo.Addrs("a"); strings.Contains(prefixes(has), "198.18.0.100") {
		t.Fatalf("address still there: %v", has)
	}
}

func prefixes(ps []netip.Prefix) string {
	var s []string
	for _, p := range ps {
		s = append(s, p.String())
	}
	return strings.Join(s, " ")
}

func TestIPv6NoDADAndNA(t *testing.T) {
	topo := lab(t, "tipv6")
	ip6 := sniff(t, topo, unix.ETH_P_IPV6)
	vip := netip.MustParseAddr("2001:db8::100")
	a, err := New("vip6", config.IPParams{Address: netip.PrefixFrom(vip, 64), Interface: "eth0", ARPCount: 2, ARPInterval: 20 * time.Millisecond}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	in(t, topo, func() error { return a.Start(t.Context()) })
	in(t, topo, func() error {
		l, _ := netlink.LinkByName("eth0")
		addrs, err := netlink.AddrList(l, netlink.FAMILY_V6)
		if err != nil {
			return err
		}
		for _, ad := range addrs {
			if ad.IP.Equal(vip.AsSlice()) {
				if ad.Flags&unix.IFA_F_NODAD == 0 || ad.Flags&unix.IFA_F_TENTATIVE != 0 {
					t.Errorf("flags %#x: want nodad and not tentative", ad.Flags)
				}
				return nil
			}
		}
		t.Errorf("%s not on eth0", vip)
		return nil
	})
	// Unsolicited NA: ICMPv6 type 136 whose target is the VIP.
	na := func(f []byte) bool {
		return len(f) >= 78 && f[20] == 58 && f[54] == 136 && bytes.Equal(f[62:78], vip.AsSlice())
	}
	if n := count(t, ip6, 2, na); n < 2 {
		t.Fatalf("saw %d neighbour advertisements for %s, want 2", n, vip)
	}
}

func TestMissingInterface(t *testing.T) {
	topo := lab(t, "tipmiss")
	a, _ := New("vip", config.IPParams{Address: netip.MustParsePrefix("198.18.0.100/24"), Interface: "nope0", ARPCount: 1}, slog.New(slog.DiscardHandler))
	err := topo.Do("a", func() error { return a.Start(t.Context()) })
	if err == nil || !strings.Contains(err.Error(), "interface nope0") {
		t.Fatalf("got %v", err)
	}
	var st resource.State
	_ = topo.Do("a", func() (err error) { st, _ = a.Monitor(context.Background()); return nil })
	if st != resource.Failed {
		t.Fatalf("monitor with the interface gone: %v", st)
	}
}
