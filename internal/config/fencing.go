package config

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// FenceAgentDir is where Debian's fence-agents installs fence_* agents.
const FenceAgentDir = "/usr/sbin"

// Fencing is the fence devices and how to use them (docs/fencing.md). With
// Enabled, a two_node cluster fences a peer before taking over from it,
// and in majority mode the DC fences a node it does not hear before moving
// a group off it.
type Fencing struct {
	Enabled bool
	Timeout time.Duration // a whole fence of one node, all levels (stonith-timeout); default 60s
	Retries int           // further attempts per device; default 2
	Delay   time.Duration // the node not running the highest-priority group waits this long before fencing (priority-fencing-delay)
	// MonitorInterval is how often each device's monitor action runs while
	// fencing is enabled (default 60s, Pacemaker's; 0 never).
	MonitorInterval time.Duration
	Devices         []FenceDevice
	Topology        map[string][][]string // node → levels, each a list of device names; tried in order
}

// FenceDevice is one device: a fence agent or a command.
type FenceDevice struct {
	Name    string
	Agent   string            // absolute path of a fence agent, e.g. /usr/sbin/fence_ipmilan
	Command string            // kind exec instead: run by sh -c
	Params  map[string]string // the agent's key=value parameters
	Nodes   []string          // the nodes it can fence
	Plugs   map[string]string // node → plug (outlet, VM name), for devices of several nodes
}

func (v *validator) fencing(r *rawConfig, m *Model) {
	f := r.Fencing
	p := "fencing"
	fe := Fencing{Timeout: v.duration(p+".timeout", f.Timeout, time.Minute, false), Retries: 2, Delay: v.duration(p+".delay", f.Delay, 0, true),
		MonitorInterval: v.duration(p+".monitor_interval", f.Monitor, time.Minute, true)}
	if f.Retries != nil {
		if *f.Retries < 0 {
			v.errf(p+".retries", "%d: allowed: 0 or more further attempts per device", *f.Retries)
		} else {
			fe.Retries = *f.Retries
		}
	}
	isNode := func(n string) bool { return slices.ContainsFunc(m.Nodes, func(nd Node) bool { return nd.Name == n }) }
	byName := map[string]*FenceDevice{}
	for i, d := range f.Devices {
		dp := fmt.Sprintf("%s.devices[%d]", p, i)
		fd := FenceDevice{Name: d.Name, Params: map[string]string{}, Plugs: d.Plugs, Nodes: d.Nodes}
		if v.name(dp+".name", "fence device", d.Name) && byName[d.Name] != nil {
			v.errf(dp+".name", "%q is the name of another fence device", d.Name)
		}
		switch {
		case d.Agent != "" && d.Exec != "":
			v.errf(dp, "agent and exec both set: a device is one or the other")
		case d.Agent != "":
			fd.Agent = d.Agent
			if !filepath.IsAbs(d.Agent) {
				if !strings.HasPrefix(d.Agent, "fence_") || strings.Contains(d.Agent, "/") {
					v.errf(dp+".agent", "%q: allowed: a fence agent's name (fence_ipmilan, fence_redfish, …, in %s) or an absolute path", d.Agent, FenceAgentDir)
				}
				fd.Agent = filepath.Join(FenceAgentDir, d.Agent)
			}
		case d.Exec != "":
			fd.Command = d.Exec
			if len(d.Params) > 0 {
				v.errf(dp+".params", "params are for fence agents; an exec device gets TANDEM_FENCE_ACTION and TANDEM_FENCE_NODE")
			}
		default:
			v.errf(dp, "agent: fence_NAME (a fence agent) or exec: COMMAND is required")
		}
		for _, k := range sortedAnyKeys(d.Params) {
			s, ok := scalar(d.Params[k])
			if !ok {
				v.errf(dp+".params."+k, "want a single value")
			}
			if k == "action" || k == "plug" || k == "port" {
				v.errf(dp+".params."+k, "tandem sets %s itself for each fence", k)
			}
			fd.Params[k] = s
		}
		if len(d.Nodes) == 0 {
			v.errf(dp+".nodes", "required: the nodes this device can fence")
		}
		for j, n := range d.Nodes {
			if !isNode(n) {
				v.errf(fmt.Sprintf("%s.nodes[%d]", dp, j), "no node named %q (witnesses run nothing and are never fenced)", n)
			}
		}
		for n := range d.Plugs {
			if !slices.Contains(d.Nodes, n) {
				v.errf(dp+".plugs."+n, "%q is not among the device's nodes", n)
			}
		}
		fe.Devices = append(fe.Devices, fd)
		byName[d.Name] = &fe.Devices[len(fe.Devices)-1]
	}
	fe.Topology = map[string][][]string{}
	for _, n := range sortedLevelKeys(f.Topology) {
		tp := p + ".topology." + n
		if !isNode(n) {
			v.errf(tp, "no node named %q", n)
		}
		for li, level := range f.Topology[n] {
			if len(level) == 0 {
				v.errf(fmt.Sprintf("%s[%d]", tp, li), "an empty level: list the devices that must all succeed")
			}
			for di, name := range level {
				d := byName[name]
				switch {
				case d == nil:
					v.errf(fmt.Sprintf("%s[%d][%d]", tp, li, di), "no fence device named %q", name)
				case !slices.Contains(d.Nodes, n):
					v.errf(fmt.Sprintf("%s[%d][%d]", tp, li, di), "device %q does not list %s among its nodes", name, n)
				}
			}
		}
		fe.Topology[n] = f.Topology[n]
	}
	// Without a topology a node's devices are tried one per level, in order.
	for _, nd := range m.Nodes {
		if _, ok := fe.Topology[nd.Name]; ok {
			continue
		}
		for _, d := range fe.Devices {
			if slices.Contains(d.Nodes, nd.Name) {
				fe.Topology[nd.Name] = append(fe.Topology[nd.Name], []string{d.Name})
			}
		}
	}
	if f.Enabled {
		fe.Enabled = true
		for _, nd := range m.Nodes {
			if len(fe.Topology[nd.Name]) == 0 {
				v.errf(p+".devices", "no device can fence node %s: with fencing enabled every node needs one (list it under a device's nodes)", nd.Name)
			}
		}
	}
	m.Fencing = fe
}

// fencingLines explains the fence devices for config check and warns about
// nodes no device can fence.
func (m *Model) fencingLines(warn func(string, ...any)) []string {
	fe := m.Fencing
	if len(fe.Devices) == 0 {
		return nil
	}
	var out []string
	for _, d := range fe.Devices {
		what := "agent " + d.Agent
		if d.Command != "" {
			what = "command " + d.Command
		}
		out = append(out, fmt.Sprintf("fence device %s: %s, fences %s", d.Name, what, strings.Join(d.Nodes, ", ")))
	}
	for _, nd := range m.Nodes {
		levels := fe.Topology[nd.Name]
		if len(levels) == 0 {
			warn("no fence device can fence node %s", nd.Name)
			continue
		}
		var ls []string
		for _, l := range levels {
			ls = append(ls, strings.Join(l, " + "))
		}
		out = append(out, fmt.Sprintf("fencing %s: %s (timeout %v, %d retries per device)", nd.Name, strings.Join(ls, ", then "), fe.Timeout, fe.Retries))
	}
	return out
}

func sortedAnyKeys(m map[string]any) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

func sortedLevelKeys(m map[string][][]string) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

// Watchdog is self-fencing by a hardware watchdog (SBD's diskless idea):
// the agent pets Device only while it may run resources, so a node that
// keeps them without a lease, or whose agent freezes, is reset.
type Watchdog struct {
	Device  string        // "" for none
	Timeout time.Duration // the hardware resets this long after the last pet (default 5s)
}

type rawWatchdog struct {
	Device  string `yaml:"device"`
	Timeout string `yaml:"timeout"`
}

func (v *validator) watchdog(r *rawConfig, m *Model) {
	w := r.Watchdog
	if w.Device == "" {
		if w.Timeout != "" {
			v.errf("watchdog.device", "required with watchdog.timeout: the watchdog device, e.g. /dev/watchdog")
		}
		return
	}
	if !filepath.IsAbs(w.Device) {
		v.errf("watchdog.device", "%q: want an absolute path, e.g. /dev/watchdog", w.Device)
	}
	m.Watchdog = Watchdog{Device: w.Device, Timeout: v.duration("watchdog.timeout", w.Timeout, 5*time.Second, false)}
	// The agent pets once per loop turn, at least every keepalive.
	if t := m.Watchdog.Timeout; t > 0 && t < time.Second {
		v.errf("watchdog.timeout", "%v: at least 1s (watchdog drivers count whole seconds)", t)
	}
}
