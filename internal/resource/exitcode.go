package resource

import (
	"errors"
	"fmt"
)

// OCF exit codes (the OCF resource agent API). LSB init scripts use the
// same codes 0..7 for every action but status.
const (
	OCFSuccess          = 0
	OCFErrGeneric       = 1
	OCFErrArgs          = 2
	OCFErrUnimplemented = 3
	OCFErrPerm          = 4
	OCFErrInstalled     = 5
	OCFErrConfigured    = 6
	OCFNotRunning       = 7
	OCFRunningPromoted  = 8
	OCFFailedPromoted   = 9
	OCFDegraded         = 190 // OCF 1.1: running, but degraded
	OCFDegradedPromoted = 191
)

// Hard errors: what Pacemaker does not retry. Wrapped by an operation's
// error, so callers test them with errors.Is.
var (
	// ErrNotInstalled: the agent or what it needs is missing on this node
	// (OCF 5). Pacemaker bans the resource from the node.
	ErrNotInstalled = errors.New("not installed")
	// ErrPermission: the agent lacks the privileges it needs on this node
	// (OCF 4). Pacemaker bans the resource from the node, as for ErrNotInstalled.
	ErrPermission = errors.New("insufficient privileges")
	// ErrNotConfigured: the resource's configuration is wrong, on every node
	// alike (OCF 6). Pacemaker stops it everywhere and does not retry.
	ErrNotConfigured = errors.New("not configured")
)

// ExitError is an operation that ended with an exit status meaning failure.
// It unwraps to ErrNotInstalled, ErrPermission or ErrNotConfigured for
// OCF 5, 4 and 6; every other code is a soft error (restart or move).
type ExitError struct {
	Op   string // start, stop, monitor, status
	Code int
}

func (e *ExitError) Error() string {
	if s := ocfCodeText(e.Code); s != "" {
		return fmt.Sprintf("%s: exit status %d (%s)", e.Op, e.Code, s)
	}
	return fmt.Sprintf("%s: exit status %d", e.Op, e.Code)
}

func (e *ExitError) Unwrap() error {
	switch e.Code {
	case OCFErrPerm:
		return ErrPermission
	case OCFErrInstalled:
		return ErrNotInstalled
	case OCFErrConfigured:
		return ErrNotConfigured
	}
	return nil
}

func ocfCodeText(code int) string {
	switch code {
	case OCFErrGeneric:
		return "generic error"
	case OCFErrArgs:
		return "invalid arguments"
	case OCFErrUnimplemented:
		return "unimplemented"
	case OCFErrPerm:
		return "insufficient privileges"
	case OCFErrInstalled:
		return "not installed"
	case OCFErrConfigured:
		return "not configured"
	case OCFNotRunning:
		return "not running"
	case OCFRunningPromoted:
		return "running promoted"
	case OCFFailedPromoted:
		return "failed promoted"
	case OCFDegraded:
		return "degraded"
	case OCFDegradedPromoted:
		return "degraded promoted"
	}
	return ""
}
