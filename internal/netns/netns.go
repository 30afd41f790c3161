// Package netns builds a small network of test hosts on this machine: one
// network namespace per node plus an observer, joined by veth pairs to
// bridges in a "switch" namespace (one bridge per link). The demo and the
// end-to-end tests run real agents in it and break it as a real network
// breaks: a host's switch port goes down (SetLink), or the switch drops
// every frame between two hosts (Block: nftables rules on their MACs).
// Addresses come from 198.18.0.0/15 (link i is 198.18.i.0/24); everything
// is removed on Close, and Cleanup removes what a crashed earlier run left
// behind.
package netns

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"github.com/vishvananda/netlink"
	vnetns "github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// Observer is the name of the observer host (on link 0 only).
const Observer = "obs"

const runDir = "/run/netns"

// Spec describes the network.
type Spec struct {
	Prefix string   // namespace names are PREFIX-NODE; keep it short and unique per test
	Nodes  []string // node hosts; each gets eth0..eth(Links-1)
	Links  int      // networks between the nodes, 1 or 2
}

// Topology is a built network.
type Topology struct {
	spec  Spec
	sw    vnetns.NsHandle
	hosts map[string]vnetns.NsHandle // node or Observer → namespace
	mu    sync.Mutex
	procs []*exec.Cmd
}

func (s Spec) nsName(host string) string { return s.Prefix + "-" + host }

// NodeAddr is node's address on link.
func (t *Topology) NodeAddr(node string, link int) netip.Addr {
	for i, n := range t.spec.Nodes {
		if n == node {
			return netip.AddrFrom4([4]byte{198, 18, byte(link), byte(10 + i)})
		}
	}
	return netip.Addr{}
}

// ObserverAddr is the observer's address on link 0.
func (t *Topology) ObserverAddr() netip.Addr { return netip.MustParseAddr("198.18.0.250") }

// inNS runs fn on a locked OS thread switched into ns, then switches back.
func inNS(ns vnetns.NsHandle, fn func() error) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	orig, err := vnetns.Get()
	if err != nil {
		return fmt.Errorf("netns: current namespace: %w", err)
	}
	defer orig.Close()
	if err := vnetns.Set(ns); err != nil {
		return fmt.Errorf("netns: enter: %w", err)
	}
	ferr := fn()
	if err := vnetns.Set(orig); err != nil {
		// The thread is in the wrong namespace: never hand it back to the runtime.
		runtime.Goexit()
	}
	return ferr
}

// newNamed creates a named namespace without leaving the caller in it.
func newNamed(name string) (vnetns.NsHandle, error) {
	var h vnetns.NsHandle
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	orig, err := vnetns.Get()
	if err != nil {
		return 0, err
	}
	defer orig.Close()
	h, err = vnetns.NewNamed(name)
	if serr := vnetns.Set(orig); serr != nil {
		runtime.Goexit()
	}
	if err != nil {
		return 0, fmt.Errorf("netns: create %s: %w", name, err)
	}
	return h, nil
}

// Build creates the network. On error everything made so far is removed.
func Build(ctx context.Context, spec Spec) (*Topology, error) {
	if spec.Links < 1 || spec.Links > 2 {
		return nil, fmt.Errorf("netns: %d links: allowed 1 or 2", spec.Links)
	}
	if len(spec.Prefix) == 0 || len(spec.Prefix) > 10 {
		return nil, fmt.Errorf("netns: prefix %q must be 1..10 characters", spec.Prefix)
	}
	if err := Cleanup(spec.Prefix); err != nil {
		return nil, err
	}
	t := &Topology{spec: spec, hosts: map[string]vnetns.NsHandle{}}
	if err := t.build(ctx); err != nil {
		t.Close()
		return nil, err
	}
	return t, nil
}

func (t *Topology) build(ctx context.Context) error {
	var err error
	if t.sw, err = newNamed(t.spec.nsName("sw")); err != nil {
		return err
	}
	swh, err := netlink.NewHandleAt(t.sw)
	if err != nil {
		return fmt.Errorf("netns: switch handle: %w", err)
	}
	defer swh.Close()
	if err := loUp(swh); err != nil {
		return err
	}
	for l := range t.spec.Links {
		br := &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: fmt.Sprintf("br%d", l)}}
		if err := swh.LinkAdd(br); err != nil {
			return fmt.Errorf("netns: bridge %s: %w", br.Name, err)
		}
		if err := swh.LinkSetUp(br); err != nil {
			return fmt.Errorf("netns: bridge %s up: %w", br.Name, err)
		}
	}
	hosts := append([]string{}, t.spec.Nodes...)
	hosts = append(hosts, Observer)
	for hi, host := range hosts {
		if err := ctx.Err(); err != nil {
			return err
		}
		h, err := newNamed(t.spec.nsName(host))
		if err != nil {
			return err
		}
		t.hosts[host] = h
		hh, err := netlink.NewHandleAt(h)
		if err != nil {
			return fmt.Errorf("netns: %s handle: %w", host, err)
		}
		links := t.spec.Links
		if host == Observer {
			links = 1
		}
		err = func() error {
			defer hh.Close()
			if err := loUp(hh); err != nil {
				return err
			}
			for l := range links {
				var addr netip.Addr
				if host == Observer {
					addr = t.ObserverAddr()
				} else {
					addr = t.NodeAddr(host, l)
				}
				if err := t.plug(swh, hh, h, hi, l, addr); err != nil {
					return fmt.Errorf("netns: %s link %d: %w", host, l, err)
				}
			}
			return nil
		}()
		if err != nil {
			return err
		}
		if host != Observer {
			// The service binds the floating IP before it arrives (as a SIP
			// server with ip_nonlocal_bind does).
			if err := t.Do(host, func() error {
				return os.WriteFile("/proc/sys/net/ipv4/ip_nonlocal_bind", []byte("1\n"), 0o644)
			}); err != nil {
				return fmt.Errorf("netns: %s ip_nonlocal_bind: %w", host, err)
			}
		}
	}
	return nil
}

func loUp(h *netlink.Handle) error {
	lo, err := h.LinkByName("lo")
	if err != nil {
		return fmt.Errorf("netns: lo: %w", err)
	}
	return h.LinkSetUp(lo)
}

// swName is the switch-side end of host index hi's link l.
func swName(hi, l int) string { return fmt.Sprintf("v%dl%d", hi, l) }

func (t *Topology) plug(swh, hh *netlink.Handle, h vnetns.NsHandle, hi, l int, addr netip.Addr) error {
	ifname := fmt.Sprintf("eth%d", l)
	veth := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: swName(hi, l)}, PeerName: "tmp" + swName(hi, l), PeerNamespace: netlink.NsFd(h)}
	if err := swh.LinkAdd(veth); err != nil {
		return fmt.Errorf("veth: %w", err)
	}
	br, err := swh.LinkByName(fmt.Sprintf("br%d", l))
	if err != nil {
		return err
	}
	sw, err := swh.LinkByName(swName(hi, l))
	if err != nil {
		return err
	}
	if err := swh.LinkSetMaster(sw, br); err != nil {
		return fmt.Errorf("attach to bridge: %w", err)
	}
	if err := swh.LinkSetUp(sw); err != nil {
		return err
	}
	peer, err := hh.LinkByName("tmp" + swName(hi, l))
	if err != nil {
		return err
	}
	if err := hh.LinkSetName(peer, ifname); err != nil {
		return fmt.Errorf("rename to %s: %w", ifname, err)
	}
	pf := netip.PrefixFrom(addr, 24)
	if err := hh.AddrAdd(peer, &netlink.Addr{IPNet: ipnet(pf)}); err != nil {
		return fmt.Errorf("address %s: %w", pf, err)
	}
	return hh.LinkSetUp(peer)
}

func ipnet(p netip.Prefix) *net.IPNet {
	return &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
}

func (t *Topology) host(name string) (vnetns.NsHandle, error) {
	h, ok := t.hosts[name]
	if !ok {
		return 0, fmt.Errorf("netns: no host %q", name)
	}
	return h, nil
}

// Do runs fn on a thread inside host's namespace. Sockets fn opens stay in
// that namespace when used from other goroutines afterwards.
func (t *Topology) Do(host string, fn func() error) error {
	h, err := t.host(host)
	if err != nil {
		return err
	}
	return inNS(h, fn)
}

// Start starts cmd inside host's namespace (a forked child inherits the
// namespace of the thread that forks it) and tracks it for Close.
func (t *Topology) Start(host string, cmd *exec.Cmd) error {
	if err := t.Do(host, cmd.Start); err != nil {
		return fmt.Errorf("netns: start %s in %s: %w", cmd.Path, host, err)
	}
	t.mu.Lock()
	t.procs = append(t.procs, cmd)
	t.mu.Unlock()
	return nil
}

// SetLink cuts (up=false) or restores host's link l at the switch.
func (t *Topology) SetLink(host string, l int, up bool) error {
	hi := t.index(host)
	if hi < 0 {
		return fmt.Errorf("netns: no host %q", host)
	}
	swh, err := netlink.NewHandleAt(t.sw)
	if err != nil {
		return err
	}
	defer swh.Close()
	link, err := swh.LinkByName(swName(hi, l))
	if err != nil {
		return fmt.Errorf("netns: %s link %d: %w", host, l, err)
	}
	if up {
		return swh.LinkSetUp(link)
	}
	return swh.LinkSetDown(link)
}

func (t *Topology) index(host string) int {
	if host == Observer {
		return len(t.spec.Nodes)
	}
	for i, n := range t.spec.Nodes {
		if n == host {
			return i
		}
	}
	return -1
}

// CutTable is the nftables table (family bridge) in the switch namespace
// that holds Block's cuts.
const CutTable = "netns_cut"

// Block cuts (or restores) all traffic between hosts a and b (nodes,
// witnesses or the observer) on every link they share, while both still
// reach everyone else. The cut is made where a real one would be, at the
// switch: a base chain of its own per pair, cut_A_B (names sorted), on the
// bridge forward hook of the table `bridge netns_cut` in the switch
// namespace, whose rules, per link and per direction, drop
//
//   - frames from the sender's MAC to the receiver's MAC (the MAC pair), and
//   - the copies of the sender's broadcast and multicast frames (ARP
//     requests, gratuitous ARP) that the bridge floods out of the
//     receiver's port,
//
// so nothing either host sends arrives at the other, and no frame between
// any other two hosts matches. The hosts' own namespaces are not touched:
// their routes and neighbour tables stay as they were, and the loss is
// silent, as on a real network. Unblocking deletes the pair's chain and with
// it exactly those rules; cutting a cut pair again, or restoring one that is
// not cut, changes nothing. Close removes the switch namespace and
// everything in it.
func (t *Topology) Block(a, b string, blocked bool) error {
	if a == b {
		return fmt.Errorf("netns: block %s from itself", a)
	}
	if b < a {
		a, b = b, a
	}
	policy := nftables.ChainPolicyAccept
	chain := &nftables.Chain{Name: "cut_" + a + "_" + b, Table: &nftables.Table{Name: CutTable, Family: nftables.TableFamilyBridge},
		Type: nftables.ChainTypeFilter, Hooknum: nftables.ChainHookForward, Priority: nftables.ChainPriorityFilter, Policy: &policy}
	c, err := nftables.New(nftables.WithNetNSFd(int(t.sw)))
	if err != nil {
		return fmt.Errorf("netns: block %s–%s: %w", a, b, err)
	}
	if !blocked {
		c.DelChain(chain)
		if err := c.Flush(); err != nil && !errors.Is(err, unix.ENOENT) {
			return fmt.Errorf("netns: unblock %s–%s: %w", a, b, err)
		}
		return nil
	}
	ea, err := t.ends(a)
	if err != nil {
		return err
	}
	eb, err := t.ends(b)
	if err != nil {
		return err
	}
	c.AddTable(chain.Table)
	c.AddChain(chain)
	c.FlushChain(chain) // a second Block replaces the rules, never doubles them
	for l := range min(len(ea), len(eb)) {
		for _, d := range [][2]end{{ea[l], eb[l]}, {eb[l], ea[l]}} {
			for _, r := range cutRules(chain, d[0], d[1]) {
				c.AddRule(r)
			}
		}
	}
	if err := c.Flush(); err != nil {
		return fmt.Errorf("netns: block %s–%s: %w", a, b, err)
	}
	return nil
}

// end is one of a host's links as the switch sees it: the host's MAC on it
// and the switch-side port it is plugged into.
type end struct {
	mac  net.HardwareAddr
	port string
}

// ends lists host's links, link 0 first.
func (t *Topology) ends(host string) ([]end, error) {
	h, err := t.host(host)
	if err != nil {
		return nil, err
	}
	hi := t.index(host)
	links := t.spec.Links
	if host == Observer {
		links = 1
	}
	hh, err := netlink.NewHandleAt(h)
	if err != nil {
		return nil, err
	}
	defer hh.Close()
	var out []end
	for l := range links {
		ln, err := hh.LinkByName(fmt.Sprintf("eth%d", l))
		if err != nil {
			return nil, fmt.Errorf("netns: %s eth%d: %w", host, l, err)
		}
		if len(ln.Attrs().HardwareAddr) != 6 {
			return nil, fmt.Errorf("netns: %s eth%d: MAC %v", host, l, ln.Attrs().HardwareAddr)
		}
		out = append(out, end{mac: ln.Attrs().HardwareAddr, port: swName(hi, l)})
	}
	return out, nil
}

// cutRules drops what from sends to to on one bridge: unicast frames from
// from's MAC to to's MAC, and flooded broadcast and multicast frames from
// from's MAC on their way out of to's port.
func cutRules(c *nftables.Chain, from, to end) []*nftables.Rule {
	const reg = 1
	ll := expr.PayloadBaseLLHeader
	load := func(off, n uint32) *expr.Payload {
		return &expr.Payload{OperationType: expr.PayloadLoad, DestRegister: reg, Base: ll, Offset: off, Len: n}
	}
	eq := func(b []byte) *expr.Cmp { return &expr.Cmp{Op: expr.CmpOpEq, Register: reg, Data: b} }
	rule := func(match ...expr.Any) *nftables.Rule {
		return &nftables.Rule{Table: c.Table, Chain: c, Exprs: append(match, &expr.Counter{}, &expr.Verdict{Kind: expr.VerdictDrop})}
	}
	port := make([]byte, unix.IFNAMSIZ)
	copy(port, to.port)
	return []*nftables.Rule{
		// ether daddr TO ether saddr FROM: the 12 bytes are daddr then saddr.
		rule(load(0, 12), eq(append(slices.Clone(to.mac), from.mac...))),
		// ether saddr FROM, group bit of ether daddr set, oifname TO's port.
		rule(load(6, 6), eq(slices.Clone(from.mac)),
			load(0, 1),
			&expr.Bitwise{SourceRegister: reg, DestRegister: reg, Len: 1, Mask: []byte{1}, Xor: []byte{0}},
			&expr.Cmp{Op: expr.CmpOpNeq, Register: reg, Data: []byte{0}},
			&expr.Meta{Key: expr.MetaKeyOIFNAME, Register: reg}, eq(port)),
	}
}

// Addrs lists host's addresses on its eth links.
func (t *Topology) Addrs(host string) ([]netip.Prefix, error) {
	h, err := t.host(host)
	if err != nil {
		return nil, err
	}
	hh, err := netlink.NewHandleAt(h)
	if err != nil {
		return nil, err
	}
	defer hh.Close()
	links, err := hh.LinkList()
	if err != nil {
		return nil, err
	}
	var out []netip.Prefix
	for _, l := range links {
		if !strings.HasPrefix(l.Attrs().Name, "eth") {
			continue
		}
		as, err := hh.AddrList(l, netlink.FAMILY_ALL)
		if err != nil {
			return nil, err
		}
		for _, a := range as {
			ip, ok := netip.AddrFromSlice(a.IP)
			if !ok {
				continue
			}
			ones, _ := a.Mask.Size()
			out = append(out, netip.PrefixFrom(ip.Unmap(), ones))
		}
	}
	return out, nil
}

// AddAddr adds p to host's eth0 by hand (the negative control of the tests).
func (t *Topology) AddAddr(host string, p netip.Prefix) error {
	return t.eth0(host, func(hh *netlink.Handle, l netlink.Link) error {
		return hh.AddrAdd(l, &netlink.Addr{IPNet: ipnet(p)})
	})
}

// FlushAddr removes a from host's eth0 (what a reboot does to a floating IP).
func (t *Topology) FlushAddr(host string, a netip.Addr) error {
	return t.eth0(host, func(hh *netlink.Handle, l netlink.Link) error {
		as, err := hh.AddrList(l, netlink.FAMILY_ALL)
		if err != nil {
			return err
		}
		for _, ad := range as {
			if ip, ok := netip.AddrFromSlice(ad.IP); ok && ip.Unmap() == a {
				return hh.AddrDel(l, &ad)
			}
		}
		return nil
	})
}

func (t *Topology) eth0(host string, fn func(*netlink.Handle, netlink.Link) error) error {
	h, err := t.host(host)
	if err != nil {
		return err
	}
	hh, err := netlink.NewHandleAt(h)
	if err != nil {
		return err
	}
	defer hh.Close()
	l, err := hh.LinkByName("eth0")
	if err != nil {
		return fmt.Errorf("netns: %s eth0: %w", host, err)
	}
	return fn(hh, l)
}

// Close kills what Start started and removes every namespace. Idempotent.
func (t *Topology) Close() error {
	t.mu.Lock()
	procs := t.procs
	t.procs = nil
	t.mu.Unlock()
	for _, c := range procs {
		if c.Process != nil {
			_ = c.Process.Kill()
		}
	}
	for _, h := range t.hosts {
		h.Close()
	}
	t.hosts = map[string]vnetns.NsHandle{}
	if t.sw.IsOpen() {
		t.sw.Close()
	}
	return Cleanup(t.spec.Prefix)
}

// Cleanup removes every namespace named PREFIX-*, first killing any process
// still inside one (an agent left by a crashed run).
func Cleanup(prefix string) error {
	ents, err := os.ReadDir(runDir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("netns: cleanup: %w", err)
	}
	var errs []error
	for _, e := range ents {
		if !strings.HasPrefix(e.Name(), prefix+"-") {
			continue
		}
		path := filepath.Join(runDir, e.Name())
		killInside(path)
		if err := vnetns.DeleteNamed(e.Name()); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, fmt.Errorf("netns: remove %s: %w", e.Name(), err))
		}
	}
	return errors.Join(errs...)
}

// killInside SIGKILLs every process whose network namespace is the one
// bound at path.
func killInside(path string) {
	var st syscall.Stat_t
	if err := syscall.Stat(path, &st); err != nil {
		return
	}
	procs, err := os.ReadDir("/proc")
	if err != nil {
		return
	}
	for _, p := range procs {
		pid, err := strconv.Atoi(p.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		var ps syscall.Stat_t
		if syscall.Stat(filepath.Join("/proc", p.Name(), "ns/net"), &ps) == nil && ps.Ino == st.Ino && ps.Dev == st.Dev {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}
