package cli

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func run(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := Main(args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestConfigCheck(t *testing.T) {
	code, out, errs := run(t, "config", "check", filepath.Join("..", "..", "examples", "freeswitch-pair.yaml"))
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	for _, want := range []string{"Config is valid.", "group voice: starts vip → dahdi → fonulator → freeswitch", "Failover bound", "two_node without fencing or witness"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	os.WriteFile(bad, []byte("cluster: x\nnodez: []\n"), 0o600)
	code, _, errs = run(t, "config", "check", bad)
	if code != 2 || !strings.Contains(errs, bad+`:2:1: (top level): unknown field "nodez"`) || strings.Contains(errs, "panic") {
		t.Fatalf("exit %d, stderr %q", code, errs)
	}
}

func TestKeygen(t *testing.T) {
	p := filepath.Join(t.TempDir(), "authkey")
	if code, out, errs := run(t, "keygen", p); code != 0 || !strings.Contains(out, "mode 0600") {
		t.Fatalf("exit %d: %s %s", code, out, errs)
	}
	if code, _, errs := run(t, "keygen", p); code == 0 || !strings.Contains(errs, "exists") {
		t.Fatalf("overwrite allowed: %d %s", code, errs)
	}
}

func TestSocketFlagAndEnv(t *testing.T) {
	g := &globals{}
	t.Setenv("TANDEM_SOCKET", "/tmp/from-env.sock")
	if got := g.socketPath("/from/config"); got != "/tmp/from-env.sock" {
		t.Fatalf("env: %s", got)
	}
	g.socket = "/tmp/flag.sock"
	if got := g.socketPath("/from/config"); got != "/tmp/flag.sock" {
		t.Fatalf("flag: %s", got)
	}
	code, _, errs := run(t, "status", "--socket", filepath.Join(t.TempDir(), "none.sock"))
	if code == 0 || !strings.Contains(errs, "is `tandem agent` running?") {
		t.Fatalf("status without an agent: %d %s", code, errs)
	}
}
