package agent

import (
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"tandem/internal/config"
	"tandem/internal/resource/lsb"
	"tandem/internal/resource/ocf"
)

// The agent refuses to start on what config check refuses, with the same
// located errors in file order; otherwise it builds ocf and lsb agents.
func TestBuildAgentsChecks(t *testing.T) {
	dir := t.TempDir()
	initScript := filepath.Join(dir, "svc")
	os.WriteFile(initScript, []byte("#!/bin/sh\nexit 3\n"), 0o755)
	head := "cluster: t\nkey_file: /tmp/k\nnodes:\n  - {name: a, links: [198.18.0.10]}\n  - {name: b, links: [198.18.0.11]}\nresources:\n"
	m, err := config.Parse("tandem.yaml", []byte(head+
		"  - {name: gone, type: \"lsb:tandem-test-none\"}\n"+
		"  - {name: odd, type: \"ocf:tandem-test:none\"}\n"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = buildAgents(m, slog.New(slog.DiscardHandler), 0)
	want := "tandem.yaml:7:18: resources[0].type: init script /etc/init.d/tandem-test-none is not installed here\n" +
		"tandem.yaml:8:17: resources[1].type: ocf:tandem-test:none is not installed here"
	if err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Fatalf("got\n%v\nwant\n%s…", err, want)
	}

	src := head + "  - {name: svc, type: \"lsb:svc\", params: {path: " + initScript + "}}\n"
	if _, err := os.Stat("/usr/lib/ocf/resource.d/heartbeat/Dummy"); err == nil {
		src += "  - {name: dummy, type: \"ocf:heartbeat:Dummy\"}\n"
	}
	if m, err = config.Parse("tandem.yaml", []byte(src)); err != nil {
		t.Fatal(err)
	}
	ags, err := buildAgents(m, slog.New(slog.DiscardHandler), 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := ags["svc"].(*lsb.Agent); !ok {
		t.Errorf("svc: %T", ags["svc"])
	}
	if d, ok := ags["dummy"]; ok {
		if _, ok := d.(*ocf.Agent); !ok {
			t.Errorf("dummy: %T", d)
		}
	}
}
