// Package exec runs services through commands: start/stop/monitor shell
// commands (an init script, a wrapper), or a daemon the agent starts and
// supervises itself. Every command runs in its own process group; when an
// operation runs out of time the whole group is killed, so nothing it
// spawned is left behind. Output is logged line by line, bounded per
// operation (package pgroup, shared with the lsb and ocf agents).
package exec

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	osexec "os/exec"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"tandem/internal/config"
	"tandem/internal/resource"
	"tandem/internal/resource/pgroup"
)

const (
	// exitNotRunning is OCF's "not running" exit code, used by monitor commands.
	exitNotRunning = 7
	// startGrace is how long a daemon must stay up for its start to count: a
	// daemon that exits at once (bad config, port taken) is a failed start.
	startGrace = 50 * time.Millisecond
)

// Agent runs one exec resource.
type Agent struct {
	name string
	p    config.ExecParams
	log  *slog.Logger

	mu         sync.Mutex
	started    bool            // command mode without a monitor: what we last did
	startGroup int             // command mode: group of the last start, if it left processes running
	startProcs []pgroup.Member // and what was in it when the start command ended
	daemon     *daemon         // daemon mode: the current or last child
}

type daemon struct {
	cmd      *osexec.Cmd
	pgid     int
	done     chan struct{} // closed once the child is reaped
	err      error         // its exit, set before done closes
	stopping atomic.Bool   // Stop is ending it: the exit is expected
}

// New returns the agent for resource name.
func New(name string, p config.ExecParams, log *slog.Logger) (*Agent, error) {
	if p.Daemon == "" && (p.Start == "" || p.Stop == "") {
		return nil, fmt.Errorf("exec %s: needs daemon, or start and stop", name)
	}
	return &Agent{name: name, p: p, log: log.With("resource", name)}, nil
}

// spec is `/bin/sh -c script` with the resource's dir and env, output logged as op.
func (a *Agent) spec(op, script string) pgroup.Spec {
	return pgroup.Spec{Argv: []string{"/bin/sh", "-c", script}, Dir: a.p.Dir,
		Env: append(slices.Clone(a.p.Env), "TANDEM_RESOURCE="+a.name), Log: a.log, Op: op}
}

// run runs script to completion, or until ctx ends and then kills its whole
// process group. It returns the exit code and the group id.
func (a *Agent) run(ctx context.Context, op, script string) (code, pgid int, err error) {
	r, err := pgroup.Run(ctx, a.spec(op, script))
	if err != nil {
		return -1, r.Pgid, fmt.Errorf("%s %s: %w", op, a.name, err)
	}
	return r.Code, r.Pgid, nil
}

// Start implements resource.Agent.
func (a *Agent) Start(ctx context.Context) error {
	if a.p.Daemon != "" {
		return a.startDaemon(ctx)
	}
	code, pgid, err := a.run(ctx, "start", a.p.Start)
	if err != nil {
		return err
	}
	if code != 0 {
		return fmt.Errorf("start %s: exit status %d", a.name, code)
	}
	a.mu.Lock()
	a.started = true
	// A start command that leaves the service in its group (`svc &`) gives us
	// a group to kill when the stop command fails.
	a.startGroup, a.startProcs = 0, nil
	if m := pgroup.Members(pgid); len(m) > 0 {
		a.startGroup, a.startProcs = pgid, m
	}
	a.mu.Unlock()
	return nil
}

// Stop implements resource.Agent. In command mode a failed or timed-out stop
// command is escalated: what the start command left in its process group is
// SIGKILLed, and the stop error is still returned so the caller monitors again.
func (a *Agent) Stop(ctx context.Context) error {
	if a.p.Daemon != "" {
		return a.stopDaemon(ctx)
	}
	code, _, err := a.run(ctx, "stop", a.p.Stop)
	if err == nil && code != 0 {
		err = fmt.Errorf("stop %s: exit status %d", a.name, code)
	}
	a.mu.Lock()
	g, procs := a.startGroup, a.startProcs
	if err == nil {
		a.started = false
	}
	a.startGroup, a.startProcs = 0, nil
	a.mu.Unlock()
	// Only a group that was never empty since the start is surely ours; a
	// service that double-forked and left the group is beyond our reach.
	if err != nil && g != 0 && pgroup.StillOurs(g, procs) {
		a.log.Warn("stop failed: killing the start command's process group", "pgid", g, "err", err)
		if kerr := pgroup.Kill(g); kerr != nil {
			err = errors.Join(err, kerr)
		}
	}
	return err
}

// Monitor implements resource.Agent: exit 0 running, 7 stopped, else failed.
func (a *Agent) Monitor(ctx context.Context) (resource.State, error) {
	if a.p.Daemon != "" {
		return a.monitorDaemon()
	}
	if a.p.Monitor == "" {
		// Weak: without a monitor command all we know is what we did last;
		// a service that died since is still reported running.
		a.mu.Lock()
		defer a.mu.Unlock()
		if a.started {
			return resource.Running, nil
		}
		return resource.Stopped, nil
	}
	code, _, err := a.run(ctx, "monitor", a.p.Monitor)
	switch {
	case err != nil:
		return resource.Failed, err
	case code == 0:
		return resource.Running, nil
	case code == exitNotRunning:
		return resource.Stopped, nil
	}
	return resource.Failed, fmt.Errorf("monitor %s: exit status %d (0 = running, 7 = stopped)", a.name, code)
}

// daemonScript lets the daemon replace the shell when it is one simple
// command, so the agent's death signal (Pdeathsig) reaches the daemon itself
// and not only a shell that would leave it orphaned.
func daemonScript(s string) string {
	t := strings.TrimSpace(s)
	if strings.ContainsAny(t, ";&|()`{}!\n<>") || strings.Contains(t, "$(") {
		return s
	}
	first, _, _ := strings.Cut(t, " ")
	if first == "" || strings.Contains(first, "=") || first == "exec" {
		return s
	}
	switch first {
	case "if", "while", "until", "for", "case",
		// Builtins with no program of the same name: exec would not find them.
		"exit", "return", "break", "continue", "eval", ".", "export", "readonly",
		"set", "shift", "times", "trap", "unset", "cd", "read", "wait", "umask",
		"ulimit", "alias", "unalias", "command", "getopts", "hash", "type", "local":
		return s
	}
	return "exec " + t
}

func (a *Agent) startDaemon(ctx context.Context) error {
	a.mu.Lock()
	if d := a.daemon; d != nil {
		select {
		case <-d.done:
		default:
			a.mu.Unlock()
			return nil // already running: starting twice is not an error
		}
	}
	p, err := pgroup.Start(a.spec("daemon", daemonScript(a.p.Daemon)))
	if err != nil {
		a.mu.Unlock()
		return fmt.Errorf("start %s: %w", a.name, err)
	}
	cmd := p.Cmd
	d := &daemon{cmd: cmd, pgid: p.Pgid, done: make(chan struct{})}
	a.daemon = d
	a.mu.Unlock()
	a.log.Info("daemon started", "pid", d.pgid)
	go func() {
		d.err = cmd.Wait()
		if !d.stopping.Load() {
			// An unexpected exit: what the daemon left behind goes with it,
			// so a restart does not meet an old child holding the port.
			_ = pgroup.Kill(d.pgid)
			a.log.Warn("daemon exited", "pid", d.pgid, "status", exitText(d.err))
		}
		close(d.done)
	}()
	t := time.NewTimer(startGrace)
	defer t.Stop()
	select {
	case <-d.done:
		p.WaitOutput()
		return fmt.Errorf("start %s: daemon exited at once: %s", a.name, exitText(d.err))
	case <-t.C:
		return nil
	case <-ctx.Done():
		d.stopping.Store(true)
		kerr := pgroup.Kill(d.pgid)
		<-d.done
		a.mu.Lock()
		if a.daemon == d {
			a.daemon = nil // nothing runs: monitor says stopped
		}
		a.mu.Unlock()
		return fmt.Errorf("start %s: %w", a.name, pgroup.Killed(ctx, d.pgid, kerr))
	}
}

func exitText(err error) string {
	if err == nil {
		return "exit status 0"
	}
	return err.Error()
}

// stopDaemon sends SIGTERM to the daemon's group and waits for the whole
// group to go; at ctx's end it escalates to SIGKILL. It returns once the
// group is gone, with an error only if it survived SIGKILL.
func (a *Agent) stopDaemon(ctx context.Context) error {
	a.mu.Lock()
	d := a.daemon
	a.mu.Unlock()
	if d == nil {
		return nil
	}
	select {
	case <-d.done:
		// It died earlier and its group was killed then; its id may be
		// someone else's by now, so signal nothing.
		a.mu.Lock()
		if a.daemon == d {
			a.daemon = nil
		}
		a.mu.Unlock()
		return nil
	default:
	}
	d.stopping.Store(true)
	_ = syscall.Kill(-d.pgid, syscall.SIGTERM)
	if !a.waitTerm(ctx, d.pgid) {
		// It ignored SIGTERM until the stop timeout: escalate.
		a.log.Warn("daemon still running at the stop timeout: SIGKILL to its process group", "pgid", d.pgid)
		if err := pgroup.Kill(d.pgid); err != nil {
			return fmt.Errorf("stop %s: %w", a.name, err)
		}
	}
	// The leader is dead; wait for its reaping (immediate) to keep its status.
	select {
	case <-d.done:
	case <-time.After(pgroup.KillWait):
		return fmt.Errorf("stop %s: daemon %d not reaped after its group went", a.name, d.pgid)
	}
	a.log.Info("daemon stopped", "pid", d.pgid, "status", exitText(d.err))
	a.mu.Lock()
	if a.daemon == d {
		a.daemon = nil
	}
	a.mu.Unlock()
	return nil
}

// waitTerm polls until group pgid is gone (true) or ctx ends (false).
func (a *Agent) waitTerm(ctx context.Context, pgid int) bool {
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for pgroup.Alive(pgid) {
		select {
		case <-tick.C:
		case <-ctx.Done():
			return !pgroup.Alive(pgid)
		}
	}
	return true
}

func (a *Agent) monitorDaemon() (resource.State, error) {
	a.mu.Lock()
	d := a.daemon
	a.mu.Unlock()
	if d == nil {
		return resource.Stopped, nil
	}
	select {
	case <-d.done:
		return resource.Failed, fmt.Errorf("monitor %s: daemon exited: %s", a.name, exitText(d.err))
	default:
		return resource.Running, nil
	}
}
