package sip

import (
	"bytes"
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"tandem/internal/config"
	"tandem/internal/netns"
	"tandem/internal/resource"
	"tandem/internal/resource/agenttest"
)

// These tests ping a real SIP server: SIPp (Debian's sip-tester, installed
// by scripts/deps.sh) as a UAS answering OPTIONS, in a network namespace
// the test builds (internal/netns: the server host "srv" at 198.18.0.10 with
// a floating IP 198.18.0.100 on it, the agent in the observer's namespace at
// 198.18.0.250). Nothing outside those namespaces is touched.

const prefix = "tsip" // the namespaces' names: tsip-srv, tsip-obs, …

var vip = netip.MustParseAddr("198.18.0.100")

// A UAS that answers every OPTIONS (each a new call to SIPp) with CODE.
const scenario = `<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="answer OPTIONS">
  <recv request="OPTIONS" crlf="true"/>
  <send>
    <![CDATA[
SIP/2.0 CODE
[last_Via:]
[last_From:]
[last_To:];tag=[pid]SIPpTag[call_number]
[last_Call-ID:]
[last_CSeq:]
Contact: <sip:[local_ip]:[local_port];transport=[transport]>
Content-Length: 0

    ]]>
  </send>
</scenario>
`

type lab struct {
	topo *netns.Topology
	dir  string
}

func newLab(t *testing.T) *lab {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: creates network namespaces")
	}
	if _, err := exec.LookPath("sipp"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("sipp is not installed: scripts/deps.sh installs Debian's sip-tester")
		}
		t.Skip("sipp is not installed (apt install sip-tester; scripts/deps.sh installs it)")
	}
	_ = netns.Cleanup(prefix) // what a crashed earlier run left
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	topo, err := netns.Build(ctx, netns.Spec{Prefix: prefix, Nodes: []string{"srv"}, Links: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := topo.Close(); err != nil {
			t.Errorf("netns cleanup: %v", err)
		}
	})
	if err := topo.AddAddr("srv", netip.PrefixFrom(vip, 32)); err != nil {
		t.Fatal(err)
	}
	return &lab{topo: topo, dir: t.TempDir()}
}

// sipp starts a SIPp UAS on the server host answering OPTIONS with code
// (e.g. "200 OK") on the floating IP's port, over "u1" (UDP) or "t1" (TCP);
// bindLocal false leaves it listening on every address, as a server bound
// to 0.0.0.0. It returns a function that kills it (also run at cleanup).
func (l *lab) sipp(t *testing.T, mode string, port int, code string, bindLocal bool) (kill func()) {
	t.Helper()
	sf := filepath.Join(l.dir, fmt.Sprintf("uas-%s-%d.xml", mode, port))
	if err := os.WriteFile(sf, []byte(strings.Replace(scenario, "CODE", code, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	// -timeout: SIPp quits by itself even if this test dies without cleanup.
	bind := "0.0.0.0" // SIPp's UAS listens on -i's address
	if bindLocal {
		bind = vip.String()
	}
	args := []string{"-sf", sf, "-i", bind, "-p", fmt.Sprint(port), "-t", mode, "-nostdin", "-timeout", "120", "-skip_rlimit"}
	cmd := exec.Command("sipp", args...)
	cmd.Dir = l.dir
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := l.topo.Do("srv", cmd.Start); err != nil {
		t.Fatal(err)
	}
	done := false
	kill = func() {
		if done {
			return
		}
		done = true
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	}
	t.Cleanup(func() {
		kill()
		if t.Failed() {
			t.Logf("sipp %s output (tail):\n%s", strings.Join(args, " "), tail(out.String(), 2000))
		}
	})
	return kill
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

func (l *lab) agent(t *testing.T, p config.SIPParams) (*Agent, *agenttest.LogBuf) {
	t.Helper()
	log, lb := agenttest.Logger()
	a, err := New("sip-health", p, log)
	if err != nil {
		t.Fatal(err)
	}
	return a, lb
}

// obs runs fn in the observer's namespace: the sockets a ping opens are
// made on that thread and stay in that namespace.
func (l *lab) obs(t *testing.T, fn func()) {
	t.Helper()
	if err := l.topo.Do(netns.Observer, func() error { fn(); return nil }); err != nil {
		t.Fatal(err)
	}
}

func (l *lab) start(t *testing.T, a *Agent, lb *agenttest.LogBuf) {
	t.Helper()
	var err error
	l.obs(t, func() { err = a.Start(agenttest.Ctx(t, 10*time.Second)) })
	if err != nil {
		t.Fatalf("start: %v\n%s", err, lb)
	}
}

func (l *lab) monitor(t *testing.T, a *Agent) (resource.State, error) {
	t.Helper()
	var (
		st  resource.State
		err error
	)
	l.obs(t, func() { st, err = a.Monitor(agenttest.Ctx(t, 10*time.Second)) })
	return st, err
}

func TestAliveDeadUDPAndTCP(t *testing.T) {
	l := newLab(t)
	for i, tc := range []struct {
		transport, mode string
		deadErr         string // what a ping to a dead server says
	}{
		{"udp", "u1", "no final response within 300ms: timed out"},
		{"tcp", "t1", "connection refused"},
	} {
		t.Run(tc.transport, func(t *testing.T) {
			port := 5060 + i
			target := fmt.Sprintf("%s:%d", vip, port)
			kill := l.sipp(t, tc.mode, port, "200 OK", true)
			a, lb := l.agent(t, config.SIPParams{Target: target, Transport: tc.transport, Timeout: 300 * time.Millisecond})
			if st, err := l.monitor(t, a); st != resource.Stopped || err != nil {
				t.Fatalf("before start (nothing pinged): %v %v", st, err)
			}
			l.start(t, a, lb)
			for range 3 {
				if st, err := l.monitor(t, a); st != resource.Running || err != nil {
					t.Fatalf("alive server: %v %v\n%s", st, err, lb)
				}
			}
			if strings.Contains(lb.String(), "answered from another address") {
				t.Errorf("a server bound to the pinged address drew the source warning:\n%s", lb)
			}

			kill() // the server dies: nothing listens any more
			began := time.Now()
			st, err := l.monitor(t, a)
			if st != resource.Failed || err == nil || !strings.Contains(err.Error(), tc.deadErr) ||
				!strings.Contains(err.Error(), "sip sip-health: OPTIONS to "+target+" over "+tc.transport) {
				t.Fatalf("dead server: %v %v", st, err)
			}
			if took := time.Since(began); took > 2*time.Second {
				t.Errorf("a dead server's ping took %v: the timeout is 300ms", took)
			}
			// Stopped: no pings, whatever the server does.
			var serr error
			l.obs(t, func() { serr = a.Stop(agenttest.Ctx(t, time.Second)) })
			if st, err := l.monitor(t, a); serr != nil || st != resource.Stopped || err != nil {
				t.Fatalf("after stop: %v; %v %v", serr, st, err)
			}
			// A start against the dead server fails at its deadline, after several pings.
			l.obs(t, func() { err = a.Start(agenttest.Ctx(t, time.Second)) })
			if err == nil || !strings.Contains(err.Error(), "start sip-health: not alive before the start timeout") {
				t.Fatalf("start against a dead server: %v", err)
			}
			if st, err := l.monitor(t, a); st != resource.Stopped || err != nil {
				t.Fatalf("after a failed start: %v %v", st, err)
			}
		})
	}
}

func TestErrorCode(t *testing.T) {
	l := newLab(t)
	for i, transport := range []string{"udp", "tcp"} {
		t.Run(transport, func(t *testing.T) {
			port := 5070 + i
			l.sipp(t, map[string]string{"udp": "u1", "tcp": "t1"}[transport], port, "503 Service Unavailable", true)
			target := fmt.Sprintf("%s:%d", vip, port)

			// By default any final response is alive: the server is there and answering.
			a, lb := l.agent(t, config.SIPParams{Target: target, Transport: transport, Timeout: time.Second})
			l.start(t, a, lb)
			var ans Answer
			var err error
			l.obs(t, func() { ans, err = a.Ping(agenttest.Ctx(t, 5*time.Second)) })
			if err != nil || ans.Code != 503 || ans.Reason != "Service Unavailable" {
				t.Fatalf("ping: %+v %v", ans, err)
			}
			if st, err := l.monitor(t, a); st != resource.Running || err != nil {
				t.Fatalf("503 with any final response accepted: %v %v", st, err)
			}

			// accept: 2xx makes the same answer a failure.
			strict, lb := l.agent(t, config.SIPParams{Target: target, Transport: transport, Timeout: time.Second,
				Accept: []config.CodeRange{{Lo: 200, Hi: 299}}})
			l.obs(t, func() { err = strict.Start(agenttest.Ctx(t, 2*time.Second)) })
			want := "sip sip-health: OPTIONS to " + target + " over " + transport + " answered 503 Service Unavailable; alive only on 2xx"
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Fatalf("start with accept 2xx: %v\n%s", err, lb)
			}
			strict.active = true // as if it had started: the monitor must judge the code
			if st, err := l.monitor(t, strict); st != resource.Failed || err == nil || !strings.Contains(err.Error(), want) {
				t.Fatalf("monitor with accept 2xx: %v %v", st, err)
			}
		})
	}
}

// A server listening on every address answers a ping of the floating IP
// from the host's own address (docs/design.md): tandem says so.
func TestAnswerFromAnotherAddress(t *testing.T) {
	l := newLab(t)
	l.sipp(t, "u1", 5080, "200 OK", false)
	a, lb := l.agent(t, config.SIPParams{Target: fmt.Sprintf("%s:5080", vip), Transport: "udp", Timeout: time.Second})
	l.start(t, a, lb)
	var ans Answer
	var err error
	l.obs(t, func() { ans, err = a.Ping(agenttest.Ctx(t, 5*time.Second)) })
	if err != nil || ans.Code != 200 {
		t.Fatalf("ping: %+v %v", ans, err)
	}
	if !strings.HasPrefix(ans.From, "198.18.0.10:") {
		t.Errorf("answer from %s: expected the host's own address 198.18.0.10", ans.From)
	}
	if n := strings.Count(lb.String(), "answered from another address"); n != 1 {
		t.Errorf("the source warning was logged %d times, want once:\n%s", n, lb)
	}
}

// Each ping's user agent, sockets and goroutines are gone when it returns.
func TestPingLeavesNothing(t *testing.T) {
	l := newLab(t)
	l.sipp(t, "t1", 5090, "200 OK", true)
	a, lb := l.agent(t, config.SIPParams{Target: fmt.Sprintf("%s:5090", vip), Transport: "tcp", Timeout: time.Second})
	l.start(t, a, lb)
	before := runtime.NumGoroutine()
	for range 20 {
		if st, err := l.monitor(t, a); st != resource.Running || err != nil {
			t.Fatalf("%v %v", st, err)
		}
	}
	deadline := time.Now().Add(2 * time.Second)
	for runtime.NumGoroutine() > before+2 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before+2 {
		buf := make([]byte, 1<<16)
		t.Fatalf("goroutines: %d before 20 pings, %d after:\n%s", before, n, buf[:runtime.Stack(buf, true)])
	}
}
