package agent

import (
	"context"
	"fmt"
	"net"
	"net/http"

	"tandem/internal/metrics"
)

// newMetrics makes the agent's private registry. Its state gauges ask the
// loop for a status at every scrape, like `tandem status` does.
func newMetrics(a *Agent) *metrics.Metrics {
	m := a.o.Model
	o := metrics.Options{Status: a.Status, Alerts: a.AlertStats, Runtime: true, Log: a.log}
	for _, g := range m.Groups {
		o.Groups = append(o.Groups, g.Name)
	}
	for _, r := range m.Resources {
		o.Resources = append(o.Resources, r.Name)
	}
	return metrics.New(o)
}

// MetricsHandler implements api.MetricsSource: GET /metrics on the socket.
func (a *Agent) MetricsHandler() http.Handler { return a.metrics.Handler() }

// listenMetrics opens the optional metrics listener (metrics.listen) and
// serves it until ctx is done. A listener that cannot open stops the agent
// at start, as a link that cannot would.
func (a *Agent) listenMetrics(ctx context.Context) error {
	cfg := a.o.Model.Metrics
	if cfg.Listen == "" {
		return nil
	}
	l, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("metrics.listen %s: %w", cfg.Listen, err)
	}
	go func() {
		if err := a.metrics.Serve(ctx, l); err != nil {
			a.log.Error("metrics listener stopped", "err", err)
		}
	}()
	if cfg.Exposed {
		a.log.Warn("metrics served beyond this host: anyone who reaches it can read the cluster's state", "addr", l.Addr().String())
	} else {
		a.log.Info("metrics served", "addr", l.Addr().String())
	}
	return nil
}
