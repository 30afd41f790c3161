// Package exec runs services through commands: start/stop/monitor shell
// commands (an init script, a wrapper), or a daemon the agent starts and
// supervises itself. Every command runs in its own process group; when an
// operation runs out of time the whole group is killed, so nothing it
// spawned is left behind. Output is logged line by line, bounded per operation.
package exec

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	osexec "os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"tandem/internal/config"
	"tandem/internal/resource"
)

const (
	// maxOutput bounds what is logged of one operation's (or one daemon run's) output.
	maxOutput = 64 << 10
	// exitNotRunning is OCF's "not running" exit code, used by monitor commands.
	exitNotRunning = 7
	// outputGrace is how long an operation waits for its output to end after
	// the shell exits; a background child holding it open is not waited for.
	outputGrace = 100 * time.Millisecond
	// killWait bounds the wait for a SIGKILLed group to disappear; only a
	// process stuck in the kernel (D state) takes longer.
	killWait = 5 * time.Second
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
	started    bool    // command mode without a monitor: what we last did
	startGroup int     // command mode: group of the last start, if it left processes running
	startProcs []proc  // and what was in it when the start command ended
	daemon     *daemon // daemon mode: the current or last child
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

// command prepares `/bin/sh -c script` with the resource's dir and env,
// stdin from /dev/null, and output into a pipe logged as op.
func (a *Agent) command(op, script string) (*osexec.Cmd, *output, error) {
	cmd := osexec.Command("/bin/sh", "-c", script)
	cmd.Dir = a.p.Dir
	cmd.Env = append(os.Environ(), a.p.Env...)
	cmd.Env = append(cmd.Env, "TANDEM_RESOURCE="+a.name)
	// Own process group, so a timeout kills everything it spawned; killed
	// with the agent, so a dead agent leaves no unsupervised service. (The
	// death signal follows the forking OS thread: never call an operation
	// from a goroutine that holds runtime.LockOSThread and may exit locked.)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	// Our own pipe (not an io.Writer) so Wait does not wait for a background
	// child that inherited it, and that child does not get SIGPIPE later.
	r, w, err := os.Pipe()
	if err != nil {
		return nil, nil, fmt.Errorf("%s %s: output pipe: %w", op, a.name, err)
	}
	cmd.Stdout, cmd.Stderr = w, w
	out := newOutput(a.log, op, r)
	return cmd, out, nil
}

// launch starts cmd and closes our copy of the pipe's write end.
func launch(cmd *osexec.Cmd) error {
	err := cmd.Start()
	cmd.Stdout.(*os.File).Close()
	return err // on failure nobody writes, so the reader sees EOF and ends
}

// run runs script to completion, or until ctx ends and then kills its whole
// process group. It returns the exit code and the group id.
func (a *Agent) run(ctx context.Context, op, script string) (code, pgid int, err error) {
	cmd, out, err := a.command(op, script)
	if err != nil {
		return -1, 0, err
	}
	if err := launch(cmd); err != nil {
		return -1, 0, fmt.Errorf("%s %s: %w", op, a.name, err)
	}
	pgid = cmd.Process.Pid
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err = <-done:
	case <-ctx.Done():
		killErr := killGroup(pgid)
		<-done
		out.wait(outputGrace)
		return -1, pgid, fmt.Errorf("%s %s: %w; process group %d killed%s", op, a.name, ctxErr(ctx), pgid, suffix(killErr))
	}
	out.wait(outputGrace)
	if err == nil {
		return 0, pgid, nil
	}
	var ee *osexec.ExitError
	if errors.As(err, &ee) && ee.ExitCode() >= 0 {
		return ee.ExitCode(), pgid, nil
	}
	// Killed by a signal (from outside), or Wait failed.
	return -1, pgid, fmt.Errorf("%s %s: %w", op, a.name, err)
}

// ctxErr says why ctx ended: resource.ErrTimeout at the deadline, else the cancellation.
func ctxErr(ctx context.Context) error {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return fmt.Errorf("%w: %w", resource.ErrTimeout, ctx.Err())
	}
	return ctx.Err()
}

func suffix(err error) string {
	if err == nil {
		return ""
	}
	return " (" + err.Error() + ")"
}

// killGroup SIGKILLs the process group and waits until none of it is left.
func killGroup(pgid int) error {
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
	if !waitGroupGone(pgid, killWait) {
		return fmt.Errorf("process group %d survived SIGKILL for %s", pgid, killWait)
	}
	return nil
}

// waitGroupGone polls (bounded by limit) until no live process has group pgid.
func waitGroupGone(pgid int, limit time.Duration) bool {
	deadline := time.Now().Add(limit)
	for {
		if !groupAlive(pgid) {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// groupAlive reports whether a process other than a zombie has group pgid.
// Zombies count as gone: they are dead, only not yet reaped by whoever
// inherited them (PID 1 in a container may never do it).
func groupAlive(pgid int) bool {
	if err := syscall.Kill(-pgid, 0); errors.Is(err, syscall.ESRCH) {
		return false
	}
	return len(groupMembers(pgid)) > 0
}

// proc identifies a process across pid reuse: pid and start time (clock ticks since boot).
type proc struct {
	pid   int
	start uint64
}

// groupMembers lists the live (not zombie) processes in /proc whose process group is pgid.
func groupMembers(pgid int) []proc {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var out []proc
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if st, ok := procStat(pid); ok && st.pgid == pgid && st.state != "Z" && st.state != "X" {
			out = append(out, proc{pid, st.start})
		}
	}
	return out
}

type stat struct {
	state string
	pgid  int
	start uint64
}

// procStat reads a process's state letter, process group and start time from /proc/PID/stat.
func procStat(pid int) (stat, bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return stat{}, false
	}
	// The fields after comm's closing parenthesis: state(3) ppid pgrp ... starttime(22).
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return stat{}, false
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 20 {
		return stat{}, false
	}
	g, err1 := strconv.Atoi(f[2])
	st, err2 := strconv.ParseUint(f[19], 10, 64)
	if err1 != nil || err2 != nil {
		return stat{}, false
	}
	return stat{state: f[0], pgid: g, start: st}, true
}

// stillOurs reports whether group pgid still holds a process of members:
// then it was never empty since, so its id cannot have been reused.
func stillOurs(pgid int, members []proc) bool {
	for _, m := range groupMembers(pgid) {
		for _, o := range members {
			if m == o {
				return true
			}
		}
	}
	return false
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
	if m := groupMembers(pgid); len(m) > 0 {
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
	if err != nil && g != 0 && stillOurs(g, procs) {
		a.log.Warn("stop failed: killing the start command's process group", "pgid", g, "err", err)
		if kerr := killGroup(g); kerr != nil {
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
	cmd, out, err := a.command("daemon", daemonScript(a.p.Daemon))
	if err != nil {
		a.mu.Unlock()
		return fmt.Errorf("start %s: %w", a.name, err)
	}
	if err := launch(cmd); err != nil {
		a.mu.Unlock()
		return fmt.Errorf("start %s: %w", a.name, err)
	}
	d := &daemon{cmd: cmd, pgid: cmd.Process.Pid, done: make(chan struct{})}
	a.daemon = d
	a.mu.Unlock()
	a.log.Info("daemon started", "pid", d.pgid)
	go func() {
		d.err = cmd.Wait()
		if !d.stopping.Load() {
			// An unexpected exit: what the daemon left behind goes with it,
			// so a restart does not meet an old child holding the port.
			_ = killGroup(d.pgid)
			a.log.Warn("daemon exited", "pid", d.pgid, "status", exitText(d.err))
		}
		close(d.done)
	}()
	t := time.NewTimer(startGrace)
	defer t.Stop()
	select {
	case <-d.done:
		out.wait(outputGrace)
		return fmt.Errorf("start %s: daemon exited at once: %s", a.name, exitText(d.err))
	case <-t.C:
		return nil
	case <-ctx.Done():
		d.stopping.Store(true)
		kerr := killGroup(d.pgid)
		<-d.done
		a.mu.Lock()
		if a.daemon == d {
			a.daemon = nil // nothing runs: monitor says stopped
		}
		a.mu.Unlock()
		return fmt.Errorf("start %s: %w; process group %d killed%s", a.name, ctxErr(ctx), d.pgid, suffix(kerr))
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
		if err := killGroup(d.pgid); err != nil {
			return fmt.Errorf("stop %s: %w", a.name, err)
		}
	}
	// The leader is dead; wait for its reaping (immediate) to keep its status.
	select {
	case <-d.done:
	case <-time.After(killWait):
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
	for groupAlive(pgid) {
		select {
		case <-tick.C:
		case <-ctx.Done():
			return !groupAlive(pgid)
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

// output logs a command's output line by line as it arrives, at most
// maxOutput bytes, then notes the truncation and discards the rest. It reads
// until every writer has closed the pipe, which a background child may
// delay for as long as it lives.
type output struct {
	r    *os.File
	done chan struct{}
}

func newOutput(log *slog.Logger, op string, r *os.File) *output {
	o := &output{r: r, done: make(chan struct{})}
	go func() {
		defer close(o.done)
		defer r.Close()
		logged := 0
		var part []byte
		emit := func(line []byte) {
			if logged >= maxOutput {
				return
			}
			if room := maxOutput - logged; len(line) > room {
				line = line[:room]
			}
			logged += len(line) + 1
			log.Info("output", "op", op, "line", string(bytes.TrimRight(line, "\r")))
			if logged >= maxOutput {
				log.Warn("output truncated", "op", op, "kept_bytes", maxOutput)
			}
		}
		buf := make([]byte, 4096)
		for {
			n, err := r.Read(buf)
			part = append(part, buf[:n]...)
			for {
				i := bytes.IndexByte(part, '\n')
				if i < 0 {
					break
				}
				emit(part[:i])
				part = part[i+1:]
			}
			// An endless line is logged in pieces rather than held.
			if len(part) >= maxOutput {
				emit(part)
				part = part[:0]
			}
			if err != nil {
				if len(part) > 0 {
					emit(part)
				}
				if !errors.Is(err, io.EOF) {
					log.Warn("output", "op", op, "err", err)
				}
				return
			}
		}
	}()
	return o
}

// wait waits (at most limit) for the output to end, so what a command
// printed is logged before its operation returns.
func (o *output) wait(limit time.Duration) {
	t := time.NewTimer(limit)
	defer t.Stop()
	select {
	case <-o.done:
	case <-t.C:
	}
}
