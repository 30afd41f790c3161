// Package sip watches a SIP server's health with OPTIONS pings (type: sip),
// over UDP (retransmitted as RFC 3261's timer E says) or TCP. Messages are
// built and parsed with emiago/sipgo's sip package.
//
// It is monitor-only: the server is run by something else (an init script,
// FreeSWITCH, a kamailio unit), usually an earlier member of the same group.
// What an operator expects of such a member:
//
//   - Start succeeds once the server answers (pinging until then, within
//     the start timeout), so the group counts as started only when SIP
//     works; a server that never answers fails the start, and the core
//     moves the group.
//   - Stop starts or stops nothing; it only records that the resource is
//     meant to be stopped.
//   - Monitor pings only while the resource is meant to run. Meant to be
//     stopped, it reports stopped without pinging: a SIP server that also
//     answers on the standby (a warm FreeSWITCH, a shared proxy) must not
//     make the resource look active on two nodes.
//
// A ping is alive when a final response (200..699) arrives within
// params.timeout, unless params.accept narrows the codes.
package sip

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	sipmsg "github.com/emiago/sipgo/sip"

	"tandem/internal/config"
	"tandem/internal/resource"
)

const (
	// retryDelay is the pause between a start's pings after one failed fast
	// (a TCP connection refused); a ping that timed out has waited already.
	retryDelay = 250 * time.Millisecond
	// maxStartPings bounds a start's pings whatever its deadline.
	maxStartPings = 200
)

// Agent watches one sip resource.
type Agent struct {
	name string
	p    config.SIPParams
	log  *slog.Logger

	host        string // the target's host, as written
	portNum     int
	targetIsIP  bool
	targetAddr  netip.Addr // when targetIsIP
	transportUp string     // "UDP" or "TCP", as SIP writes it

	mu        sync.Mutex
	active    bool // Start succeeded and no Stop since: monitors ping
	warnedSrc bool // the "answer from another address" warning was logged
}

// New returns the agent for resource name.
func New(name string, p config.SIPParams, log *slog.Logger) (*Agent, error) {
	host, port, err := net.SplitHostPort(p.Target)
	if err != nil {
		return nil, fmt.Errorf("sip %s: target %q: %w", name, p.Target, err)
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 1 || n > 65535 {
		return nil, fmt.Errorf("sip %s: target %q: bad port", name, p.Target)
	}
	if p.Timeout <= 0 {
		return nil, fmt.Errorf("sip %s: needs a ping timeout", name)
	}
	tr := strings.ToUpper(p.Transport)
	if tr != "UDP" && tr != "TCP" {
		return nil, fmt.Errorf("sip %s: transport %q: allowed: udp, tcp", name, p.Transport)
	}
	a := &Agent{name: name, p: p, log: log.With("resource", name), host: host, portNum: n, transportUp: tr}
	if ip, err := netip.ParseAddr(host); err == nil {
		a.targetIsIP, a.targetAddr = true, ip.Unmap()
	}
	return a, nil
}

// Answer is the final response to one ping.
type Answer struct {
	Code   int
	Reason string
	From   string // the address the answer came from (host:port)
}

// RFC 3261's timers for a non-INVITE request over UDP: retransmit after T1,
// doubling up to T2 (timer E).
const (
	t1 = 500 * time.Millisecond
	t2 = 4 * time.Second
	// maxReads bounds the datagrams or stream reads one ping looks at, so a
	// server spraying unrelated messages cannot keep it reading.
	maxReads = 64
	// maxStream bounds what one TCP ping reads before giving up on framing.
	maxStream = 64 << 10
)

// Ping sends one OPTIONS to the target and waits at most params.timeout
// (or until ctx ends) for a final response. sipgo builds and parses the
// messages; the socket is the ping's own, opened in the caller's goroutine
// and closed before Ping returns, so nothing outlives it (sipgo's transport
// layer keeps connections and goroutines for a long-lived user agent, and
// logs through slog's default logger when one is closed).
func (a *Agent) Ping(ctx context.Context) (Answer, error) {
	ctx, cancel := context.WithTimeout(ctx, a.p.Timeout)
	defer cancel()
	ans, err := a.ping(ctx)
	if err != nil {
		// The socket's deadline is ctx's, and may strike before ctx notices.
		if ctx.Err() != nil || errors.Is(err, os.ErrDeadlineExceeded) {
			return Answer{}, fmt.Errorf("sip %s: OPTIONS to %s over %s: no final response within %v: %w",
				a.name, a.p.Target, a.p.Transport, a.p.Timeout, resource.ErrTimeout)
		}
		return Answer{}, fmt.Errorf("sip %s: OPTIONS to %s over %s: %w", a.name, a.p.Target, a.p.Transport, err)
	}
	a.checkSource(ans.From)
	return ans, nil
}

func (a *Agent) ping(ctx context.Context) (Answer, error) {
	raddr, err := a.resolve(ctx)
	if err != nil {
		return Answer{}, err
	}
	deadline, _ := ctx.Deadline()
	if a.transportUp == "TCP" {
		var d net.Dialer
		c, err := d.DialContext(ctx, "tcp", raddr.String())
		if err != nil {
			return Answer{}, err
		}
		defer c.Close()
		_ = c.SetDeadline(deadline)
		local := c.LocalAddr().(*net.TCPAddr).AddrPort()
		req, branch := a.request(local.Addr(), local.Port())
		if _, err := c.Write([]byte(req.String())); err != nil {
			return Answer{}, err
		}
		return readStream(c, branch, raddr.String())
	}
	network := "udp4"
	if raddr.Addr().Is6() {
		network = "udp6"
	}
	var lc net.ListenConfig
	pc, err := lc.ListenPacket(ctx, network, ":0")
	if err != nil {
		return Answer{}, err
	}
	defer pc.Close()
	// The socket listens on every address (an answer from another one is
	// still read, and warned about); Via names the one the route leaves from.
	src := a.source(ctx, raddr)
	req, branch := a.request(src, uint16(pc.LocalAddr().(*net.UDPAddr).Port))
	data := []byte(req.String())
	dst := net.UDPAddrFromAddrPort(raddr)
	buf := make([]byte, 65535)
	next, interval := time.Now(), t1
	for range maxReads {
		if !time.Now().Before(next) {
			if _, err := pc.WriteTo(data, dst); err != nil {
				return Answer{}, err
			}
			next, interval = time.Now().Add(interval), min(2*interval, t2)
		}
		_ = pc.SetReadDeadline(earliest(next, deadline))
		n, from, err := pc.ReadFrom(buf)
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() && time.Now().Before(deadline) {
				continue // time to retransmit
			}
			return Answer{}, err
		}
		msg, err := sipmsg.ParseMessage(buf[:n])
		if err != nil {
			continue // not SIP, or not for us
		}
		if ans, ok := final(msg, branch, from.String()); ok {
			return ans, nil
		}
	}
	return Answer{}, fmt.Errorf("gave up after %d datagrams without our final response", maxReads)
}

// readStream reads SIP messages from a TCP connection until the final
// response to branch.
func readStream(c net.Conn, branch, from string) (Answer, error) {
	par := sipmsg.NewParser().NewSIPStream()
	defer par.Close()
	buf := make([]byte, 4096)
	total := 0
	for range maxReads {
		n, err := c.Read(buf)
		if err != nil {
			if errors.Is(err, io.EOF) {
				return Answer{}, errors.New("the server closed the connection without a final response")
			}
			return Answer{}, err
		}
		if total += n; total > maxStream {
			return Answer{}, fmt.Errorf("no final response in the first %d bytes", maxStream)
		}
		var (
			ans   Answer
			found bool
		)
		err = par.ParseSIPStream(buf[:n], func(m sipmsg.Message) {
			if !found {
				ans, found = final(m, branch, from)
			}
		})
		if found {
			return ans, nil
		}
		if err != nil && !errors.Is(err, sipmsg.ErrParseSipPartial) {
			return Answer{}, fmt.Errorf("unreadable answer: %w", err)
		}
	}
	return Answer{}, fmt.Errorf("gave up after %d reads without our final response", maxReads)
}

// final returns msg as the answer if it is a final response to our request
// (matched by the Via branch, as RFC 3261 17.1.3 matches client transactions).
func final(msg sipmsg.Message, branch, from string) (Answer, bool) {
	res, ok := msg.(*sipmsg.Response)
	if !ok || res.IsProvisional() {
		return Answer{}, false
	}
	via := res.Via()
	if via == nil {
		return Answer{}, false
	}
	if b, _ := via.Params.Get("branch"); b != branch {
		return Answer{}, false
	}
	if cs := res.CSeq(); cs == nil || cs.MethodName != sipmsg.OPTIONS {
		return Answer{}, false
	}
	return Answer{Code: res.StatusCode, Reason: res.Reason, From: from}, true
}

// request builds the OPTIONS (RFC 3261 11: a server-addressed request-URI
// without a user part) with Via sent-by local:port; it returns the branch.
func (a *Agent) request(local netip.Addr, port uint16) (*sipmsg.Request, string) {
	uri := sipmsg.Uri{Scheme: "sip", Host: a.host, Port: a.portNum}
	req := sipmsg.NewRequest(sipmsg.OPTIONS, uri)
	branch := sipmsg.GenerateBranch()
	lhost := local.Unmap().String()
	if !local.IsValid() || local.IsUnspecified() {
		lhost = "tandem.invalid" // no route found: rport and received tell the server where to answer
	}
	via := &sipmsg.ViaHeader{ProtocolName: "SIP", ProtocolVersion: "2.0", Transport: a.transportUp,
		Host: lhost, Port: int(port), Params: sipmsg.NewParams()}
	via.Params.Add("branch", branch)
	via.Params.Add("rport", "") // RFC 3581: answer to the port we sent from
	from := &sipmsg.FromHeader{Address: sipmsg.Uri{Scheme: "sip", User: "tandem", Host: lhost}, Params: sipmsg.NewParams()}
	from.Params.Add("tag", sipmsg.GenerateTagN(16))
	to := &sipmsg.ToHeader{Address: sipmsg.Uri{Scheme: "sip", Host: a.host}}
	callID := sipmsg.CallIDHeader(sipmsg.GenerateTagN(24) + "@tandem")
	cseq := &sipmsg.CSeqHeader{SeqNo: 1, MethodName: sipmsg.OPTIONS}
	maxFwd := sipmsg.MaxForwardsHeader(70)
	req.AppendHeader(via)
	req.AppendHeader(&maxFwd)
	req.AppendHeader(from)
	req.AppendHeader(to)
	req.AppendHeader(&callID)
	req.AppendHeader(cseq)
	req.AppendHeader(sipmsg.NewHeader("User-Agent", "tandem"))
	req.AppendHeader(sipmsg.NewHeader("Accept", "application/sdp"))
	req.SetBody(nil) // Content-Length: 0, which TCP framing needs
	return req, branch
}

// resolve gives the target's address: a literal as is, a name through DNS.
func (a *Agent) resolve(ctx context.Context) (netip.AddrPort, error) {
	if a.targetIsIP {
		return netip.AddrPortFrom(a.targetAddr, uint16(a.portNum)), nil
	}
	ips, err := net.DefaultResolver.LookupNetIP(ctx, "ip", a.host)
	if err != nil {
		return netip.AddrPort{}, err
	}
	if len(ips) == 0 {
		return netip.AddrPort{}, fmt.Errorf("%s has no address", a.host)
	}
	return netip.AddrPortFrom(ips[0].Unmap(), uint16(a.portNum)), nil
}

// source is the local address the route to raddr leaves from, or the zero
// Addr (a UDP "dial" sends nothing: it only looks the route up).
func (a *Agent) source(ctx context.Context, raddr netip.AddrPort) netip.Addr {
	var d net.Dialer
	c, err := d.DialContext(ctx, "udp", raddr.String())
	if err != nil {
		return netip.Addr{}
	}
	defer c.Close()
	if ua, ok := c.LocalAddr().(*net.UDPAddr); ok {
		return ua.AddrPort().Addr()
	}
	return netip.Addr{}
}

func earliest(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// checkSource warns once when the answer came from another address than the
// one pinged: the server is bound to 0.0.0.0, and clients or NATs that only
// accept answers from the floating IP drop such replies.
func (a *Agent) checkSource(from string) {
	if !a.targetIsIP || from == "" {
		return
	}
	h, _, err := net.SplitHostPort(from)
	if err != nil {
		return
	}
	got, err := netip.ParseAddr(h)
	if err != nil || got.Unmap() == a.targetAddr {
		return
	}
	a.mu.Lock()
	warned := a.warnedSrc
	a.warnedSrc = true
	a.mu.Unlock()
	if !warned {
		a.log.Warn("the SIP server answered from another address than the one pinged: clients locked to that address drop such answers; bind the server to it (with net.ipv4.ip_nonlocal_bind=1 on every node)",
			"pinged", a.p.Target, "answered_from", from)
	}
}

// check pings once and judges the answer by params.accept.
func (a *Agent) check(ctx context.Context) error {
	ans, err := a.Ping(ctx)
	if err != nil {
		return err
	}
	if !a.p.Accepts(ans.Code) {
		return fmt.Errorf("sip %s: OPTIONS to %s over %s answered %d %s; alive only on %s",
			a.name, a.p.Target, a.p.Transport, ans.Code, ans.Reason, a.p.AcceptText())
	}
	return nil
}

// Start implements resource.Agent: it pings until the server answers as
// alive, within ctx's deadline.
func (a *Agent) Start(ctx context.Context) error {
	var err error
	for i := 0; i < maxStartPings; i++ {
		began := time.Now()
		if err = a.check(ctx); err == nil {
			a.mu.Lock()
			a.active = true
			a.mu.Unlock()
			if i > 0 {
				a.log.Info("start: the SIP server answers", "pings", i+1)
			}
			return nil
		}
		wait := retryDelay - time.Since(began)
		if wait < 0 {
			wait = 0
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("start %s: not alive before the start timeout: %w", a.name, err)
		case <-t.C:
		}
	}
	return fmt.Errorf("start %s: not alive after %d pings: %w", a.name, maxStartPings, err)
}

// Stop implements resource.Agent. It stops nothing: the server is not ours.
func (a *Agent) Stop(context.Context) error {
	a.mu.Lock()
	a.active = false
	a.mu.Unlock()
	return nil
}

// Monitor implements resource.Agent: stopped while not started, else one
// ping: alive is running, anything else failed.
func (a *Agent) Monitor(ctx context.Context) (resource.State, error) {
	a.mu.Lock()
	active := a.active
	a.mu.Unlock()
	if !active {
		return resource.Stopped, nil
	}
	if err := a.check(ctx); err != nil {
		return resource.Failed, err
	}
	return resource.Running, nil
}
