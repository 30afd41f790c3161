package config

import (
	"strings"
	"testing"
	"time"
)

func TestSIPKind(t *testing.T) {
	m, err := Parse("t.yaml", []byte(agentsHead+`  - name: ping
    type: sip
    params: {target: 198.18.0.100}
  - name: ping-tcp
    type: sip
    params: {target: "[2001:db8::10]:5080", transport: TCP, timeout: 500ms, accept: "2xx, 404"}
  - name: ping-name
    type: sip
    params: {target: "sbc.example.net:5061", accept: 200}
`))
	if err != nil {
		t.Fatal(err)
	}
	s := m.Resources[0].SIP
	if m.Resources[0].Kind != KindSIP || s == nil || s.Target != "198.18.0.100:5060" || s.Transport != "udp" || s.Timeout != 2*time.Second || s.Accept != nil {
		t.Fatalf("defaults: %+v", s)
	}
	for _, c := range []int{200, 404, 503, 699} {
		if !s.Accepts(c) {
			t.Errorf("default accept: %d is a final response and must count as alive", c)
		}
	}
	for _, c := range []int{100, 183, 0, 700} {
		if s.Accepts(c) {
			t.Errorf("default accept: %d is not a final response", c)
		}
	}
	s = m.Resources[1].SIP
	if s.Target != "[2001:db8::10]:5080" || s.Transport != "tcp" || s.Timeout != 500*time.Millisecond || s.AcceptText() != "2xx, 404" {
		t.Fatalf("params: %+v", s)
	}
	if !s.Accepts(200) || !s.Accepts(299) || !s.Accepts(404) || s.Accepts(403) || s.Accepts(503) {
		t.Errorf("accept 2xx, 404: %+v", s.Accept)
	}
	if s := m.Resources[2].SIP; s.Target != "sbc.example.net:5061" || !s.Accepts(200) || s.Accepts(202) {
		t.Errorf("host name target, accept 200: %+v", s)
	}
	if r := Check(m).String(); !strings.Contains(r, "resource ping (sip): OPTIONS ping to 198.18.0.100:5060 over udp, alive on any final response within 2s;") {
		t.Errorf("report:\n%s", r)
	}
}

func TestSIPErrors(t *testing.T) {
	tests := []struct{ name, res, want string }{
		{"no target", "  - {name: r, type: sip}\n", `resources[0].params: target is required: the SIP server's host[:port]`},
		{"uri target", "  - {name: r, type: sip, params: {target: \"sip:198.18.0.1\"}}\n", `resources[0].params.target: "sip:198.18.0.1": write host[:port], not a URI`},
		{"bad port", "  - {name: r, type: sip, params: {target: \"198.18.0.1:99999\"}}\n", `resources[0].params.target: "198.18.0.1:99999": port "99999": allowed: 1..65535`},
		{"bad host", "  - {name: r, type: sip, params: {target: \"a b:5060\"}}\n", `resources[0].params.target: "a b:5060": not a host[:port]`},
		{"unspecified", "  - {name: r, type: sip, params: {target: 0.0.0.0}}\n", `0.0.0.0 cannot be pinged`},
		{"transport", "  - {name: r, type: sip, params: {target: h, transport: tls}}\n", `resources[0].params.transport: "tls": allowed: udp, tcp`},
		{"timeout", "  - {name: r, type: sip, params: {target: h, timeout: 0s}}\n", `resources[0].params.timeout: "0s" must be more than 0`},
		{"provisional accept", "  - {name: r, type: sip, params: {target: h, accept: \"180\"}}\n", `resources[0].params.accept: "180" is not a final response code`},
		{"unknown param", "  - {name: r, type: sip, params: {target: h, user: x}}\n", `resources[0].params.user: unknown param for type sip; allowed: target, transport, timeout, accept`},
	}
	for _, tc := range tests {
		_, err := Parse("t.yaml", []byte(agentsHead+tc.res))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got\n%v\nwant it to contain\n%s", tc.name, err, tc.want)
		}
	}
}

func TestFreeSWITCHKind(t *testing.T) {
	m, err := Parse("t.yaml", []byte(agentsHead+`  - name: fs
    type: freeswitch
    params: {mode: warm, profiles: "internal, external"}
  - name: fs-cold
    type: freeswitch
    params: {mode: cold, init: freeswitch, esl: "127.0.0.1:8022", password: secret, recover: false, profiles: internal}
  - name: fs-cmd
    type: freeswitch
    params: {mode: cold, start: "systemctl start freeswitch", stop: "systemctl stop freeswitch"}
`))
	if err != nil {
		t.Fatal(err)
	}
	f := m.Resources[0].FreeSWITCH
	if m.Resources[0].Kind != KindFreeSWITCH || f == nil || f.Mode != FSWarm || f.ESL != FSDefaultESL || f.Password != FSDefaultPassword ||
		!f.Recover || strings.Join(f.Profiles, "|") != "internal|external" || f.Init != nil || f.Commands != nil {
		t.Fatalf("warm: %+v", f)
	}
	f = m.Resources[1].FreeSWITCH
	if f.Mode != FSCold || f.Init == nil || f.Init.Path != "/etc/init.d/freeswitch" || f.ESL != "127.0.0.1:8022" || f.Password != "secret" || f.Recover {
		t.Fatalf("cold init: %+v", f)
	}
	f = m.Resources[2].FreeSWITCH
	if f.Commands == nil || f.Commands.Start != "systemctl start freeswitch" || f.Commands.Stop != "systemctl stop freeswitch" || len(f.Profiles) != 0 {
		t.Fatalf("cold commands: %+v", f)
	}
	r := Check(m).String()
	if !strings.Contains(r, "resource fs (freeswitch): warm mode, event socket 127.0.0.1:8021, sofia profiles internal, external, sofia recover after start;") ||
		strings.Contains(r, "secret") {
		t.Errorf("report (must not show the password):\n%s", r)
	}
}

func TestFreeSWITCHErrors(t *testing.T) {
	tests := []struct{ name, res, want string }{
		{"no mode", "  - {name: r, type: freeswitch, params: {profiles: internal}}\n", `resources[0].params: mode is required: warm`},
		{"bad mode", "  - {name: r, type: freeswitch, params: {mode: hot}}\n", `resources[0].params.mode: "hot": allowed: warm, cold`},
		{"warm without profiles", "  - {name: r, type: freeswitch, params: {mode: warm}}\n", `resources[0].params: warm mode needs profiles`},
		{"warm with init", "  - {name: r, type: freeswitch, params: {mode: warm, profiles: a, init: freeswitch}}\n", `resources[0].params.init: warm mode does not start FreeSWITCH`},
		{"cold without init", "  - {name: r, type: freeswitch, params: {mode: cold}}\n", `resources[0].params: cold mode needs init:`},
		{"cold start only", "  - {name: r, type: freeswitch, params: {mode: cold, start: x}}\n", `resources[0].params: cold mode needs init:`},
		{"cold both", "  - {name: r, type: freeswitch, params: {mode: cold, init: fs, start: x, stop: y}}\n", `resources[0].params.init: give either init`},
		{"init escape", "  - {name: r, type: freeswitch, params: {mode: cold, init: ../fs}}\n", `resources[0].params.init: "../fs": write the init script's name`},
		{"esl", "  - {name: r, type: freeswitch, params: {mode: warm, profiles: a, esl: localhost}}\n", `resources[0].params.esl: "localhost": write the event socket's host:port`},
		{"profile", "  - {name: r, type: freeswitch, params: {mode: warm, profiles: \"a;b\"}}\n", `resources[0].params.profiles: "a;b" is not a sofia profile name`},
		{"recover", "  - {name: r, type: freeswitch, params: {mode: warm, profiles: a, recover: maybe}}\n", `resources[0].params.recover: "maybe": allowed: true, false`},
		{"unknown", "  - {name: r, type: freeswitch, params: {mode: warm, profiles: a, daemon: x}}\n", `resources[0].params.daemon: unknown param for type freeswitch; allowed: mode, esl, password, profiles, recover, init, start, stop, monitor`},
	}
	for _, tc := range tests {
		_, err := Parse("t.yaml", []byte(agentsHead+tc.res))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got\n%v\nwant it to contain\n%s", tc.name, err, tc.want)
		}
	}
}
