// Package pgroup runs the commands of resource agents (exec, lsb, ocf):
// every command runs in its own process group, and when an operation runs
// out of time the whole group is killed, so nothing it spawned is left
// behind. Output is logged line by line as it arrives, bounded per
// operation; stdout can be captured instead (an OCF agent's meta-data).
package pgroup

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
	"syscall"
	"time"

	"tandem/internal/resource"
)

const (
	// MaxOutput bounds what is logged of one operation's (or one daemon run's) output.
	MaxOutput = 64 << 10
	// MaxCapture bounds captured stdout.
	MaxCapture = 1 << 20
	// OutputGrace is how long an operation waits for its output to end after
	// the command exits; a background child holding it open is not waited for.
	OutputGrace = 100 * time.Millisecond
	// KillWait bounds the wait for a SIGKILLed group to disappear; only a
	// process stuck in the kernel (D state) takes longer.
	KillWait = 5 * time.Second
)

// Spec is one command to run.
type Spec struct {
	Argv    []string // program and arguments; Argv[0] is a path or found in PATH
	Dir     string
	Env     []string     // KEY=VALUE added to Environ()
	Log     *slog.Logger // output is logged here, line by line, with op (nil: discarded)
	Op      string
	Capture bool // keep stdout (at most MaxCapture bytes) for Process.Stdout instead of logging it
}

// Environ is the agent's environment less systemd's notify and watchdog
// variables: they are the agent's own (tandem.service is Type=notify), and
// a service that speaks sd_notify must not report to it.
func Environ() []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch k {
		case "NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID":
			continue
		}
		env = append(env, kv)
	}
	return env
}

// Process is a started command, the leader of its own process group.
type Process struct {
	Cmd  *osexec.Cmd
	Pgid int
	out  []*output // stdout and stderr together; with Capture, stdout then stderr
}

// Start starts s with stdin from /dev/null, in its own process group,
// killed with the agent so a dead agent leaves no unsupervised service.
// (The death signal follows the forking OS thread: never call it from a
// goroutine that holds runtime.LockOSThread and may exit locked.)
func Start(s Spec) (*Process, error) {
	if len(s.Argv) == 0 {
		return nil, errors.New("no command")
	}
	if s.Log == nil {
		s.Log = slog.New(slog.DiscardHandler)
	}
	cmd := osexec.Command(s.Argv[0], s.Argv[1:]...)
	cmd.Dir = s.Dir
	cmd.Env = append(Environ(), s.Env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	// Our own pipes (not io.Writers) so Wait does not wait for a background
	// child that inherited them, and that child does not get SIGPIPE later.
	p := &Process{Cmd: cmd}
	var writers []*os.File
	pipe := func(capture bool) (*os.File, error) {
		r, w, err := os.Pipe()
		if err != nil {
			return nil, fmt.Errorf("output pipe: %w", err)
		}
		writers = append(writers, w)
		p.out = append(p.out, newOutput(s.Log, s.Op, r, capture))
		return w, nil
	}
	closeWriters := func() {
		for _, w := range writers {
			w.Close()
		}
	}
	w, err := pipe(s.Capture)
	if err != nil {
		return nil, err
	}
	cmd.Stdout, cmd.Stderr = w, w
	if s.Capture {
		if cmd.Stderr, err = pipe(false); err != nil {
			closeWriters()
			return nil, err
		}
	}
	err = cmd.Start()
	closeWriters() // on failure nobody writes, so the readers see EOF and end
	if err != nil {
		return nil, err
	}
	p.Pgid = cmd.Process.Pid
	return p, nil
}

// WaitOutput waits (at most OutputGrace) for the output to end, so what a
// command printed is logged before its operation returns.
func (p *Process) WaitOutput() {
	deadline := time.Now().Add(OutputGrace)
	for _, o := range p.out {
		o.wait(time.Until(deadline))
	}
}

// Stdout is what was captured of stdout so far (Spec.Capture).
func (p *Process) Stdout() []byte {
	o := p.out[0]
	o.mu.Lock()
	defer o.mu.Unlock()
	return bytes.Clone(o.captured)
}

// Result is how a command that ran to its end ended.
type Result struct {
	Code   int    // exit status; -1 when Run returns an error
	Pgid   int    // its process group (0 if it never started)
	Stdout []byte // with Spec.Capture
}

// Run runs s to completion, or until ctx ends and then kills its whole
// process group. An error means there is no exit status: it could not
// start, it was killed by a signal, or ctx ended (Killed).
func Run(ctx context.Context, s Spec) (Result, error) {
	p, err := Start(s)
	if err != nil {
		return Result{Code: -1}, err
	}
	res := Result{Code: -1, Pgid: p.Pgid}
	done := make(chan error, 1)
	go func() { done <- p.Cmd.Wait() }()
	select {
	case err = <-done:
	case <-ctx.Done():
		killErr := Kill(p.Pgid)
		<-done
		p.WaitOutput()
		return res, Killed(ctx, p.Pgid, killErr)
	}
	p.WaitOutput()
	if s.Capture {
		res.Stdout = p.Stdout()
	}
	if err == nil {
		res.Code = 0
		return res, nil
	}
	var ee *osexec.ExitError
	if errors.As(err, &ee) && ee.ExitCode() >= 0 {
		res.Code = ee.ExitCode()
		return res, nil
	}
	// Killed by a signal (from outside), or Wait failed.
	return res, err
}

// CtxErr says why ctx ended: resource.ErrTimeout at the deadline, else the cancellation.
func CtxErr(ctx context.Context) error {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return fmt.Errorf("%w: %w", resource.ErrTimeout, ctx.Err())
	}
	return ctx.Err()
}

// Killed is the error of an operation whose group pgid was killed because
// ctx ended; killErr is what Kill returned.
func Killed(ctx context.Context, pgid int, killErr error) error {
	if killErr != nil {
		return fmt.Errorf("%w; process group %d killed (%w)", CtxErr(ctx), pgid, killErr)
	}
	return fmt.Errorf("%w; process group %d killed", CtxErr(ctx), pgid)
}

// Kill SIGKILLs the process group and waits until none of it is left.
func Kill(pgid int) error {
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
	if !waitGone(pgid, KillWait) {
		return fmt.Errorf("process group %d survived SIGKILL for %s", pgid, KillWait)
	}
	return nil
}

// waitGone polls (bounded by limit) until no live process has group pgid.
func waitGone(pgid int, limit time.Duration) bool {
	deadline := time.Now().Add(limit)
	for {
		if !Alive(pgid) {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// Alive reports whether a process other than a zombie has group pgid.
// Zombies count as gone: they are dead, only not yet reaped by whoever
// inherited them (PID 1 in a container may never do it).
func Alive(pgid int) bool {
	if err := syscall.Kill(-pgid, 0); errors.Is(err, syscall.ESRCH) {
		return false
	}
	return len(Members(pgid)) > 0
}

// Member identifies a process across pid reuse: pid and start time (clock ticks since boot).
type Member struct {
	PID   int
	Start uint64
}

// Members lists the live (not zombie) processes in /proc whose process group is pgid.
func Members(pgid int) []Member {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var out []Member
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if st, ok := procStat(pid); ok && st.pgid == pgid && st.state != "Z" && st.state != "X" {
			out = append(out, Member{pid, st.start})
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

// StillOurs reports whether group pgid still holds a process of members:
// then it was never empty since, so its id cannot have been reused.
func StillOurs(pgid int, members []Member) bool {
	for _, m := range Members(pgid) {
		for _, o := range members {
			if m == o {
				return true
			}
		}
	}
	return false
}

// output logs a command's output line by line as it arrives, at most
// MaxOutput bytes, then notes the truncation and discards the rest; or,
// capturing, keeps it (at most MaxCapture bytes). It reads until every
// writer has closed the pipe, which a background child may delay for as
// long as it lives.
type output struct {
	r    *os.File
	done chan struct{}

	mu       sync.Mutex
	captured []byte
}

func newOutput(log *slog.Logger, op string, r *os.File, capture bool) *output {
	o := &output{r: r, done: make(chan struct{})}
	if capture {
		go o.capture(log, op)
		return o
	}
	go func() {
		defer close(o.done)
		defer r.Close()
		logged := 0
		var part []byte
		emit := func(line []byte) {
			if logged >= MaxOutput {
				return
			}
			if room := MaxOutput - logged; len(line) > room {
				line = line[:room]
			}
			logged += len(line) + 1
			log.Info("output", "op", op, "line", string(bytes.TrimRight(line, "\r")))
			if logged >= MaxOutput {
				log.Warn("output truncated", "op", op, "kept_bytes", MaxOutput)
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
			if len(part) >= MaxOutput {
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

func (o *output) capture(log *slog.Logger, op string) {
	defer close(o.done)
	defer o.r.Close()
	buf := make([]byte, 32<<10)
	truncated := false
	for {
		n, err := o.r.Read(buf)
		o.mu.Lock()
		keep := min(n, MaxCapture-len(o.captured))
		o.captured = append(o.captured, buf[:keep]...)
		o.mu.Unlock()
		if keep < n && !truncated {
			truncated = true
			log.Warn("output truncated", "op", op, "kept_bytes", MaxCapture)
		}
		if err != nil {
			if !errors.Is(err, io.EOF) {
				log.Warn("output", "op", op, "err", err)
			}
			return
		}
	}
}

// wait waits (at most limit) for the output to end.
func (o *output) wait(limit time.Duration) {
	t := time.NewTimer(max(limit, 0))
	defer t.Stop()
	select {
	case <-o.done:
	case <-t.C:
	}
}
