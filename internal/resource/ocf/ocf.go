// Package ocf runs existing OCF resource agents
// (/usr/lib/ocf/resource.d/PROVIDER/TYPE, e.g. Debian's resource-agents)
// the way Pacemaker's executor does: the action as the only argument,
// parameters as OCF_RESKEY_* in the environment, the exit status mapped to
// a state or a typed error (resource.ExitError). Every action runs in its
// own process group, killed whole when the action's deadline passes.
//
// Exit statuses (Pacemaker's mapping):
//
//	0 success / running         7 not running (from stop: success, as in Pacemaker)
//	1 generic, 2 args, 3 unimplemented: soft errors (failed)
//	4 insufficient privileges  → resource.ErrPermission (hard, this node)
//	5 not installed            → resource.ErrNotInstalled (hard, this node)
//	6 not configured           → resource.ErrNotConfigured (fatal, every node)
//	8 running promoted, 190/191 degraded: running; 9 failed promoted: failed
package ocf

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"tandem/internal/config"
	"tandem/internal/resource"
	"tandem/internal/resource/pgroup"
)

// DefaultRoot is OCF_ROOT: agents are in DefaultRoot/resource.d/PROVIDER/TYPE.
const DefaultRoot = "/usr/lib/ocf"

// Agent runs one OCF resource.
type Agent struct {
	name     string
	p        config.OCFParams
	interval time.Duration // the monitor interval, as OCF_RESKEY_CRM_meta_interval
	root     string
	log      *slog.Logger
}

// New returns the agent for resource name; ops gives the monitor interval
// the agent is told about.
func New(name string, p config.OCFParams, ops config.Ops, log *slog.Logger) (*Agent, error) {
	if p.Provider == "" || p.Type == "" {
		return nil, fmt.Errorf("ocf %s: needs provider and type", name)
	}
	return &Agent{name: name, p: p, interval: ops.MonitorInterval, root: DefaultRoot, log: log.With("resource", name)}, nil
}

// Path is the agent's executable under root.
func Path(root string, p config.OCFParams) string {
	return filepath.Join(root, "resource.d", p.Provider, p.Type)
}

// baseEnv is what every action, meta-data included, gets.
func baseEnv(root string, p config.OCFParams) []string {
	return []string{
		"OCF_ROOT=" + root,
		"OCF_RA_VERSION_MAJOR=1",
		"OCF_RA_VERSION_MINOR=1",
		"OCF_RESOURCE_PROVIDER=" + p.Provider,
		"OCF_RESOURCE_TYPE=" + p.Type,
	}
}

// run runs the agent with action and returns its exit status.
func (a *Agent) run(ctx context.Context, action string) (int, error) {
	path := Path(a.root, a.p)
	if _, err := os.Stat(path); err != nil {
		// Pacemaker's executor says "not installed" for a missing agent too.
		return -1, fmt.Errorf("%s %s: %w: %v", action, a.name, resource.ErrNotInstalled, err)
	}
	env := append(baseEnv(a.root, a.p), "OCF_RESOURCE_INSTANCE="+a.name)
	for k, v := range a.p.Params {
		env = append(env, "OCF_RESKEY_"+k+"="+v)
	}
	// Pacemaker's meta attributes: the timeout the action has (ms), and the
	// interval for a recurring monitor (0 marks a one-off action).
	if dl, ok := ctx.Deadline(); ok {
		env = append(env, "OCF_RESKEY_CRM_meta_timeout="+strconv.FormatInt(max(time.Until(dl).Milliseconds(), 1), 10))
	}
	interval := time.Duration(0)
	if action == "monitor" {
		interval = a.interval
		if r, ok := resource.RecurringOf(ctx); ok {
			interval = r.Interval // which of several monitors this is
			if r.Depth > 0 {
				env = append(env, "OCF_CHECK_LEVEL="+strconv.Itoa(r.Depth))
			}
		}
	}
	env = append(env, "OCF_RESKEY_CRM_meta_interval="+strconv.FormatInt(interval.Milliseconds(), 10))
	r, err := pgroup.Run(ctx, pgroup.Spec{Argv: []string{path, action}, Env: env, Log: a.log, Op: action})
	if err != nil {
		return -1, fmt.Errorf("%s %s: %w", action, a.name, execErr(err))
	}
	return r.Code, nil
}

// execErr adds resource.ErrPermission to a failure to execute the agent
// for lack of permission, as Pacemaker's executor maps EACCES to OCF 4.
func execErr(err error) error {
	if errors.Is(err, fs.ErrPermission) {
		return fmt.Errorf("%w: %w", resource.ErrPermission, err)
	}
	return err
}

// Start implements resource.Agent: exit 0 is success.
func (a *Agent) Start(ctx context.Context) error {
	code, err := a.run(ctx, "start")
	if err != nil {
		return err
	}
	if code != resource.OCFSuccess {
		return fmt.Errorf("%s %s: %w", a.p.Agent(), a.name, &resource.ExitError{Op: "start", Code: code})
	}
	return nil
}

// Stop implements resource.Agent: exit 0 is success, and so is 7 (not
// running), which is what a stop is for (Pacemaker's scheduler does not
// count "not running" from a stop as a failure either).
func (a *Agent) Stop(ctx context.Context) error {
	code, err := a.run(ctx, "stop")
	if err != nil {
		return err
	}
	switch code {
	case resource.OCFSuccess:
		return nil
	case resource.OCFNotRunning:
		a.log.Warn("stop exited 7 (not running): counted as stopped")
		return nil
	}
	return fmt.Errorf("%s %s: %w", a.p.Agent(), a.name, &resource.ExitError{Op: "stop", Code: code})
}

// Monitor implements resource.Agent.
func (a *Agent) Monitor(ctx context.Context) (resource.State, error) {
	code, err := a.run(ctx, "monitor")
	if err != nil {
		return resource.Failed, err
	}
	switch code {
	case resource.OCFSuccess, resource.OCFRunningPromoted:
		return resource.Running, nil
	case resource.OCFDegraded, resource.OCFDegradedPromoted:
		a.log.Warn("monitor: running, but degraded", "exit", code)
		return resource.Running, nil
	case resource.OCFNotRunning:
		return resource.Stopped, nil
	}
	return resource.Failed, fmt.Errorf("%s %s: %w", a.p.Agent(), a.name, &resource.ExitError{Op: "monitor", Code: code})
}
