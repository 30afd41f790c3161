// Package ip manages a floating IP address: added and removed over netlink
// (never by running `ip`), announced with gratuitous ARP (IPv4) or
// unsolicited neighbour advertisements with the override flag (IPv6,
// RFC 4861 §7.2.6) so switches and peers learn the new MAC at once.
//
// The agent works in the network namespace of the process (New), or in a
// given namespace from any goroutine (NewAt, for tests and in-process labs).
package ip

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"runtime"
	"strconv"
	"sync"
	"time"

	"github.com/mdlayher/arp"
	"github.com/mdlayher/ethernet"
	"github.com/mdlayher/ndp"
	"github.com/mdlayher/packet"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"tandem/internal/config"
	"tandem/internal/resource"
)

// Agent manages one floating address. Start, Stop, Monitor and Announce
// may be called from any goroutine; the executor serialises them per resource.
type Agent struct {
	name string
	p    config.IPParams
	log  *slog.Logger
	nl   *netlink.Handle // netlink in the agent's namespace
	ns   netns.NsHandle  // namespace for raw sockets; closed handle = the caller's own

	mu         sync.Mutex
	stopBurst  context.CancelFunc // ends the background announcements of the last start
	burstsDone sync.WaitGroup
}

// New returns the agent for resource name, working in the namespace of the
// calling process (the agent daemon's case).
func New(name string, p config.IPParams, log *slog.Logger) (*Agent, error) {
	if err := check(name, p); err != nil {
		return nil, err
	}
	// The zero Handle uses a fresh netlink socket per call in the calling
	// thread's namespace, which for a daemon is the process's namespace.
	return &Agent{name: name, p: p, log: log.With("resource", name), nl: &netlink.Handle{}, ns: netns.None()}, nil
}

// NewAt returns an agent whose netlink and raw sockets live in namespace ns,
// usable from any goroutine. Close releases its netlink handle; ns stays the caller's.
func NewAt(name string, p config.IPParams, log *slog.Logger, ns netns.NsHandle) (*Agent, error) {
	if err := check(name, p); err != nil {
		return nil, err
	}
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		return nil, fmt.Errorf("ip %s: netlink in namespace: %w", name, err)
	}
	return &Agent{name: name, p: p, log: log.With("resource", name), nl: h, ns: ns}, nil
}

func check(name string, p config.IPParams) error {
	if !p.Address.IsValid() || p.Interface == "" {
		return fmt.Errorf("ip %s: address and interface are required", name)
	}
	return nil
}

// Close stops background announcements and releases the netlink handle of NewAt.
func (a *Agent) Close() {
	a.endBurst()
	if a.ns.IsOpen() {
		a.nl.Close()
	}
}

func (a *Agent) link() (netlink.Link, error) {
	l, err := a.nl.LinkByName(a.p.Interface)
	if err != nil {
		return nil, fmt.Errorf("interface %s: %w", a.p.Interface, err)
	}
	return l, nil
}

func (a *Agent) addr() *netlink.Addr {
	pf := a.p.Address
	ad := &netlink.Addr{IPNet: &net.IPNet{IP: pf.Addr().AsSlice(), Mask: net.CIDRMask(pf.Bits(), pf.Addr().BitLen())}}
	if secs := int((a.p.Lifetime + time.Second - 1) / time.Second); secs > 0 {
		// Majority mode's backstop: the address lapses by itself unless the
		// agent renews it while its lease gate holds.
		ad.ValidLft, ad.PreferedLft = secs, secs
	}
	if pf.Addr().Is4() {
		ad.Label = a.p.Label
	} else {
		// Usable at once: duplicate address detection would hold it
		// "tentative" for a second or more after a takeover.
		ad.Flags = unix.IFA_F_NODAD
	}
	return ad
}

func (a *Agent) family() int {
	if a.p.Address.Addr().Is4() {
		return netlink.FAMILY_V4
	}
	return netlink.FAMILY_V6
}

// find returns the address as it is on the interface, or nil.
func (a *Agent) find(l netlink.Link) (*netlink.Addr, error) {
	addrs, err := a.nl.AddrList(l, a.family())
	if err != nil {
		return nil, fmt.Errorf("list addresses on %s: %w", a.p.Interface, err)
	}
	for i := range addrs {
		if ip, ok := netip.AddrFromSlice(addrs[i].IP); ok && ip.Unmap() == a.p.Address.Addr() {
			return &addrs[i], nil
		}
	}
	return nil, nil
}

// Start implements resource.Agent: add the address, then announce it. The
// first announcement goes out before Start returns; the other arp_count-1
// follow in the background (IPaddr2's arp_bg), so the group's next member
// need not wait arp_count × arp_interval. Stop and Close end them.
func (a *Agent) Start(ctx context.Context) error {
	l, err := a.link()
	if err != nil {
		return fmt.Errorf("start %s: %w", a.name, err)
	}
	if l.Attrs().Flags&net.FlagUp == 0 {
		return fmt.Errorf("start %s: interface %s is down", a.name, a.p.Interface)
	}
	have, err := a.find(l)
	if err != nil {
		return fmt.Errorf("start %s: %w", a.name, err)
	}
	if have == nil {
		if err := a.nl.AddrAdd(l, a.addr()); err != nil && !errors.Is(err, unix.EEXIST) {
			return fmt.Errorf("start %s: add %s to %s: %w", a.name, a.p.Address, a.p.Interface, err)
		}
		a.log.Info("address added", "address", a.p.Address, "interface", a.p.Interface, "label", a.p.Label)
	}
	if a.p.ARPCount <= 0 {
		return nil
	}
	send, closeFn, err := a.openSender(l)
	if err != nil {
		return fmt.Errorf("start %s: %w", a.name, err)
	}
	more := a.p.ARPCount - 1
	if err := send(); err != nil {
		// The address is up and answers ARP once the gate lets it (a lease
		// gate granted a moment late drops this one, with ENOBUFS): an
		// announcement is best effort, never a reason to ban the node.
		a.log.Warn("first announcement failed; the address is up, announcing again in the background", "interface", a.p.Interface, "err", err)
		more++
	}
	// The burst outlives ctx (an operation's timeout), not the address: Stop ends it.
	bctx, cancel := context.WithCancel(context.Background())
	a.endBurst()
	a.mu.Lock()
	a.stopBurst = cancel
	a.burstsDone.Add(1)
	a.mu.Unlock()
	go func() {
		defer a.burstsDone.Done()
		defer closeFn()
		if err := a.repeat(bctx, send, more); err != nil && bctx.Err() == nil {
			a.log.Warn("announce", "interface", a.p.Interface, "err", err)
		}
	}()
	return nil
}

// endBurst cancels the background announcements and waits for them to end,
// so an address we no longer hold is never announced.
func (a *Agent) endBurst() {
	a.mu.Lock()
	if a.stopBurst != nil {
		a.stopBurst()
		a.stopBurst = nil
	}
	a.mu.Unlock()
	a.burstsDone.Wait()
}

// repeat sends n more announcements, arp_interval apart. One that fails
// does not stop the rest; it returns the first error.
func (a *Agent) repeat(ctx context.Context, send func() error, n int) error {
	t := time.NewTimer(a.p.ARPInterval)
	defer t.Stop()
	var first error
	for i := range n {
		if i > 0 {
			t.Reset(a.p.ARPInterval)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
		if err := send(); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// Stop implements resource.Agent: the address goes, whatever label it was
// added with; an absent address or interface is already stopped.
func (a *Agent) Stop(ctx context.Context) error {
	a.endBurst()
	l, err := a.link()
	if err != nil {
		var nf netlink.LinkNotFoundError
		if errors.As(err, &nf) {
			return nil // no interface, no address
		}
		return fmt.Errorf("stop %s: %w", a.name, err)
	}
	have, err := a.find(l)
	if err != nil {
		return fmt.Errorf("stop %s: %w", a.name, err)
	}
	if have == nil {
		return nil
	}
	err = a.nl.AddrDel(l, have)
	if err != nil && !errors.Is(err, unix.EADDRNOTAVAIL) && !errors.Is(err, unix.ESRCH) && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("stop %s: remove %s from %s: %w", a.name, a.p.Address, a.p.Interface, err)
	}
	a.log.Info("address removed", "address", a.p.Address, "interface", a.p.Interface)
	return nil
}

// Monitor implements resource.Agent: Running if the address is on an up
// interface, Stopped if it is not there, Failed if the interface is gone or
// down with the address on it (it answers nobody).
func (a *Agent) Monitor(ctx context.Context) (resource.State, error) {
	l, err := a.link()
	if err != nil {
		return resource.Failed, fmt.Errorf("monitor %s: %w", a.name, err)
	}
	have, err := a.find(l)
	if err != nil {
		return resource.Failed, fmt.Errorf("monitor %s: %w", a.name, err)
	}
	switch {
	case have == nil:
		return resource.Stopped, nil
	case l.Attrs().Flags&net.FlagUp == 0:
		return resource.Failed, fmt.Errorf("monitor %s: interface %s is down", a.name, a.p.Interface)
	case have.Flags&unix.IFA_F_DADFAILED != 0:
		return resource.Failed, fmt.Errorf("monitor %s: %s on %s failed duplicate address detection", a.name, a.p.Address, a.p.Interface)
	}
	return resource.Running, nil
}

// Announce implements resource.Announcer: arp_count announcements,
// arp_interval apart, the first at once; it returns early when ctx ends.
func (a *Agent) Announce(ctx context.Context) error {
	if a.p.ARPCount <= 0 {
		return nil
	}
	l, err := a.link()
	if err != nil {
		return fmt.Errorf("announce %s: %w", a.name, err)
	}
	send, closeFn, err := a.openSender(l)
	if err != nil {
		return fmt.Errorf("announce %s: %w", a.name, err)
	}
	defer closeFn()
	if err := send(); err != nil {
		return fmt.Errorf("announce %s: %w", a.name, err)
	}
	if err := a.repeat(ctx, send, a.p.ARPCount-1); err != nil {
		return fmt.Errorf("announce %s: %w", a.name, err)
	}
	return nil
}

// openSender opens a socket once per burst (in the agent's namespace) and
// returns a function sending one announcement, and one closing the socket.
func (a *Agent) openSender(l netlink.Link) (send func() error, closeFn func(), err error) {
	at := l.Attrs()
	ifi := &net.Interface{Index: at.Index, MTU: at.MTU, Name: at.Name, HardwareAddr: at.HardwareAddr, Flags: at.Flags}
	if len(ifi.HardwareAddr) != 6 {
		return nil, nil, fmt.Errorf("interface %s has no Ethernet address to announce", ifi.Name)
	}
	err = a.inNS(func() error {
		if a.p.Address.Addr().Is4() {
			send, closeFn, err = garpSender(ifi, a.p.Address.Addr())
		} else {
			send, closeFn, err = naSender(ifi, a.p.Address.Addr())
		}
		return err
	})
	return send, closeFn, err
}

// inNS runs fn with the calling thread in the agent's namespace, so sockets
// fn creates belong there. Without a namespace (New) it just runs fn.
func (a *Agent) inNS(fn func() error) error {
	if !a.ns.IsOpen() {
		return fn()
	}
	runtime.LockOSThread()
	orig, err := netns.Get()
	if err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("current namespace: %w", err)
	}
	defer orig.Close()
	if err := netns.Set(a.ns); err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("enter namespace: %w", err)
	}
	ferr := fn()
	if err := netns.Set(orig); err != nil {
		// Leave the thread locked: the runtime discards it when this goroutine ends.
		return errors.Join(ferr, fmt.Errorf("restore namespace: %w", err))
	}
	runtime.UnlockOSThread()
	return ferr
}

// garpSender sends a gratuitous ARP request per announcement: sender and
// target protocol address both the VIP, to broadcast (RFC 5227 §3, as
// `arping -U` and keepalived send). No gratuitous reply: tandem's own ARP
// watcher (internal/probe) counts every reply from the VIP as an answer.
func garpSender(ifi *net.Interface, vip netip.Addr) (func() error, func(), error) {
	p, err := arp.NewPacket(arp.OperationRequest, ifi.HardwareAddr, vip, net.HardwareAddr{0, 0, 0, 0, 0, 0}, vip)
	if err != nil {
		return nil, nil, fmt.Errorf("gratuitous ARP: %w", err)
	}
	pb, err := p.MarshalBinary()
	if err != nil {
		return nil, nil, fmt.Errorf("gratuitous ARP: %w", err)
	}
	f := &ethernet.Frame{Destination: ethernet.Broadcast, Source: ifi.HardwareAddr, EtherType: ethernet.EtherTypeARP, Payload: pb}
	fb, err := f.MarshalBinary()
	if err != nil {
		return nil, nil, fmt.Errorf("gratuitous ARP: %w", err)
	}
	// Protocol 0: a send-only socket, no ARP traffic queued to us.
	c, err := packet.Listen(ifi, packet.Raw, 0, nil)
	if err != nil {
		return nil, nil, fmt.Errorf("packet socket on %s: %w", ifi.Name, err)
	}
	dst := &packet.Addr{HardwareAddr: ethernet.Broadcast}
	send := func() error {
		if _, err := c.WriteTo(fb, dst); err != nil {
			return fmt.Errorf("gratuitous ARP on %s: %w", ifi.Name, err)
		}
		return nil
	}
	return send, func() { c.Close() }, nil
}

// naSender sends unsolicited neighbour advertisements with the override flag
// to all nodes, from the link-local address, or from the VIP itself while the
// link-local address is still tentative (the VIP is NODAD, so usable at once).
func naSender(ifi *net.Interface, vip netip.Addr) (func() error, func(), error) {
	// ndp names the zone of every destination after ifi.Name, and Go resolves
	// a zone name in the namespace of the sending thread, which for NewAt is
	// not the socket's. A numeric zone is taken as the index as it is.
	named := ifi.Name
	ifi = &net.Interface{Index: ifi.Index, MTU: ifi.MTU, Name: strconv.Itoa(ifi.Index), HardwareAddr: ifi.HardwareAddr, Flags: ifi.Flags}
	c, _, err := ndp.Listen(ifi, ndp.LinkLocal)
	if err != nil {
		var err2 error
		if c, _, err2 = ndp.Listen(ifi, ndp.Addr(vip.String())); err2 != nil {
			return nil, nil, fmt.Errorf("ndp socket on %s: %w", named, errors.Join(err, err2))
		}
	}
	na := &ndp.NeighborAdvertisement{
		Override:      true,
		TargetAddress: vip,
		Options:       []ndp.Option{&ndp.LinkLayerAddress{Direction: ndp.Target, Addr: ifi.HardwareAddr}},
	}
	send := func() error {
		if err := c.WriteTo(na, nil, netip.IPv6LinkLocalAllNodes()); err != nil {
			return fmt.Errorf("neighbour advertisement on %s: %w", named, err)
		}
		return nil
	}
	return send, func() { c.Close() }, nil
}
