// Package lab runs a real tandem cluster inside network namespaces on this
// machine: node namespaces and an observer on a bridge, real agents, a real
// floating IP and a UDP echo service behind it. `tandem demo` and the
// end-to-end tests both drive it, so what the demo shows is what the tests
// check.
package lab

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"tandem/internal/api"
	"tandem/internal/authkey"
	"tandem/internal/netns"
	"tandem/internal/status"
)

// Spec describes the cluster to build.
type Spec struct {
	Prefix      string // namespace prefix, short (interface names are <= 15 chars)
	Binary      string // tandem binary to run as the agents
	Nodes       []string
	Witnesses   []string // majority mode: witnesses, each in a namespace of its own
	Links       int      // links per node, 1 or 2
	Stickiness  int
	Prefer      string // node the group prefers (score PreferScore)
	PreferScore int
	// FailStartOn names a node where the echo service's start fails.
	FailStartOn string
	Keepalive   time.Duration // default 100ms
	Deadtime    time.Duration // default 1s
	Initdead    time.Duration // default 3s
	WaitForAll  bool
	// Health is the config's health section as YAML flow (e.g. "{links:
	// [eth0]}"), QuorumPing quorum.ping's targets, and Constraints more
	// location constraints as YAML flow mappings.
	Health      string
	QuorumPing  []netip.Addr
	Constraints []string
	// LSBEcho runs the echo service from an LSB init script that detaches
	// it, instead of as the agent's child (exec): it outlives an agent
	// restart, as a service under maintenance must.
	LSBEcho bool
	// MigrationThreshold goes to defaults.migration_threshold (0: unset).
	MigrationThreshold int
	// Fence enables fencing (two_node) with one exec device for every node
	// that "powers it off": downs its links and kills every process in its
	// namespace (PowerOff), unless FenceFails says the device is broken.
	// FenceDelay is fencing.delay.
	Fence      bool
	FenceDelay time.Duration
	// IPMI makes Fence use Debian's fence_ipmilan against a simulated BMC
	// per node: OpenIPMI's ipmi_sim in the observer's namespace, whose
	// chassis power off does what the power switch does.
	IPMI bool
	Log  io.Writer // agents' logs; nil discards
}

// Floating is the floating address the cluster moves, and EchoPort the service's port.
var (
	Floating = netip.MustParseAddr("198.18.0.100")
)

// EchoPort is the UDP port of the demo's echo service.
const EchoPort = 7777

// Cluster is a running lab cluster.
type Cluster struct {
	Spec  Spec
	Topo  *netns.Topology
	Dir   string // config, key, state dirs, sockets
	mu    sync.Mutex
	procs map[string]*exec.Cmd
	exits map[string]chan error
}

// Start builds the topology, writes config and key, and starts every agent.
func Start(ctx context.Context, s Spec) (*Cluster, error) {
	if s.Links == 0 {
		s.Links = 1
	}
	if s.Keepalive == 0 {
		s.Keepalive = 100 * time.Millisecond
	}
	if s.Deadtime == 0 {
		s.Deadtime = time.Second
	}
	if s.Initdead == 0 {
		s.Initdead = 3 * time.Second
	}
	if s.Log == nil {
		s.Log = io.Discard
	}
	if err := netns.Cleanup(s.Prefix); err != nil {
		return nil, fmt.Errorf("lab: clean up an earlier run: %w", err)
	}
	dir, err := os.MkdirTemp("", "tandem-"+s.Prefix+"-")
	if err != nil {
		return nil, fmt.Errorf("lab: %w", err)
	}
	c := &Cluster{Spec: s, Dir: dir, procs: map[string]*exec.Cmd{}, exits: map[string]chan error{}}
	topo, err := netns.Build(ctx, netns.Spec{Prefix: s.Prefix, Nodes: append(slices.Clone(s.Nodes), s.Witnesses...), Links: s.Links})
	if err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("lab: %w", err)
	}
	c.Topo = topo
	if err := c.writeFiles(); err != nil {
		c.Close()
		return nil, err
	}
	if s.Fence && s.IPMI {
		if err := c.startBMCs(); err != nil {
			c.Close()
			return nil, err
		}
	}
	for _, n := range append(slices.Clone(s.Nodes), s.Witnesses...) {
		if err := c.StartAgent(n); err != nil {
			c.Close()
			return nil, err
		}
	}
	return c, nil
}

// Config is the path of the cluster's config file.
func (c *Cluster) Config() string { return filepath.Join(c.Dir, "tandem.yaml") }

// Socket is the API socket of node n's agent.
func (c *Cluster) Socket(n string) string { return filepath.Join(c.Dir, n, "tandem.sock") }

func (c *Cluster) writeFiles() error {
	s := c.Spec
	key := filepath.Join(c.Dir, "authkey")
	if err := authkey.Generate(key); err != nil {
		return fmt.Errorf("lab: %w", err)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "cluster: %s\nkey_file: %s\nport: 694\n", s.Prefix, key)
	fmt.Fprintf(&b, "timing: {keepalive: %s, warntime: %s, deadtime: %s, initdead: %s}\n", s.Keepalive, s.Deadtime/2, s.Deadtime, s.Initdead)
	links := func(n string) string {
		var ls []string
		for l := range s.Links {
			ls = append(ls, c.Topo.NodeAddr(n, l).String())
		}
		return strings.Join(ls, ", ")
	}
	if len(s.Witnesses) > 0 {
		b.WriteString("quorum: {mode: majority}\nwitnesses:\n")
		for _, w := range s.Witnesses {
			fmt.Fprintf(&b, "  - {name: %s, links: [%s]}\n", w, links(w))
		}
		b.WriteString("nodes:\n")
	} else {
		ping := ""
		if len(s.QuorumPing) > 0 {
			var ps []string
			for _, a := range s.QuorumPing {
				ps = append(ps, a.String())
			}
			ping = ", ping: [" + strings.Join(ps, ", ") + "]"
		}
		fmt.Fprintf(&b, "quorum: {mode: two_node, wait_for_all: %v%s}\nnodes:\n", s.WaitForAll, ping)
	}
	for _, n := range s.Nodes {
		fmt.Fprintf(&b, "  - {name: %s, links: [%s]}\n", n, links(n))
	}
	// The service binds the floating IP (ip_nonlocal_bind is set in the
	// namespaces) so replies leave from it, as a SIP server should.
	self, _ := os.Executable()
	if c.Spec.Binary != "" {
		self = c.Spec.Binary
	}
	daemon := fmt.Sprintf("exec %s echo --listen %s:%d --name $TANDEM_NODE", self, Floating, EchoPort)
	if s.FailStartOn != "" {
		daemon = fmt.Sprintf(`if [ "$TANDEM_NODE" = "%s" ]; then echo "simulated start failure" >&2; exit 1; fi; %s`, s.FailStartOn, daemon)
	}
	echo := fmt.Sprintf("type: exec\n    params:\n      daemon: '%s'", strings.ReplaceAll(daemon, "'", "''"))
	if s.LSBEcho {
		script := filepath.Join(c.Dir, "echo-init")
		if err := os.WriteFile(script, []byte(lsbEcho(c.Dir, self)), 0o755); err != nil {
			return fmt.Errorf("lab: %w", err)
		}
		echo = "type: lsb:echo\n    params: {path: " + script + "}"
	}
	fmt.Fprintf(&b, `resources:
  - name: vip
    type: ip
    params: {address: %s/24, interface: eth0, label: "eth0:0", arp_count: 3, arp_interval: 50ms}
    ops: {monitor: {interval: 1s, timeout: 1s}}
  - name: echo
    %s
    ops: {start: {timeout: 5s}, stop: {timeout: 5s}, monitor: {interval: 1s, timeout: 1s}}
groups: [{name: service, members: [vip, echo]}]
`, Floating, echo)
	cs := slices.Clone(s.Constraints)
	if s.Prefer != "" {
		cs = append(cs, fmt.Sprintf("{location: service, node: %s, score: %d}", s.Prefer, s.PreferScore))
	}
	if len(cs) > 0 {
		fmt.Fprintf(&b, "constraints:\n  - %s\n", strings.Join(cs, "\n  - "))
	}
	if s.Health != "" {
		fmt.Fprintf(&b, "health: %s\n", s.Health)
	}
	if s.Fence {
		script := filepath.Join(c.Dir, "poweroff")
		if err := os.WriteFile(script, []byte(powerOffScript(c.Dir, s.Prefix)), 0o755); err != nil {
			return fmt.Errorf("lab: %w", err)
		}
		fmt.Fprintf(&b, "fencing:\n  enabled: true\n  delay: %s\n  timeout: 10s\n  retries: 0\n  monitor_interval: 1s\n  devices:\n", s.FenceDelay)
		if !s.IPMI {
			fmt.Fprintf(&b, "    - {name: power, exec: %s, nodes: [%s]}\n", script, strings.Join(s.Nodes, ", "))
		}
		for i, n := range s.Nodes {
			if s.IPMI {
				fmt.Fprintf(&b, "    - {name: bmc-%s, agent: fence_ipmilan, nodes: [%s], params: {ip: %s, ipport: %d, username: admin, password: %s}}\n",
					n, n, c.Topo.ObserverAddr(), BMCPort(i), bmcPassword)
			}
		}
	}
	if s.MigrationThreshold > 0 {
		fmt.Fprintf(&b, "defaults: {stickiness: %d, migration_threshold: %d}\n", s.Stickiness, s.MigrationThreshold)
	} else {
		fmt.Fprintf(&b, "defaults: {stickiness: %d}\n", s.Stickiness)
	}
	return os.WriteFile(c.Config(), []byte(b.String()), 0o600)
}

// StartAgent starts node n's agent (again).
func (c *Cluster) StartAgent(n string) error {
	bin := c.Spec.Binary
	if bin == "" {
		var err error
		if bin, err = os.Executable(); err != nil {
			return err
		}
	}
	state := filepath.Join(c.Dir, n)
	if err := os.MkdirAll(state, 0o700); err != nil {
		return err
	}
	cmd := exec.Command(bin, "agent", "--config", c.Config(), "--node", n, "--socket", c.Socket(n), "--state-dir", state)
	if slices.Contains(c.Spec.Witnesses, n) {
		cmd = exec.Command(bin, "witness", "--config", c.Config(), "--name", n, "--socket", c.Socket(n), "--state-dir", state)
	}
	cmd.Env = append(os.Environ(), "TANDEM_NODE="+n)
	cmd.Stdout = prefixWriter(c.Spec.Log, n)
	cmd.Stderr = cmd.Stdout
	cmd.Dir = state
	if err := c.Topo.Start(n, cmd); err != nil {
		return fmt.Errorf("lab: start agent %s: %w", n, err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	c.mu.Lock()
	c.procs[n], c.exits[n] = cmd, done
	c.mu.Unlock()
	return nil
}

// Pid is node n's agent process, 0 if it is not running.
func (c *Cluster) Pid(n string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if cmd := c.procs[n]; cmd != nil && cmd.Process != nil {
		return cmd.Process.Pid
	}
	return 0
}

// Kill SIGKILLs node n's agent (what it started dies with it via Pdeathsig,
// the address stays as on a crashed machine unless the link is cut too).
func (c *Cluster) Kill(n string) error { return c.signal(n, syscall.SIGKILL, 5*time.Second) }

// Pause freezes node n's agent (SIGSTOP), or thaws it (SIGCONT): a VM
// freeze or a stalled process, with the node and its links up.
func (c *Cluster) Pause(n string, frozen bool) error {
	c.mu.Lock()
	cmd := c.procs[n]
	c.mu.Unlock()
	if cmd == nil {
		return fmt.Errorf("lab: agent %s is not running", n)
	}
	sig := syscall.SIGCONT
	if frozen {
		sig = syscall.SIGSTOP
	}
	return cmd.Process.Signal(sig)
}

// Stop sends SIGTERM (graceful stop) and waits up to timeout for the agent to exit.
func (c *Cluster) Stop(n string, timeout time.Duration) error {
	return c.signal(n, syscall.SIGTERM, timeout)
}

func (c *Cluster) signal(n string, sig syscall.Signal, timeout time.Duration) error {
	c.mu.Lock()
	cmd, done := c.procs[n], c.exits[n]
	delete(c.procs, n)
	c.mu.Unlock()
	if cmd == nil {
		return fmt.Errorf("lab: agent %s is not running", n)
	}
	_ = cmd.Process.Signal(sig)
	select {
	case err := <-done:
		var ee *exec.ExitError
		if err != nil && sig == syscall.SIGTERM && !errors.As(err, &ee) {
			return err
		}
		return nil
	case <-time.After(timeout):
		_ = cmd.Process.Kill()
		<-done
		return fmt.Errorf("lab: agent %s did not exit within %v of %v", n, timeout, sig)
	}
}

// Status asks node n's agent for its status.
func (c *Cluster) Status(ctx context.Context, n string) (status.Status, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	return api.NewClient(c.Socket(n)).Status(ctx)
}

// Owner returns the node that n's agent says holds the group, "" if none.
func (c *Cluster) Owner(ctx context.Context, n string) (string, error) {
	st, err := c.Status(ctx, n)
	if err != nil {
		return "", err
	}
	for _, g := range st.Groups {
		if g.Name == "service" {
			return g.Owner, nil
		}
	}
	return "", nil
}

// HasFloating reports whether node n's namespace holds the floating address.
func (c *Cluster) HasFloating(n string) (bool, error) {
	addrs, err := c.Topo.Addrs(n)
	if err != nil {
		return false, err
	}
	for _, a := range addrs {
		if a.Addr() == Floating {
			return true, nil
		}
	}
	return false, nil
}

// WaitFor polls cond every 50ms until it holds or timeout passes.
func WaitFor(ctx context.Context, timeout time.Duration, what string, cond func() (bool, error)) error {
	deadline := time.Now().Add(timeout)
	var last error
	for time.Now().Before(deadline) {
		ok, err := cond()
		if ok {
			return nil
		}
		last = err
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	if last != nil {
		return fmt.Errorf("%s: not within %v: %w", what, timeout, last)
	}
	return fmt.Errorf("%s: not within %v", what, timeout)
}

// WaitActive waits until exactly node n holds the address and its agent says it owns the group.
func (c *Cluster) WaitActive(ctx context.Context, n string, timeout time.Duration) error {
	return WaitFor(ctx, timeout, n+" active", func() (bool, error) {
		has, err := c.HasFloating(n)
		if err != nil || !has {
			return false, err
		}
		st, err := c.Status(ctx, n)
		if err != nil {
			return false, err
		}
		for _, r := range st.Resources {
			if r.Name != "echo" {
				continue
			}
			for _, in := range r.Instances {
				if in.Node == n && in.State == "running" {
					return true, nil
				}
			}
		}
		return false, nil
	})
}

// Close stops every agent and removes the namespaces and files.
func (c *Cluster) Close() error {
	c.mu.Lock()
	names := make([]string, 0, len(c.procs))
	for n := range c.procs {
		names = append(names, n)
	}
	c.mu.Unlock()
	for _, n := range names {
		_ = c.Kill(n)
	}
	// The LSB echo daemons detach from their agents: kill them by pid file.
	pids, _ := filepath.Glob(filepath.Join(c.Dir, "echo-*.pid"))
	for _, f := range pids {
		if b, err := os.ReadFile(f); err == nil {
			if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && pid > 1 {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	}
	var err error
	if c.Topo != nil {
		err = c.Topo.Close()
	}
	os.RemoveAll(c.Dir)
	return err
}

// prefixWriter prefixes every line with the node's name.
func prefixWriter(w io.Writer, name string) io.Writer {
	return &prefixed{w: w, prefix: []byte(name + ": ")}
}

type prefixed struct {
	mu     sync.Mutex
	w      io.Writer
	prefix []byte
	mid    bool
}

func (p *prefixed) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := len(b)
	for len(b) > 0 {
		if !p.mid {
			if _, err := p.w.Write(p.prefix); err != nil {
				return 0, err
			}
		}
		i := strings.IndexByte(string(b), '\n')
		if i < 0 {
			p.mid = true
			_, err := p.w.Write(b)
			return n, err
		}
		if _, err := p.w.Write(b[:i+1]); err != nil {
			return 0, err
		}
		b = b[i+1:]
		p.mid = false
	}
	return n, nil
}

// lsbEcho is an LSB init script for the echo service: it detaches the
// daemon (setsid) and keeps a pid file per node, so the service survives
// its agent, and status answers with LSB codes.
func lsbEcho(dir, bin string) string {
	return fmt.Sprintf(`#!/bin/sh
PIDF=%[1]s/echo-$TANDEM_NODE.pid
# A zombie counts as gone: PID 1 here (a container's) may be slow to reap it.
running() { [ -f "$PIDF" ] || return 1; st=$(awk '{print $3}' "/proc/$(cat "$PIDF")/stat" 2>/dev/null); [ -n "$st" ] && [ "$st" != Z ]; }
wait_for() { i=0; while [ $i -lt 50 ]; do if [ "$1" = up ]; then running && return 0; else running || return 0; fi; sleep 0.1; i=$((i+1)); done; return 1; }
case "$1" in
start)
	running && exit 0
	setsid -f sh -c 'echo $$ > "$0"; exec "$1" echo --listen %[3]s:%[4]d --name "$2"' "$PIDF" %[2]s "$TANDEM_NODE" </dev/null >/dev/null 2>&1
	wait_for up || exit 1 ;;
stop)
	running || { rm -f "$PIDF"; exit 0; }
	kill "$(cat "$PIDF")"
	wait_for down || kill -9 "$(cat "$PIDF")"
	rm -f "$PIDF" ;;
status)
	# A test hangs one status on purpose: the monitor must time out and
	# its process group be killed.
	if [ -e "%[1]s/hang-status-$TANDEM_NODE" ]; then rm -f "%[1]s/hang-status-$TANDEM_NODE"; sleep 3600; fi
	running && exit 0
	[ -f "$PIDF" ] && exit 1
	exit 3 ;;
*) exit 2 ;;
esac
`, dir, bin, Floating, EchoPort)
}

// powerOffScript is the lab's fence device (kind exec): "off" powers the
// node named in TANDEM_FENCE_NODE off — every link in its namespace down,
// every process there killed — and notes when in DIR/fenced-NODE; status
// says off once that is done. With DIR/fence-fails present the device is
// broken: every action fails.
func powerOffScript(dir, prefix string) string {
	return fmt.Sprintf(`#!/bin/sh
dir=%q
ns=%q-"$TANDEM_FENCE_NODE"
if [ -e "$dir/fence-fails" ]; then echo "lab power switch: no answer" >&2; exit 1; fi
case "$TANDEM_FENCE_ACTION" in
off|reboot)
	for l in eth0 eth1; do ip -n "$ns" link set "$l" down 2>/dev/null; done
	ip netns pids "$ns" | xargs -r kill -9
	date +%%s.%%N > "$dir/fenced-$TANDEM_FENCE_NODE"
	;;
status|monitor)
	[ -e "$dir/fenced-$TANDEM_FENCE_NODE" ] && exit 2
	;;
esac
exit 0
`, dir, prefix)
}

// FencedAt is when the lab's fence device powered node n off (zero: never).
func (c *Cluster) FencedAt(n string) time.Time {
	b, err := os.ReadFile(filepath.Join(c.Dir, "fenced-"+n))
	if err != nil {
		return time.Time{}
	}
	var sec, nsec int64
	if _, err := fmt.Sscanf(strings.TrimSpace(string(b)), "%d.%d", &sec, &nsec); err != nil {
		return time.Time{}
	}
	return time.Unix(sec, nsec)
}

// BreakFencing makes the lab's fence device fail (true) or work again.
func (c *Cluster) BreakFencing(broken bool) error {
	p := filepath.Join(c.Dir, "fence-fails")
	if !broken {
		return os.Remove(p)
	}
	return os.WriteFile(p, nil, 0o600)
}

// bmcPassword is the simulated BMCs' admin password (lab only).
const bmcPassword = "lab-bmc"

// BMCPort is the UDP port of node i's simulated BMC on the observer's address.
func BMCPort(i int) int { return 9001 + i }

// startBMCs starts an ipmi_sim per node in the observer's namespace. Its
// chassis control is the lab's power switch: power off runs the switch's
// "off" for the node, power status reads whether it ran.
func (c *Cluster) startBMCs() error {
	for i, n := range c.Spec.Nodes {
		dir := filepath.Join(c.Dir, "bmc-"+n)
		if err := os.MkdirAll(filepath.Join(dir, "state"), 0o700); err != nil {
			return fmt.Errorf("lab: %w", err)
		}
		chassis := fmt.Sprintf(`#!/bin/sh
# ipmi_sim's chassis_control: "get power" prints power:0|1, "set power 0|1".
[ -e %[1]q/fence-fails ] && exit 1
case "$1" in
get) if [ -e %[1]q/fenced-%[2]s ]; then echo power:0; else echo power:1; fi ;;
set) [ "$2" = power ] && [ "$3" = 0 ] && TANDEM_FENCE_ACTION=off TANDEM_FENCE_NODE=%[2]s %[1]q/poweroff ;;
esac
exit 0
`, c.Dir, n)
		lan := fmt.Sprintf(`name "bmc%[1]s"
set_working_mc 0x20
  startlan 1
    addr %[2]s %[3]d
    priv_limit admin
    allowed_auths_callback none md2 md5 straight
    allowed_auths_user none md2 md5 straight
    allowed_auths_operator none md2 md5 straight
    allowed_auths_admin none md2 md5 straight
    guid a123456789abcdefa123456789abcde%[4]d
  endlan
  chassis_control "%[5]s/chassis"
  user 2 true "admin" "%[6]s" admin 10 none md2 md5 straight
`, n, c.Topo.ObserverAddr(), BMCPort(i), i, dir, bmcPassword)
		emu := "mc_setbmc 0x20\nmc_add 0x20 0 no-device-sdrs 0x23 9 8 0x9f 0x1291 0xf02 persist_sdr\nmc_enable 0x20\n"
		for name, body := range map[string]string{"chassis": chassis, "lan.conf": lan, "sim.emu": emu} {
			if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o700); err != nil {
				return fmt.Errorf("lab: %w", err)
			}
		}
		cmd := exec.Command("ipmi_sim", "-c", filepath.Join(dir, "lan.conf"), "-f", filepath.Join(dir, "sim.emu"), "-s", filepath.Join(dir, "state"), "-n")
		cmd.Stdout, cmd.Stderr = c.Spec.Log, c.Spec.Log
		if err := c.Topo.Start("obs", cmd); err != nil {
			return fmt.Errorf("lab: ipmi_sim for %s: %w", n, err)
		}
	}
	return nil
}

// BMCPower is what node n's simulated BMC says of its power, through
// ipmitool from the observer's namespace ("Chassis Power is off").
func (c *Cluster) BMCPower(n string) (string, error) {
	i := slices.Index(c.Spec.Nodes, n)
	var out []byte
	err := c.Topo.Do("obs", func() (err error) {
		out, err = exec.Command("ipmitool", "-I", "lan", "-H", c.Topo.ObserverAddr().String(), "-p", fmt.Sprint(BMCPort(i)),
			"-U", "admin", "-P", bmcPassword, "chassis", "power", "status").CombinedOutput()
		return err
	})
	return strings.TrimSpace(string(out)), err
}
