package gate

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/nftables"
	"github.com/mdlayher/arp"
	"github.com/mdlayher/ndp"
	"github.com/mdlayher/packet"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"tandem/internal/config"
	ipagent "tandem/internal/resource/ip"
)

// Addresses: the node's eth0 has nodeAddr, the peer's peer0 has peerAddr,
// and the floating addresses are vip (and vip2) on the node's eth0.
type family struct {
	name               string
	bits               int
	nodeAddr, peerAddr netip.Addr
	vip, vip2          netip.Addr
	udpNet             string
	// resolve: does the node answer ARP / neighbour solicitation for vip within wait?
	resolve       func(n *testNet, t *testing.T, vip netip.Addr, wait time.Duration) bool
	announceMatch func(vip netip.Addr, mac net.HardwareAddr) func([]byte) bool
	announceProto uint16
}

var families = []family{
	{
		name: "ipv4", bits: 24,
		nodeAddr: netip.MustParseAddr("198.18.0.1"), peerAddr: netip.MustParseAddr("198.18.0.2"),
		vip: netip.MustParseAddr("198.18.0.100"), vip2: netip.MustParseAddr("198.18.0.101"),
		udpNet: "udp4", resolve: (*testNet).arpResolve,
		announceMatch: garpFrom, announceProto: unix.ETH_P_ARP,
	},
	{
		name: "ipv6", bits: 64,
		nodeAddr: netip.MustParseAddr("2001:db8::1"), peerAddr: netip.MustParseAddr("2001:db8::2"),
		vip: netip.MustParseAddr("2001:db8::100"), vip2: netip.MustParseAddr("2001:db8::101"),
		udpNet: "udp6", resolve: (*testNet).ndpResolve,
		announceMatch: naFor, announceProto: unix.ETH_P_IPV6,
	},
}

// testNet is two fresh, unnamed network namespaces joined by a veth pair:
// eth0 on the node's side, peer0 on the peer's. Unnamed namespaces vanish
// with their last handle, so nothing (gate tables included) outlives the
// test process, even when it fails or is killed.
type testNet struct {
	node, peer       netns.NsHandle
	nodeNL, peerNL   *netlink.Handle
	nodeMAC, peerMAC net.HardwareAddr
	eth0             netlink.Link
}

func newNet(t testing.TB) *testNet {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: creates network namespaces and nftables tables")
	}
	n := &testNet{node: netns.None(), peer: netns.None()}
	t.Cleanup(func() {
		for _, h := range []*netlink.Handle{n.nodeNL, n.peerNL} {
			if h != nil {
				h.Close()
			}
		}
		n.node.Close()
		n.peer.Close()
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
		for _, h := range []*netns.NsHandle{&n.node, &n.peer} {
			if *h, err = netns.New(); err != nil {
				return
			}
			if err = netns.Set(orig); err != nil {
				panic("cannot restore the test thread's namespace: " + err.Error())
			}
		}
	}()
	if err != nil {
		t.Fatal(err)
	}
	if n.nodeNL, err = netlink.NewHandleAt(n.node); err != nil {
		t.Fatal(err)
	}
	if n.peerNL, err = netlink.NewHandleAt(n.peer); err != nil {
		t.Fatal(err)
	}
	veth := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "eth0"}, PeerName: "peer0", PeerNamespace: netlink.NsFd(n.peer)}
	if err := n.nodeNL.LinkAdd(veth); err != nil {
		t.Fatal(err)
	}
	for _, side := range []struct {
		h    *netlink.Handle
		name string
		mac  *net.HardwareAddr
	}{{n.nodeNL, "eth0", &n.nodeMAC}, {n.nodeNL, "lo", nil}, {n.peerNL, "peer0", &n.peerMAC}, {n.peerNL, "lo", nil}} {
		l, err := side.h.LinkByName(side.name)
		if err != nil {
			t.Fatal(err)
		}
		if err := side.h.LinkSetUp(l); err != nil {
			t.Fatal(err)
		}
		if side.mac != nil {
			*side.mac = l.Attrs().HardwareAddr
		}
		if side.name == "eth0" {
			n.eth0 = l
		}
	}
	for _, f := range families {
		n.addAddr(t, n.nodeNL, "eth0", netip.PrefixFrom(f.nodeAddr, f.bits), 0)
		n.addAddr(t, n.peerNL, "peer0", netip.PrefixFrom(f.peerAddr, f.bits), 0)
		// Static neighbours for the traffic probe, so that it tests only
		// traffic; ARP and NA are probed on their own.
		n.neigh(t, n.nodeNL, "eth0", f.peerAddr, n.peerMAC)
		for _, v := range []netip.Addr{f.vip, f.vip2} {
			n.neigh(t, n.peerNL, "peer0", v, n.nodeMAC)
		}
	}
	return n
}

func ipnet(p netip.Prefix) *net.IPNet {
	return &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
}

// addAddr adds p (IPv6 without duplicate address detection) with lifetime
// lft seconds (0: permanent).
func (n *testNet) addAddr(t testing.TB, h *netlink.Handle, ifname string, p netip.Prefix, lft int) {
	t.Helper()
	l, err := h.LinkByName(ifname)
	if err != nil {
		t.Fatal(err)
	}
	a := &netlink.Addr{IPNet: ipnet(p), ValidLft: lft, PreferedLft: lft}
	if p.Addr().Is6() {
		a.Flags = unix.IFA_F_NODAD
	}
	if err := h.AddrAdd(l, a); err != nil {
		t.Fatalf("add %s to %s: %v", p, ifname, err)
	}
}

func (n *testNet) neigh(t testing.TB, h *netlink.Handle, ifname string, ip netip.Addr, mac net.HardwareAddr) {
	t.Helper()
	l, err := h.LinkByName(ifname)
	if err != nil {
		t.Fatal(err)
	}
	fam := netlink.FAMILY_V4
	if ip.Is6() {
		fam = netlink.FAMILY_V6
	}
	if err := h.NeighSet(&netlink.Neigh{LinkIndex: l.Attrs().Index, Family: fam, State: netlink.NUD_PERMANENT, IP: ip.AsSlice(), HardwareAddr: mac}); err != nil {
		t.Fatalf("neighbour %s on %s: %v", ip, ifname, err)
	}
}

// in runs fn on a locked thread inside ns; sockets it opens stay there.
func in(ns netns.NsHandle, fn func() error) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	orig, err := netns.Get()
	if err != nil {
		return err
	}
	defer orig.Close()
	if err := netns.Set(ns); err != nil {
		return err
	}
	defer func() {
		if err := netns.Set(orig); err != nil {
			panic("cannot restore the test thread's namespace: " + err.Error())
		}
	}()
	return fn()
}

func (n *testNet) gate(t testing.TB, vip netip.Addr) *Gate {
	t.Helper()
	g, err := NewAt(n.node, "eth0", vip)
	if err != nil {
		t.Fatal(err)
	}
	if err := g.Install(ctx(t)); err != nil {
		t.Fatal(err)
	}
	return g
}

func ctx(t testing.TB) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	t.Cleanup(cancel)
	return c
}

// eventually polls cond every 10ms until it holds or within runs out.
func eventually(t testing.TB, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %v: %s", within, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// probe sends one datagram each way over the floating address: peer → vip
// (ingress at the node) and vip → peer (egress). Each waits at most wait.
type probe struct {
	atNode, atPeer *net.UDPConn // bound to vip:7007 and peer:(ephemeral)
	vip, peer      netip.AddrPort
	seq            int
}

func (n *testNet) probe(t testing.TB, f family, vip netip.Addr) *probe {
	t.Helper()
	p := &probe{vip: netip.AddrPortFrom(vip, 7007)}
	err := in(n.node, func() (err error) {
		p.atNode, err = net.ListenUDP(f.udpNet, net.UDPAddrFromAddrPort(p.vip))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.atNode.Close() })
	err = in(n.peer, func() (err error) {
		p.atPeer, err = net.ListenUDP(f.udpNet, net.UDPAddrFromAddrPort(netip.AddrPortFrom(f.peerAddr, 0)))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.atPeer.Close() })
	p.peer = p.atPeer.LocalAddr().(*net.UDPAddr).AddrPort()
	return p
}

// recv waits at most wait for the datagram msg on c (earlier probes' late
// datagrams are skipped).
func recv(c *net.UDPConn, msg []byte, wait time.Duration) bool {
	_ = c.SetReadDeadline(time.Now().Add(wait))
	buf := make([]byte, 64)
	for {
		m, _, err := c.ReadFromUDPAddrPort(buf)
		if err != nil {
			return false
		}
		if bytes.Equal(buf[:m], msg) {
			return true
		}
	}
}

// once reports whether a datagram got to the floating address (ingress)
// and whether one from it got to the peer (egress).
func (p *probe) once(t testing.TB, wait time.Duration) (ingress, egress bool) {
	t.Helper()
	p.seq++
	toVIP := fmt.Appendf(nil, "to-vip %d", p.seq)
	fromVIP := fmt.Appendf(nil, "from-vip %d", p.seq)
	if _, err := p.atPeer.WriteToUDPAddrPort(toVIP, p.vip); err != nil {
		t.Fatal(err)
	}
	if _, err := p.atNode.WriteToUDPAddrPort(fromVIP, p.peer); err != nil && !errors.Is(err, unix.EPERM) {
		t.Fatal(err) // a drop at egress reports EPERM to the sender
	}
	return recv(p.atNode, toVIP, wait), recv(p.atPeer, fromVIP, wait)
}

// open: both directions pass (polled: the first packets may race a rule change).
func (p *probe) open(t testing.TB) {
	t.Helper()
	eventually(t, 3*time.Second, fmt.Sprintf("traffic for %s passes both ways", p.vip.Addr()), func() bool {
		i, e := p.once(t, 200*time.Millisecond)
		return i && e
	})
}

// closed: neither direction passes within a bounded wait.
func (p *probe) closed(t testing.TB) {
	t.Helper()
	if i, e := p.once(t, 300*time.Millisecond); i || e {
		t.Fatalf("traffic for %s passes without a lease: ingress %v, egress %v", p.vip.Addr(), i, e)
	}
}

// arpResolve: does the node answer an ARP request for vip within wait?
func (n *testNet) arpResolve(t *testing.T, vip netip.Addr, wait time.Duration) bool {
	t.Helper()
	var c *arp.Client
	err := in(n.peer, func() error {
		ifi, err := net.InterfaceByName("peer0")
		if err != nil {
			return err
		}
		c, err = arp.Dial(ifi)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.SetDeadline(time.Now().Add(wait)); err != nil {
		t.Fatal(err)
	}
	mac, err := c.Resolve(vip)
	return err == nil && bytes.Equal(mac, n.nodeMAC)
}

// ndpResolve: does the node answer a neighbour solicitation for vip within wait?
func (n *testNet) ndpResolve(t *testing.T, vip netip.Addr, wait time.Duration) bool {
	t.Helper()
	var c *ndp.Conn
	var ifi *net.Interface
	err := in(n.peer, func() error {
		var err error
		if ifi, err = net.InterfaceByName("peer0"); err != nil {
			return err
		}
		c, _, err = ndp.Listen(ifi, ndp.Addr("2001:db8::2"))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// ndp names destination zones after ifi.Name; a numeric name is taken
	// as the index in any thread's namespace.
	ifi.Name = strconv.Itoa(ifi.Index)
	snm, err := ndp.SolicitedNodeMulticast(vip)
	if err != nil {
		t.Fatal(err)
	}
	ns := &ndp.NeighborSolicitation{TargetAddress: vip, Options: []ndp.Option{&ndp.LinkLayerAddress{Direction: ndp.Source, Addr: n.peerMAC}}}
	if err := c.WriteTo(ns, nil, snm.WithZone(ifi.Name)); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(wait))
	for {
		m, _, _, err := c.ReadFrom()
		if err != nil {
			return false
		}
		if na, ok := m.(*ndp.NeighborAdvertisement); ok && na.TargetAddress == vip {
			return true
		}
	}
}

func valid(t testing.TB, g *Gate) (bool, time.Duration) {
	t.Helper()
	ok, left, err := g.Valid(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	return ok, left
}

// expire waits (bounded) until g's element has lapsed by itself.
func expire(t testing.TB, g *Gate) {
	t.Helper()
	eventually(t, 3*time.Second, "the lease element lapses", func() bool {
		ok, _ := valid(t, g)
		return !ok
	})
}

// Test 1: with the element the address answers ARP/NS and passes traffic
// both ways; without it (before a grant, after Revoke, after the timeout
// lapses) it does neither.
func TestGateEnforcesLease(t *testing.T) {
	for _, f := range families {
		t.Run(f.name, func(t *testing.T) {
			n := newNet(t)
			n.addAddr(t, n.nodeNL, "eth0", netip.PrefixFrom(f.vip, f.bits), 0)
			p := n.probe(t, f, f.vip)
			// Negative control: without a gate the probes see the address.
			p.open(t)
			if !f.resolve(n, t, f.vip, time.Second) {
				t.Fatal("no ARP/NA answer for the address before any gate: the probe is broken")
			}

			g := n.gate(t, f.vip)
			p.closed(t)
			if f.resolve(n, t, f.vip, 300*time.Millisecond) {
				t.Fatal("the address is resolvable without a lease")
			}

			if err := g.Grant(ctx(t), 10*time.Second); err != nil {
				t.Fatal(err)
			}
			p.open(t)
			if !f.resolve(n, t, f.vip, time.Second) {
				t.Fatal("no ARP/NA answer with a lease")
			}

			if err := g.Revoke(ctx(t)); err != nil {
				t.Fatal(err)
			}
			p.closed(t)
			if f.resolve(n, t, f.vip, 300*time.Millisecond) {
				t.Fatal("the address is resolvable after Revoke")
			}
			if err := g.Revoke(ctx(t)); err != nil {
				t.Fatalf("revoking an absent lease: %v", err)
			}

			if err := g.Grant(ctx(t), 300*time.Millisecond); err != nil {
				t.Fatal(err)
			}
			p.open(t)
			// The timeout lapses: traffic stops by itself, nobody revoked.
			eventually(t, 3*time.Second, "traffic stops when the lease lapses", func() bool {
				i, e := p.once(t, 100*time.Millisecond)
				return !i && !e
			})
			if f.resolve(n, t, f.vip, 300*time.Millisecond) {
				t.Fatal("the address is resolvable after the lease lapsed")
			}
			if err := g.Remove(ctx(t)); err != nil {
				t.Fatal(err)
			}
			p.open(t) // no gate, no enforcement
		})
	}
}

// Test 2: Renew before expiry extends; Renew after expiry fails as a whole
// and leaves the element absent (the paused agent cannot resurrect it).
func TestRenew(t *testing.T) {
	for _, f := range families {
		t.Run(f.name, func(t *testing.T) {
			n := newNet(t)
			n.addAddr(t, n.nodeNL, "eth0", netip.PrefixFrom(f.vip, f.bits), 0)
			p := n.probe(t, f, f.vip)
			g := n.gate(t, f.vip)

			if err := g.Grant(ctx(t), 500*time.Millisecond); err != nil {
				t.Fatal(err)
			}
			if err := g.Renew(ctx(t), 10*time.Second); err != nil {
				t.Fatalf("renew of a live lease: %v", err)
			}
			ok, left := valid(t, g)
			if !ok || left <= 5*time.Second || left > 10*time.Second {
				t.Fatalf("after renewing for 10s: valid %v, %v left", ok, left)
			}
			p.open(t)

			// The paused agent: a 200ms lease lapses before it renews.
			if err := g.Grant(ctx(t), 200*time.Millisecond); err != nil {
				t.Fatal(err)
			}
			if ok, left := valid(t, g); !ok || left > 200*time.Millisecond {
				t.Fatalf("grant over a live lease: valid %v, %v left; want at most 200ms", ok, left)
			}
			expire(t, g)
			err := g.Renew(ctx(t), 10*time.Second)
			if !errors.Is(err, ErrExpired) {
				t.Fatalf("renew after expiry: %v, want ErrExpired", err)
			}
			// The add in the same batch did not happen.
			if ok, left := valid(t, g); ok {
				t.Fatalf("a failed renew left the element with %v", left)
			}
			p.closed(t)

			// Revoked is the same as expired for Renew.
			if err := g.Grant(ctx(t), 10*time.Second); err != nil {
				t.Fatal(err)
			}
			if err := g.Revoke(ctx(t)); err != nil {
				t.Fatal(err)
			}
			if err := g.Renew(ctx(t), 10*time.Second); !errors.Is(err, ErrExpired) {
				t.Fatalf("renew after revoke: %v, want ErrExpired", err)
			}
			if ok, _ := valid(t, g); ok {
				t.Fatal("a failed renew after revoke left the element")
			}

			// A maintenance hold: the kernel takes HoldTimeout, and a renewal
			// brings it back to a lease.
			if err := g.Grant(ctx(t), HoldTimeout); err != nil {
				t.Fatalf("grant of a hold: %v", err)
			}
			if ok, left := valid(t, g); !ok || left < HoldTimeout-time.Hour {
				t.Fatalf("after a hold: valid %v, %v left", ok, left)
			}
			if err := g.Renew(ctx(t), 10*time.Second); err != nil {
				t.Fatalf("renew of a hold: %v", err)
			}
			if ok, left := valid(t, g); !ok || left > 10*time.Second {
				t.Fatalf("a hold renewed for 10s: valid %v, %v left", ok, left)
			}

			// Test 3: a fresh grant after expiry works.
			if err := g.Grant(ctx(t), 10*time.Second); err != nil {
				t.Fatalf("fresh grant after expiry: %v", err)
			}
			if ok, _ := valid(t, g); !ok {
				t.Fatal("no element after a fresh grant")
			}
			p.open(t)
		})
	}
}

// Grant installs the gate itself (one transaction), also after a Remove;
// Renew of a gate that is not installed fails like an expired one.
func TestGrantInstalls(t *testing.T) {
	f := families[0]
	n := newNet(t)
	n.addAddr(t, n.nodeNL, "eth0", netip.PrefixFrom(f.vip, f.bits), 0)
	p := n.probe(t, f, f.vip)
	g, err := NewAt(n.node, "eth0", f.vip)
	if err != nil {
		t.Fatal(err)
	}
	if err := g.Renew(ctx(t), time.Second); !errors.Is(err, ErrExpired) {
		t.Fatalf("renew of a gate never installed: %v, want ErrExpired", err)
	}
	for range 2 {
		if err := g.Grant(ctx(t), 10*time.Second); err != nil {
			t.Fatal(err)
		}
		p.open(t)
		if err := g.Revoke(ctx(t)); err != nil {
			t.Fatal(err)
		}
		p.closed(t)
		if err := g.Remove(ctx(t)); err != nil {
			t.Fatal(err)
		}
	}
}

// The element's expiry is anchored when the transaction starts, not when
// Renew returns (the kernel waits out an RCU grace period after the commit):
// it never outlives the call's start + d by more than a jiffy or so.
func TestExpiryAnchoredAtCall(t *testing.T) {
	n := newNet(t)
	g := n.gate(t, families[0].vip)
	if err := g.Grant(ctx(t), time.Minute); err != nil {
		t.Fatal(err)
	}
	const d = 10 * time.Second
	var worst, slowest time.Duration
	for range 10 {
		t0 := time.Now()
		if err := g.Renew(ctx(t), d); err != nil {
			t.Fatal(err)
		}
		took := time.Since(t0)
		ok, left := valid(t, g)
		end := time.Now().Add(left) // an upper estimate of the element's end
		if !ok {
			t.Fatal("no element after renew")
		}
		worst, slowest = max(worst, end.Sub(t0.Add(d))), max(slowest, took)
	}
	t.Logf("renew took up to %v; the element ends at most %v after call start + d", slowest, worst)
	if worst > 20*time.Millisecond {
		t.Fatalf("the element ends %v after call start + d", worst)
	}
}

func TestLeaseTimeouts(t *testing.T) {
	g, err := New("eth0", netip.MustParseAddr("198.18.0.100"))
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range []time.Duration{0, -time.Second, 999 * time.Microsecond} {
		if err := g.Grant(t.Context(), d); err == nil {
			t.Errorf("Grant(%v) accepted: a zero timeout would make the element permanent", d)
		}
		if err := g.Renew(t.Context(), d); err == nil {
			t.Errorf("Renew(%v) accepted", d)
		}
	}
	for _, c := range []struct {
		iface string
		addr  netip.Addr
	}{{"", netip.MustParseAddr("198.18.0.1")}, {"eth0", netip.Addr{}}, {"eth0", netip.MustParseAddr("fe80::1%eth0")}, {"a-very-long-ifname", netip.MustParseAddr("198.18.0.1")}} {
		if _, err := New(c.iface, c.addr); err == nil {
			t.Errorf("New(%q, %v) accepted", c.iface, c.addr)
		}
	}
}

func TestLifetime(t *testing.T) {
	for _, c := range []struct{ l, want time.Duration }{
		{700 * time.Millisecond, 2 * time.Second},
		{time.Second, 2 * time.Second},
		{2 * time.Second, 3 * time.Second},
		{2100 * time.Millisecond, 4 * time.Second},
	} {
		if got := Lifetime(c.l); got != c.want {
			t.Errorf("Lifetime(%v) = %v, want %v", c.l, got, c.want)
		}
	}
}

// findAddr returns ip on eth0 as it is there, or nil.
func (n *testNet) findAddr(t testing.TB, ip netip.Addr) *netlink.Addr {
	t.Helper()
	addrs, err := n.nodeNL.AddrList(n.eth0, netlink.FAMILY_ALL)
	if err != nil {
		t.Fatal(err)
	}
	for i := range addrs {
		if a, ok := netip.AddrFromSlice(addrs[i].IP); ok && a.Unmap() == ip {
			return &addrs[i]
		}
	}
	return nil
}

// Test 4: RenewLifetime extends a present address and refuses to re-create
// one whose lifetime ran out.
func TestRenewLifetime(t *testing.T) {
	for _, f := range families {
		t.Run(f.name, func(t *testing.T) {
			n := newNet(t)
			pf := netip.PrefixFrom(f.vip, f.bits)
			n.addAddr(t, n.nodeNL, "eth0", pf, 1)
			if err := RenewLifetime(n.nodeNL, n.eth0, pf, 5*time.Second); err != nil {
				t.Fatal(err)
			}
			a := n.findAddr(t, f.vip)
			if a == nil || a.ValidLft < 4 || a.ValidLft > 5 || a.PreferedLft < 4 || a.PreferedLft > 5 {
				t.Fatalf("after renewing for 5s: %+v", a)
			}
			if f.vip.Is6() && a.Flags&unix.IFA_F_NODAD == 0 {
				t.Errorf("renewal dropped nodad: flags %#x", a.Flags)
			}
			// A maintenance hold keeps it forever; a renewal afterwards
			// brings the lifetime back.
			if err := KeepLifetime(n.nodeNL, n.eth0, pf); err != nil {
				t.Fatal(err)
			}
			if a := n.findAddr(t, f.vip); a == nil || uint32(a.ValidLft) != math.MaxUint32 || uint32(a.PreferedLft) != math.MaxUint32 {
				t.Fatalf("after KeepLifetime: %+v, want forever", a)
			}
			if err := RenewLifetime(n.nodeNL, n.eth0, pf, 5*time.Second); err != nil {
				t.Fatal(err)
			}
			if a := n.findAddr(t, f.vip); a == nil || a.ValidLft > 5 {
				t.Fatalf("renewing a kept address for 5s: %+v", a)
			}
			if err := RenewLifetime(n.nodeNL, n.eth0, netip.PrefixFrom(f.vip, f.bits-1), 5*time.Second); err == nil {
				t.Error("renewal under another prefix length accepted")
			}
			// Let it lapse: back to 1 s, then wait (bounded) until the kernel reaps it.
			if err := RenewLifetime(n.nodeNL, n.eth0, pf, time.Second); err != nil {
				t.Fatal(err)
			}
			eventually(t, 5*time.Second, "the address expires", func() bool { return n.findAddr(t, f.vip) == nil })
			err := RenewLifetime(n.nodeNL, n.eth0, pf, 5*time.Second)
			if !errors.Is(err, ErrAddressGone) {
				t.Fatalf("renewing a lapsed address: %v, want ErrAddressGone", err)
			}
			if a := n.findAddr(t, f.vip); a != nil {
				t.Fatalf("the lapsed address is back: %+v", a)
			}
			if err := RenewLifetime(n.nodeNL, n.eth0, pf, 0); err == nil {
				t.Error("a zero lifetime accepted")
			}
		})
	}
}

// tables lists the node's nftables tables.
func (n *testNet) tables(t testing.TB) []string {
	t.Helper()
	c, err := nftables.New(nftables.WithNetNSFd(int(n.node)))
	if err != nil {
		t.Fatal(err)
	}
	ts, err := c.ListTables()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, tb := range ts {
		out = append(out, tb.Name)
	}
	return out
}

// nftRuleset is `nft list ruleset` in the node's namespace ("" without nft).
func (n *testNet) nftRuleset(t testing.TB) string {
	t.Helper()
	path, err := exec.LookPath("nft")
	if err != nil {
		t.Log("nft(8) not installed: the ruleset is checked over netlink only")
		return ""
	}
	var out []byte
	err = in(n.node, func() (err error) {
		out, err = exec.Command(path, "list", "ruleset").CombinedOutput()
		return err
	})
	if err != nil {
		t.Fatalf("nft list ruleset: %v\n%s", err, out)
	}
	return string(out)
}

// Test 5: two gates on one interface are independent; Remove of one leaves
// the other enforced, Remove of both leaves nothing of ours.
func TestTwoGatesAndRemove(t *testing.T) {
	for _, f := range families {
		t.Run(f.name, func(t *testing.T) {
			n := newNet(t)
			n.addAddr(t, n.nodeNL, "eth0", netip.PrefixFrom(f.vip, f.bits), 0)
			n.addAddr(t, n.nodeNL, "eth0", netip.PrefixFrom(f.vip2, f.bits), 0)
			p1, p2 := n.probe(t, f, f.vip), n.probe(t, f, f.vip2)
			g1, g2 := n.gate(t, f.vip), n.gate(t, f.vip2)
			// A re-install is harmless (rules replaced, not doubled).
			if err := g1.Install(ctx(t)); err != nil {
				t.Fatal(err)
			}
			if rs := n.nftRuleset(t); rs != "" {
				if c := strings.Count(rs, "tandem gate: traffic to the address"); c != 2 {
					t.Fatalf("%d ingress rules after a re-install, want 2 (one per gate):\n%s", c, rs)
				}
				t.Logf("nft list ruleset:\n%s", rs)
			}

			if err := g1.Grant(ctx(t), 10*time.Second); err != nil {
				t.Fatal(err)
			}
			p1.open(t)
			p2.closed(t)
			if f.resolve(n, t, f.vip2, 300*time.Millisecond) || !f.resolve(n, t, f.vip, time.Second) {
				t.Fatal("ARP/NA of one gate's address follows the other's lease")
			}

			if err := g1.Revoke(ctx(t)); err != nil {
				t.Fatal(err)
			}
			if err := g2.Grant(ctx(t), 10*time.Second); err != nil {
				t.Fatal(err)
			}
			p2.open(t)
			p1.closed(t)
			if err := g1.Renew(ctx(t), time.Second); !errors.Is(err, ErrExpired) {
				t.Fatalf("renewing revoked gate 1 while gate 2 is granted: %v", err)
			}

			// Remove gate 2: gate 1 still enforces.
			if err := g2.Remove(ctx(t)); err != nil {
				t.Fatal(err)
			}
			p2.open(t)
			p1.closed(t)
			if ok, _, err := g2.Valid(ctx(t)); err == nil || ok {
				t.Fatalf("a removed gate reads valid %v, err %v", ok, err)
			}
			if err := g2.Remove(ctx(t)); err != nil {
				t.Fatalf("removing twice: %v", err)
			}
			if got := n.tables(t); len(got) != 1 || got[0] != Table {
				t.Fatalf("tables with gate 1 left: %v", got)
			}

			if err := g1.Remove(ctx(t)); err != nil {
				t.Fatal(err)
			}
			p1.open(t)
			if got := n.tables(t); len(got) != 1 {
				t.Fatalf("Remove took the table with it (RemoveTable's job): %v", got)
			}
			if err := RemoveTableAt(ctx(t), n.node); err != nil {
				t.Fatal(err)
			}
			if got := n.tables(t); len(got) != 0 {
				t.Fatalf("tables left after removing every gate: %v", got)
			}
			if rs := n.nftRuleset(t); strings.Contains(rs, "tandem") {
				t.Fatalf("nft list ruleset still shows ours:\n%s", rs)
			}
		})
	}
}

// The ip agent's own announcements (gratuitous ARP over a packet socket,
// unsolicited NA) leave the node only with a lease.
func TestAnnouncementsGated(t *testing.T) {
	for _, f := range families {
		t.Run(f.name, func(t *testing.T) {
			n := newNet(t)
			n.addAddr(t, n.nodeNL, "eth0", netip.PrefixFrom(f.vip, f.bits), 0)
			a, err := ipagent.NewAt("vip", config.IPParams{Address: netip.PrefixFrom(f.vip, f.bits), Interface: "eth0", ARPCount: 1}, slog.New(slog.DiscardHandler), n.node)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(a.Close)
			sniff := n.sniff(t, f.announceProto)
			match := f.announceMatch(f.vip, n.nodeMAC)
			g := n.gate(t, f.vip)
			// The drop at egress reaches the sender as ENOBUFS: without a
			// lease the agent's announcement (and so its Start) fails.
			if err := a.Announce(ctx(t)); !errors.Is(err, unix.ENOBUFS) {
				t.Fatalf("announcing without a lease: %v, want ENOBUFS", err)
			}
			if seen(sniff, match, 300*time.Millisecond) {
				t.Fatal("an announcement left without a lease")
			}
			if err := g.Grant(ctx(t), 10*time.Second); err != nil {
				t.Fatal(err)
			}
			if err := a.Announce(ctx(t)); err != nil {
				t.Fatal(err)
			}
			if !seen(sniff, match, 2*time.Second) {
				t.Fatal("no announcement with a lease")
			}
		})
	}
}

func (n *testNet) sniff(t testing.TB, proto uint16) *packet.Conn {
	t.Helper()
	var c *packet.Conn
	err := in(n.peer, func() error {
		ifi, err := net.InterfaceByName("peer0")
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

// seen reads frames for at most wait and reports whether one matched.
func seen(c *packet.Conn, match func([]byte) bool, wait time.Duration) bool {
	buf := make([]byte, 2048)
	_ = c.SetReadDeadline(time.Now().Add(wait))
	for {
		m, _, err := c.ReadFrom(buf)
		if err != nil {
			return false
		}
		if match(buf[:m]) {
			return true
		}
	}
}

// garpFrom matches an ARP frame whose sender is vip at mac.
func garpFrom(vip netip.Addr, mac net.HardwareAddr) func([]byte) bool {
	return func(f []byte) bool {
		if len(f) < 42 || f[12] != 0x08 || f[13] != 0x06 {
			return false
		}
		a := f[14:]
		return bytes.Equal(a[8:14], mac) && bytes.Equal(a[14:18], vip.AsSlice())
	}
}

// naFor matches a neighbour advertisement for vip from mac (no extension headers).
func naFor(vip netip.Addr, mac net.HardwareAddr) func([]byte) bool {
	return func(f []byte) bool {
		if len(f) < 14+40+24 || f[12] != 0x86 || f[13] != 0xdd || f[14+6] != unix.IPPROTO_ICMPV6 {
			return false
		}
		icmp := f[14+40:]
		return bytes.Equal(f[6:12], mac) && icmp[0] == 136 && bytes.Equal(icmp[8:24], vip.AsSlice())
	}
}

// BenchmarkRenew is the cost of one renewal (one delete+add batch over a
// fresh netlink socket into the namespace). cpu-ns/op is this process's
// user+system CPU time: most of the wall time is the kernel waiting out an
// RCU grace period after the commit.
func BenchmarkRenew(b *testing.B) {
	n := newNet(b)
	g := n.gate(b, families[0].vip)
	if err := g.Grant(context.Background(), time.Minute); err != nil {
		b.Fatal(err)
	}
	c := context.Background()
	before := cpuTime(b)
	b.ResetTimer()
	for b.Loop() {
		if err := g.Renew(c, time.Minute); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(cpuTime(b)-before)/float64(b.N), "cpu-ns/op")
}

func cpuTime(b *testing.B) time.Duration {
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkValid is the cost of reading the lease back.
func BenchmarkValid(b *testing.B) {
	n := newNet(b)
	g := n.gate(b, families[0].vip)
	if err := g.Grant(context.Background(), time.Minute); err != nil {
		b.Fatal(err)
	}
	c := context.Background()
	before := cpuTime(b)
	for b.Loop() {
		if ok, _, err := g.Valid(c); err != nil || !ok {
			b.Fatal(ok, err)
		}
	}
	b.ReportMetric(float64(cpuTime(b)-before)/float64(b.N), "cpu-ns/op")
}
