// Package systemd runs systemd units (type: systemd:UNIT) over D-Bus, as
// Pacemaker's systemd class does: start and stop are jobs whose result the
// agent waits for, and monitor reads the unit's ActiveState. Before the
// first start it writes a runtime drop-in (Pacemaker writes
// 50-pacemaker.conf) binding the unit to the agent's own unit and turning
// off systemd's restarts: tandem does recovery, and a unit must not outlive
// the agent that manages it.
package systemd

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"

	sd "github.com/coreos/go-systemd/v22/dbus"

	"tandem/internal/config"
	"tandem/internal/resource"
)

// Agent is one systemd resource.
type Agent struct {
	name string
	p    config.SystemdParams
	log  *slog.Logger
	// dial connects to the systemd to drive; DropInDir is where runtime
	// drop-ins go (/run/systemd/system for the host's systemd).
	dial      func(context.Context) (*sd.Conn, error)
	DropInDir string
	mu        sync.Mutex
	conn      *sd.Conn
}

// New returns the agent for resource name, talking to this host's systemd
// over its private socket (root only, no dbus-daemon needed).
func New(name string, p config.SystemdParams, log *slog.Logger) (*Agent, error) {
	return NewWith(name, p, log, sd.NewSystemdConnectionContext, "/run/systemd/system"), nil
}

// NewWith is New with another systemd: tests drive one in a container.
func NewWith(name string, p config.SystemdParams, log *slog.Logger, dial func(context.Context) (*sd.Conn, error), dropInDir string) *Agent {
	return &Agent{name: name, p: p, log: log.With("resource", name), dial: dial, DropInDir: dropInDir}
}

func (a *Agent) connect(ctx context.Context) (*sd.Conn, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.conn != nil && a.conn.Connected() {
		return a.conn, nil
	}
	c, err := a.dial(ctx)
	if err != nil {
		return nil, fmt.Errorf("connect to systemd: %w", err)
	}
	a.conn = c
	return c, nil
}

// Close drops the connection.
func (a *Agent) Close() {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.conn != nil {
		a.conn.Close()
		a.conn = nil
	}
}

// Validate implements resource.Agent: the unit must exist.
func (a *Agent) Validate(ctx context.Context) error {
	_, err := a.props(ctx)
	return err
}

type unitState struct{ load, active, sub, result string }

func (a *Agent) props(ctx context.Context) (unitState, error) {
	c, err := a.connect(ctx)
	if err != nil {
		return unitState{}, err
	}
	ps, err := c.GetUnitPropertiesContext(ctx, a.p.Unit)
	if err != nil {
		return unitState{}, fmt.Errorf("unit %s: %w", a.p.Unit, err)
	}
	str := func(k string) string { s, _ := ps[k].(string); return s }
	st := unitState{load: str("LoadState"), active: str("ActiveState"), sub: str("SubState")}
	if st.load == "not-found" {
		return st, fmt.Errorf("unit %s: %w: systemd has no such unit", a.p.Unit, resource.ErrNotInstalled)
	}
	if sp, err := c.GetServicePropertyContext(ctx, a.p.Unit, "Result"); err == nil {
		st.result, _ = sp.Value.Value().(string)
	}
	return st, nil
}

// dropIn writes the runtime drop-in and reloads systemd when it changed.
func (a *Agent) dropIn(ctx context.Context, c *sd.Conn) error {
	var b strings.Builder
	fmt.Fprintf(&b, "# Written by tandem for resource %s: tandem starts, stops and recovers this unit.\n[Unit]\n", a.name)
	if a.p.BindsTo != "" {
		fmt.Fprintf(&b, "BindsTo=%s\nAfter=%s\n", a.p.BindsTo, a.p.BindsTo)
	}
	if strings.HasSuffix(a.p.Unit, ".service") {
		b.WriteString("[Service]\nRestart=no\n")
	}
	dir := filepath.Join(a.DropInDir, a.p.Unit+".d")
	path := filepath.Join(dir, "50-tandem.conf")
	if old, err := os.ReadFile(path); err == nil && string(old) == b.String() {
		return nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("drop-in for %s: %w", a.p.Unit, err)
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		return fmt.Errorf("drop-in for %s: %w", a.p.Unit, err)
	}
	if err := c.ReloadContext(ctx); err != nil {
		return fmt.Errorf("daemon-reload after the drop-in for %s: %w", a.p.Unit, err)
	}
	return nil
}

// job runs a start or stop job and waits for its result.
func (a *Agent) job(ctx context.Context, op string) error {
	c, err := a.connect(ctx)
	if err != nil {
		return err
	}
	ch := make(chan string, 1)
	switch op {
	case "start":
		if err := a.dropIn(ctx, c); err != nil {
			return err
		}
		// A unit that failed before would refuse to start in a tight loop.
		_ = c.ResetFailedUnitContext(ctx, a.p.Unit)
		_, err = c.StartUnitContext(ctx, a.p.Unit, "replace", ch)
	default:
		_, err = c.StopUnitContext(ctx, a.p.Unit, "replace", ch)
	}
	if err != nil {
		return fmt.Errorf("%s %s: %w", op, a.p.Unit, err)
	}
	select {
	case res := <-ch:
		if res == "done" {
			return nil
		}
		st, _ := a.props(ctx)
		return fmt.Errorf("%s %s: job %s (unit %s/%s, result %s)", op, a.p.Unit, res, st.active, st.sub, orDash(st.result))
	case <-ctx.Done():
		return fmt.Errorf("%s %s: %w: %v", op, a.p.Unit, resource.ErrTimeout, ctx.Err())
	}
}

// Start implements resource.Agent.
func (a *Agent) Start(ctx context.Context) error { return a.job(ctx, "start") }

// Stop implements resource.Agent: stopping a stopped unit succeeds.
func (a *Agent) Stop(ctx context.Context) error {
	err := a.job(ctx, "stop")
	if err != nil {
		if st, perr := a.props(ctx); perr == nil && (st.active == "inactive" || st.active == "failed") {
			a.log.Warn("stop reported an error but the unit is down", "err", err)
			return nil
		}
	}
	return err
}

// Monitor implements resource.Agent: active is running, inactive stopped,
// failed (or anything in between for long) a failure with the unit's result.
func (a *Agent) Monitor(ctx context.Context) (resource.State, error) {
	st, err := a.props(ctx)
	if err != nil {
		if errors.Is(err, resource.ErrNotInstalled) {
			return resource.Stopped, err
		}
		return resource.Failed, err
	}
	switch st.active {
	case "active", "reloading":
		return resource.Running, nil
	case "inactive":
		return resource.Stopped, nil
	case "failed":
		return resource.Failed, fmt.Errorf("unit %s failed (result %s)", a.p.Unit, orDash(st.result))
	}
	return resource.Failed, fmt.Errorf("unit %s is %s/%s", a.p.Unit, st.active, st.sub)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
