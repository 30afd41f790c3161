package netns

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/nftables"
)

const echoPort = 7000

// echoes is a UDP echo server on every host of a topology: each answers
// "HOST|PAYLOAD" and remembers every payload it received.
type echoes struct {
	mu   sync.Mutex
	seen map[string]map[string]bool // host → payloads received
}

func serveEchoes(t *testing.T, topo *Topology, hosts []string) *echoes {
	t.Helper()
	e := &echoes{seen: map[string]map[string]bool{}}
	for _, h := range hosts {
		e.seen[h] = map[string]bool{}
		var c *net.UDPConn
		if err := topo.Do(h, func() (err error) {
			c, err = net.ListenUDP("udp4", &net.UDPAddr{Port: echoPort})
			return err
		}); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		go func() {
			buf := make([]byte, 512)
			for {
				n, from, err := c.ReadFromUDP(buf)
				if err != nil {
					return // closed
				}
				e.mu.Lock()
				e.seen[h][string(buf[:n])] = true
				e.mu.Unlock()
				_, _ = c.WriteToUDP([]byte(h+"|"+string(buf[:n])), from)
			}
		}()
	}
	return e
}

func (e *echoes) received(host, payload string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.seen[host][payload]
}

// target is one address of a host.
type target struct {
	host string
	link int
	addr netip.Addr
}

func (t target) String() string { return fmt.Sprintf("%s/eth%d", t.host, t.link) }

func targets(topo *Topology, hosts []string) []target {
	var out []target
	for _, h := range hosts {
		if h == Observer {
			out = append(out, target{h, 0, topo.ObserverAddr()})
			continue
		}
		for l := range topo.spec.Links {
			out = append(out, target{h, l, topo.NodeAddr(h, l)})
		}
	}
	return out
}

// answered sends to each of tos from host from every 50 ms and returns
// those that answered: it stops once every one in want has answered and at
// least window has passed (so that an address that should not answer had
// that long to do so), or after 5 s.
func answered(topo *Topology, from string, tos []target, want map[string]bool, window time.Duration) (map[string]bool, error) {
	var c *net.UDPConn
	if err := topo.Do(from, func() (err error) {
		c, err = net.ListenUDP("udp4", &net.UDPAddr{})
		return err
	}); err != nil {
		return nil, err
	}
	defer c.Close()
	got := map[string]bool{}
	done := func() bool {
		for k := range want {
			if !got[k] {
				return false
			}
		}
		return true
	}
	start := time.Now()
	buf := make([]byte, 512)
	for round := 0; time.Since(start) < 5*time.Second; round++ {
		if time.Since(start) >= window && done() {
			break
		}
		for _, to := range tos {
			if !got[to.String()] {
				msg := fmt.Sprintf("%s>%s#%d", from, to, round)
				if _, err := c.WriteToUDPAddrPort([]byte(msg), netip.AddrPortFrom(to.addr, echoPort)); err != nil {
					return nil, err
				}
			}
		}
		next := time.Now().Add(50 * time.Millisecond)
		for {
			_ = c.SetReadDeadline(next)
			n, err := c.Read(buf)
			if err != nil {
				break // the deadline: next round
			}
			host, msg, ok := strings.Cut(string(buf[:n]), "|")
			if to, _, ok2 := strings.Cut(strings.TrimPrefix(msg, from+">"), "#"); ok && ok2 && strings.HasPrefix(to, host+"/") {
				got[to] = true
			}
		}
	}
	return got, nil
}

// checkReach checks every host against every address of every other host
// on the links they share, all senders at once: exactly the pairs in cut
// (either order) do not answer each other.
func checkReach(t *testing.T, topo *Topology, hosts []string, cut ...[2]string) {
	t.Helper()
	isCut := func(a, b string) bool {
		return slices.Contains(cut, [2]string{a, b}) || slices.Contains(cut, [2]string{b, a})
	}
	all := targets(topo, hosts)
	type row struct {
		from      string
		want, got map[string]bool
		tos       []target
		err       error
	}
	rows := make([]*row, len(hosts))
	var wg sync.WaitGroup
	for i, from := range hosts {
		r := &row{from: from, want: map[string]bool{}}
		rows[i] = r
		for _, to := range all {
			if to.host == from || (from == Observer && to.link != 0) {
				continue
			}
			r.tos = append(r.tos, to)
			if !isCut(from, to.host) {
				r.want[to.String()] = true
			}
		}
		wg.Go(func() { r.got, r.err = answered(topo, from, r.tos, r.want, time.Second) })
	}
	wg.Wait()
	for _, r := range rows {
		if r.err != nil {
			t.Fatalf("%s: %v", r.from, r.err)
		}
		for _, to := range r.tos {
			k := to.String()
			if r.got[k] != r.want[k] {
				t.Errorf("%s → %s answered: %v, want %v (cut: %v)", r.from, k, r.got[k], r.want[k], cut)
			}
		}
	}
	if t.Failed() {
		t.FailNow()
	}
}

// cutRuleCount is the number of rules in the pair's chain, -1 if there is
// no such chain.
func cutRuleCount(t *testing.T, topo *Topology, a, b string) int {
	t.Helper()
	c, err := nftables.New(nftables.WithNetNSFd(int(topo.sw)))
	if err != nil {
		t.Fatal(err)
	}
	tb := &nftables.Table{Name: CutTable, Family: nftables.TableFamilyBridge}
	chains, err := c.ListChainsOfTableFamily(nftables.TableFamilyBridge)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(chains, func(ch *nftables.Chain) bool { return ch.Table.Name == CutTable && ch.Name == "cut_"+a+"_"+b }) {
		return -1
	}
	rs, err := c.GetRules(tb, &nftables.Chain{Name: "cut_" + a + "_" + b, Table: tb})
	if err != nil {
		t.Fatal(err)
	}
	return len(rs)
}

// Block drops the frames between exactly the two hosts, at the switch, on
// every link, both ways: each still reaches a third host and the observer
// (and they it), and unblocking restores exactly that pair.
func TestBlockCutsOnlyThePair(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: creates network namespaces and nftables rules")
	}
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	const prefix = "tnsblock"
	topo, err := Build(ctx, Spec{Prefix: prefix, Nodes: []string{"a", "b", "c"}, Links: 2})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := topo.Close(); err != nil {
			t.Error(err)
		}
		ents, _ := os.ReadDir(runDir)
		for _, e := range ents {
			if strings.HasPrefix(e.Name(), prefix+"-") {
				t.Errorf("namespace %s left behind", e.Name())
			}
		}
	})
	hosts := []string{"a", "b", "c", Observer}
	ech := serveEchoes(t, topo, hosts)
	checkReach(t, topo, hosts)

	for range 2 { // a second cut of the same pair replaces its rules
		if err := topo.Block("a", "b", true); err != nil {
			t.Fatal(err)
		}
	}
	// Per link and direction: the MAC pair, and floods out of the port.
	if n := cutRuleCount(t, topo, "a", "b"); n != 2*2*2 {
		t.Fatalf("%d rules cut a from b, want 8", n)
	}
	checkReach(t, topo, hosts, [2]string{"a", "b"})

	// A broadcast from a reaches c and the observer, not b.
	var bc *net.UDPConn
	if err := topo.Do("a", func() (err error) {
		if bc, err = net.ListenUDP("udp4", &net.UDPAddr{}); err != nil {
			return err
		}
		raw, err := bc.SyscallConn()
		if err != nil {
			return err
		}
		var serr error
		if err := raw.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_BROADCAST, 1)
		}); err != nil {
			return err
		}
		return serr
	}); err != nil {
		t.Fatal(err)
	}
	defer bc.Close()
	var last string
	for i := range 10 {
		last = fmt.Sprintf("broadcast from a #%d", i)
		if _, err := bc.WriteToUDPAddrPort([]byte(last), netip.AddrPortFrom(netip.MustParseAddr("198.18.0.255"), echoPort)); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for !ech.received("c", last) || !ech.received(Observer, last) {
		if time.Now().After(deadline) {
			t.Fatal("a's broadcasts did not reach c and the observer within 5 s")
		}
		time.Sleep(10 * time.Millisecond)
	}
	for i := range 10 {
		if p := fmt.Sprintf("broadcast from a #%d", i); ech.received("b", p) {
			t.Fatalf("b received %q across the cut", p)
		}
	}

	// Two cuts; lifting one leaves the other exactly as it was.
	if err := topo.Block("c", "a", true); err != nil {
		t.Fatal(err)
	}
	checkReach(t, topo, hosts, [2]string{"a", "b"}, [2]string{"a", "c"})
	if err := topo.Block("b", "a", false); err != nil {
		t.Fatal(err)
	}
	if n := cutRuleCount(t, topo, "a", "b"); n != -1 {
		t.Fatalf("a–b unblocked, but its chain is still there with %d rules", n)
	}
	if n := cutRuleCount(t, topo, "a", "c"); n != 8 {
		t.Fatalf("a–c has %d rules after unblocking a–b, want 8", n)
	}
	checkReach(t, topo, hosts, [2]string{"a", "c"})
	for range 2 { // unblocking an uncut pair changes nothing
		if err := topo.Block("a", "c", false); err != nil {
			t.Fatal(err)
		}
	}
	checkReach(t, topo, hosts)

	if err := topo.Block("a", "a", true); err == nil {
		t.Fatal("a was cut from itself")
	}
	if err := topo.Block("a", "nosuch", true); err == nil {
		t.Fatal("a was cut from a host that does not exist")
	}
}
