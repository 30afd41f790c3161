package freeswitch

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"tandem/internal/config"
	"tandem/internal/esl"
	"tandem/internal/esl/esltest"
	"tandem/internal/resource"
	"tandem/internal/resource/agenttest"
)

// FreeSWITCH is not packaged in Debian 12: these tests run the agent
// against esltest's scripted fake event socket, which speaks the protocol
// as mod_event_socket documents it (auth/request, command/reply,
// api/response, Content-Length bodies) and answers status and the sofia
// commands in mod_sofia's words. Cold mode runs a real init script (the
// lsb agent) or real commands (the exec agent).

var ctxT = agenttest.Ctx

func warm(t *testing.T, addr, password string) (*Agent, *agenttest.LogBuf) {
	t.Helper()
	log, lb := agenttest.Logger()
	a, err := New("fs", config.FreeSWITCHParams{Mode: config.FSWarm, ESL: addr, Password: password,
		Profiles: []string{"internal", "external"}, Recover: true}, log)
	if err != nil {
		t.Fatal(err)
	}
	return a, lb
}

func TestWarmSwitchesProfiles(t *testing.T) {
	for _, chunk := range []int{0, 16} { // 16: every answer split across many reads
		fs := esltest.NewFreeSWITCH("internal", "external")
		srv := esltest.New(t, "ClueCon", func(cmd string) esltest.Reply {
			r := fs.Handle(cmd)
			r.Chunk = chunk
			return r
		})
		a, lb := warm(t, srv.Addr(), "ClueCon")
		ctx := ctxT(t, 20*time.Second)
		if st, err := a.Monitor(ctx); st != resource.Stopped || err != nil {
			t.Fatalf("standby (profiles stopped): %v %v", st, err)
		}
		if err := a.Start(ctx); err != nil {
			t.Fatalf("start: %v\n%s", err, lb)
		}
		if !fs.Running("internal") || !fs.Running("external") || fs.Recovered() != 1 {
			t.Fatalf("after start: internal %v external %v recovered %d", fs.Running("internal"), fs.Running("external"), fs.Recovered())
		}
		cmds := srv.Commands()
		iStart, iRecover := slices.Index(cmds, "sofia profile external start"), slices.Index(cmds, "sofia recover")
		if slices.Index(cmds, "sofia profile internal start") < 0 || iStart < 0 || iRecover < iStart {
			t.Fatalf("active role = profiles started, then sofia recover; commands: %q", cmds)
		}
		if st, err := a.Monitor(ctx); st != resource.Running || err != nil {
			t.Fatalf("active: %v %v", st, err)
		}
		// Starting again starts nothing twice.
		if err := a.Start(ctx); err != nil {
			t.Fatal(err)
		}
		if n := strings.Count(strings.Join(srv.Commands(), "|"), "sofia profile internal start"); n != 1 {
			t.Errorf("a running profile was started again (%d starts)", n)
		}
		// One profile dies: failed, naming it.
		fs.SetRunning("external", false)
		if st, err := a.Monitor(ctx); st != resource.Failed || err == nil || !strings.Contains(err.Error(), "freeswitch fs: sofia profiles not running: external") {
			t.Fatalf("a profile down: %v %v", st, err)
		}
		if err := a.Stop(ctx); err != nil {
			t.Fatalf("stop: %v", err)
		}
		if fs.Running("internal") || fs.Running("external") {
			t.Fatal("stop left a profile running")
		}
		if st, err := a.Monitor(ctx); st != resource.Stopped || err != nil {
			t.Fatalf("after stop: %v %v", st, err)
		}
		if err := a.Stop(ctx); err != nil {
			t.Fatalf("second stop: %v", err)
		}
	}
}

func TestWarmFreeSWITCHDown(t *testing.T) {
	fs := esltest.NewFreeSWITCH("internal", "external")
	srv := esltest.New(t, "ClueCon", fs.Handle)
	a, _ := warm(t, srv.Addr(), "ClueCon")
	srv.Down() // nothing listens: connection refused
	ctx := ctxT(t, 10*time.Second)
	if st, err := a.Monitor(ctx); st != resource.Stopped || err != nil {
		t.Fatalf("FreeSWITCH not running: %v %v", st, err)
	}
	if err := a.Stop(ctx); err != nil {
		t.Fatalf("stop with FreeSWITCH not running: %v", err)
	}
	// Warm mode does not start FreeSWITCH: a start waits for it, then gives up.
	err := a.Start(ctxT(t, 600*time.Millisecond))
	if err == nil || !strings.Contains(err.Error(), "start fs: FreeSWITCH not ready in time") || !strings.Contains(err.Error(), "connection refused") {
		t.Fatalf("start with FreeSWITCH down: %v", err)
	}
	// It comes up (late, as after a boot): the start waits for it.
	go func() {
		time.Sleep(300 * time.Millisecond)
		if err := srv.Up(); err != nil {
			t.Error(err)
		}
	}()
	if err := a.Start(ctx); err != nil {
		t.Fatalf("start while FreeSWITCH comes up: %v", err)
	}
}

func TestProtocolFailures(t *testing.T) {
	fs := esltest.NewFreeSWITCH("internal", "external")
	fs.SetRunning("internal", true)
	fs.SetRunning("external", true)
	srv := esltest.New(t, "ClueCon", fs.Handle)
	ctx := ctxT(t, 10*time.Second)

	// A wrong password is a configuration error, and a start does not wait on it.
	bad, _ := warm(t, srv.Addr(), "wrong")
	if st, err := bad.Monitor(ctx); st != resource.Failed || !errors.Is(err, resource.ErrNotConfigured) || !errors.Is(err, esl.ErrAuth) {
		t.Fatalf("auth failure: %v %v", st, err)
	}
	began := time.Now()
	if err := bad.Start(ctx); !errors.Is(err, resource.ErrNotConfigured) || time.Since(began) > time.Second {
		t.Fatalf("start with a wrong password: %v after %v", err, time.Since(began))
	}

	a, _ := warm(t, srv.Addr(), "ClueCon")
	if st, err := a.Monitor(ctx); st != resource.Running || err != nil {
		t.Fatalf("healthy: %v %v", st, err)
	}
	// status not ready (FreeSWITCH shutting down) while the profiles run.
	fs.SetReady(false)
	if st, err := a.Monitor(ctx); st != resource.Failed || err == nil || !strings.Contains(err.Error(), "not ready: status says") {
		t.Fatalf("not ready: %v %v", st, err)
	}
	fs.SetReady(true)
	// The connection drops in the middle of a reply.
	fs.Override("status", &esltest.Reply{Body: strings.Repeat("x", 200), CutAfter: 50})
	if st, err := a.Monitor(ctx); st != resource.Failed || !errors.Is(err, esl.ErrDisconnected) {
		t.Fatalf("disconnect mid-reply: %v %v", st, err)
	}
	fs.Override("status", nil)
	// -ERR from a command.
	fs.SetRunning("external", false)
	fs.Override("sofia profile external start", &esltest.Reply{Body: "-ERR Failure starting external\n"})
	var re *esl.ReplyError
	if err := a.Start(ctx); !errors.As(err, &re) || re.Text != "-ERR Failure starting external" || !strings.Contains(err.Error(), "start fs: freeswitch fs: api sofia profile external start: -ERR") {
		t.Fatalf("-ERR on profile start: %v", err)
	}
	// An answer that is not mod_sofia's.
	fs.Override("sofia status profile internal", &esltest.Reply{Body: "something else\n"})
	if st, err := a.Monitor(ctx); st != resource.Failed || err == nil || !strings.Contains(err.Error(), "unexpected answer") {
		t.Fatalf("odd answer: %v %v", st, err)
	}
}

// Cold mode through the lsb agent: a real init script starts and stops the
// "FreeSWITCH" (a marker file the fake event socket watches).
func TestColdWithInitScript(t *testing.T) {
	dir := t.TempDir()
	marker := filepath.Join(dir, "running")
	script := filepath.Join(dir, "freeswitch")
	body := `#!/bin/sh
case "$1" in
start) echo x >> "` + dir + `/starts"; touch "` + marker + `";;
stop) rm -f "` + marker + `";;
status) [ -f "` + marker + `" ] && exit 0; exit 3;;
*) exit 2;;
esac
`
	if err := os.WriteFile(script, []byte(body), 0o755); err != nil {
		t.Fatal(err)
	}
	fs := esltest.NewFreeSWITCH("internal")
	srv := esltest.New(t, "ClueCon", func(cmd string) esltest.Reply {
		_, err := os.Stat(marker)
		fs.SetReady(err == nil)
		fs.SetRunning("internal", err == nil) // profiles start with FreeSWITCH
		return fs.Handle(cmd)
	})
	log, lb := agenttest.Logger()
	a, err := New("fs", config.FreeSWITCHParams{Mode: config.FSCold, ESL: srv.Addr(), Password: "ClueCon", Profiles: []string{"internal"},
		Recover: true, Init: &config.LSBParams{Name: "freeswitch", Path: script}}, log)
	if err != nil {
		t.Fatal(err)
	}
	ctx := ctxT(t, 20*time.Second)
	if st, err := a.Monitor(ctx); st != resource.Stopped || err != nil {
		t.Fatalf("before start: %v %v", st, err)
	}
	for range 2 {
		if err := a.Start(ctx); err != nil {
			t.Fatalf("start: %v\n%s", err, lb)
		}
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "starts")); strings.Count(string(b), "x") != 1 {
		t.Errorf("the init script's start ran %d times (the lsb agent asks status first)", strings.Count(string(b), "x"))
	}
	if st, err := a.Monitor(ctx); st != resource.Running || err != nil {
		t.Fatalf("running: %v %v", st, err)
	}
	if slices.Contains(srv.Commands(), "sofia profile internal start") || fs.Recovered() != 2 {
		t.Errorf("cold mode: profiles start with FreeSWITCH, then sofia recover; commands %q", srv.Commands())
	}
	// The init script says running but the event socket is not ready.
	fs.Override("status", &esltest.Reply{Body: "-ERR no reply\n"})
	if st, err := a.Monitor(ctx); st != resource.Failed || err == nil {
		t.Fatalf("status -ERR: %v %v", st, err)
	}
	fs.Override("status", nil)
	if err := a.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if st, err := a.Monitor(ctx); st != resource.Stopped || err != nil {
		t.Fatalf("after stop: %v %v", st, err)
	}
}

// Cold mode through the exec agent, commands without a monitor command:
// the event socket tells whether FreeSWITCH runs.
func TestColdWithCommands(t *testing.T) {
	dir := t.TempDir()
	fs := esltest.NewFreeSWITCH()
	srv := esltest.New(t, "ClueCon", fs.Handle)
	log, _ := agenttest.Logger()
	a, err := New("fs", config.FreeSWITCHParams{Mode: config.FSCold, ESL: srv.Addr(), Password: "ClueCon", Recover: false,
		Commands: &config.ExecParams{Start: "touch " + dir + "/started", Stop: "rm -f " + dir + "/started"}}, log)
	if err != nil {
		t.Fatal(err)
	}
	ctx := ctxT(t, 10*time.Second)
	srv.Down()
	if st, err := a.Monitor(ctx); st != resource.Stopped || err != nil {
		t.Fatalf("nothing listening: %v %v", st, err)
	}
	if err := srv.Up(); err != nil {
		t.Fatal(err)
	}
	if err := a.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir + "/started"); err != nil {
		t.Fatalf("the start command did not run: %v", err)
	}
	if st, err := a.Monitor(ctx); st != resource.Running || err != nil {
		t.Fatalf("running, no profiles configured: %v %v", st, err)
	}
	if slices.Contains(srv.Commands(), "sofia recover") {
		t.Error("recover: false still ran sofia recover")
	}
	if err := a.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir + "/started"); err == nil {
		t.Fatal("the stop command did not run")
	}
}
