package config

import (
	"strings"
	"testing"
)

const agentsHead = `cluster: t
key_file: /tmp/k
nodes:
  - {name: a, links: [198.18.0.10]}
  - {name: b, links: [198.18.0.11]}
resources:
`

func TestOCFAndLSBKinds(t *testing.T) {
	m, err := Parse("t.yaml", []byte(agentsHead+`  - name: vip
    type: ocf:heartbeat:IPaddr2
    params: {ip: 198.18.0.100, cidr_netmask: 24}
  - name: dahdi
    type: lsb:dahdi
  - name: test
    type: lsb:svc
    params: {path: /tmp/svc}
`))
	if err != nil {
		t.Fatal(err)
	}
	o := m.Resources[0]
	if o.Kind != KindOCF || o.OCF == nil || o.OCF.Provider != "heartbeat" || o.OCF.Type != "IPaddr2" ||
		o.OCF.Params["ip"] != "198.18.0.100" || o.OCF.Params["cidr_netmask"] != "24" || o.OCF.Agent() != "ocf:heartbeat:IPaddr2" {
		t.Errorf("ocf resource: %+v %+v", o, o.OCF)
	}
	if l := m.Resources[1]; l.Kind != KindLSB || l.LSB == nil || l.LSB.Name != "dahdi" || l.LSB.Path != "/etc/init.d/dahdi" {
		t.Errorf("lsb resource: %+v %+v", l, l.LSB)
	}
	if l := m.Resources[2]; l.LSB == nil || l.LSB.Path != "/tmp/svc" {
		t.Errorf("lsb path: %+v", l.LSB)
	}
	if s := Check(m).String(); !strings.Contains(s, "resource vip (ocf): ocf:heartbeat:IPaddr2 cidr_netmask=24 ip=198.18.0.100;") ||
		!strings.Contains(s, "resource dahdi (lsb): init script /etc/init.d/dahdi;") {
		t.Errorf("report:\n%s", s)
	}
	// Positions outlive Load, for checks made later (an agent's meta-data).
	if e := m.ErrorAt("resources[0].params.ip", "x"); e.Error() != "t.yaml:9:14: resources[0].params.ip: x" {
		t.Errorf("ErrorAt: %s", e)
	}
	if e := m.ErrorAt("resources[1].params", "y"); e.Error() != "t.yaml:10:9: resources[1].params: y" {
		t.Errorf("ErrorAt falls back to the nearest written parent: %s", e)
	}
	if e := (&Model{}).ErrorAt("resources[0]", "z"); e.Error() != ": resources[0]: z" {
		t.Errorf("ErrorAt without positions: %s", e)
	}
}

// Both spellings of a systemd resource, and the three bindings.
func TestSystemdKind(t *testing.T) {
	m, err := Parse("t.yaml", []byte(agentsHead+`  - {name: web, type: "systemd:nginx"}
  - {name: pbx, type: systemd, params: {unit: freeswitch.service, binds_to: tandem.service}}
  - {name: db, type: systemd, params: {unit: postgresql@15-main, binds_to: none}}
`))
	if err != nil {
		t.Fatal(err)
	}
	want := []SystemdParams{{Unit: "nginx.service"}, {Unit: "freeswitch.service", BindsTo: "tandem.service"}, {Unit: "postgresql@15-main.service", Unbound: true}}
	for i, w := range want {
		if r := m.Resources[i]; r.Kind != KindSystemd || r.Systemd == nil || *r.Systemd != w {
			t.Errorf("resource %d: %+v %+v, want %+v", i, r, r.Systemd, w)
		}
	}
	s := Check(m).String()
	for _, w := range []string{"systemd unit nginx.service (bound to the agent's own unit)", "systemd unit freeswitch.service (bound to tandem.service)", "systemd unit postgresql@15-main.service (not bound to the agent)"} {
		if !strings.Contains(s, w) {
			t.Errorf("report lacks %q:\n%s", w, s)
		}
	}
}

func TestOCFAndLSBErrors(t *testing.T) {
	tests := []struct{ name, res, want string }{
		{"ocf without type", "  - {name: r, type: ocf}\n", `t.yaml:7:15: resources[0].type: "ocf": write ocf:PROVIDER:TYPE, the agent /usr/lib/ocf/resource.d/PROVIDER/TYPE, e.g. ocf:heartbeat:IPaddr2`},
		{"ocf without provider", "  - {name: r, type: \"ocf:IPaddr2\"}\n", `resources[0].type: "ocf:IPaddr2": write ocf:PROVIDER:TYPE`},
		{"ocf path escape", "  - {name: r, type: \"ocf:..:x\"}\n", `resources[0].type: "ocf:..:x": write ocf:PROVIDER:TYPE`},
		{"ocf param name", "  - {name: r, type: \"ocf:heartbeat:Dummy\", params: {bad-name: 1}}\n", `t.yaml:7:53: resources[0].params.bad-name: not a parameter name: the agent gets it as OCF_RESKEY_bad-name, so letters, digits and '_' only`},
		{"ocf meta param", "  - {name: r, type: \"ocf:heartbeat:Dummy\", params: {CRM_meta_timeout: 1}}\n", `resources[0].params.CRM_meta_timeout: CRM_meta_* are set by tandem`},
		{"lsb without name", "  - {name: r, type: \"lsb:\"}\n", `resources[0].type: "lsb:": write lsb:NAME for the init script /etc/init.d/NAME, e.g. lsb:dahdi`},
		{"lsb subdir", "  - {name: r, type: \"lsb:a/b\"}\n", `resources[0].type: "lsb:a/b": write lsb:NAME`},
		{"lsb unknown param", "  - {name: r, type: \"lsb:x\", params: {start: y}}\n", `resources[0].params.start: unknown param for type lsb:x; allowed: path`},
		{"lsb relative path", "  - {name: r, type: \"lsb:x\", params: {path: init.d/x}}\n", `resources[0].params.path: "init.d/x": allowed: an absolute path to the init script`},
		{"other class", "  - {name: r, type: \"upstart:x\"}\n", `resources[0].type: "upstart:x": allowed: ip, exec, ocf:PROVIDER:TYPE, lsb:NAME, systemd:UNIT`},
		{"systemd unit", "  - {name: r, type: \"systemd:a b\"}\n", `resources[0].type: "systemd:a b": write systemd:UNIT, e.g. systemd:nginx`},
		{"systemd without unit", "  - {name: r, type: systemd}\n", `t.yaml:7:15: resources[0].type: "systemd": write systemd:UNIT, e.g. systemd:nginx or systemd:freeswitch.service, or type systemd with params.unit`},
		{"systemd bad unit param", "  - {name: r, type: systemd, params: {unit: \"a/b\"}}\n", `t.yaml:7:39: resources[0].params.unit: "a/b": write systemd:UNIT`},
		{"systemd two units", "  - {name: r, type: \"systemd:nginx\", params: {unit: apache2}}\n", `resources[0].params.unit: "apache2": the type already names unit "nginx"; write one of them`},
		{"systemd binds_to path", "  - {name: r, type: \"systemd:nginx\", params: {binds_to: /x.service}}\n", `resources[0].params.binds_to: "/x.service": allowed: a unit name such as tandem.service, or none`},
	}
	for _, tc := range tests {
		_, err := Parse("t.yaml", []byte(agentsHead+tc.res))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got\n%v\nwant it to contain\n%s", tc.name, err, tc.want)
		}
	}
}
