package cli

import (
	"context"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"tandem/internal/agent"
	"tandem/internal/status"
	"tandem/internal/wire"
)

const unitPath = "../../dist/systemd/tandem.service"

// TestSystemdUnit checks dist/systemd/tandem.service with systemd's own
// parser (systemd-analyze verify), on a copy whose ExecStart names a binary
// that exists here, and holds it to the choices the agent relies on.
func TestSystemdUnit(t *testing.T) {
	unit, err := os.ReadFile(unitPath)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"\nType=notify\n", "\nNotifyAccess=main\n", "\nWatchdogSec=5s\n", "\nKillMode=mixed\n",
		"\nRestart=on-failure\n", "\nRuntimeDirectory=tandem\n", "\nRuntimeDirectoryMode=0700\n", "\nStateDirectory=tandem\n",
		"\nExecStart=/usr/local/sbin/tandem agent --config /etc/tandem/tandem.yaml\n",
		"\nWantedBy=multi-user.target\n",
	} {
		if !strings.Contains(string(unit), want) {
			t.Errorf("unit lacks %q", strings.TrimSpace(want))
		}
	}
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze not installed (Debian package systemd; scripts/deps.sh installs it): unit not verified")
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	copyPath := filepath.Join(t.TempDir(), "tandem.service")
	if err := os.WriteFile(copyPath, []byte(strings.ReplaceAll(string(unit), "/usr/local/sbin/tandem", self)), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, analyze, "verify", copyPath).CombinedOutput()
	// systemd-analyze also reports on other units of this machine: only what
	// it says about ours counts (unknown keys and bad values are warnings
	// with exit status 0, so they count too).
	var ours []string
	for _, l := range strings.Split(string(out), "\n") {
		if strings.Contains(l, "tandem.service") {
			ours = append(ours, l)
		}
	}
	if len(ours) > 0 {
		t.Fatalf("systemd-analyze verify:\n%s", strings.Join(ours, "\n"))
	}
	if err != nil {
		t.Skipf("systemd-analyze verify cannot run here (%v), nothing said about tandem.service:\n%s", err, out)
	}
	if len(out) > 0 {
		t.Logf("systemd-analyze verify, about other units:\n%s", out)
	}
}

// TestHelpEverywhere walks the command tree: every command says what it does
// in one line and in detail (or by example), and every flag has usage text.
func TestHelpEverywhere(t *testing.T) {
	root := newRoot(&globals{stdout: io.Discard, stderr: io.Discard})
	root.InitDefaultHelpCmd()
	root.InitDefaultCompletionCmd()
	root.InitDefaultVersionFlag()
	var walk func(c *cobra.Command)
	n := 0
	walk = func(c *cobra.Command) {
		n++
		c.InitDefaultHelpFlag()
		if c.Short == "" {
			t.Errorf("%q: no Short", c.CommandPath())
		}
		if c.Long == "" && c.Example == "" {
			t.Errorf("%q: no Long or Example", c.CommandPath())
		}
		c.LocalFlags().VisitAll(func(f *pflag.Flag) {
			if strings.TrimSpace(f.Usage) == "" {
				t.Errorf("%q: flag --%s has no usage text", c.CommandPath(), f.Name)
			}
		})
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
	if n < 12 {
		t.Fatalf("walked only %d commands", n)
	}
	code, out, errs := run(t, "--help")
	for _, want := range []string{"completion", "version", "report", "agent", "status"} {
		if code != 0 || !strings.Contains(out, "\n  "+want+" ") {
			t.Errorf("tandem --help (exit %d, %s) does not list %s:\n%s", code, errs, want, out)
		}
	}
}

func TestCompletion(t *testing.T) {
	for shell, want := range map[string]string{
		"bash": "__start_tandem",
		"zsh":  "#compdef tandem",
		"fish": "complete -c tandem",
	} {
		code, out, errs := run(t, "completion", shell)
		if code != 0 || !strings.Contains(out, want) {
			t.Errorf("completion %s: exit %d, %s, %d bytes without %q", shell, code, errs, len(out), want)
		}
	}
	// Completion reaches the commands themselves.
	code, out, _ := run(t, "__complete", "re")
	if code != 0 || !strings.Contains(out, "report") {
		t.Errorf("completing \"re\": %d %q", code, out)
	}
}

func TestVersion(t *testing.T) {
	code, out, errs := run(t, "version")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	for _, want := range []string{"tandem ", "go:", "wire protocol:  3", "status schema:  5", "state format:   1"} {
		if !strings.Contains(out, want) {
			t.Errorf("version lacks %q:\n%s", want, out)
		}
	}
	code, out, errs = run(t, "version", "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var v map[string]any
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if v["wire_protocol"] != float64(wire.Version) || v["status_schema"] != float64(status.Schema) ||
		v["state_format"] != float64(agent.StateFormat) || v["version"] == "" || v["go"] == "" {
		t.Fatalf("version --json: %s", out)
	}
	if code, out, _ := run(t, "--version"); code != 0 || !strings.HasPrefix(out, "tandem ") {
		t.Fatalf("--version: %d %q", code, out)
	}
}
