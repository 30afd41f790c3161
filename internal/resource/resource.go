// Package resource defines what every resource agent does: start, stop and
// monitor one managed thing. Agents do I/O; they decide nothing.
package resource

import (
	"context"
	"errors"
	"time"
)

// State is what a monitor found.
type State int

const (
	Stopped State = iota // cleanly not running
	Running              // running and healthy
	Failed               // running but unhealthy, or in an unknown state
)

func (s State) String() string {
	switch s {
	case Stopped:
		return "stopped"
	case Running:
		return "running"
	default:
		return "failed"
	}
}

// ErrTimeout is wrapped by errors from operations that ran out of time.
var ErrTimeout = errors.New("timed out")

// Agent manages one resource. Every method honours ctx's deadline; an
// operation that outlives it must clean up (kill what it started) before returning.
type Agent interface {
	// Start makes the resource run. Starting a running resource is not an error.
	Start(ctx context.Context) error
	// Stop makes the resource stop. Stopping a stopped resource is not an error.
	Stop(ctx context.Context) error
	// Monitor reports the resource's state. An error means the check itself
	// could not be made; the state is then Failed.
	Monitor(ctx context.Context) (State, error)
}

// Announcer is implemented by agents that can re-announce an address
// (gratuitous ARP, unsolicited NA): after a split-brain heal and every arp_refresh.
type Announcer interface {
	Announce(ctx context.Context) error
}

// Recurring says which recurring monitor a Monitor call is, for agents that
// tell them apart (OCF: OCF_RESKEY_CRM_meta_interval and OCF_CHECK_LEVEL).
type Recurring struct {
	Interval time.Duration
	Depth    int
}

type recurringKey struct{}

// WithRecurring marks ctx as the context of recurring monitor r.
func WithRecurring(ctx context.Context, r Recurring) context.Context {
	return context.WithValue(ctx, recurringKey{}, r)
}

// RecurringOf reports which recurring monitor ctx is for, if it is one.
func RecurringOf(ctx context.Context) (Recurring, bool) {
	r, ok := ctx.Value(recurringKey{}).(Recurring)
	return r, ok
}
