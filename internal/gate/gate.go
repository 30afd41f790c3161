// Package gate is the floating IP's kernel-enforced lease: an nftables gate
// per floating address that lets the address speak only while a set element
// with a timeout exists (docs/gate.md; DESIGN.md "Mechanism").
//
// Install creates, in the table `netdev tandem`, a set `lease_ADDR` (the
// address, `flags timeout`) and two base chains bound to the interface:
// `in_ADDR` on the netdev ingress hook and `out_ADDR` on the netdev egress
// hook (kernel ≥ 5.16; there is no fallback: Install fails on older kernels,
// and Debian 12's 6.1 has it). Unless the address is in the set, they drop:
//
//   - ingress: IPv4/IPv6 packets whose destination is the address;
//   - egress: IPv4/IPv6 packets whose source is the address, ARP packets
//     (requests and replies, gratuitous ones too) whose sender protocol
//     address is the address, and ICMPv6 neighbour advertisements whose
//     target is the address (whatever their source, usually link-local).
//
// The lease is the set element. Grant adds it fresh with a timeout (and
// re-installs the rules in the same transaction); Renew is one nftables
// transaction "delete element; add element timeout d", which the
// kernel aborts as a whole when the element is gone (expired or revoked): a
// paused agent that wakes up late can never resurrect a lapsed lease, only a
// new Grant can. Revoke deletes it, Valid reads its remaining time, Remove
// deletes this address's set and chains (and the table once it is empty).
// Timeouts are whole milliseconds, truncated (never longer than asked), and
// enforced per packet by the kernel at jiffy resolution (4 ms at HZ=250).
//
// Implementation: github.com/google/nftables, not generated `nft -f` batches:
// tandem stays one static binary with no nft(8) on the host, and a renewal is
// one netlink batch from the agent's own socket (no fork/exec on the lease
// path). A batch is one nf_tables transaction either way.
//
// Not enforced: traffic for the address on other interfaces (the gate is per
// interface), VLAN-tagged frames whose tag the NIC did not strip, and anything
// after Remove. The address's own lifetime is the backstop (RenewLifetime).
package gate

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"github.com/google/nftables/userdata"
	"github.com/mdlayher/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// Table is the nftables table (family netdev) that holds every gate.
const Table = "tandem"

// DefaultOpTimeout bounds one netlink exchange when ctx has no deadline.
const DefaultOpTimeout = 2 * time.Second

// HoldTimeout is the longest lease a gate is given: a gate held open for
// maintenance, outside any lease. nftables takes element timeouts up to
// 2^64 ns (~213 days), so a hold cannot be forever; an agent left stopped in
// maintenance for longer than this loses its addresses.
const HoldTimeout = 180 * 24 * time.Hour

// ErrExpired is returned by Renew when the lease element is absent: it
// expired or was revoked, and only a fresh Grant may bring it back.
var ErrExpired = errors.New("lease element absent (expired or revoked)")

// Gate is the gate of one floating address on one interface. Its methods may
// be called from any goroutine; each is one netlink exchange, so callers that
// need an order between them (the lease loop) must keep it themselves.
type Gate struct {
	iface string
	addr  netip.Addr
	nsFD  int // 0: the calling thread's namespace

	table     *nftables.Table
	set       *nftables.Set
	in, out   *nftables.Chain
	keyType   nftables.SetDatatype
	addrBytes []byte
}

// New returns the gate of addr on iface in the namespace of the calling
// process (the agent daemon's case). Nothing changes before Install.
func New(iface string, addr netip.Addr) (*Gate, error) {
	return newGate(0, iface, addr)
}

// NewAt is New in network namespace ns, usable from any goroutine (tests,
// labs). ns stays the caller's and must outlive the gate's use.
func NewAt(ns netns.NsHandle, iface string, addr netip.Addr) (*Gate, error) {
	if !ns.IsOpen() {
		return nil, errors.New("gate: namespace handle is not open")
	}
	return newGate(int(ns), iface, addr)
}

func newGate(fd int, iface string, addr netip.Addr) (*Gate, error) {
	addr = addr.Unmap()
	switch {
	case !addr.IsValid():
		return nil, errors.New("gate: no address")
	case addr.Zone() != "":
		return nil, fmt.Errorf("gate: address %s has a zone", addr)
	case iface == "" || len(iface) >= unix.IFNAMSIZ:
		return nil, fmt.Errorf("gate: interface name %q: must be 1..%d bytes", iface, unix.IFNAMSIZ-1)
	}
	id := strings.NewReplacer(".", "_", ":", "_").Replace(addr.String())
	g := &Gate{iface: iface, addr: addr, nsFD: fd, addrBytes: addr.AsSlice()}
	g.table = &nftables.Table{Name: Table, Family: nftables.TableFamilyNetdev}
	g.keyType = nftables.TypeIPAddr
	if addr.Is6() {
		g.keyType = nftables.TypeIP6Addr
	}
	g.set = &nftables.Set{
		Table: g.table, Name: "lease_" + id,
		// An explicit ID keeps the library's global ID counter (unguarded
		// across connections) out of it; it only names the set in a batch.
		ID:         1,
		KeyType:    g.keyType,
		HasTimeout: true,
		// Every element gets its own timeout; this default only makes sure
		// an element added by hand without one still lapses.
		Timeout:      time.Second,
		KeyByteOrder: binaryutil.BigEndian,
	}
	policy := nftables.ChainPolicyAccept
	g.in = &nftables.Chain{Name: "in_" + id, Table: g.table, Type: nftables.ChainTypeFilter,
		Hooknum: nftables.ChainHookIngress, Priority: nftables.ChainPriorityFilter, Device: iface, Policy: &policy}
	g.out = &nftables.Chain{Name: "out_" + id, Table: g.table, Type: nftables.ChainTypeFilter,
		Hooknum: nftables.ChainHookEgress, Priority: nftables.ChainPriorityFilter, Device: iface, Policy: &policy}
	return g, nil
}

// Addr is the gated address.
func (g *Gate) Addr() netip.Addr { return g.addr }

// Interface is the interface the gate's chains are bound to.
func (g *Gate) Interface() string { return g.iface }

// conn returns a connection whose socket (a new one per exchange) gives up
// at ctx's deadline, or after DefaultOpTimeout without one.
func (g *Gate) conn(ctx context.Context) (*nftables.Conn, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	dl, ok := ctx.Deadline()
	if !ok {
		dl = time.Now().Add(DefaultOpTimeout)
	}
	return nftables.New(
		nftables.WithNetNSFd(g.nsFD),
		nftables.WithSockOptions(func(c *netlink.Conn) error { return c.SetDeadline(dl) }),
	)
}

func (g *Gate) elem(d time.Duration) []nftables.SetElement {
	return []nftables.SetElement{{Key: g.addrBytes, Timeout: d}}
}

// leaseTimeout checks d: a zero timeout would make the element permanent.
func leaseTimeout(d time.Duration) (time.Duration, error) {
	ms := d.Truncate(time.Millisecond)
	if ms < time.Millisecond {
		return 0, fmt.Errorf("lease %v: at least 1ms", d)
	}
	return ms, nil
}

func comment(s string) []byte { return userdata.AppendString(nil, userdata.TypeComment, s) }

// rules returns the gate's drop rules: each loads the address from the
// packet into register 1, compares it with the gated address, and drops
// unless register 1 is in the lease set.
func (g *Gate) rules() []*nftables.Rule {
	const reg = 1
	proto := func(p uint16) []expr.Any {
		return []expr.Any{
			&expr.Meta{Key: expr.MetaKeyPROTOCOL, Register: reg},
			&expr.Cmp{Op: expr.CmpOpEq, Register: reg, Data: binaryutil.BigEndian.PutUint16(p)},
		}
	}
	load := func(base expr.PayloadBase, off, n uint32) *expr.Payload {
		return &expr.Payload{OperationType: expr.PayloadLoad, DestRegister: reg, Base: base, Offset: off, Len: n}
	}
	eq := func(b []byte) *expr.Cmp { return &expr.Cmp{Op: expr.CmpOpEq, Register: reg, Data: b} }
	// The tail of every rule: register 1 holds the gated address.
	unlessLeased := []expr.Any{
		&expr.Lookup{SourceRegister: reg, SetName: g.set.Name, SetID: g.set.ID, Invert: true},
		&expr.Counter{},
		&expr.Verdict{Kind: expr.VerdictDrop},
	}
	rule := func(c *nftables.Chain, why string, match ...expr.Any) *nftables.Rule {
		return &nftables.Rule{Table: g.table, Chain: c, Exprs: append(match, unlessLeased...), UserData: comment("tandem gate: " + why)}
	}
	nh := expr.PayloadBaseNetworkHeader
	a := g.addrBytes
	if g.addr.Is4() {
		return []*nftables.Rule{
			rule(g.in, "traffic to the address",
				append(proto(unix.ETH_P_IP), load(nh, 16, 4), eq(a))...),
			rule(g.out, "traffic from the address",
				append(proto(unix.ETH_P_IP), load(nh, 12, 4), eq(a))...),
			// ARP for IPv4 over Ethernet (ptype 0x0800, hlen 6, plen 4),
			// any operation, sender protocol address = the address.
			rule(g.out, "ARP claiming the address",
				append(proto(unix.ETH_P_ARP), load(nh, 2, 4), eq([]byte{0x08, 0x00, 6, 4}), load(nh, 14, 4), eq(a))...),
		}
	}
	th := expr.PayloadBaseTransportHeader
	return []*nftables.Rule{
		rule(g.in, "traffic to the address",
			append(proto(unix.ETH_P_IPV6), load(nh, 24, 16), eq(a))...),
		rule(g.out, "traffic from the address",
			append(proto(unix.ETH_P_IPV6), load(nh, 8, 16), eq(a))...),
		// Neighbour advertisement (ICMPv6 type 136) with target = the
		// address; l4proto skips extension headers.
		rule(g.out, "neighbour advertisement of the address",
			append(proto(unix.ETH_P_IPV6),
				&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: reg}, eq([]byte{unix.IPPROTO_ICMPV6}),
				load(th, 0, 1), eq([]byte{136}),
				load(th, 8, 16), eq(a))...),
	}
}

// Install creates (or atomically re-creates) the table, the set and the two
// chains with their rules in one transaction. An existing lease element
// survives a re-install. Fails if the interface does not exist. Install at
// agent start (before any address is added) so the address is gated from
// the first packet; Grant installs again anyway.
func (g *Gate) Install(ctx context.Context) error {
	c, err := g.conn(ctx)
	if err != nil {
		return g.errf("install", err)
	}
	if err := g.install(c); err != nil {
		return g.errf("install", err)
	}
	if err := c.Flush(); err != nil {
		return g.errf("install", err)
	}
	return nil
}

// install queues the messages that (re-)create the gate.
func (g *Gate) install(c *nftables.Conn) error {
	c.AddTable(g.table)
	if err := c.AddSet(g.set, nil); err != nil {
		return err
	}
	for _, ch := range []*nftables.Chain{g.in, g.out} {
		c.AddChain(ch)
		c.FlushChain(ch) // a re-install replaces the rules, never doubles them
	}
	for _, r := range g.rules() {
		c.AddRule(r)
	}
	return nil
}

// Grant is a fresh grant: afterwards the gate is installed and its element
// exists with timeout d, whether or not either existed before. It is one
// transaction "install; add; delete; add", so a grant never takes effect
// without the rules (say, after the interface was re-created and the kernel
// dropped the chains bound to it), never fails on an absent element, and does
// not depend on whether the kernel updates the timeout of an existing element
// on add (6.10+ does).
func (g *Gate) Grant(ctx context.Context, d time.Duration) error {
	d, err := leaseTimeout(d)
	if err != nil {
		return g.errf("grant", err)
	}
	c, err := g.conn(ctx)
	if err != nil {
		return g.errf("grant", err)
	}
	if err := errors.Join(
		g.install(c),
		c.SetAddElements(g.set, g.elem(d)),
		c.SetDeleteElements(g.set, g.elem(0)),
		c.SetAddElements(g.set, g.elem(d)),
	); err != nil {
		return g.errf("grant", err)
	}
	if err := c.Flush(); err != nil {
		return g.errf("grant", err)
	}
	return nil
}

// Renew replaces a live element by one with timeout d, in one transaction
// "delete; add". If the element has expired or was revoked, the delete fails,
// the kernel aborts the whole transaction, nothing is added, and Renew
// returns an error wrapping ErrExpired.
func (g *Gate) Renew(ctx context.Context, d time.Duration) error {
	d, err := leaseTimeout(d)
	if err != nil {
		return g.errf("renew", err)
	}
	c, err := g.conn(ctx)
	if err != nil {
		return g.errf("renew", err)
	}
	if err := errors.Join(
		c.SetDeleteElements(g.set, g.elem(0)),
		c.SetAddElements(g.set, g.elem(d)),
	); err != nil {
		return g.errf("renew", err)
	}
	if err := c.Flush(); err != nil {
		if errors.Is(err, unix.ENOENT) {
			return fmt.Errorf("gate %s on %s: renew: %w", g.addr, g.iface, ErrExpired)
		}
		return g.errf("renew", err)
	}
	return nil
}

// Revoke deletes the element at once; an absent element is already revoked.
func (g *Gate) Revoke(ctx context.Context) error {
	c, err := g.conn(ctx)
	if err != nil {
		return g.errf("revoke", err)
	}
	if err := c.SetDeleteElements(g.set, g.elem(0)); err != nil {
		return g.errf("revoke", err)
	}
	if err := c.Flush(); err != nil && !errors.Is(err, unix.ENOENT) {
		return g.errf("revoke", err)
	}
	return nil
}

// Valid reports whether the lease element exists and how long it has left
// (millisecond resolution, as the kernel reports it). An uninstalled gate is
// an error.
func (g *Gate) Valid(ctx context.Context) (bool, time.Duration, error) {
	c, err := g.conn(ctx)
	if err != nil {
		return false, 0, g.errf("read", err)
	}
	els, err := c.GetSetElements(g.set)
	if err != nil {
		return false, 0, g.errf("read", err)
	}
	for _, e := range els {
		if k, ok := netip.AddrFromSlice(e.Key); ok && k.Unmap() == g.addr && e.Expires > 0 {
			return true, e.Expires, nil
		}
	}
	return false, 0, nil
}

// Remove deletes this address's chains (with their rules) and set (with the
// lease); the table stays for RemoveTable. Removing what is not there is not
// an error.
func (g *Gate) Remove(ctx context.Context) error {
	c, err := g.conn(ctx)
	if err != nil {
		return g.errf("remove", err)
	}
	c.DelChain(g.in)
	c.DelChain(g.out)
	c.DelSet(g.set)
	if err := c.Flush(); err != nil {
		if !errors.Is(err, unix.ENOENT) {
			return g.errf("remove", err)
		}
		// Partly gone (or never installed): delete what is left one by one.
		for _, del := range []func(*nftables.Conn){
			func(c *nftables.Conn) { c.DelChain(g.in) },
			func(c *nftables.Conn) { c.DelChain(g.out) },
			func(c *nftables.Conn) { c.DelSet(g.set) },
		} {
			if c, err = g.conn(ctx); err != nil {
				return g.errf("remove", err)
			}
			del(c)
			if err := c.Flush(); err != nil && !errors.Is(err, unix.ENOENT) {
				return g.errf("remove", err)
			}
		}
	}
	return nil
}

// RemoveTable deletes the table once no gate uses it (an empty table is
// harmless, so Remove leaves it). Call it when every gate has been removed
// and none is being installed — at agent exit: deleting a table deletes what
// is in it, and the emptiness check and the delete are two steps.
func RemoveTable(ctx context.Context) error { return removeTable(ctx, 0) }

// RemoveTableAt is RemoveTable in another network namespace.
func RemoveTableAt(ctx context.Context, ns netns.NsHandle) error { return removeTable(ctx, int(ns)) }

func removeTable(ctx context.Context, fd int) error {
	g := &Gate{nsFD: fd, table: &nftables.Table{Name: Table, Family: nftables.TableFamilyNetdev}}
	c, err := g.conn(ctx)
	if err != nil {
		return fmt.Errorf("gate: remove table: %w", err)
	}
	tb, err := c.ListTableOfFamily(Table, nftables.TableFamilyNetdev)
	if errors.Is(err, unix.ENOENT) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("gate: remove table: read: %w", err)
	}
	if tb.Use > 0 {
		return nil
	}
	c.DelTable(g.table)
	if err := c.Flush(); err != nil && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("gate: remove table: %w", err)
	}
	return nil
}

func (g *Gate) errf(op string, err error) error {
	return fmt.Errorf("gate %s on %s: %s: %w", g.addr, g.iface, op, err)
}
