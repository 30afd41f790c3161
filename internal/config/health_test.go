package config

import (
	"net/netip"
	"strings"
	"testing"
	"time"
)

const healthHead = `cluster: t
key_file: /tmp/k
nodes:
  - {name: a, links: [198.18.0.10]}
  - {name: b, links: [198.18.0.11]}
resources:
  - {name: vip, type: ip, params: {address: 198.18.0.100/24, interface: eth0}}
`

func TestHealth(t *testing.T) {
	m, err := Parse("t.yaml", []byte(healthHead+`quorum: {ping: [198.18.0.1, "2001:db8::1"]}
health:
  links: [eth1]
  ping: [{name: gw, address: 198.18.0.1}]
  interval: 500ms
constraints:
  - {location: vip, rule: "link.eth1.up eq 0 or ping.gw.ok lt 1", score: -INFINITY}
  - {location: vip, rule: "ping.dns.ok eq 1", score: 10}
`))
	if err != nil {
		t.Fatal(err)
	}
	h := m.Health
	if h.Interval != 500*time.Millisecond || h.Attempts != DefaultHealthAttempts || len(h.Links) != 1 || h.Ping[0] != (PingTarget{"gw", netip.MustParseAddr("198.18.0.1")}) {
		t.Fatalf("health: %+v", h)
	}
	if len(m.Quorum.Ping) != 2 || m.Quorum.Ping[1] != netip.MustParseAddr("2001:db8::1") {
		t.Fatalf("quorum.ping: %v", m.Quorum.Ping)
	}
	if got := strings.Join(m.HealthAttrs(), " "); got != "link.eth1.up ping.gw.ok ping.quorum.ok" {
		t.Errorf("attributes: %s", got)
	}
	r := Check(m).String()
	for _, want := range []string{
		"health: carrier of eth1 → link.eth1.up (1 up, 0 down)",
		"health: ping 198.18.0.1 every 500ms → ping.gw.ok (0 after 3 unanswered in a row)",
		"quorum.ping 198.18.0.1, 2001:db8::1 every 500ms → ping.quorum.ok; each reachable target adds 1000",
		"no node sets ping.dns.ok",
	} {
		if !strings.Contains(r, want) {
			t.Errorf("report lacks %q:\n%s", want, r)
		}
	}
	if strings.Contains(r, "no node sets link.eth1.up") || strings.Contains(r, "no node sets ping.gw.ok") {
		t.Errorf("warned about a configured attribute:\n%s", r)
	}
}

func TestHealthErrors(t *testing.T) {
	tests := []struct{ name, tail, want string }{
		{"iface", "health: {links: [\"eth 0\"]}\n", `t.yaml:8:18: health.links[0]: "eth 0" is not an interface name`},
		{"iface twice", "health: {links: [eth0, eth0]}\n", `health.links[1]: "eth0" is listed twice`},
		{"no address", "health: {ping: [{name: gw}]}\n", `health.ping[0].address: required: the IP address to ping`},
		{"host name", "health: {ping: [{name: gw, address: gw.example}]}\n", `health.ping[0].address: "gw.example" is not an IP address (host names are not resolved`},
		{"reserved", "health: {ping: [{name: quorum, address: 198.18.0.1}]}\n", `health.ping[0].name: "quorum" is reserved for quorum.ping`},
		{"twice", "health: {ping: [{name: gw, address: 198.18.0.1}, {name: gw, address: 198.18.0.2}]}\n", `health.ping[1].name: "gw" is used twice`},
		{"bad name", "health: {ping: [{name: GW, address: 198.18.0.1}]}\n", `health.ping[0].name: ping target name "GW": allowed:`},
		{"attempts", "health: {attempts: 0}\n", `health.attempts: 0: allowed: 1..100`},
		{"interval", "health: {interval: soon}\n", `health.interval: "soon" is not a duration`},
		{"quorum multicast", "quorum: {ping: [224.0.0.1]}\n", `quorum.ping[0]: 224.0.0.1: allowed: a unicast address`},
		{"unknown key", "health: {link: [eth0]}\n", `unknown field "link"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("t.yaml", []byte(healthHead+tc.tail))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v\nwant %s", err, tc.want)
			}
		})
	}
}
