package config

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite golden files")

const good = `cluster: t
key_file: /tmp/k
nodes:
  - {name: a, links: [198.18.0.10]}
  - {name: b, links: [198.18.0.11]}
resources:
  - name: vip
    type: ip
    params: {address: 198.18.0.100/24, interface: eth0, label: "eth0:0"}
  - name: svc
    type: exec
    params: {daemon: "sleep 100"}
groups: [{name: g, members: [vip, svc]}]
constraints: [{location: g, node: a, score: 50}]
`

func TestDefaults(t *testing.T) {
	m, err := Parse("t.yaml", []byte(good))
	if err != nil {
		t.Fatal(err)
	}
	if m.Port != 694 || m.Timing.Keepalive != 100*time.Millisecond || m.Timing.Warntime != 500*time.Millisecond ||
		m.Timing.Deadtime != time.Second || m.Timing.Initdead != 10*time.Second {
		t.Errorf("defaults: port %d timing %+v", m.Port, m.Timing)
	}
	if m.Quorum.Mode != "two_node" || !m.Quorum.WaitForAll || m.StateDir != DefaultStateDir || m.Socket != DefaultSocket {
		t.Errorf("defaults: quorum %+v state %s socket %s", m.Quorum, m.StateDir, m.Socket)
	}
	r := m.Resources[0]
	if r.IP.ARPCount != 5 || r.IP.ARPInterval != 200*time.Millisecond || r.Ops.StartTimeout != 20*time.Second || r.Ops.MonitorInterval != 10*time.Second {
		t.Errorf("resource defaults: %+v %+v", r.IP, r.Ops)
	}
	if m.Hash == 0 {
		t.Error("no config hash")
	}
}

func TestImplicitGroups(t *testing.T) {
	src := strings.Replace(good, "groups: [{name: g, members: [vip, svc]}]\nconstraints: [{location: g, node: a, score: 50}]\n", "", 1)
	m, err := Parse("t.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Groups) != 2 || !m.Groups[0].Implicit || m.Groups[0].Members[0] != "vip" {
		t.Fatalf("groups %+v", m.Groups)
	}
}

// Every error names file:line:col, the field, and what is allowed.
func TestErrors(t *testing.T) {
	tests := []struct {
		name, from, to, want string
	}{
		{"unknown top-level key", "cluster: t\n", "cluster: t\nclustr: x\n", `t.yaml:2:1: (top level): unknown field "clustr"; allowed: cluster, key_file, port`},
		{"unknown nested key", "key_file: /tmp/k\n", "key_file: /tmp/k\ntiming: {keepalive: 100ms, deadtim: 1s}\n", `t.yaml:3:28: timing: unknown field "deadtim"; allowed: keepalive, warntime, deadtime, initdead`},
		{"bad duration", "key_file: /tmp/k\n", "key_file: /tmp/k\ntiming: {keepalive: 100}\n", `t.yaml:3:10: timing.keepalive: "100" is not a duration: write it like 100ms`},
		{"timing order", "key_file: /tmp/k\n", "key_file: /tmp/k\ntiming: {deadtime: 400ms}\n", `timing.deadtime: 400ms must be longer than warntime (500ms)`},
		{"majority with two voters", "key_file: /tmp/k\n", "key_file: /tmp/k\nquorum: {mode: majority}\n", `t.yaml:3:10: quorum.mode: majority needs at least 3 voters (nodes with voter: true, and witnesses), found 2: with two voters losing either stops everything; add a witness, or use two_node`},
		{"witness without majority", "key_file: /tmp/k\n", "key_file: /tmp/k\nwitnesses: [{name: w1, links: [198.18.0.30]}]\n", `t.yaml:3:1: witnesses: a witness is a voter of majority mode: set quorum.mode: majority, or remove the list`},
		{"voter in two_node", "links: [198.18.0.11]}", "links: [198.18.0.11], voter: false}", `nodes[1].voter: votes are counted in majority mode only`},
		{"witness named like a node", "key_file: /tmp/k\n", "key_file: /tmp/k\nquorum: {mode: majority}\nwitnesses: [{name: a, links: [198.18.0.30]}]\n", `witnesses[0].name: "a" is listed twice (node and witness names share one space)`},
		{"witness links", "key_file: /tmp/k\n", "key_file: /tmp/k\nquorum: {mode: majority}\nwitnesses: [{name: w1, links: [198.18.0.30, 198.19.0.30]}]\n", `witnesses[0].links: 2 links, but nodes[0] has 1`},
		{"lease breaks R1", "key_file: /tmp/k\n", "key_file: /tmp/k\nquorum: {mode: majority}\nwitnesses: [{name: w1, links: [198.18.0.30]}]\ntiming: {lease: 900ms}\n", `timing.lease: 900ms breaks R1`},
		{"bad mode", "key_file: /tmp/k\n", "key_file: /tmp/k\nquorum: {mode: three_node}\n", `quorum.mode: "three_node": allowed: two_node (two nodes, no witness), majority`},
		{"port", "key_file: /tmp/k\n", "key_file: /tmp/k\nport: 70000\n", `t.yaml:3:1: port: 70000: allowed: 1..65535`},
		{"label prefix", `label: "eth0:0"`, `label: "eth1:0"`, `t.yaml:9:57: resources[0].params.label: "eth1:0" must start with the interface name "eth0"`},
		{"label too long", `label: "eth0:0"`, `label: "eth0:0123456789abc"`, `resources[0].params.label: "eth0:0123456789abc" is 18 characters: allowed: at most 15`},
		{"label on ipv6", `198.18.0.100/24, interface: eth0, label: "eth0:0"`, `2001:db8::100/64, interface: eth0, label: "eth0:0"`, `resources[0].params.label: labels are for IPv4 addresses only`},
		{"bad address", "198.18.0.100/24", "198.18.0.300/24", `resources[0].params.address: "198.18.0.300/24" is not an address with prefix length`},
		{"unknown param", `label: "eth0:0"}`, `label: "eth0:0", nic: eth0}`, `resources[0].params.nic: unknown param for type ip; allowed: address, interface, label, arp_count, arp_interval, arp_refresh`},
		{"unknown type", "type: exec", "type: upstart", `t.yaml:11:5: resources[1].type: "upstart": allowed: ip, exec, ocf:PROVIDER:TYPE, lsb:NAME, systemd:UNIT`},
		{"systemd binds_to", "type: exec\n    params: {daemon: \"sleep 100\"}", "type: \"systemd:nginx\"\n    params: {binds_to: tandem}", `resources[1].params.binds_to: "tandem": allowed: a unit name such as tandem.service, or none`},
		{"exec needs commands", `params: {daemon: "sleep 100"}`, `params: {start: "x"}`, `resources[1].params: needs daemon: COMMAND, or start: and stop: commands`},
		{"unknown op", "params: {daemon: \"sleep 100\"}\n", "params: {daemon: \"sleep 100\"}\n    ops: {restart: {timeout: 1s}}\n", `resources[1].ops: unknown field "restart"; allowed: start, stop, monitor`},
		{"monitor on_fail", "params: {daemon: \"sleep 100\"}\n", "params: {daemon: \"sleep 100\"}\n    ops: {monitor: {interval: 5s, on_fail: reboot}}\n", `resources[1].ops.monitor.on_fail: "reboot": allowed: restart, move, standby, stop, ignore, block`},
		{"start on_fail", "params: {daemon: \"sleep 100\"}\n", "params: {daemon: \"sleep 100\"}\n    ops: {start: {on_fail: ignore}}\n", `resources[1].ops.start.on_fail: "ignore": allowed: restart, move, standby, stop, block (a failed start did not start: it cannot be ignored)`},
		{"stop on_fail", "params: {daemon: \"sleep 100\"}\n", "params: {daemon: \"sleep 100\"}\n    ops: {stop: {on_fail: restart}}\n", `resources[1].ops.stop.on_fail: "restart": allowed: block (a resource that may still run must not start elsewhere; fence needs fencing.enabled)`},
		{"missing member", "members: [vip, svc]", "members: [vip, svcx]", `t.yaml:13:35: groups[0].members[1]: no resource named "svcx"`},
		{"bad score", "score: 50", "score: lots", `constraints[0].score: "lots": allowed: a whole number, INFINITY or -INFINITY`},
		{"unknown node", "node: a, score", "node: c, score", `constraints[0].node: no node named "c"`},
		{"three nodes", "  - {name: b, links: [198.18.0.11]}\n", "  - {name: b, links: [198.18.0.11]}\n  - {name: c, links: [198.18.0.12]}\n", `nodes: two_node mode needs exactly 2 nodes, found 3`},
		{"link count", "  - {name: b, links: [198.18.0.11]}\n", "  - {name: b, links: [198.18.0.11, 198.18.1.11]}\n", `nodes[1].links: 2 links, but nodes[0] has 1`},
		{"duplicate link", "links: [198.18.0.11]", "links: [198.18.0.10]", `nodes[1].links[0]: 198.18.0.10 is already a link of a`},
		{"bad node name", "{name: b,", "{name: B_x,", `nodes[1].name: node name "B_x": allowed: lower-case letters`},
		{"fencing", "key_file: /tmp/k\n", "key_file: /tmp/k\nfencing: {enabled: true}\n", `fencing.devices: no device can fence node a: with fencing enabled every node needs one`},
		{"watchdog path", "key_file: /tmp/k\n", "key_file: /tmp/k\nwatchdog: {device: watchdog}\n", `watchdog.device: "watchdog": want an absolute path, e.g. /dev/watchdog`},
		{"watchdog without device", "key_file: /tmp/k\n", "key_file: /tmp/k\nwatchdog: {timeout: 5s}\n", `watchdog.device: required with watchdog.timeout`},
		{"watchdog timeout", "key_file: /tmp/k\n", "key_file: /tmp/k\nwatchdog: {device: /dev/watchdog, timeout: 500ms}\n", `watchdog.timeout: 500ms: at least 1s`},
		{"fence device agent", "key_file: /tmp/k\n", "key_file: /tmp/k\nfencing: {devices: [{name: ipmi-a, agent: ipmilan, nodes: [a]}]}\n", `fencing.devices[0].agent: "ipmilan": allowed: a fence agent's name (fence_ipmilan, fence_redfish, …, in /usr/sbin) or an absolute path`},
		{"fence device node", "key_file: /tmp/k\n", "key_file: /tmp/k\nfencing: {devices: [{name: ipmi-a, agent: fence_ipmilan, nodes: [c]}]}\n", `fencing.devices[0].nodes[0]: no node named "c"`},
		{"fence device kind", "key_file: /tmp/k\n", "key_file: /tmp/k\nfencing: {devices: [{name: x, nodes: [a]}]}\n", `fencing.devices[0]: agent: fence_NAME (a fence agent) or exec: COMMAND is required`},
		{"fence action param", "key_file: /tmp/k\n", "key_file: /tmp/k\nfencing: {devices: [{name: x, agent: fence_ipmilan, params: {action: off}, nodes: [a]}]}\n", `fencing.devices[0].params.action: tandem sets action itself for each fence`},
		{"fence topology", "key_file: /tmp/k\n", "key_file: /tmp/k\nfencing: {devices: [{name: x, agent: fence_ipmilan, nodes: [a]}], topology: {b: [[x]]}}\n", `fencing.topology.b[0][0]: device "x" does not list b among its nodes`},
		{"wrong type", "key_file: /tmp/k\n", "key_file: /tmp/k\nport: [1]\n", `t.yaml:3:7: port: wrong type`},
		{"syntax", "cluster: t\n", "cluster: [t\n", `t.yaml:2:1: `},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !strings.Contains(good, tt.from) {
				t.Fatalf("test bug: %q not in the base config", tt.from)
			}
			_, err := Parse("t.yaml", []byte(strings.Replace(good, tt.from, tt.to, 1)))
			if err == nil {
				t.Fatal("no error")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error:\n%v\nwant it to contain:\n%s", err, tt.want)
			}
		})
	}
}

func TestExampleAndReport(t *testing.T) {
	m, err := Load(filepath.Join("..", "..", "examples", "freeswitch-pair.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if g := m.Groups[0]; g.Name != "voice" || strings.Join(g.Members, ",") != "vip,dahdi,fonulator,freeswitch,sip" {
		t.Fatalf("voice group %+v", g)
	}
	if ip := m.Resources[0].IP; ip.Label != "eth0:0" || ip.Address.String() != "10.101.20.219/24" {
		t.Fatalf("vip %+v", ip)
	}
	got := Check(m).String()
	golden := filepath.Join("testdata", "freeswitch-pair.check")
	if *update {
		if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run with -update to create)", err)
	}
	if got != string(want) {
		t.Fatalf("config check report changed (rerun with -update and review the diff):\n%s", got)
	}
	for _, w := range []string{"two_node without fencing or witness: if the nodes lose sight of each other both will take the floating IP 10.101.20.219", "one link between the nodes"} {
		if !strings.Contains(got, w) {
			t.Errorf("report lacks warning %q", w)
		}
	}
}

func TestWarnings(t *testing.T) {
	src := strings.Replace(good, "key_file: /tmp/k\n", "key_file: /tmp/k\ntiming: {keepalive: 300ms, warntime: 500ms, deadtime: 1s, initdead: 1s}\n", 1)
	m, err := Parse("t.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	r := Check(m).String()
	for _, w := range []string{"deadtime is only 3 heartbeats", "false failover under 10% loss is too likely", "initdead 1s is less than twice deadtime"} {
		if !strings.Contains(r, w) {
			t.Errorf("report lacks %q:\n%s", w, r)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(good))
	if b, err := os.ReadFile(filepath.Join("..", "..", "examples", "freeswitch-pair.yaml")); err == nil {
		f.Add(b)
	}
	f.Add([]byte("cluster: [x\n"))
	f.Add([]byte("nodes: {a: 1}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := Parse("fuzz.yaml", data)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "fuzz.yaml") {
				t.Fatalf("error does not name the file: %v", err)
			}
			return
		}
		// A model that parsed is self-consistent.
		names := map[string]bool{}
		for _, r := range m.Resources {
			names[r.Name] = true
			if (r.Kind == KindIP) != (r.IP != nil) || (r.Kind == KindExec) != (r.Exec != nil) {
				t.Fatalf("resource %s kind %s without its params", r.Name, r.Kind)
			}
		}
		for _, g := range m.Groups {
			for _, mem := range g.Members {
				if !names[mem] {
					t.Fatalf("group %s has unknown member %s", g.Name, mem)
				}
			}
		}
		if m.Timing.Keepalive <= 0 || m.Timing.Deadtime <= m.Timing.Warntime {
			t.Fatalf("bad timing %+v", m.Timing)
		}
		_ = Check(m).String()
	})
}

// Majority mode's report prints R1–R5 with the numbers filled in and the
// R6 bound per group; a golden file shows every change as a diff.
func TestMajorityReport(t *testing.T) {
	m, err := Load(filepath.Join("testdata", "majority-witness.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if m.Voters() != 3 || len(m.Witnesses) != 1 || !m.Nodes[0].Voter {
		t.Fatalf("voters %d, witnesses %+v, nodes %+v", m.Voters(), m.Witnesses, m.Nodes)
	}
	got := Check(m).String()
	golden := filepath.Join("testdata", "majority-witness.check")
	if *update {
		if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run with -update to create)", err)
	}
	if got != string(want) {
		t.Fatalf("config check report changed (rerun with -update and review the diff):\n%s", got)
	}
	for _, rl := range Check(m).Rules {
		if !rl.Holds {
			t.Errorf("%s broken with the defaults: %s", rl.Name, rl.Text)
		}
	}
}

// The R1 limit config check suggests is itself within R1.
func TestLeaseLimitSuggested(t *testing.T) {
	tm := Timing{Keepalive: 100 * time.Millisecond, Deadtime: time.Second, Lease: 784 * time.Millisecond}
	if Stretch(tm.Lease)+tm.Slop() >= tm.ElectionTimeout() {
		t.Fatalf("784ms breaks R1")
	}
	tm.Lease = 786 * time.Millisecond
	if Stretch(tm.Lease)+tm.Slop() < tm.ElectionTimeout() {
		t.Fatalf("786ms should break R1")
	}
}

// The witness example is valid majority mode, and explains its R2 wait.
func TestWitnessExample(t *testing.T) {
	m, err := Load(filepath.Join("..", "..", "examples", "freeswitch-witness.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if m.Quorum.Mode != ModeMajority || m.Voters() != 3 || m.Witnesses[0].Name != "w1" {
		t.Fatalf("quorum %+v, voters %d, witnesses %+v", m.Quorum, m.Voters(), m.Witnesses)
	}
	got := Check(m).String()
	for _, w := range []string{"R1 ok", "R4 ok", "covers only vip"} {
		if !strings.Contains(got, w) {
			t.Errorf("report lacks %q:\n%s", w, got)
		}
	}
}

// Several monitors, as Pacemaker's several monitor ops with their own
// interval, timeout, on_fail and OCF_CHECK_LEVEL.
func TestSeveralMonitors(t *testing.T) {
	y := strings.Replace(good, "params: {daemon: \"sleep 100\"}\n", "params: {daemon: \"sleep 100\"}\n    ops: {monitor: [{interval: 5s, timeout: 2s}, {interval: 60s, timeout: 30s, on_fail: standby}]}\n", 1)
	m, err := Parse("t.yaml", []byte(y))
	if err != nil {
		t.Fatal(err)
	}
	o := m.Resources[1].Ops
	if o.MonitorInterval != 5*time.Second || o.MonitorTimeout != 2*time.Second || len(o.MoreMonitors) != 1 ||
		o.MoreMonitors[0] != (Monitor{Interval: time.Minute, Timeout: 30 * time.Second, OnFail: OnFailStandby}) {
		t.Fatalf("ops %+v", o)
	}
	for _, tc := range []struct{ monitors, want string }{
		{"[{interval: 5s}, {interval: 5s}]", "resources[1].ops.monitor[1].interval: 5s: another monitor has this interval; each needs its own"},
		{"[{interval: 5s}, {interval: 10s, depth: 10}]", "resources[1].ops.monitor: depth is OCF_CHECK_LEVEL: for ocf resources only"},
		{"[{interval: 5s, every: 1}]", `resources[1].ops.monitor[0]: unknown field "every"; allowed: interval, timeout, on_fail, depth`},
		{"[]", "resources[1].ops.monitor: an empty list"},
		{"5s", "resources[1].ops.monitor: want a mapping {interval, timeout, on_fail, depth} or a list of them"},
	} {
		y := strings.Replace(good, "params: {daemon: \"sleep 100\"}\n", "params: {daemon: \"sleep 100\"}\n    ops: {monitor: "+tc.monitors+"}\n", 1)
		if _, err := Parse("t.yaml", []byte(y)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("monitor: %s: %v, want %q", tc.monitors, err, tc.want)
		}
	}
}
