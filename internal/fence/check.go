package fence

import (
	"context"
	"fmt"
	"os"

	"tandem/internal/config"
)

// Check reads every fence agent's metadata and reports, located in m's
// file, the agents not installed here and the parameters they do not take
// or miss (tandem config check and the agent's start run it).
func Check(ctx context.Context, m *config.Model) []config.Error {
	var errs []config.Error
	metas := map[string]Meta{}
	for i, d := range m.Fencing.Devices {
		if d.Agent == "" {
			continue
		}
		field := fmt.Sprintf("fencing.devices[%d].agent", i)
		if _, err := os.Stat(d.Agent); err != nil {
			errs = append(errs, m.ErrorAt(field, "%s is not installed here (Debian: apt-get install fence-agents)", d.Agent))
			continue
		}
		meta, ok := metas[d.Agent]
		if !ok {
			var err error
			if meta, err = ReadMetadata(ctx, d.Agent); err != nil {
				errs = append(errs, m.ErrorAt(field, "%v", err))
				continue
			}
			metas[d.Agent] = meta
		}
		for _, p := range meta.Check(d.Params) {
			errs = append(errs, m.ErrorAt(fmt.Sprintf("fencing.devices[%d].params", i), "%s", p))
		}
	}
	return errs
}
