package config

import (
	"fmt"
	"net/netip"
	"regexp"
	"strings"
	"time"
)

// Health makes a node's view of its surroundings into node attributes that
// location rules use, like Pacemaker's ping and ethmonitor agents:
//
//	health:
//	  links: [eth0]                                  # link.eth0.up: 1 carrier, 0 none
//	  ping: [{name: gw, address: 198.18.0.1}]        # ping.gw.ok: 1 answers, 0 not
//	  interval: 1s                                   # between echo requests
//	  attempts: 3                                    # unanswered in a row before 0
//
// quorum.ping targets are pinged the same way; their count of answering
// targets is ping.quorum.ok, which the scheduler adds to every group's
// score (see QuorumPingWeight).
type Health struct {
	Interval time.Duration
	Attempts int
	Links    []string     // interface names
	Ping     []PingTarget // named targets
}

// PingTarget is one address answered by ICMP echo, named for its attribute.
type PingTarget struct {
	Name    string
	Address netip.Addr
}

// Health defaults: Pacemaker's ping agent sends 3 attempts with a 2 s timeout;
// one echo a second with three misses gives the same reaction time of ~3 s.
const (
	DefaultHealthInterval = time.Second
	DefaultHealthAttempts = 3
	// QuorumPingAttr counts the quorum.ping targets a node reaches.
	QuorumPingAttr = "ping.quorum.ok"
	// QuorumPingWeight is added per reachable quorum.ping target to every
	// group's score on a node: more than default stickiness and ordinary
	// preferences, so a node that lost its uplink hands its groups to one
	// that has it; equal reach changes nothing (not a tie-breaker).
	QuorumPingWeight = 1000
)

// LinkAttr is the attribute that says whether iface has carrier.
func LinkAttr(iface string) string { return "link." + iface + ".up" }

// PingAttr is the attribute that says whether the ping target name answers.
func PingAttr(name string) string { return "ping." + name + ".ok" }

// HealthAttrs lists every attribute the health section makes, for checks.
func (m *Model) HealthAttrs() []string {
	var out []string
	for _, l := range m.Health.Links {
		out = append(out, LinkAttr(l))
	}
	for _, p := range m.Health.Ping {
		out = append(out, PingAttr(p.Name))
	}
	if len(m.Quorum.Ping) > 0 {
		out = append(out, QuorumPingAttr)
	}
	return out
}

type rawHealth struct {
	Interval string    `yaml:"interval"`
	Attempts *int      `yaml:"attempts"`
	Links    []string  `yaml:"links"`
	Ping     []rawPing `yaml:"ping"`
}

type rawPing struct {
	Name    string `yaml:"name"`
	Address string `yaml:"address"`
}

// ifaceRe is what the kernel accepts as an interface name (IFNAMSIZ 16).
var ifaceRe = regexp.MustCompile(`^[A-Za-z0-9_.:@-]{1,15}$`)

func (v *validator) health(r *rawConfig, m *Model) {
	h := &m.Health
	h.Interval = v.duration("health.interval", r.Health.Interval, DefaultHealthInterval, false)
	h.Attempts = DefaultHealthAttempts
	if a := r.Health.Attempts; a != nil {
		if *a < 1 || *a > 100 {
			v.errf("health.attempts", "%d: allowed: 1..100 unanswered echo requests in a row before a target counts as down", *a)
		} else {
			h.Attempts = *a
		}
	}
	seen := map[string]bool{}
	for i, l := range r.Health.Links {
		p := fmt.Sprintf("health.links[%d]", i)
		switch {
		case !ifaceRe.MatchString(l) || l == "." || l == "..":
			v.errf(p, "%q is not an interface name: allowed: up to 15 letters, digits and _ . : @ -", l)
		case seen[l]:
			v.errf(p, "%q is listed twice", l)
		default:
			h.Links = append(h.Links, l)
		}
		seen[l] = true
	}
	names := map[string]bool{"quorum": true}
	for i, t := range r.Health.Ping {
		p := fmt.Sprintf("health.ping[%d]", i)
		ok := v.name(p+".name", "ping target", t.Name)
		if ok && names[t.Name] {
			msg := "%q is used twice"
			if t.Name == "quorum" {
				msg = "%q is reserved for quorum.ping (attribute ping.quorum.ok)"
			}
			v.errf(p+".name", msg, t.Name)
			ok = false
		}
		names[t.Name] = true
		a, good := v.pingAddr(p+".address", t.Address)
		if ok && good {
			h.Ping = append(h.Ping, PingTarget{Name: t.Name, Address: a})
		}
	}
	for i, s := range r.Quorum.Ping {
		if a, ok := v.pingAddr(fmt.Sprintf("quorum.ping[%d]", i), s); ok {
			m.Quorum.Ping = append(m.Quorum.Ping, a)
		}
	}
}

func (v *validator) pingAddr(p, s string) (netip.Addr, bool) {
	if s == "" {
		v.errf(p, "required: the IP address to ping, e.g. the default gateway")
		return netip.Addr{}, false
	}
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" {
		v.errf(p, "%q is not an IP address (host names are not resolved: DNS may be what failed)", s)
		return netip.Addr{}, false
	}
	if a.IsUnspecified() || a.IsMulticast() {
		v.errf(p, "%s: allowed: a unicast address", a)
		return netip.Addr{}, false
	}
	return a, true
}

// healthLines explains the health section and warns about location rules
// on link. or ping. attributes that no node will ever set.
func (m *Model) healthLines(warn func(string, ...any)) []string {
	var out []string
	h := m.Health
	for _, l := range h.Links {
		out = append(out, fmt.Sprintf("health: carrier of %s → %s (1 up, 0 down)", l, LinkAttr(l)))
	}
	for _, p := range h.Ping {
		out = append(out, fmt.Sprintf("health: ping %s every %v → %s (0 after %d unanswered in a row)", p.Address, h.Interval, PingAttr(p.Name), h.Attempts))
	}
	if len(m.Quorum.Ping) > 0 {
		var as []string
		for _, a := range m.Quorum.Ping {
			as = append(as, a.String())
		}
		out = append(out, fmt.Sprintf("quorum.ping %s every %v → %s; each reachable target adds %d to every group on that node, so a node that lost its uplink hands its groups over (equal reach: no change)",
			strings.Join(as, ", "), h.Interval, QuorumPingAttr, QuorumPingWeight))
	}
	known := map[string]bool{}
	for _, a := range m.HealthAttrs() {
		known[a] = true
	}
	for _, c := range m.Constraints {
		if c.Rule == nil {
			continue
		}
		warned := map[string]bool{} // "x lt 1 or not_defined x" names x twice
		for _, e := range c.Rule.Exprs {
			if (strings.HasPrefix(e.Attr, "link.") || strings.HasPrefix(e.Attr, "ping.")) && !known[e.Attr] && !warned[e.Attr] {
				warned[e.Attr] = true
				warn("location %s where %s: no node sets %s; list the interface under health.links or the target under health.ping", c.Target, c.Rule.Text, e.Attr)
			}
		}
	}
	return out
}
