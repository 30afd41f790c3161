package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"tandem/internal/config"
	"tandem/internal/metrics"
	"tandem/internal/node"
	"tandem/internal/ownership"
	"tandem/internal/resource"
	"tandem/internal/resource/exec"
	"tandem/internal/resource/freeswitch"
	"tandem/internal/resource/ip"
	"tandem/internal/resource/lsb"
	"tandem/internal/resource/ocf"
	"tandem/internal/resource/sip"
	"tandem/internal/resource/systemd"
)

// buildAgents makes a resource agent for every configured resource, after
// CheckAgents (ocf meta-data, installed agents and init scripts).
// lifetime, when set, is the floating addresses' backstop (majority mode).
func buildAgents(m *config.Model, log *slog.Logger, lifetime time.Duration) (map[string]resource.Agent, error) {
	if err := CheckAgents(context.Background(), m, log); err != nil {
		return nil, err
	}
	out := map[string]resource.Agent{}
	for _, r := range m.Resources {
		var (
			ag  resource.Agent
			err error
		)
		switch {
		case r.IP != nil:
			p := *r.IP
			p.Lifetime = lifetime
			ag, err = ip.New(r.Name, p, log)
		case r.Exec != nil:
			ag, err = exec.New(r.Name, *r.Exec, log)
		case r.OCF != nil:
			ag, err = ocf.New(r.Name, *r.OCF, r.Ops, log)
		case r.LSB != nil:
			ag, err = lsb.New(r.Name, *r.LSB, log)
		case r.Systemd != nil:
			ag, err = systemd.New(r.Name, *r.Systemd, log)
		case r.SIP != nil:
			ag, err = sip.New(r.Name, *r.SIP, log)
		case r.FreeSWITCH != nil:
			ag, err = freeswitch.New(r.Name, *r.FreeSWITCH, log)
		default:
			err = fmt.Errorf("kind %q has no agent", r.Kind)
		}
		if err != nil {
			return nil, fmt.Errorf("resource %s: %w", r.Name, err)
		}
		out[r.Name] = ag
	}
	return out, nil
}

// executor runs operations: one worker per resource, so operations on one
// resource never overlap while different resources proceed in parallel.
type executor struct {
	queues  map[string]chan node.Action
	results chan node.Result
	ctx     context.Context
	cancel  context.CancelFunc
	metrics *metrics.Metrics
	log     *slog.Logger
	// fence powers a node off (fence.Fence with its plan); nil without fencing.
	fence func(ctx context.Context, node string) (by string, err error)
}

func newExecutor(agents map[string]resource.Agent, log *slog.Logger, mx *metrics.Metrics) *executor {
	ctx, cancel := context.WithCancel(context.Background())
	e := &executor{queues: map[string]chan node.Action{}, results: make(chan node.Result, 256), ctx: ctx, cancel: cancel, metrics: mx, log: log}
	for name, ag := range agents {
		q := make(chan node.Action, 16) // the core keeps at most a few in flight per resource
		e.queues[name] = q
		go e.work(ctx, ag, q, log.With("resource", name))
	}
	return e
}

func (e *executor) run(a node.Action) {
	if a.Op == ownership.OpFence {
		go e.fenceNode(a) // the core has at most one fence per node in flight
		return
	}
	q, ok := e.queues[a.Resource]
	if !ok {
		e.results <- node.Result{ID: a.ID, Outcome: ownership.Outcome{Err: "no agent for " + a.Resource}}
		return
	}
	q <- a
}

func (e *executor) close() { e.cancel() }

// fenceNode runs a fence and reports it like any operation.
func (e *executor) fenceNode(a node.Action) {
	o := ownership.Outcome{Err: "fencing is not configured"}
	if e.fence != nil {
		ctx, cancel := context.WithTimeout(e.ctx, a.Timeout)
		began := time.Now()
		by, err := e.fence(ctx, a.Node)
		cancel()
		o = ownership.Outcome{}
		if err != nil {
			o.Err = err.Error()
			e.log.Error("fence failed", "node", a.Node, "took", time.Since(began).Round(time.Millisecond), "err", err)
		} else {
			e.log.Warn("fenced", "node", a.Node, "by", by, "took", time.Since(began).Round(time.Millisecond))
		}
	}
	select {
	case e.results <- node.Result{ID: a.ID, Outcome: o}:
	case <-e.ctx.Done():
	}
}

func (e *executor) work(ctx context.Context, ag resource.Agent, q chan node.Action, log *slog.Logger) {
	for {
		select {
		case <-ctx.Done():
			return
		case a := <-q:
			began := time.Now()
			o := do(ctx, ag, a)
			took := time.Since(began)
			e.metrics.Action(a.Resource, a.Op.String(), took, o.Err != "")
			lvl := slog.LevelDebug
			if a.Op == ownership.OpStart || a.Op == ownership.OpStop || o.Err != "" {
				lvl = slog.LevelInfo
			}
			log.Log(ctx, lvl, "operation done", "op", a.Op.String(), "took", took.Round(time.Millisecond), "err", o.Err)
			select {
			case e.results <- node.Result{ID: a.ID, Outcome: o}:
			case <-ctx.Done():
				return
			}
		}
	}
}

func do(parent context.Context, ag resource.Agent, a node.Action) ownership.Outcome {
	ctx, cancel := context.WithTimeout(parent, a.Timeout)
	defer cancel()
	var err error
	switch a.Op {
	case ownership.OpStart:
		err = ag.Start(ctx)
	case ownership.OpStop:
		err = ag.Stop(ctx)
	case ownership.OpAnnounce:
		if an, ok := ag.(resource.Announcer); ok {
			err = an.Announce(ctx)
		}
	case ownership.OpMonitor, ownership.OpProbe:
		if a.Interval > 0 {
			ctx = resource.WithRecurring(ctx, resource.Recurring{Interval: a.Interval, Depth: a.Depth})
		}
		st, err := ag.Monitor(ctx)
		o := ownership.Outcome{Running: st == resource.Running, Stopped: st == resource.Stopped}
		if err != nil {
			o.Err, o.Hard = err.Error(), hard(err)
		}
		return o
	}
	if err != nil {
		return ownership.Outcome{Err: fmt.Sprintf("%s: %v", a.Op, err), Hard: hard(err)}
	}
	return ownership.Outcome{}
}

// hard maps the agents' typed errors to the failures the core does not
// retry on this node (not installed, no privileges) or anywhere (not configured).
func hard(err error) ownership.Hard {
	switch {
	case errors.Is(err, resource.ErrNotConfigured):
		return ownership.HardNotConfigured
	case errors.Is(err, resource.ErrNotInstalled), errors.Is(err, resource.ErrPermission):
		return ownership.HardNotInstalled
	}
	return ownership.HardNone
}
