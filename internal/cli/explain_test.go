package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"tandem/internal/agent"
	"tandem/internal/config"
	"tandem/internal/schedule"
)

const explainYAML = `cluster: t
key_file: /tmp/k
nodes:
  - {name: a, links: [198.18.0.10]}
  - {name: b, links: [198.18.0.11]}
resources:
  - {name: vip, type: ip, params: {address: 198.18.0.100/24, interface: eth0}}
  - {name: fs, type: exec, params: {daemon: "sleep 100"}, meta: {migration_threshold: 3}}
groups: [{name: voice, members: [vip, fs]}]
constraints: [{location: voice, node: a, score: 50}]
defaults: {stickiness: 100}
`

var (
	explainModel = func() *config.Model {
		m, err := config.Parse("t.yaml", []byte(explainYAML))
		if err != nil {
			panic(err)
		}
		return m
	}()
	explainView = schedule.View{Online: []string{"a", "b"}, Running: map[string]string{"voice": "b"}}
)

func TestExplainCommand(t *testing.T) {
	sock := serveBackend(t)
	code, out, errs := run(t, "explain", "fs", "--socket", sock)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	for _, want := range []string{"fs is placed with its group.", "voice (group of vip, fs): runs on b; placement wants b",
		"b                200  stickiness: running here (100 × 2 members)", "a                 50  location voice on a: 50", "nothing to do"} {
		if !strings.Contains(out, want) {
			t.Errorf("explain lacks %q:\n%s", want, out)
		}
	}
	if code, _, errs := run(t, "explain", "fz", "--socket", sock); code == 0 || !strings.Contains(errs, `no group, clone or resource named "fz"; there are: voice, vip, fs`) {
		t.Errorf("unknown resource: exit %d, %q", code, errs)
	}
}

// simulate replays a saved scheduler input with hypothetical changes.
func TestSimulate(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "tandem.yaml")
	if err := os.WriteFile(cfg, []byte(explainYAML+"state_dir: "+dir+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	in := agent.PEInput{Node: "a", At: time.Date(2026, 12, 4, 1, 0, 0, 0, time.UTC), ConfigHash: "0", View: explainView}
	b, _ := json.Marshal(in)
	os.MkdirAll(filepath.Join(dir, agent.PEInputDir), 0o700)
	if err := os.WriteFile(filepath.Join(dir, agent.PEInputDir, "pe-input-20261204T010000.000000000.json"), b, 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, errs := run(t, "simulate", "--config", cfg, "--node-down", "b")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	for _, want := range []string{"* voice        b → a", "start vip on a", "start fs on a", "scores of voice:"} {
		if !strings.Contains(out, want) {
			t.Errorf("simulate --node-down b lacks %q:\n%s", want, out)
		}
	}
	if !strings.Contains(errs, "was saved with config 0") {
		t.Errorf("no warning about the config hash: %q", errs)
	}
	// Three failures of fs on b reach its migration_threshold.
	_, out, _ = run(t, "simulate", "--config", cfg, "--fail", "fs@b", "--fail", "fs@b", "--fail", "fs@b")
	if !strings.Contains(out, "* voice        b → a") || !strings.Contains(out, "fs failed 3 times here (migration-threshold 3)") {
		t.Errorf("simulate --fail ×3:\n%s", out)
	}
	_, out, _ = run(t, "simulate", "--config", cfg, "--fail", "fs@b")
	if !strings.Contains(out, "  voice        b → b") {
		t.Errorf("one failure should move nothing:\n%s", out)
	}
	if code, _, errs := run(t, "simulate", "--config", cfg, "--standby", "c"); code == 0 || !strings.Contains(errs, `--standby c: no node named "c"; nodes: a, b`) {
		t.Errorf("bad node: exit %d %q", code, errs)
	}
	// --input names a file; the newest is not used then.
	other := in
	other.View.Running = map[string]string{"voice": "a"}
	b, _ = json.Marshal(other)
	older := filepath.Join(dir, "older.json")
	if err := os.WriteFile(older, b, 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, errs = run(t, "simulate", "--config", cfg, "--input", older, "--node-down", "a")
	if code != 0 || !strings.Contains(out, "input: "+older+" (node a, 2026-12-04 01:00:00 UTC)") ||
		!strings.Contains(out, "changes: node a down") || !strings.Contains(out, "* voice        a → b") {
		t.Errorf("simulate --input %s --node-down a: exit %d\n%s%s", older, code, out, errs)
	}
	// No saved input: the error says where it looked and what to do.
	empty := filepath.Join(dir, "empty")
	if code, _, errs := run(t, "simulate", "--config", cfg, "--state-dir", empty); code == 0 ||
		!strings.Contains(errs, "no saved scheduler input under "+filepath.Join(empty, agent.PEInputDir)) || !strings.Contains(errs, "--input FILE") {
		t.Errorf("no input: exit %d %q", code, errs)
	}
	if code, _, errs := run(t, "simulate", "--config", cfg, "--fail", "fs"); code == 0 || !strings.Contains(errs, `--fail "fs": want RES@NODE`) {
		t.Errorf("--fail without @: exit %d %q", code, errs)
	}
}

func TestExplainJSON(t *testing.T) {
	sock := serveBackend(t)
	code, out, errs := run(t, "explain", "voice", "--json", "--socket", sock)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var e schedule.Explanation
	if err := json.Unmarshal([]byte(out), &e); err != nil {
		t.Fatalf("explain --json: %v\n%s", err, out)
	}
	if e.Unit != "voice" || len(e.Placed) != 1 || e.Placed[0] != "b" || len(e.Scores) != 2 || e.Scores[0].Node != "b" {
		t.Fatalf("explain --json: %+v", e)
	}
}
