package agent

import (
	"errors"
	"strings"
	"testing"

	"tandem/internal/config"
)

func TestHostWarningsNonlocalBind(t *testing.T) {
	const head = `cluster: t
key_file: /tmp/k
nodes:
  - {name: a, links: [198.18.0.10]}
  - {name: b, links: [198.18.0.11]}
`
	parse := func(t *testing.T, body string) *config.Model {
		t.Helper()
		m, err := config.Parse("t.yaml", []byte(head+body))
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	warmGroup := parse(t, `resources:
  - {name: vip, type: ip, params: {address: 198.18.0.100/24, interface: eth0}}
  - {name: fs, type: freeswitch, params: {mode: warm, profiles: internal}}
groups:
  - {name: voice, members: [vip, fs]}
`)
	coldAfterVIP := parse(t, `resources:
  - {name: vip, type: ip, params: {address: 198.18.0.100/24, interface: eth0}}
  - {name: fs, type: freeswitch, params: {mode: cold, init: freeswitch}}
groups:
  - {name: voice, members: [vip, fs]}
`)
	coldBeforeVIP := parse(t, `resources:
  - {name: fs, type: freeswitch, params: {mode: cold, init: freeswitch}}
  - {name: vip, type: ip, params: {address: "2001:db8::10/64", interface: eth0}}
groups:
  - {name: voice, members: [fs, vip]}
`)
	zero := func(string) (string, error) { return "0", nil }
	one := func(string) (string, error) { return "1", nil }

	w := hostWarnings(warmGroup, "a", zero)
	if len(w) != 1 || !strings.Contains(w[0], "net.ipv4.ip_nonlocal_bind is 0 on a: FreeSWITCH (fs) cannot bind the floating IP 198.18.0.100") {
		t.Errorf("warm, sysctl 0: %q", w)
	}
	if w := hostWarnings(warmGroup, "a", one); len(w) != 0 {
		t.Errorf("warm, sysctl 1: %q", w)
	}
	if w := hostWarnings(warmGroup, "laptop", zero); len(w) != 0 {
		t.Errorf("not a node of the cluster: %q", w)
	}
	if w := hostWarnings(coldAfterVIP, "a", zero); len(w) != 0 {
		t.Errorf("cold, started after the address is added: %q", w)
	}
	w = hostWarnings(coldBeforeVIP, "b", zero)
	if len(w) != 1 || !strings.HasPrefix(w[0], "net.ipv6.ip_nonlocal_bind is 0 on b") {
		t.Errorf("cold, started before an IPv6 address: %q", w)
	}
	w = hostWarnings(warmGroup, "a", func(string) (string, error) { return "", errors.New("no such file") })
	if len(w) != 1 || !strings.Contains(w[0], "cannot read net.ipv4.ip_nonlocal_bind on a (no such file)") {
		t.Errorf("unreadable sysctl: %q", w)
	}
}
