package cli

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"tandem/internal/authkey"
)

// TestReport makes a report from a config and a state dir with no agent
// running: everything but the status is collected, the missing status says
// why, and no key material gets in.
func TestReport(t *testing.T) {
	dir := t.TempDir()
	state := filepath.Join(dir, "state")
	if err := os.Mkdir(state, 0o700); err != nil {
		t.Fatal(err)
	}
	key := filepath.Join(dir, "authkey")
	if err := authkey.Generate(key); err != nil {
		t.Fatal(err)
	}
	keyBytes, _ := os.ReadFile(key)
	// Key material in state_dir, too, by accident: never copied.
	os.WriteFile(filepath.Join(state, "authkey.bak"), keyBytes, 0o600)
	os.WriteFile(filepath.Join(state, "events.json"), []byte(`[{"at":"2026-01-01T00:00:00.000Z","message":"agent started"}]`), 0o600)
	os.WriteFile(filepath.Join(state, "cluster-state.json"), []byte("[]"), 0o600)
	os.WriteFile(filepath.Join(state, "incarnation"), []byte("42\n"), 0o600)
	cfg := filepath.Join(dir, "tandem.yaml")
	os.WriteFile(cfg, fmt.Appendf(nil, `cluster: t
key_file: %s
state_dir: %s
quorum: {mode: two_node}
nodes:
  - {name: a, links: [127.0.0.1]}
  - {name: b, links: [127.0.0.2]}
resources:
  - {name: svc, type: exec, params: {daemon: "exec sleep 1000"}}
`, key, state), 0o600)
	out := filepath.Join(dir, "r.tar.gz")
	code, stdout, errs := run(t, "report", "--config", cfg, "--since", "1h", "-o", out, "--socket", filepath.Join(dir, "none.sock"))
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	if !strings.Contains(stdout, "wrote "+out) || !strings.Contains(stdout, "not collected: status.json") {
		t.Errorf("stdout: %s", stdout)
	}
	fi, err := os.Stat(out)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("report mode %v, want 0600: it holds the config", fi.Mode().Perm())
	}
	files := readTarGz(t, out)
	for _, want := range []string{
		"r/README.txt", "r/config/tandem.yaml", "r/config/check.txt", "r/status.json.missing.txt",
		"r/state/events.json", "r/state/cluster-state.json", "r/state/incarnation", "r/version.txt",
		"r/system/uname.txt", "r/system/ip-addr.txt", "r/system/ip-route.txt",
	} {
		if _, ok := files[want]; !ok {
			t.Errorf("report lacks %s", want)
		}
	}
	_, j := files["r/logs/journal.txt"]
	_, jm := files["r/logs/journal.txt.missing.txt"]
	if !j && !jm {
		t.Errorf("report has neither the journal nor why it is missing")
	}
	hexKey := bytes.TrimSpace(keyBytes)
	for name, b := range files {
		if bytes.Contains(b, hexKey) {
			t.Errorf("%s holds the cluster key", name)
		}
		if strings.Contains(name, "authkey") {
			t.Errorf("%s is in the report", name)
		}
	}
	readme := string(files["r/README.txt"])
	for _, want := range []string{"state/events.json", "event history", "status.json: agent at", "authkey.bak: key material is never included", "Never included: the cluster key"} {
		if !strings.Contains(readme, want) {
			t.Errorf("README lacks %q:\n%s", want, readme)
		}
	}
	if !strings.Contains(string(files["r/config/check.txt"]), "Config is valid.") {
		t.Errorf("config check: %s", files["r/config/check.txt"])
	}
	if string(files["r/state/events.json"]) == "" || !strings.Contains(string(files["r/status.json.missing.txt"]), "is `tandem agent` running?") {
		t.Errorf("events %q, status note %q", files["r/state/events.json"], files["r/status.json.missing.txt"])
	}

	// A config that does not load still gets into the report, with why.
	os.WriteFile(cfg, fmt.Appendf(nil, "cluster: t\nstate_dir: %s\nnodez: []\n", state), 0o600)
	code, _, errs = run(t, "report", "--config", cfg, "-o", out, "--socket", filepath.Join(dir, "none.sock"))
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	files = readTarGz(t, out)
	if !strings.Contains(string(files["r/config/check.txt"]), `unknown field "nodez"`) || files["r/state/events.json"] == nil {
		t.Errorf("bad config: check %q, events %q", files["r/config/check.txt"], files["r/state/events.json"])
	}
	if code, _, errs := run(t, "report", "--since", "-1h", "-o", out); code == 0 || !strings.Contains(errs, "must be positive") {
		t.Errorf("negative --since: %d %s", code, errs)
	}
}

func readTarGz(t *testing.T, path string) map[string][]byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(zr)
	files := map[string][]byte{}
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return files
		}
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		files[h.Name] = b
	}
}
