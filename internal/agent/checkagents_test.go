package agent

import (
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"tandem/internal/config"
	"tandem/internal/resource/freeswitch"
	"tandem/internal/resource/lsb"
	"tandem/internal/resource/ocf"
	"tandem/internal/resource/sip"
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

// sip and freeswitch resources get their agents; a cold freeswitch whose
// init script is missing is refused like an lsb resource.
func TestBuildAgentsSIPAndFreeSWITCH(t *testing.T) {
	head := "cluster: t\nkey_file: /tmp/k\nnodes:\n  - {name: a, links: [198.18.0.10]}\n  - {name: b, links: [198.18.0.11]}\nresources:\n"
	m, err := config.Parse("tandem.yaml", []byte(head+
		"  - {name: ping, type: sip, params: {target: 198.18.0.100}}\n"+
		"  - {name: fs, type: freeswitch, params: {mode: warm, profiles: internal}}\n"))
	if err != nil {
		t.Fatal(err)
	}
	ags, err := buildAgents(m, slog.New(slog.DiscardHandler), 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := ags["ping"].(*sip.Agent); !ok {
		t.Errorf("ping: %T", ags["ping"])
	}
	if _, ok := ags["fs"].(*freeswitch.Agent); !ok {
		t.Errorf("fs: %T", ags["fs"])
	}
	m, err = config.Parse("tandem.yaml", []byte(head+
		"  - {name: fs, type: freeswitch, params: {mode: cold, init: tandem-test-none}}\n"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = buildAgents(m, slog.New(slog.DiscardHandler), 0)
	if want := "tandem.yaml:7:55: resources[0].params.init: init script /etc/init.d/tandem-test-none is not installed here"; err == nil || err.Error() != want {
		t.Fatalf("got\n%v\nwant\n%s", err, want)
	}
}
