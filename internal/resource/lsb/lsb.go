// Package lsb runs /etc/init.d scripts (type: lsb:NAME) with LSB exit
// codes, mapped as Pacemaker's executor maps them (services__lsb2ocf):
//
//	status: 0 running; 1 dead with a pid file, 2 dead with a lock file,
//	        3 not running → stopped; 4 unknown and anything else → failed;
//	        150 not installed, 151 insufficient privileges (Pacemaker's
//	        own codes) → failed with resource.ErrNotInstalled / ErrPermission
//	start, stop: 0 success; 1..7 as OCF (resource.ExitError: 4, 5, 6 are
//	        the hard errors); anything else a generic error
//
// Init scripts are often not idempotent (a second start starts a second
// daemon, a stop of a stopped service fails), so the agent asks status
// first: start is not run when status says running, stop is not run when
// it says stopped, and a stop that fails while status then says stopped
// counts as done (LSB: stopping a stopped service succeeds).
package lsb

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"

	"tandem/internal/config"
	"tandem/internal/resource"
	"tandem/internal/resource/pgroup"
)

// LSB status exit codes.
const (
	statusRunning      = 0
	statusDeadPID      = 1
	statusDeadLock     = 2
	statusNotRunning   = 3
	statusNotInstalled = 150 // Pacemaker's
	statusNoPermission = 151 // Pacemaker's
)

// Agent runs one lsb resource.
type Agent struct {
	name string
	p    config.LSBParams
	log  *slog.Logger
}

// New returns the agent for resource name.
func New(name string, p config.LSBParams, log *slog.Logger) (*Agent, error) {
	if p.Path == "" {
		return nil, fmt.Errorf("lsb %s: needs the init script's path", name)
	}
	return &Agent{name: name, p: p, log: log.With("resource", name)}, nil
}

// run runs the script with action and returns its exit status.
func (a *Agent) run(ctx context.Context, action string) (int, error) {
	if _, err := os.Stat(a.p.Path); err != nil {
		return -1, fmt.Errorf("%s %s: %w: %v", action, a.name, resource.ErrNotInstalled, err)
	}
	r, err := pgroup.Run(ctx, pgroup.Spec{Argv: []string{a.p.Path, action}, Log: a.log, Op: action})
	if err != nil {
		if errors.Is(err, fs.ErrPermission) {
			err = fmt.Errorf("%w: %w", resource.ErrPermission, err)
		}
		return -1, fmt.Errorf("%s %s: %w", action, a.name, err)
	}
	return r.Code, nil
}

// status runs the status action and maps its exit status.
func (a *Agent) status(ctx context.Context) (resource.State, error) {
	code, err := a.run(ctx, "status")
	if err != nil {
		return resource.Failed, err
	}
	switch code {
	case statusRunning:
		return resource.Running, nil
	case statusNotRunning:
		return resource.Stopped, nil
	case statusDeadPID, statusDeadLock:
		a.log.Info("status: not running, but its pid or lock file is left", "exit", code)
		return resource.Stopped, nil
	case statusNotInstalled:
		err = resource.ErrNotInstalled
	case statusNoPermission:
		err = resource.ErrPermission
	default:
		err = errors.New("status unknown")
	}
	return resource.Failed, fmt.Errorf("status %s: exit status %d: %w", a.name, code, err)
}

// Start implements resource.Agent. It runs start only if status says the
// service is not running; a status that fails is an error (starting a
// service that may be running could start it twice).
func (a *Agent) Start(ctx context.Context) error {
	st, err := a.status(ctx)
	switch {
	case err != nil:
		return fmt.Errorf("start %s: not started: %w", a.name, err)
	case st == resource.Running:
		a.log.Info("start: status says running already: start not run")
		return nil
	}
	code, err := a.run(ctx, "start")
	if err != nil {
		return err
	}
	if code != 0 {
		return fmt.Errorf("%s %s: %w", a.p.Path, a.name, &resource.ExitError{Op: "start", Code: code})
	}
	return nil
}

// Stop implements resource.Agent. It runs stop unless status says the
// service is stopped; a failed stop after which status says stopped is
// success.
func (a *Agent) Stop(ctx context.Context) error {
	if st, err := a.status(ctx); err == nil && st == resource.Stopped {
		return nil
	}
	code, err := a.run(ctx, "stop")
	if err != nil {
		return err
	}
	if code == 0 {
		return nil
	}
	if st, serr := a.status(ctx); serr == nil && st == resource.Stopped {
		a.log.Warn("stop failed, but status says stopped: counted as stopped", "exit", code)
		return nil
	}
	return fmt.Errorf("%s %s: %w", a.p.Path, a.name, &resource.ExitError{Op: "stop", Code: code})
}

// Monitor implements resource.Agent with the status action.
func (a *Agent) Monitor(ctx context.Context) (resource.State, error) {
	return a.status(ctx)
}

// Check returns, located in m's file, every lsb resource whose init
// script is not installed here (not an executable file).
func Check(m *config.Model) []config.Error {
	var errs []config.Error
	for i, r := range m.Resources {
		if r.LSB == nil {
			continue
		}
		field := fmt.Sprintf("resources[%d].type", i)
		if _, ok := r.Params["path"]; ok {
			field = fmt.Sprintf("resources[%d].params.path", i)
		}
		if err := Installed(r.LSB.Path); err != nil {
			errs = append(errs, m.ErrorAt(field, "%v", err))
		}
	}
	return errs
}

// Installed says why the init script at path cannot run here, or nil.
func Installed(path string) error {
	st, err := os.Stat(path)
	switch {
	case err != nil && errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("init script %s is not installed here", path)
	case err != nil:
		return fmt.Errorf("init script %s: %v", path, err)
	case st.IsDir() || st.Mode()&0o111 == 0:
		return fmt.Errorf("init script %s is not an executable file", path)
	}
	return nil
}
