// Package agenttest helps test resource agents: a logger whose output the
// test reads, and contexts with deadlines that end with the test.
package agenttest

import (
	"bytes"
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"
)

// LogBuf collects log output; agents log from their own goroutines.
type LogBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *LogBuf) Write(p []byte) (int, error) { l.mu.Lock(); defer l.mu.Unlock(); return l.b.Write(p) }
func (l *LogBuf) String() string              { l.mu.Lock(); defer l.mu.Unlock(); return l.b.String() }

// Logger returns a text logger and the buffer it writes to.
func Logger() (*slog.Logger, *LogBuf) {
	lb := &LogBuf{}
	return slog.New(slog.NewTextHandler(lb, nil)), lb
}

// Ctx is a context with deadline d from now, cancelled when the test ends.
func Ctx(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}
