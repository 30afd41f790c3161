package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// config check runs the OCF agents' meta-data: the example passes, and a
// parameter the agent does not take is a located error (exit 2).
func TestConfigCheckOCF(t *testing.T) {
	if _, err := os.Stat("/usr/lib/ocf/resource.d/heartbeat/IPaddr2"); err != nil {
		t.Skipf("resource-agents is not installed (apt install resource-agents; scripts/deps.sh installs it): %v", err)
	}
	example := filepath.Join("..", "..", "examples", "ocf-dummy.yaml")
	code, out, errs := run(t, "config", "check", example)
	if code != 0 || !strings.Contains(out, "resource vip (ocf): ocf:heartbeat:IPaddr2 cidr_netmask=24 ip=198.18.0.100 nic=eth0;") {
		t.Fatalf("exit %d: %s%s", code, out, errs)
	}
	b, err := os.ReadFile(example)
	if err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(t.TempDir(), "tandem.yaml")
	os.WriteFile(bad, []byte(strings.Replace(string(b), "      ip: 198.18.0.100\n", "      address: 198.18.0.100\n", 1)), 0o600)
	code, _, errs = run(t, "config", "check", bad)
	for _, want := range []string{
		bad + `:27:5: resources[0].params: ocf:heartbeat:IPaddr2 requires parameter "ip"`,
		bad + `:28:7: resources[0].params.address: unknown parameter of ocf:heartbeat:IPaddr2; allowed: ip, nic,`,
	} {
		if code != 2 || !strings.Contains(errs, want) {
			t.Errorf("exit %d, stderr lacks %s:\n%s", code, want, errs)
		}
	}
}
