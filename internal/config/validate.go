package config

import (
	"fmt"
	"net/netip"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

type validator struct {
	file string
	idx  *posIndex
	errs Errors
}

func (v *validator) errf(path, format string, a ...any) {
	line, col := v.idx.pos(path)
	v.errs = append(v.errs, Error{File: v.file, Line: line, Col: col, Field: path, Msg: fmt.Sprintf(format, a...)})
}

var (
	nameRe    = regexp.MustCompile(`^[a-z0-9]([a-z0-9_.-]{0,61}[a-z0-9])?$`)
	clusterRe = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,62}$`)
)

const nameRule = "lower-case letters, digits, '-', '_' and '.', 1..63 characters, starting and ending with a letter or digit"

func (v *validator) name(path, kind, s string) bool {
	if s == "" {
		v.errf(path, "%s name is required", kind)
		return false
	}
	if !nameRe.MatchString(s) {
		v.errf(path, "%s name %q: allowed: %s", kind, s, nameRule)
		return false
	}
	return true
}

// duration parses a Go duration like 100ms; empty gives def.
func (v *validator) duration(path, s string, def time.Duration, allowZero bool) time.Duration {
	if s == "" {
		return def
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		v.errf(path, "%q is not a duration: write it like 100ms, 2s or 1m30s", s)
		return def
	}
	if d < 0 || (d == 0 && !allowZero) {
		v.errf(path, "%q must be more than 0", s)
		return def
	}
	return d
}

func (v *validator) model(r *rawConfig) *Model {
	m := &Model{
		Cluster:  r.Cluster,
		KeyFile:  orDefault(r.KeyFile, DefaultKeyFile),
		Port:     DefaultPort,
		StateDir: orDefault(r.StateDir, DefaultStateDir),
		Socket:   orDefault(r.Socket, DefaultSocket),
		Defaults: Defaults{Stickiness: r.Defaults.Stickiness},
	}
	switch {
	case r.Cluster == "":
		v.errf("cluster", "required: a name for this cluster, e.g. cluster: fs-pair (nodes of other clusters are ignored by it)")
	case !clusterRe.MatchString(r.Cluster):
		v.errf("cluster", "%q: allowed: lower-case letters, digits, '-' and '_', up to 63 characters", r.Cluster)
	}
	if r.Port != nil {
		if *r.Port < 1 || *r.Port > 65535 {
			v.errf("port", "%d: allowed: 1..65535 (default %d, Heartbeat's udpport)", *r.Port, DefaultPort)
		} else {
			m.Port = *r.Port
		}
	}
	v.timing(r, m)
	v.quorum(r, m)
	v.lease(m)
	v.members(r, m)
	v.resources(r, m)
	v.groups(r, m)
	v.placement(r, m)
	v.constraints(r, m)
	v.metrics(r, m)
	v.health(r, m)
	v.alerts(r, m)
	v.fencing(r, m)
	v.watchdog(r, m)
	return m
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func (v *validator) timing(r *rawConfig, m *Model) {
	t := &m.Timing
	t.Keepalive = v.duration("timing.keepalive", r.Timing.Keepalive, DefaultKeepalive, false)
	t.Warntime = v.duration("timing.warntime", r.Timing.Warntime, DefaultWarntime, false)
	t.Deadtime = v.duration("timing.deadtime", r.Timing.Deadtime, DefaultDeadtime, false)
	t.Initdead = v.duration("timing.initdead", r.Timing.Initdead, DefaultInitdead, false)
	t.Lease = v.duration("timing.lease", r.Timing.Lease, DefaultLease, false)
	if t.Warntime <= t.Keepalive {
		v.errf("timing.warntime", "%v must be longer than keepalive (%v)", t.Warntime, t.Keepalive)
	}
	if t.Deadtime <= t.Warntime {
		v.errf("timing.deadtime", "%v must be longer than warntime (%v)", t.Deadtime, t.Warntime)
	}
	if t.Deadtime < 2*t.Keepalive {
		v.errf("timing.deadtime", "%v must be at least twice keepalive (%v), or one late heartbeat kills a peer", t.Deadtime, t.Keepalive)
	}
	if t.Initdead < t.Deadtime {
		v.errf("timing.initdead", "%v must be at least deadtime (%v)", t.Initdead, t.Deadtime)
	}
}

func (v *validator) quorum(r *rawConfig, m *Model) {
	m.Quorum.Mode = r.Quorum.Mode
	switch r.Quorum.Mode {
	case "":
		m.Quorum.Mode = ModeTwoNode
	case ModeTwoNode, ModeMajority:
	default:
		v.errf("quorum.mode", "%q: allowed: two_node (two nodes, no witness), majority (three or more voters: nodes and witnesses)", r.Quorum.Mode)
	}
	m.Quorum.WaitForAll = r.Quorum.WaitForAll == nil || *r.Quorum.WaitForAll
	if len(r.Witnesses) > 0 && m.Quorum.Mode != ModeMajority {
		v.errf("witnesses", "a witness is a voter of majority mode: set quorum.mode: majority, or remove the list")
	}
}

// lease enforces R1 and R4 of docs/design.md in majority mode: they are
// what makes a lease safe (R1) and steady (R4), not advice.
func (v *validator) lease(m *Model) {
	if m.Quorum.Mode != ModeMajority {
		return
	}
	t := m.Timing
	if r1 := Stretch(t.Lease) + t.Slop(); r1 >= t.ElectionTimeout() {
		most := time.Duration(float64(t.ElectionTimeout()-t.Slop()) * (1 - ClockError) / (1 + ClockError))
		v.errf("timing.lease", "%v breaks R1: lease·(1+ε)/(1−ε) + δ = %v must stay below the election timeout (deadtime %v), or a new DC could be elected while the old one still holds its lease; use at most %v, or raise deadtime",
			t.Lease, up(r1), t.ElectionTimeout(), most.Truncate(time.Millisecond))
	}
	if n := t.LostRenewals(); n < MinLostRenewals {
		v.errf("timing.lease", "%v breaks R4: it survives only %d lost renewals at keepalive %v (at least %d needed, or a little loss drops every resource); use at least %v",
			t.Lease, max(n, 0), t.Keepalive, MinLostRenewals, time.Duration(MinLostRenewals+1)*t.Keepalive+t.RTTMax())
	}
}

// members validates nodes and witnesses alike: unique names, one address
// per link, the same number of links everywhere.
func (v *validator) members(r *rawConfig, m *Model) {
	if len(r.Nodes) == 0 {
		v.errf("nodes", "required: the cluster's nodes, each with a name and links")
		return
	}
	seen := map[string]bool{}
	addrs := map[netip.Addr]string{}
	links := -1
	member := func(p, name string, raw []string, voter *bool) Node {
		if v.name(p+".name", "node", name) {
			if seen[name] {
				v.errf(p+".name", "%q is listed twice (node and witness names share one space)", name)
			}
			seen[name] = true
		}
		n := Node{Name: name, Voter: voter == nil || *voter}
		if voter != nil && m.Quorum.Mode != ModeMajority {
			v.errf(p+".voter", "votes are counted in majority mode only; remove it, or set quorum.mode: majority")
		}
		if len(raw) == 0 {
			v.errf(p+".links", "required: one address per network this node is on (heartbeats go over every link)")
		}
		for j, l := range raw {
			lp := fmt.Sprintf("%s.links[%d]", p, j)
			a, err := netip.ParseAddr(l)
			if err != nil || a.Zone() != "" {
				v.errf(lp, "%q is not an IP address", l)
				continue
			}
			if a.IsUnspecified() || a.IsMulticast() {
				v.errf(lp, "%s: a link must be this node's own unicast address", a)
				continue
			}
			if other, dup := addrs[a]; dup {
				v.errf(lp, "%s is already a link of %s", a, other)
			}
			addrs[a] = name
			n.Links = append(n.Links, a)
		}
		if links >= 0 && len(raw) != links && len(raw) > 0 {
			v.errf(p+".links", "%d links, but nodes[0] has %d: link i of every node is network i, so every node and witness needs the same number", len(raw), links)
		}
		if links < 0 {
			links = len(raw)
		}
		return n
	}
	for i, n := range r.Nodes {
		m.Nodes = append(m.Nodes, member(fmt.Sprintf("nodes[%d]", i), n.Name, n.Links, n.Voter))
	}
	for i, w := range r.Witnesses {
		m.Witnesses = append(m.Witnesses, member(fmt.Sprintf("witnesses[%d]", i), w.Name, w.Links, nil))
	}
	all := append(slices.Clone(m.Nodes), m.Witnesses...)
	for i := range min(links, 8) {
		var fam []bool
		for _, n := range all {
			if i < len(n.Links) {
				fam = append(fam, n.Links[i].Is4())
			}
		}
		if len(slices.Compact(fam)) > 1 {
			v.errf(fmt.Sprintf("nodes[1].links[%d]", i), "link %d mixes IPv4 and IPv6 between nodes: a link joins two addresses of one family", i)
		}
	}
	switch m.Quorum.Mode {
	case ModeTwoNode:
		if len(r.Nodes) != 2 {
			v.errf("nodes", "two_node mode needs exactly 2 nodes, found %d; with 3 or more use quorum.mode: majority", len(r.Nodes))
		}
	case ModeMajority:
		if voters := m.Voters(); voters < 3 {
			v.errf("quorum.mode", "majority needs at least 3 voters (nodes with voter: true, and witnesses), found %d: "+
				"with two voters losing either stops everything; add a witness, or use two_node", voters)
		}
	}
}

var (
	ipParams   = []string{"address", "interface", "label", "arp_count", "arp_interval", "arp_refresh"}
	execParams = []string{"daemon", "start", "stop", "monitor", "dir", "env"}
)

func (v *validator) resources(r *rawConfig, m *Model) {
	if len(r.Resources) == 0 {
		v.errf("resources", "required: at least one resource (a floating ip, a service)")
	}
	seen := map[string]bool{}
	for i, rr := range r.Resources {
		p := fmt.Sprintf("resources[%d]", i)
		if v.name(p+".name", "resource", rr.Name) {
			if seen[rr.Name] {
				v.errf(p+".name", "resource %q is defined twice", rr.Name)
			}
			seen[rr.Name] = true
		}
		kind, agent := rr.Type, ""
		if c, a, ok := strings.Cut(rr.Type, ":"); ok && (c == KindOCF || c == KindLSB || c == KindSystemd) {
			kind, agent = c, a
		}
		res := Resource{Name: rr.Name, Kind: kind, Params: map[string]string{}}
		params := map[string]string{}
		keys := make([]string, 0, len(rr.Params))
		for k := range rr.Params {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			s, ok := scalar(rr.Params[k])
			if !ok {
				v.errf(p+".params."+k, "must be a single value (a string or number), not a list or map")
				continue
			}
			params[k] = s
			res.Params[k] = s
		}
		allowed := map[string][]string{KindIP: ipParams, KindExec: execParams, KindLSB: lsbParams, KindSIP: sipParams, KindFreeSWITCH: freeswitchParams, KindSystemd: systemdParams}[kind]
		switch kind {
		case KindOCF: // the agent's meta-data lists its params: ocf.Check
		case KindIP, KindExec, KindLSB, KindSIP, KindFreeSWITCH, KindSystemd:
			for _, k := range keys {
				if !slices.Contains(allowed, k) {
					v.errf(p+".params."+k, "unknown param for type %s; allowed: %s", rr.Type, strings.Join(allowed, ", "))
				}
			}
		case "":
			v.errf(p+".type", "required; allowed: ip, exec, ocf:PROVIDER:TYPE, lsb:NAME, systemd:UNIT, sip, freeswitch")
		default:
			v.errf(p+".type", "%q: allowed: ip, exec, ocf:PROVIDER:TYPE, lsb:NAME, systemd:UNIT, sip, freeswitch", rr.Type)
		}
		switch kind {
		case KindIP:
			res.IP = v.ipParams(p+".params", params)
		case KindExec:
			res.Exec = v.execParams(p+".params", params)
		case KindOCF:
			res.OCF = v.ocfParams(p, rr.Type, agent, params)
		case KindLSB:
			res.LSB = v.lsbParams(p, rr.Type, agent, params)
		case KindSystemd:
			res.Systemd = v.systemdParams(p, rr.Type, agent, params)
		case KindSIP:
			res.SIP = v.sipParams(p+".params", params)
		case KindFreeSWITCH:
			res.FreeSWITCH = v.freeswitchParams(p+".params", params)
		}
		res.Ops = v.ops(p+".ops", rr.Ops, r.Fencing.Enabled)
		if res.OCF == nil && (res.Ops.MonitorDepth > 0 || slices.ContainsFunc(res.Ops.MoreMonitors, func(m Monitor) bool { return m.Depth > 0 })) {
			v.errf(p+".ops.monitor", "depth is OCF_CHECK_LEVEL: for ocf resources only")
		}
		m.Resources = append(m.Resources, res)
	}
}

// ops validates a resource's operations; with fencing a failed stop fences
// the node unless on_fail says block (Pacemaker's default with stonith).
func (v *validator) ops(p string, o rawOps, fencing bool) Ops {
	ops := Ops{StartTimeout: 20 * time.Second, StopTimeout: 20 * time.Second, MonitorInterval: 10 * time.Second, MonitorTimeout: 20 * time.Second,
		StartOnFail: OnFailRestart, StopOnFail: OnFailBlock, MonitorOnFail: OnFailRestart}
	stopOnFail := []string{OnFailBlock}
	if fencing {
		ops.StopOnFail, stopOnFail = OnFailFence, []string{OnFailFence, OnFailBlock}
	}
	onFail := func(field, s, def string, allowed []string, why string) string {
		if s == "" {
			return def
		}
		if !slices.Contains(allowed, s) {
			v.errf(field, "%q: allowed: %s%s", s, strings.Join(allowed, ", "), why)
			return def
		}
		return s
	}
	if o.Start != nil {
		if o.Start.Interval != "" {
			v.errf(p+".start.interval", "start has no interval; allowed: timeout, on_fail")
		}
		ops.StartTimeout = v.duration(p+".start.timeout", o.Start.Timeout, ops.StartTimeout, false)
		ops.StartOnFail = onFail(p+".start.on_fail", o.Start.OnFail, ops.StartOnFail,
			[]string{OnFailRestart, OnFailMove, OnFailStandby, OnFailStop, OnFailBlock}, " (a failed start did not start: it cannot be ignored)")
	}
	if o.Stop != nil {
		if o.Stop.Interval != "" {
			v.errf(p+".stop.interval", "stop has no interval; allowed: timeout, on_fail")
		}
		ops.StopTimeout = v.duration(p+".stop.timeout", o.Stop.Timeout, ops.StopTimeout, false)
		why := " (a resource that may still run must not start elsewhere; fence needs fencing.enabled)"
		if fencing {
			why = " (a resource that may still run must not start elsewhere)"
		}
		ops.StopOnFail = onFail(p+".stop.on_fail", o.Stop.OnFail, ops.StopOnFail, stopOnFail, why)
	}
	var mons []map[string]any
	mp := p + ".monitor"
	switch m := o.Monitor.(type) {
	case nil:
	case map[string]any:
		mons = []map[string]any{m}
	case []any:
		for i, x := range m {
			if mm, ok := x.(map[string]any); ok {
				mons = append(mons, mm)
			} else {
				v.errf(fmt.Sprintf("%s[%d]", mp, i), "want a mapping {interval, timeout, on_fail, depth}")
			}
		}
		if len(m) == 0 {
			v.errf(mp, "an empty list: leave monitor out for the default, or set interval: 0 for none")
		}
	default:
		v.errf(mp, "want a mapping {interval, timeout, on_fail, depth} or a list of them")
	}
	seen := map[time.Duration]bool{}
	for i, raw := range mons {
		f := mp
		if _, list := o.Monitor.([]any); list {
			f = fmt.Sprintf("%s[%d]", mp, i)
		}
		str := func(k string) string {
			if x, ok := raw[k]; ok && x != nil {
				return fmt.Sprint(x)
			}
			return ""
		}
		for k := range raw {
			if !slices.Contains([]string{"interval", "timeout", "on_fail", "depth"}, k) {
				v.errf(f, "unknown field %q; allowed: interval, timeout, on_fail, depth", k)
			}
		}
		mon := Monitor{Interval: 10 * time.Second, Timeout: 20 * time.Second, OnFail: OnFailRestart}
		mon.Interval = v.duration(f+".interval", str("interval"), mon.Interval, i == 0)
		mon.Timeout = v.duration(f+".timeout", str("timeout"), mon.Timeout, false)
		mon.OnFail = onFail(f+".on_fail", str("on_fail"), mon.OnFail,
			[]string{OnFailRestart, OnFailMove, OnFailStandby, OnFailStop, OnFailIgnore, OnFailBlock}, "")
		if d := str("depth"); d != "" {
			n, err := strconv.Atoi(d)
			if err != nil || n < 0 {
				v.errf(f+".depth", "%q: allowed: a whole number ≥ 0 (OCF_CHECK_LEVEL, e.g. 10 or 20)", d)
			}
			mon.Depth = n
		}
		if i > 0 && mon.Interval == 0 {
			v.errf(f+".interval", "only the first monitor may be disabled with interval 0")
		}
		if seen[mon.Interval] && mon.Interval > 0 {
			v.errf(f+".interval", "%v: another monitor has this interval; each needs its own", mon.Interval)
		}
		seen[mon.Interval] = true
		if i == 0 {
			ops.MonitorInterval, ops.MonitorTimeout, ops.MonitorOnFail, ops.MonitorDepth = mon.Interval, mon.Timeout, mon.OnFail, mon.Depth
		} else {
			ops.MoreMonitors = append(ops.MoreMonitors, mon)
		}
	}
	return ops
}

func (v *validator) ipParams(p string, params map[string]string) *IPParams {
	ip := &IPParams{Interface: params["interface"], Label: params["label"], ARPCount: 5, ARPInterval: 200 * time.Millisecond}
	switch a := params["address"]; {
	case a == "":
		v.errf(p, "address is required, e.g. address: 10.101.20.219/24")
	case strings.Contains(a, "/"):
		pf, err := netip.ParsePrefix(a)
		if err != nil {
			v.errf(p+".address", "%q is not an address with prefix length, e.g. 10.101.20.219/24 or 2001:db8::10/64", a)
		} else {
			ip.Address = pf
		}
	default:
		ad, err := netip.ParseAddr(a)
		if err != nil || ad.Zone() != "" {
			v.errf(p+".address", "%q is not an IP address, e.g. 10.101.20.219/24 or 2001:db8::10/64", a)
		} else {
			ip.Address = netip.PrefixFrom(ad, ad.BitLen())
		}
	}
	if ip.Address.IsValid() && (ip.Address.Addr().IsUnspecified() || ip.Address.Addr().IsMulticast() || ip.Address.Addr().IsLoopback()) {
		v.errf(p+".address", "%s cannot float: allowed: a unicast address", ip.Address.Addr())
	}
	if ip.Interface == "" {
		v.errf(p, "interface is required: the interface the address goes on, e.g. interface: eth0")
	} else if len(ip.Interface) > 15 || strings.ContainsAny(ip.Interface, ": /") {
		v.errf(p+".interface", "%q is not an interface name (at most 15 characters, no ':', '/' or spaces; a label goes in label:)", ip.Interface)
	}
	if ip.Label != "" {
		switch {
		case ip.Address.IsValid() && ip.Address.Addr().Is6():
			v.errf(p+".label", "labels are for IPv4 addresses only (Linux has no IPv6 address labels)")
		case len(ip.Label) > 15:
			v.errf(p+".label", "%q is %d characters: allowed: at most 15", ip.Label, len(ip.Label))
		case !strings.HasPrefix(ip.Label, ip.Interface):
			v.errf(p+".label", "%q must start with the interface name %q, e.g. %s:0", ip.Label, ip.Interface, ip.Interface)
		}
	}
	if s, ok := params["arp_count"]; ok {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 || n > 100 {
			v.errf(p+".arp_count", "%q: allowed: a whole number 0..100 (default 5)", s)
		} else {
			ip.ARPCount = n
		}
	}
	ip.ARPInterval = v.duration(p+".arp_interval", params["arp_interval"], ip.ARPInterval, false)
	ip.ARPRefresh = v.duration(p+".arp_refresh", params["arp_refresh"], 0, true)
	return ip
}

func (v *validator) execParams(p string, params map[string]string) *ExecParams {
	e := &ExecParams{Daemon: params["daemon"], Start: params["start"], Stop: params["stop"], Monitor: params["monitor"], Dir: params["dir"]}
	switch {
	case e.Daemon != "" && (e.Start != "" || e.Stop != ""):
		v.errf(p+".daemon", "give either daemon (a command tandem runs and supervises) or start and stop commands, not both")
	case e.Daemon == "" && (e.Start == "" || e.Stop == ""):
		v.errf(p, "needs daemon: COMMAND, or start: and stop: commands (monitor: optional; exit 0 running, 7 stopped)")
	}
	if env := params["env"]; env != "" {
		for _, kv := range strings.Fields(env) {
			if k, _, ok := strings.Cut(kv, "="); !ok || k == "" {
				v.errf(p+".env", "%q: write variables as KEY=VALUE separated by spaces", kv)
				continue
			}
			e.Env = append(e.Env, kv)
		}
	}
	return e
}

func (v *validator) groups(r *rawConfig, m *Model) {
	inGroup := map[string]string{}
	names := map[string]bool{}
	for _, res := range m.Resources {
		names[res.Name] = true
	}
	for i, g := range r.Groups {
		p := fmt.Sprintf("groups[%d]", i)
		if v.name(p+".name", "group", g.Name) && names[g.Name] {
			v.errf(p+".name", "%q is already the name of a resource or group", g.Name)
		}
		names[g.Name] = true
		if len(g.Members) == 0 {
			v.errf(p+".members", "a group needs at least one member (resources start in the order listed)")
		}
		for j, mem := range g.Members {
			mp := fmt.Sprintf("%s.members[%d]", p, j)
			if !slices.ContainsFunc(m.Resources, func(r Resource) bool { return r.Name == mem }) {
				v.errf(mp, "no resource named %q", mem)
				continue
			}
			if other, ok := inGroup[mem]; ok {
				v.errf(mp, "%q is already a member of group %q: a resource belongs to one group", mem, other)
				continue
			}
			inGroup[mem] = g.Name
		}
		m.Groups = append(m.Groups, Group{Name: g.Name, Members: slices.Clone(g.Members)})
	}
	for _, res := range m.Resources {
		if _, ok := inGroup[res.Name]; !ok && res.Name != "" {
			m.Groups = append(m.Groups, Group{Name: res.Name, Members: []string{res.Name}, Implicit: true})
		}
	}
}

// ParseScore reads a Pacemaker score: an integer or [+-]INFINITY.
func ParseScore(s string) (int, error) {
	switch strings.ToUpper(strings.TrimSpace(s)) {
	case "INFINITY", "+INFINITY", "INF", "+INF":
		return ScoreInfinity, nil
	case "-INFINITY", "-INF":
		return -ScoreInfinity, nil
	}
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil {
		return 0, fmt.Errorf("%q: allowed: a whole number, INFINITY or -INFINITY", s)
	}
	return max(-ScoreInfinity, min(ScoreInfinity, n)), nil
}

func (v *validator) constraints(r *rawConfig, m *Model) {
	for i, c := range r.Constraints {
		p := fmt.Sprintf("constraints[%d]", i)
		if c.Location == "" && (c.Colocation != "" || c.Order != "" || c.With != "" || c.Then != "") {
			v.relation(p, c, m) // placement.go
			continue
		}
		target := m.isTarget(c.Location)
		if c.Location == "" {
			v.errf(p, "location: GROUP_OR_RESOURCE is required (or colocation: with:, or order: then:)")
		} else if !target {
			v.errf(p+".location", "no group, resource or clone named %q", c.Location)
		}
		rule := v.locationRule(p, c)
		if rule == nil && !slices.ContainsFunc(m.Nodes, func(n Node) bool { return n.Name == c.Node }) {
			v.errf(p+".node", "no node named %q", c.Node)
		}
		s, ok := scalar(c.Score)
		if !ok || s == "" {
			v.errf(p+".score", "required: a whole number, INFINITY or -INFINITY")
			continue
		}
		score, err := ParseScore(s)
		if err != nil {
			v.errf(p+".score", "%v", err)
			continue
		}
		m.Constraints = append(m.Constraints, Location{Target: c.Location, Node: c.Node, Score: score, Rule: rule})
	}
}
