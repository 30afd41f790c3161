package fence

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Level is one topology level: every device in it must power the node off.
type Level struct {
	Devices []Device
	Plugs   []string // per device: the plug for this node ("" for none)
}

// Plan is how to fence one node: levels tried in order, each device
// attempted Retries+1 times, the whole within Timeout (stonith-timeout).
type Plan struct {
	Node    string
	Levels  []Level
	Retries int
	Timeout time.Duration
}

// Fence powers the node off: the first level whose devices all succeed
// confirms it. The error lists what every level said.
func Fence(ctx context.Context, p Plan) (by string, err error) {
	if len(p.Levels) == 0 {
		return "", fmt.Errorf("fence %s: %w: no device can fence it", p.Node, ErrFailed)
	}
	if p.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, p.Timeout)
		defer cancel()
	}
	var errs []string
	for i, l := range p.Levels {
		var names []string
		ok := true
		for j, d := range l.Devices {
			plug := ""
			if j < len(l.Plugs) {
				plug = l.Plugs[j]
			}
			if err := runRetried(ctx, d, Off, plug, p.Retries); err != nil {
				errs = append(errs, fmt.Sprintf("level %d: %v", i+1, err))
				ok = false
				break
			}
			names = append(names, d.Name())
		}
		if ok {
			return strings.Join(names, "+"), nil
		}
		if ctx.Err() != nil {
			break
		}
	}
	return "", fmt.Errorf("fence %s: %w: %s", p.Node, ErrFailed, strings.Join(errs, "; "))
}

func runRetried(ctx context.Context, d Device, action, plug string, retries int) error {
	var err error
	for range retries + 1 {
		if _, err = d.Run(ctx, action, plug); err == nil || errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return err
		}
	}
	return err
}
