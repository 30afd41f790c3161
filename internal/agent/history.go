package agent

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"tandem/internal/status"
)

// history is the bounded record of decisions and transitions that `status`
// shows. It is kept in the state directory so that after a crash or a
// restart the operator still sees what led up to it.
type history struct {
	path   string
	events []status.Event
	dirty  bool
	saved  time.Time
}

const historyLen = 256

func loadHistory(dir string) (*history, error) {
	h := &history{path: filepath.Join(dir, "events.json")}
	b, err := os.ReadFile(h.path)
	if errors.Is(err, os.ErrNotExist) {
		return h, nil
	}
	if err != nil {
		return nil, fmt.Errorf("event history: %w", err)
	}
	if err := json.Unmarshal(b, &h.events); err != nil {
		// A torn history is not worth refusing to start over: begin a new one.
		h.events = nil
		h.add(time.Now(), "event history "+h.path+" was unreadable and starts afresh")
	}
	return h, nil
}

func (h *history) add(at time.Time, msg string) {
	h.events = append(h.events, status.Event{At: at.UTC().Format("2006-01-02T15:04:05.000Z07:00"), Message: msg})
	if len(h.events) > historyLen {
		h.events = h.events[len(h.events)-historyLen:]
	}
	h.dirty = true
}

// last returns the newest n events.
func (h *history) last(n int) []status.Event {
	return append([]status.Event{}, h.events[max(0, len(h.events)-n):]...)
}

// save writes the history if it changed, at most once a second unless forced.
func (h *history) save(st *stateDir, force bool, log *slog.Logger) {
	if !h.dirty || (!force && time.Since(h.saved) < time.Second) {
		return
	}
	b, err := json.Marshal(h.events)
	if err == nil {
		err = st.writeFile(filepath.Base(h.path), b)
	}
	if err != nil {
		log.Warn("save event history", "err", err)
		return
	}
	h.dirty, h.saved = false, time.Now()
}
