package fence

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"tandem/internal/config"
)

// fenceDummy is Debian fence-agents' own test agent: the real stdin
// protocol and metadata, with the "power" kept in a file.
func fenceDummy(t *testing.T) (*Agent, string) {
	t.Helper()
	const path = "/usr/sbin/fence_dummy"
	if _, err := os.Stat(path); err != nil {
		t.Skipf("needs %s (Debian fence-agents; scripts/deps.sh installs it)", path)
	}
	state := filepath.Join(t.TempDir(), "power")
	return &Agent{DeviceName: "dummy", Path: path, Params: map[string]string{"type": "file", "status_file": state}}, state
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestAgentOffOnStatus(t *testing.T) {
	a, _ := fenceDummy(t)
	ctx := ctxT(t)
	if _, err := a.Run(ctx, On, ""); err != nil {
		t.Fatal(err)
	}
	if p, err := a.Run(ctx, Status, ""); err != nil || p != PowerOn {
		t.Fatalf("status after on: %v %v", p, err)
	}
	if _, err := a.Run(ctx, Off, ""); err != nil {
		t.Fatal(err)
	}
	if p, err := a.Run(ctx, Status, ""); err != nil || p != PowerOff {
		t.Fatalf("status after off: %v %v", p, err)
	}
}

func TestAgentFailureSaysWhy(t *testing.T) {
	a, _ := fenceDummy(t)
	a.Params["type"], a.Params["power_timeout"] = "fail", "1" // fence_dummy's failing mode: the power never goes off
	_, err := a.Run(ctxT(t), Off, "")
	if !errors.Is(err, ErrFailed) || !strings.Contains(err.Error(), "dummy off") || !strings.Contains(err.Error(), "Failed: Timed out waiting to power OFF") {
		t.Fatalf("err %v", err)
	}
}

func TestMetadataChecksParams(t *testing.T) {
	m, err := ReadMetadata(ctxT(t), "/usr/sbin/fence_ipmilan")
	if err != nil {
		if _, serr := os.Stat("/usr/sbin/fence_ipmilan"); serr != nil {
			t.Skip("needs fence_ipmilan (Debian fence-agents)")
		}
		t.Fatal(err)
	}
	if _, ok := m.Params["lanplus"]; !ok || m.Agent != "fence_ipmilan" {
		t.Fatalf("metadata %+v", m)
	}
	// ipaddr is the old name of ip: both are accepted.
	if p := m.Check(map[string]string{"ipaddr": "198.18.0.1", "username": "admin", "password": "pw", "lanplus": "1"}); len(p) != 0 {
		t.Fatalf("good params refused: %v", p)
	}
	p := m.Check(map[string]string{"ip": "198.18.0.1", "pasword": "pw"})
	if len(p) != 1 || !strings.HasPrefix(p[0], "pasword: unknown parameter for fence_ipmilan; it takes: ") {
		t.Fatalf("misspelt param: %v", p)
	}
}

// A level whose device fails falls through to the next; the error of a
// plan that cannot fence lists every level's reason.
func TestTopologyLevels(t *testing.T) {
	good, state := fenceDummy(t)
	bad := &Command{DeviceName: "pdu", Argv: []string{"sh", "-c", `echo "no route to PDU" >&2; exit 1`}}
	if _, err := good.Run(ctxT(t), On, ""); err != nil {
		t.Fatal(err)
	}
	by, err := Fence(ctxT(t), Plan{Node: "b", Retries: 1, Levels: []Level{{Devices: []Device{bad}}, {Devices: []Device{good}}}})
	if err != nil || by != "dummy" {
		t.Fatalf("fenced by %q: %v", by, err)
	}
	if b, _ := os.ReadFile(state); !strings.Contains(string(b), "off") {
		t.Fatalf("power file says %q", b)
	}
	_, err = Fence(ctxT(t), Plan{Node: "b", Levels: []Level{{Devices: []Device{bad}}}})
	if !errors.Is(err, ErrFailed) || !strings.Contains(err.Error(), "level 1: pdu off") || !strings.Contains(err.Error(), "no route to PDU") {
		t.Fatalf("err %v", err)
	}
}

func TestCommandDevice(t *testing.T) {
	dir := t.TempDir()
	c := &Command{DeviceName: "script", Argv: []string{"sh", "-c", `echo "$TANDEM_FENCE_ACTION $TANDEM_FENCE_NODE" > ` + dir + `/log; [ "$TANDEM_FENCE_ACTION" = status ] && exit 2; exit 0`}}
	if _, err := c.Run(ctxT(t), Off, "b"); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "log")); string(b) != "off b\n" {
		t.Fatalf("the command saw %q", b)
	}
	if p, err := c.Run(ctxT(t), Status, "b"); err != nil || p != PowerOff {
		t.Fatalf("status %v %v", p, err)
	}
}

// config check reads each agent's metadata: a misspelt parameter comes
// back located in the file.
func TestCheckConfig(t *testing.T) {
	if _, err := os.Stat("/usr/sbin/fence_ipmilan"); err != nil {
		t.Skip("needs fence_ipmilan (Debian fence-agents)")
	}
	y := `cluster: t
key_file: /tmp/k
nodes:
  - {name: a, links: [198.18.0.10]}
  - {name: b, links: [198.18.0.11]}
resources:
  - {name: svc, type: exec, params: {daemon: "sleep 100"}}
fencing:
  devices:
    - {name: ipmi-a, agent: fence_ipmilan, params: {ip: 198.18.1.10, username: admin, password: pw, lanplus: 1}, nodes: [a]}
    - {name: ipmi-b, agent: fence_ipmilan, params: {ip: 198.18.1.11, usrname: admin}, nodes: [b]}
    - {name: pdu, exec: /usr/local/bin/pdu-off, nodes: [a, b]}
`
	m, err := config.Parse("t.yaml", []byte(y))
	if err != nil {
		t.Fatal(err)
	}
	errs := Check(ctxT(t), m)
	if len(errs) != 1 || !strings.HasPrefix(errs[0].Error(), "t.yaml:11:") || !strings.Contains(errs[0].Error(), "fencing.devices[1].params: usrname: unknown parameter for fence_ipmilan") {
		t.Fatalf("errors %v", errs)
	}
	report := config.Check(m).String()
	for _, want := range []string{"fence device ipmi-a: agent /usr/sbin/fence_ipmilan, fences a", "fencing a: ipmi-a, then pdu (timeout 1m0s, 2 retries per device)"} {
		if !strings.Contains(report, want) {
			t.Errorf("config check lacks %q:\n%s", want, report)
		}
	}
}

// PlanFor follows the config's topology: levels in order, each device
// with the node's plug; an exec device is told the node's name.
func TestPlanFor(t *testing.T) {
	m := &config.Model{Fencing: config.Fencing{Retries: 1, Timeout: time.Minute,
		Devices: []config.FenceDevice{
			{Name: "ipmi-a", Agent: "/usr/sbin/fence_ipmilan", Params: map[string]string{"ip": "198.18.0.1"}, Nodes: []string{"a"}},
			{Name: "pdu", Agent: "/usr/sbin/fence_apc_snmp", Nodes: []string{"a", "b"}, Plugs: map[string]string{"a": "1", "b": "2"}},
			{Name: "script", Command: "poweroff-by-hand", Nodes: []string{"a"}},
		},
		Topology: map[string][][]string{"a": {{"ipmi-a"}, {"pdu", "script"}}, "b": {{"pdu"}}}}}
	p := PlanFor(m, "a", nil)
	if p.Node != "a" || p.Retries != 1 || p.Timeout != time.Minute || len(p.Levels) != 2 {
		t.Fatalf("plan for a: %+v", p)
	}
	l2 := p.Levels[1]
	if len(l2.Devices) != 2 || l2.Devices[0].Name() != "pdu" || l2.Plugs[0] != "1" || l2.Plugs[1] != "a" {
		t.Fatalf("a's second level: %d devices, plugs %v", len(l2.Devices), l2.Plugs)
	}
	if c, ok := l2.Devices[1].(*Command); !ok || strings.Join(c.Argv, " ") != "sh -c poweroff-by-hand" {
		t.Fatalf("the exec device: %#v", l2.Devices[1])
	}
	if b := PlanFor(m, "b", nil); len(b.Levels) != 1 || b.Levels[0].Plugs[0] != "2" {
		t.Fatalf("plan for b: %+v", b)
	}
	if len(PlanFor(m, "c", nil).Levels) != 0 {
		t.Fatal("a plan for a node no device fences")
	}
}
