package agent

import (
	"context"
	"log/slog"
	"slices"

	"tandem/internal/config"
	"tandem/internal/fence"
	"tandem/internal/resource/freeswitch"
	"tandem/internal/resource/lsb"
	"tandem/internal/resource/ocf"
)

// CheckAgents checks what config.Load cannot without running anything:
// every ocf resource's params against its agent's meta-data, and that
// every ocf agent and init script (lsb, cold freeswitch) is installed
// here; likewise every fence agent's parameters. `tandem config check` and the agent's start both run it. The
// errors are config.Errors, located in the file like Load's.
func CheckAgents(ctx context.Context, m *config.Model, log *slog.Logger) error {
	errs := config.Errors(slices.Concat(ocf.Check(ctx, m, log), lsb.Check(m), freeswitch.Check(m), fence.Check(ctx, m)))
	if len(errs) == 0 {
		return nil
	}
	errs.Sort()
	return errs
}
