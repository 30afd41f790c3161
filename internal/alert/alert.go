// Package alert runs the operator's hook programs (config alerts:) on the
// events the core raises: node and link up/down, quorum, resource and group
// transitions. It is Pacemaker's alert agents in small: the event goes to the
// hook in environment variables (TANDEM_*, docs/alerts.md), a hook that
// outlives its timeout is killed with its whole process group, and its exit
// and output are logged.
//
// Hooks must never delay heartbeats or failover: the agent's loop only calls
// Notify, which never blocks. It puts one job per interested hook into a
// bounded queue, and when the queue is full it drops the job and counts it
// (Stats.Dropped). A fixed number of workers run the jobs.
// TestHundredSlowHooksNeverBlock shows Notify returning while every worker
// is stuck in a hook and the queue is full.
package alert

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"tandem/internal/config"
	"tandem/internal/node"
)

// Defaults.
const (
	DefaultQueueSize = 64
	DefaultWorkers   = 2
	// maxOutput is how much of a hook's stdout and stderr is kept for the log.
	maxOutput = 4 << 10
	// outputGrace bounds the wait for a hook's output after it exited: a
	// background child may hold the pipe open.
	outputGrace = 200 * time.Millisecond
	// dropLogEvery rate-limits the "queue full" warning.
	dropLogEvery = 10 * time.Second
)

// Event is a core event as the agent took it from Ready, with the wall
// clock time it did so (TANDEM_TIMESTAMP).
type Event struct {
	node.Event
	At time.Time
}

// Options configure a Dispatcher.
type Options struct {
	Hooks     []config.Alert
	Cluster   string // TANDEM_CLUSTER
	Node      string // TANDEM_NODE: this node
	Log       *slog.Logger
	QueueSize int // jobs waiting for a worker; default DefaultQueueSize
	Workers   int // hooks run at once; default DefaultWorkers
}

// Stats count hook runs since the dispatcher started. Every job queued ends
// as exactly one of Delivered, Failed or TimedOut, or as Dropped when the
// agent shut down before a worker reached it; jobs refused because the queue
// was full are Dropped without having been Queued.
type Stats struct {
	Queued    uint64 // accepted into the queue
	Delivered uint64 // the hook exited 0
	Failed    uint64 // it exited non-zero, was killed at shutdown, or could not be started
	TimedOut  uint64 // it outlived its timeout and was killed with its process group
	Dropped   uint64 // never run: the queue was full, or the agent was stopping
}

// Dispatcher queues events for the hooks and runs them.
type Dispatcher struct {
	o       Options
	log     *slog.Logger
	environ []string // the agent's environment, read once

	mu     sync.RWMutex // Notify holds it shared; Close exclusively, to close queue
	closed bool
	queue  chan job

	ctx    context.Context // cancelled when Close gives up waiting: kills running hooks
	cancel context.CancelFunc
	wg     sync.WaitGroup

	seq                                          atomic.Uint64
	queued, delivered, failed, timedOut, dropped atomic.Uint64
	lastDropLog                                  atomic.Int64 // unix nanoseconds
}

type job struct {
	hook *config.Alert
	ev   Event
	seq  uint64
}

// New starts the workers. With no hooks it starts none and Notify does nothing.
func New(o Options) *Dispatcher {
	if o.QueueSize <= 0 {
		o.QueueSize = DefaultQueueSize
	}
	if o.Workers <= 0 {
		o.Workers = DefaultWorkers
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	d := &Dispatcher{o: o, log: o.Log, environ: os.Environ(), queue: make(chan job, o.QueueSize)}
	d.ctx, d.cancel = context.WithCancel(context.Background())
	if len(o.Hooks) == 0 {
		return d
	}
	for range o.Workers {
		d.wg.Add(1)
		go d.worker()
	}
	return d
}

// Check reports hooks whose program is missing or not executable. The agent
// logs these at start; the config check does not look at the filesystem.
func Check(hooks []config.Alert) error {
	var errs []error
	for _, h := range hooks {
		fi, err := os.Stat(h.Path)
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("alert %s: %w", h.Name, err))
		case !fi.Mode().IsRegular():
			errs = append(errs, fmt.Errorf("alert %s: %s is not a regular file", h.Name, h.Path))
		case fi.Mode().Perm()&0o111 == 0:
			errs = append(errs, fmt.Errorf("alert %s: %s is not executable (chmod +x it)", h.Name, h.Path))
		}
	}
	return errors.Join(errs...)
}

// Notify queues ev for every hook that wants its kind. It never blocks (but
// for the moment Close takes to close the queue): a full queue drops the job
// and counts it. Safe on a nil Dispatcher.
func (d *Dispatcher) Notify(ev Event) {
	if d == nil || len(d.o.Hooks) == 0 {
		return
	}
	seq := d.seq.Add(1)
	d.mu.RLock()
	defer d.mu.RUnlock()
	for i := range d.o.Hooks {
		h := &d.o.Hooks[i]
		if !h.Wants(string(ev.Kind)) {
			continue
		}
		if d.closed {
			d.dropped.Add(1)
			continue
		}
		select {
		case d.queue <- job{hook: h, ev: ev, seq: seq}:
			d.queued.Add(1)
		default:
			d.drop(h, ev, seq)
		}
	}
}

func (d *Dispatcher) drop(h *config.Alert, ev Event, seq uint64) {
	n := d.dropped.Add(1)
	now := time.Now().UnixNano()
	last := d.lastDropLog.Load()
	if now-last < int64(dropLogEvery) || !d.lastDropLog.CompareAndSwap(last, now) {
		return
	}
	d.log.Warn("alert queue full: hook run dropped (hooks are too slow for the event rate)",
		"alert", h.Name, "event", string(ev.Kind), "sequence", seq, "dropped_total", n, "queue", cap(d.queue))
}

// Stats returns the counters; safe to call from any goroutine.
func (d *Dispatcher) Stats() Stats {
	if d == nil {
		return Stats{}
	}
	return Stats{Queued: d.queued.Load(), Delivered: d.delivered.Load(), Failed: d.failed.Load(),
		TimedOut: d.timedOut.Load(), Dropped: d.dropped.Load()}
}

// Close stops taking events and lets the workers finish the queue for up to
// grace; then it kills the hooks still running and drops what is left. It
// returns once every worker has stopped.
func (d *Dispatcher) Close(grace time.Duration) {
	if d == nil {
		return
	}
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return
	}
	d.closed = true
	close(d.queue)
	d.mu.Unlock()
	done := make(chan struct{})
	go func() { d.wg.Wait(); close(done) }()
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
		before := d.dropped.Load()
		d.cancel()
		<-done
		d.log.Warn("alert hooks still running at shutdown were killed", "grace", grace, "not_run", d.dropped.Load()-before)
	}
	d.cancel()
}

func (d *Dispatcher) worker() {
	defer d.wg.Done()
	for j := range d.queue {
		if d.ctx.Err() != nil {
			d.dropped.Add(1)
			continue
		}
		d.run(j)
	}
}

// run runs one hook to completion or its timeout.
func (d *Dispatcher) run(j job) {
	h := j.hook
	log := d.log.With("alert", h.Name, "event", string(j.ev.Kind), "sequence", j.seq)
	ctx, cancel := context.WithTimeout(d.ctx, h.Timeout)
	defer cancel()
	cmd := exec.Command(h.Path)
	cmd.Dir = "/"
	cmd.Env = d.env(j)
	// Its own process group, so the timeout kills whatever it spawned;
	// killed with the agent (the death signal follows the forking thread,
	// and workers never lock theirs).
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	// Our own pipe rather than an io.Writer, so Wait does not wait for a
	// background child that inherited it.
	r, w, err := os.Pipe()
	if err != nil {
		d.failed.Add(1)
		log.Error("alert hook not run: output pipe", "err", err)
		return
	}
	cmd.Stdout, cmd.Stderr = w, w
	start := time.Now()
	err = cmd.Start()
	w.Close()
	if err != nil {
		r.Close()
		d.failed.Add(1)
		log.Error("alert hook could not be started", "path", h.Path, "err", err)
		return
	}
	out := capture(r)
	pgid := cmd.Process.Pid
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	var why error
	select {
	case err = <-exited:
	case <-ctx.Done():
		why = ctx.Err()
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		err = <-exited
	}
	took := time.Since(start)
	output := out.wait(outputGrace)
	switch {
	case errors.Is(why, context.DeadlineExceeded):
		d.timedOut.Add(1)
		log.Warn("alert hook timed out: process group killed", "timeout", h.Timeout, "pgid", pgid, "output", output)
	case why != nil:
		d.failed.Add(1)
		log.Warn("alert hook killed: agent stopping", "took", took.Round(time.Millisecond), "pgid", pgid, "output", output)
	case err == nil:
		d.delivered.Add(1)
		log.Debug("alert hook done", "took", took.Round(time.Millisecond))
	default:
		d.failed.Add(1)
		attrs := []any{"took", took.Round(time.Millisecond), "output", output}
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
				attrs = append(attrs, "signal", ws.Signal().String())
			} else {
				attrs = append(attrs, "exit_code", ee.ExitCode())
			}
		} else {
			attrs = append(attrs, "err", err)
		}
		log.Warn("alert hook failed", attrs...)
	}
}

// env is the agent's environment, the hook's own env, then the event. Every
// TANDEM_* variable is set, empty when it does not apply, so hooks may use
// `set -u`.
func (d *Dispatcher) env(j job) []string {
	e := j.ev
	link, took := "", ""
	if (e.Kind == node.LinkUp || e.Kind == node.LinkDown) && e.Link >= 0 {
		link = strconv.Itoa(e.Link)
	}
	if e.Took > 0 {
		took = strconv.FormatInt(e.Took.Milliseconds(), 10)
	}
	vars := [][2]string{
		{"TANDEM_ALERT", j.hook.Name},
		{"TANDEM_EVENT", string(e.Kind)},
		{"TANDEM_CLUSTER", d.o.Cluster},
		{"TANDEM_NODE", d.o.Node},
		{"TANDEM_PEER", e.Peer},
		{"TANDEM_LINK", link},
		{"TANDEM_RESOURCE", e.Resource},
		{"TANDEM_GROUP", e.Group},
		{"TANDEM_DETAIL", e.Detail},
		{"TANDEM_TOOK_MS", took},
		{"TANDEM_TIMESTAMP", e.At.UTC().Format(time.RFC3339Nano)},
		{"TANDEM_SEQUENCE", strconv.FormatUint(j.seq, 10)},
		{"TANDEM_SUMMARY", Summary(d.o.Node, e.Event)},
	}
	env := make([]string, 0, len(d.environ)+len(j.hook.Env)+len(vars))
	env = append(env, d.environ...)
	env = append(env, j.hook.Env...)
	for _, kv := range vars {
		// A NUL cannot be passed in the environment (execve would fail).
		env = append(env, kv[0]+"="+strings.ReplaceAll(kv[1], "\x00", ""))
	}
	return env // os/exec keeps the last of duplicate keys: ours win
}

// Summary is the event in one sentence, for a mail subject or a chat line.
func Summary(self string, e node.Event) string {
	var s string
	switch e.Kind {
	case node.NodeUp:
		s = fmt.Sprintf("node %s is up", e.Peer)
	case node.NodeDown:
		s = fmt.Sprintf("node %s is down", e.Peer)
	case node.LinkUp:
		s = fmt.Sprintf("link %d from %s to %s is up", e.Link, self, e.Peer)
	case node.LinkDown:
		s = fmt.Sprintf("link %d from %s to %s is down", e.Link, self, e.Peer)
	case node.QuorumGained:
		s = fmt.Sprintf("%s gained quorum", self)
	case node.QuorumLost:
		s = fmt.Sprintf("%s lost quorum", self)
	case node.ResourceStarted:
		s = fmt.Sprintf("resource %s started on %s", e.Resource, self)
	case node.ResourceStopped:
		s = fmt.Sprintf("resource %s stopped on %s", e.Resource, self)
	case node.ResourceFailed:
		s = fmt.Sprintf("resource %s failed on %s", e.Resource, self)
	case node.GroupMoved:
		s = fmt.Sprintf("group %s moved from %s to %s", e.Group, e.Peer, self)
		if e.Took > 0 {
			s += fmt.Sprintf(" in %v", e.Took.Round(time.Millisecond))
		}
	case node.SplitBrainHealed:
		s = fmt.Sprintf("split brain over group %s between %s and %s healed", e.Group, self, e.Peer)
	case node.BecameActive:
		s = fmt.Sprintf("%s is now active for group %s", self, e.Group)
	case node.BecameBackup:
		s = fmt.Sprintf("%s is now backup for group %s", self, e.Group)
	default:
		s = fmt.Sprintf("%s on %s", e.Kind, self)
	}
	if e.Detail != "" {
		s += ": " + e.Detail
	}
	return s
}

// output keeps the first maxOutput bytes a hook writes and discards the rest.
type output struct {
	r    *os.File
	buf  bytes.Buffer
	more bool
	done chan struct{}
}

func capture(r *os.File) *output {
	o := &output{r: r, done: make(chan struct{})}
	go func() {
		defer close(o.done)
		b := make([]byte, 4096)
		for {
			n, err := r.Read(b)
			if room := maxOutput - o.buf.Len(); n > room {
				o.buf.Write(b[:room])
				o.more = true
			} else {
				o.buf.Write(b[:n])
			}
			if err != nil {
				return
			}
		}
	}()
	return o
}

// wait returns what was captured once the writers are gone, or after grace
// (closing the pipe under a background child that still holds it).
func (o *output) wait(grace time.Duration) string {
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case <-o.done:
	case <-t.C:
		o.r.Close() // unblocks the Read: the pipe is pollable
		<-o.done
	}
	o.r.Close()
	s := strings.TrimRight(o.buf.String(), "\n")
	if o.more {
		s += fmt.Sprintf(" … (truncated at %d bytes)", maxOutput)
	}
	return s
}
