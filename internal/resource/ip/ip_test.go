package ip

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/mdlayher/packet"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"tandem/internal/config"
	"tandem/internal/resource"
)

// pair is two fresh, unnamed network namespaces joined by a veth pair: eth0
// on the node's side, peer0 on the observer's. Unnamed namespaces vanish
// with their last handle, so nothing outlives the test process.
type pair struct {
	node, peer     netns.NsHandle
	nodeNL, peerNL *netlink.Handle
	mac            net.HardwareAddr // eth0's
}

func newPair(t *testing.T) *pair {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: creates network namespaces")
	}
	p := &pair{node: netns.None(), peer: netns.None()}
	t.Cleanup(func() {
		for _, h := range []*netlink.Handle{p.nodeNL, p.peerNL} {
			if h != nil {
				h.Close()
			}
		}
		p.node.Close()
		p.peer.Close()
	})
	var err error
	func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		orig, gerr := netns.Get()
		if gerr != nil {
			err = gerr
			return
		}
		defer orig.Close()
		// netns.New switches the thread into the new namespace: switch back each time.
		if p.node, err = netns.New(); err != nil {
			return
		}
		if err = netns.Set(orig); err != nil {
			panic("cannot restore the test thread's namespace: " + err.Error())
		}
		if p.peer, err = netns.New(); err != nil {
			return
		}
		if err = netns.Set(orig); err != nil {
			panic("cannot restore the test thread's namespace: " + err.Error())
		}
	}()
	if err != nil {
		t.Fatal(err)
	}
	if p.nodeNL, err = netlink.NewHandleAt(p.node); err != nil {
		t.Fatal(err)
	}
	if p.peerNL, err = netlink.NewHandleAt(p.peer); err != nil {
		t.Fatal(err)
	}
	veth := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "eth0"}, PeerName: "peer0", PeerNamespace: netlink.NsFd(p.peer)}
	if err := p.nodeNL.LinkAdd(veth); err != nil {
		t.Fatal(err)
	}
	for _, side := range []struct {
		h    *netlink.Handle
		name string
	}{{p.nodeNL, "eth0"}, {p.nodeNL, "lo"}, {p.peerNL, "peer0"}, {p.peerNL, "lo"}} {
		l, err := side.h.LinkByName(side.name)
		if err != nil {
			t.Fatal(err)
		}
		if err := side.h.LinkSetUp(l); err != nil {
			t.Fatal(err)
		}
		if side.name == "eth0" {
			p.mac = l.Attrs().HardwareAddr
		}
	}
	return p
}

// sniff opens a raw socket for ethertype proto on the observer's peer0.
func (p *pair) sniff(t *testing.T, proto uint16) *packet.Conn {
	t.Helper()
	var c *packet.Conn
	err := func() error {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		orig, err := netns.Get()
		if err != nil {
			return err
		}
		defer orig.Close()
		if err := netns.Set(p.peer); err != nil {
			return err
		}
		defer func() {
			if err := netns.Set(orig); err != nil {
				panic("cannot restore the test thread's namespace: " + err.Error())
			}
		}()
		ifi, err := net.InterfaceByName("peer0")
		if err != nil {
			return err
		}
		c, err = packet.Listen(ifi, packet.Raw, int(proto), nil)
		return err
	}()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// count reads frames for at most a few seconds and counts those match
// accepts, returning as soon as it has want.
func count(c *packet.Conn, want int, match func([]byte) bool) int {
	buf := make([]byte, 2048)
	n := 0
	_ = c.SetReadDeadline(time.Now().Add(3 * time.Second))
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

func (p *pair) agent(t *testing.T, ip config.IPParams) *Agent {
	t.Helper()
	a, err := NewAt("vip", ip, slog.New(slog.DiscardHandler), p.node)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.Close)
	return a
}

func (p *pair) find(t *testing.T, vip netip.Addr) *netlink.Addr {
	t.Helper()
	l, err := p.nodeNL.LinkByName("eth0")
	if err != nil {
		t.Fatal(err)
	}
	addrs, err := p.nodeNL.AddrList(l, netlink.FAMILY_ALL)
	if err != nil {
		t.Fatal(err)
	}
	for i := range addrs {
		if addrs[i].IP.Equal(vip.AsSlice()) {
			return &addrs[i]
		}
	}
	return nil
}

func monitor(t *testing.T, a *Agent, want resource.State) {
	t.Helper()
	st, err := a.Monitor(t.Context())
	if st != want || (want != resource.Failed) != (err == nil) {
		t.Fatalf("monitor: %v %v, want %v", st, err, want)
	}
}

// garp matches a gratuitous ARP of op (1 request, 2 reply): sender and
// target protocol address both vip, sender hardware address mac.
func garp(op byte, vip netip.Addr, mac net.HardwareAddr) func([]byte) bool {
	return func(f []byte) bool {
		if len(f) < 42 || f[12] != 0x08 || f[13] != 0x06 {
			return false
		}
		a := f[14:]
		return a[7] == op && bytes.Equal(f[6:12], mac) && bytes.Equal(a[8:14], mac) &&
			bytes.Equal(a[14:18], vip.AsSlice()) && bytes.Equal(a[24:28], vip.AsSlice())
	}
}

func TestIPv4StartAnnounceStop(t *testing.T) {
	p := newPair(t)
	arpc := p.sniff(t, unix.ETH_P_ARP)
	vip := netip.MustParseAddr("198.18.7.100")
	a := p.agent(t, config.IPParams{Address: netip.PrefixFrom(vip, 24), Interface: "eth0", Label: "eth0:7", ARPCount: 3, ARPInterval: 20 * time.Millisecond})
	monitor(t, a, resource.Stopped)
	if err := a.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	ad := p.find(t, vip)
	if ad == nil {
		t.Fatalf("%s not on eth0", vip)
	}
	if ad.Label != "eth0:7" {
		t.Errorf("label %q, want eth0:7", ad.Label)
	}
	monitor(t, a, resource.Running)
	if n := count(arpc, 3, garp(1, vip, p.mac)); n != 3 {
		t.Fatalf("saw %d gratuitous ARP requests, want 3", n)
	}
	// Announce (after a heal, every arp_refresh): another full burst.
	if err := a.Announce(t.Context()); err != nil {
		t.Fatal(err)
	}
	if n := count(arpc, 3, garp(1, vip, p.mac)); n != 3 {
		t.Fatalf("saw %d gratuitous ARPs after Announce, want 3", n)
	}
	if err := a.Start(t.Context()); err != nil {
		t.Fatalf("second start: %v", err)
	}
	if err := a.Stop(t.Context()); err != nil {
		t.Fatal(err)
	}
	if p.find(t, vip) != nil {
		t.Fatal("address still there after stop")
	}
	monitor(t, a, resource.Stopped)
	if err := a.Stop(t.Context()); err != nil {
		t.Fatalf("second stop: %v", err)
	}
}

// An address someone added without our label is still ours to remove.
func TestStopRemovesUnlabelledAddress(t *testing.T) {
	p := newPair(t)
	vip := netip.MustParsePrefix("198.18.7.101/24")
	l, err := p.nodeNL.LinkByName("eth0")
	if err != nil {
		t.Fatal(err)
	}
	if err := p.nodeNL.AddrAdd(l, &netlink.Addr{IPNet: &net.IPNet{IP: vip.Addr().AsSlice(), Mask: net.CIDRMask(24, 32)}}); err != nil {
		t.Fatal(err)
	}
	a := p.agent(t, config.IPParams{Address: vip, Interface: "eth0", Label: "eth0:vip"})
	if err := a.Start(t.Context()); err != nil {
		t.Fatalf("start with the address present: %v", err)
	}
	if err := a.Stop(t.Context()); err != nil {
		t.Fatal(err)
	}
	if p.find(t, vip.Addr()) != nil {
		t.Fatal("address still there after stop")
	}
}

func TestIPv6NoDADAndNA(t *testing.T) {
	p := newPair(t)
	ip6 := p.sniff(t, unix.ETH_P_IPV6)
	vip := netip.MustParseAddr("2001:db8::100")
	a := p.agent(t, config.IPParams{Address: netip.PrefixFrom(vip, 64), Interface: "eth0", ARPCount: 2, ARPInterval: 20 * time.Millisecond})
	if err := a.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	ad := p.find(t, vip)
	if ad == nil {
		t.Fatalf("%s not on eth0", vip)
	}
	if ad.Flags&unix.IFA_F_NODAD == 0 || ad.Flags&unix.IFA_F_TENTATIVE != 0 {
		t.Errorf("flags %#x: want nodad and not tentative", ad.Flags)
	}
	monitor(t, a, resource.Running)
	// Unsolicited NA: ICMPv6 type 136 to ff02::1, override set, target the
	// VIP, target link-layer address option with eth0's MAC.
	allNodes := netip.IPv6LinkLocalAllNodes().AsSlice()
	na := func(f []byte) bool {
		return len(f) >= 86 && f[12] == 0x86 && f[13] == 0xdd && f[20] == 58 &&
			bytes.Equal(f[38:54], allNodes) && f[54] == 136 && f[58]&0x20 != 0 &&
			bytes.Equal(f[62:78], vip.AsSlice()) && f[78] == 2 && bytes.Equal(f[80:86], p.mac)
	}
	if n := count(ip6, 2, na); n != 2 {
		t.Fatalf("saw %d neighbour advertisements for %s, want 2", n, vip)
	}
	if err := a.Stop(t.Context()); err != nil {
		t.Fatal(err)
	}
	if p.find(t, vip) != nil {
		t.Fatal("address still there after stop")
	}
	monitor(t, a, resource.Stopped)
}

func TestMissingOrDownInterface(t *testing.T) {
	p := newPair(t)
	a := p.agent(t, config.IPParams{Address: netip.MustParsePrefix("198.18.7.102/24"), Interface: "nope0", ARPCount: 1})
	if err := a.Start(t.Context()); err == nil || !strings.Contains(err.Error(), "interface nope0") {
		t.Fatalf("start on a missing interface: %v", err)
	}
	monitor(t, a, resource.Failed)
	if err := a.Stop(t.Context()); err != nil {
		t.Fatalf("stop on a missing interface: %v", err)
	}

	l, err := p.nodeNL.LinkByName("eth0")
	if err != nil {
		t.Fatal(err)
	}
	b := p.agent(t, config.IPParams{Address: netip.MustParsePrefix("198.18.7.103/24"), Interface: "eth0", ARPCount: 1})
	if err := p.nodeNL.LinkSetDown(l); err != nil {
		t.Fatal(err)
	}
	if err := b.Start(t.Context()); err == nil || !strings.Contains(err.Error(), "interface eth0 is down") {
		t.Fatalf("start on a down interface: %v", err)
	}
	if err := p.nodeNL.LinkSetUp(l); err != nil {
		t.Fatal(err)
	}
	if err := b.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	// The interface vanishes under a running address.
	if err := p.nodeNL.LinkDel(l); err != nil {
		t.Fatal(err)
	}
	st, err := b.Monitor(t.Context())
	if st != resource.Failed || err == nil || !strings.Contains(err.Error(), "interface eth0") {
		t.Fatalf("monitor with the interface gone: %v %v", st, err)
	}
}

// Announce stops early when its context ends.
func TestAnnounceHonoursContext(t *testing.T) {
	p := newPair(t)
	a := p.agent(t, config.IPParams{Address: netip.MustParsePrefix("198.18.7.104/24"), Interface: "eth0", ARPCount: 1000, ARPInterval: time.Hour})
	if err := a.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := a.Announce(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("announce with a cancelled context: %v", err)
	}
	// Stop ends the hour-long background burst of Start instead of waiting for it.
	if err := a.Stop(t.Context()); err != nil {
		t.Fatal(err)
	}
}

// New works in the namespace of the calling thread, as in the agent daemon.
func TestNewInOwnNamespace(t *testing.T) {
	p := newPair(t)
	arpc := p.sniff(t, unix.ETH_P_ARP)
	vip := netip.MustParseAddr("198.18.7.105")
	err := func() error {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		orig, err := netns.Get()
		if err != nil {
			return err
		}
		defer orig.Close()
		if err := netns.Set(p.node); err != nil {
			return err
		}
		defer func() {
			if err := netns.Set(orig); err != nil {
				panic("cannot restore the test thread's namespace: " + err.Error())
			}
		}()
		a, err := New("vip", config.IPParams{Address: netip.PrefixFrom(vip, 24), Interface: "eth0", ARPCount: 2, ARPInterval: 10 * time.Millisecond}, slog.New(slog.DiscardHandler))
		if err != nil {
			return err
		}
		defer a.Close()
		if err := a.Start(t.Context()); err != nil {
			return err
		}
		if st, err := a.Monitor(t.Context()); st != resource.Running {
			return errors.Join(errors.New("monitor after start: "+st.String()), err)
		}
		// Wait for the background burst while still in the namespace.
		if n := count(arpc, 2, garp(1, vip, p.mac)); n != 2 {
			return errors.New("background burst incomplete")
		}
		return a.Stop(t.Context())
	}()
	if err != nil {
		t.Fatal(err)
	}
	if p.find(t, vip) != nil {
		t.Fatal("address still there after stop")
	}
}
