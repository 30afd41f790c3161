package api

import (
	"context"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"tandem/internal/metrics"
	"tandem/internal/node"
	"tandem/internal/status"
)

// withMetrics is a Backend that also serves metrics.
type withMetrics struct {
	*fake
	m *metrics.Metrics
}

func (b withMetrics) MetricsHandler() http.Handler { return b.m.Handler() }

func TestMetricsOnSocket(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "run", "tandem.sock")
	l, err := Listen(sock)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	f := &fake{}
	m := metrics.New(metrics.Options{Status: func(ctx context.Context) (status.Status, error) {
		st, err := f.Status(ctx)
		st.Quorum.Quorate = true
		return st, err
	}})
	m.Events([]node.Event{{Kind: node.GroupMoved, Group: "voice", Link: -1}})
	go Serve(ctx, l, withMetrics{f, m})
	body, err := NewClient(sock).Metrics(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"tandem_quorate 1", `tandem_failovers_total{group="voice"} 1`, `tandem_info{cluster="c",config_hash="",node="a"} 1`} {
		if !strings.Contains(string(body), s) {
			t.Errorf("GET /metrics lacks %q:\n%s", s, body)
		}
	}
}

// A Backend without metrics has no /metrics.
func TestNoMetrics(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "tandem.sock")
	l, err := Listen(sock)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	go Serve(ctx, l, &fake{})
	if _, err := NewClient(sock).Metrics(ctx); err == nil || !strings.Contains(err.Error(), "404") {
		t.Fatalf("GET /metrics without metrics: %v", err)
	}
}
