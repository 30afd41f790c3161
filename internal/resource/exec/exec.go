// Package exec runs services through commands: start/stop/monitor shell
// commands (an init script, a wrapper), or a daemon the agent starts and
// supervises itself. Every command runs in its own process group; when an
// operation runs out of time the whole group is killed, so nothing it
// spawned is left behind.
package exec

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	osexec "os/exec"
	"strings"
	"sync"
	"syscall"
	"time"

	"tandem/internal/config"
	"tandem/internal/resource"
)

// maxOutput bounds what is kept of one operation's output for the log.
const maxOutput = 64 << 10

// exitNotRunning is OCF's "not running" exit code, used by monitor commands.
const exitNotRunning = 7

// Agent runs one exec resource.
type Agent struct {
	name string
	p    config.ExecParams
	log  *slog.Logger

	mu      sync.Mutex
	started bool // command mode without a monitor: what we last did
	daemon  *daemon
}

type daemon struct {
	cmd  *osexec.Cmd
	done chan struct{}
	err  error // set before done closes
	out  *capture
}

// New returns the agent for resource name.
func New(name string, p config.ExecParams, log *slog.Logger) (*Agent, error) {
	if p.Daemon == "" && (p.Start == "" || p.Stop == "") {
		return nil, fmt.Errorf("exec %s: needs daemon, or start and stop", name)
	}
	return &Agent{name: name, p: p, log: log.With("resource", name)}, nil
}

func (a *Agent) command(script string) *osexec.Cmd {
	cmd := osexec.Command("/bin/sh", "-c", script)
	cmd.Dir = a.p.Dir
	cmd.Env = append(os.Environ(), a.p.Env...)
	cmd.Env = append(cmd.Env, "TANDEM_RESOURCE="+a.name)
	// Own process group, so a timeout kills everything it spawned; killed
	// with the agent, so a dead agent leaves no unsupervised service.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	// A background child that keeps stdout open must not hold up Wait.
	cmd.WaitDelay = 500 * time.Millisecond
	return cmd
}

// run runs script to completion or until ctx ends, then kills its process
// group either way (a command's stray children must not outlive it).
func (a *Agent) run(ctx context.Context, op, script string) (int, error) {
	cmd := a.command(script)
	out := &capture{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		return -1, fmt.Errorf("%s %s: %w", op, a.name, err)
	}
	pgid := cmd.Process.Pid
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var err error
	select {
	case err = <-done:
	case <-ctx.Done():
		killGroup(pgid)
		<-done
		a.logOutput(op, out)
		waitGroupGone(pgid, time.Second)
		return -1, fmt.Errorf("%s %s: %w after %s: process group killed", op, a.name, resource.ErrTimeout, deadlineOf(ctx))
	}
	// Reap stragglers: a start script that leaves a background child behind
	// would otherwise keep it running unsupervised.
	killGroup(pgid)
	a.logOutput(op, out)
	if errors.Is(err, osexec.ErrWaitDelay) {
		// The command exited; a child it left kept the output open (and is now killed).
		return cmd.ProcessState.ExitCode(), nil
	}
	if err == nil {
		return 0, nil
	}
	var ee *osexec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode(), nil
	}
	return -1, fmt.Errorf("%s %s: %w", op, a.name, err)
}

func deadlineOf(ctx context.Context) string {
	if d, ok := ctx.Deadline(); ok {
		return "the deadline " + d.Format("15:04:05.000")
	}
	return "cancellation"
}

func killGroup(pgid int) { _ = syscall.Kill(-pgid, syscall.SIGKILL) }

// waitGroupGone waits (bounded) until no process of the group exists.
func waitGroupGone(pgid int, limit time.Duration) {
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		if err := syscall.Kill(-pgid, 0); errors.Is(err, syscall.ESRCH) {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (a *Agent) logOutput(op string, out *capture) {
	b, cut := out.bytes()
	if len(b) == 0 {
		return
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		a.log.Info("output", "op", op, "line", sc.Text())
	}
	if cut {
		a.log.Warn("output truncated", "op", op, "kept_bytes", maxOutput)
	}
}

// Start implements resource.Agent.
func (a *Agent) Start(ctx context.Context) error {
	if a.p.Daemon != "" {
		return a.startDaemon(ctx)
	}
	code, err := a.run(ctx, "start", a.p.Start)
	if err != nil {
		return err
	}
	if code != 0 {
		return fmt.Errorf("start %s: exit status %d", a.name, code)
	}
	a.mu.Lock()
	a.started = true
	a.mu.Unlock()
	return nil
}

// Stop implements resource.Agent.
func (a *Agent) Stop(ctx context.Context) error {
	if a.p.Daemon != "" {
		return a.stopDaemon(ctx)
	}
	code, err := a.run(ctx, "stop", a.p.Stop)
	if err != nil {
		return err
	}
	if code != 0 {
		return fmt.Errorf("stop %s: exit status %d", a.name, code)
	}
	a.mu.Lock()
	a.started = false
	a.mu.Unlock()
	return nil
}

// Monitor implements resource.Agent: exit 0 running, 7 stopped, else failed.
func (a *Agent) Monitor(ctx context.Context) (resource.State, error) {
	if a.p.Daemon != "" {
		return a.monitorDaemon()
	}
	if a.p.Monitor == "" {
		// Without a monitor command all we know is what we did last.
		a.mu.Lock()
		defer a.mu.Unlock()
		if a.started {
			return resource.Running, nil
		}
		return resource.Stopped, nil
	}
	code, err := a.run(ctx, "monitor", a.p.Monitor)
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

// startGrace is how long a daemon must stay up for its start to count: a
// daemon that exits at once (bad config, port taken) is a failed start.
const startGrace = 50 * time.Millisecond

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
	cmd := a.command(a.p.Daemon)
	out := &capture{log: a.log}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		a.mu.Unlock()
		return fmt.Errorf("start %s: %w", a.name, err)
	}
	d := &daemon{cmd: cmd, done: make(chan struct{}), out: out}
	a.daemon = d
	a.mu.Unlock()
	go func() {
		d.err = cmd.Wait()
		killGroup(cmd.Process.Pid) // children the daemon left behind go with it
		close(d.done)
	}()
	select {
	case <-d.done:
		return fmt.Errorf("start %s: exited at once: %v", a.name, exitText(d.err))
	case <-time.After(startGrace):
		return nil
	case <-ctx.Done():
		killGroup(cmd.Process.Pid)
		<-d.done
		return fmt.Errorf("start %s: %w", a.name, resource.ErrTimeout)
	}
}

func exitText(err error) string {
	if err == nil {
		return "exit status 0"
	}
	return err.Error()
}

func (a *Agent) stopDaemon(ctx context.Context) error {
	a.mu.Lock()
	d := a.daemon
	a.mu.Unlock()
	if d == nil {
		return nil
	}
	pgid := d.cmd.Process.Pid
	_ = syscall.Kill(-pgid, syscall.SIGTERM)
	select {
	case <-d.done:
	case <-ctx.Done():
		// It ignored SIGTERM until the stop timeout: escalate.
		killGroup(pgid)
		select {
		case <-d.done:
		case <-time.After(5 * time.Second):
			return fmt.Errorf("stop %s: process group %d survived SIGKILL", a.name, pgid)
		}
		a.log.Warn("daemon ignored SIGTERM until the stop timeout: killed", "pgid", pgid)
	}
	waitGroupGone(pgid, time.Second)
	a.mu.Lock()
	if a.daemon == d {
		a.daemon = nil
	}
	a.mu.Unlock()
	return nil
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
		return resource.Failed, fmt.Errorf("daemon %s exited: %s", a.name, exitText(d.err))
	default:
		return resource.Running, nil
	}
}

// capture keeps the first maxOutput bytes of a command's output; with a
// logger set (daemons) it logs each line as it arrives instead.
type capture struct {
	mu   sync.Mutex
	buf  bytes.Buffer
	cut  bool
	log  *slog.Logger
	part []byte
}

func (c *capture) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.log != nil {
		c.part = append(c.part, p...)
		for {
			i := bytes.IndexByte(c.part, '\n')
			if i < 0 {
				break
			}
			c.log.Info("output", "op", "daemon", "line", strings.TrimRight(string(c.part[:i]), "\r"))
			c.part = c.part[i+1:]
		}
		if len(c.part) > maxOutput {
			c.part = c.part[:0]
		}
		return len(p), nil
	}
	room := maxOutput - c.buf.Len()
	if room <= 0 {
		c.cut = true
		return len(p), nil
	}
	if len(p) > room {
		c.cut = true
		c.buf.Write(p[:room])
		return len(p), nil
	}
	return c.buf.Write(p)
}

func (c *capture) bytes() ([]byte, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return bytes.Clone(c.buf.Bytes()), c.cut
}

var _ io.Writer = (*capture)(nil)
