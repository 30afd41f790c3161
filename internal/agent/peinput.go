package agent

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"tandem/internal/schedule"
)

// PEInput is one saved scheduler input, like Pacemaker's pe-input files:
// what the placement was computed from when it changed. tandem simulate
// replays it with a hypothetical change.
type PEInput struct {
	Node       string        `json:"node"`
	At         time.Time     `json:"at"`
	ConfigHash string        `json:"config_hash"`
	View       schedule.View `json:"view"`
}

// PEInputDir is where the agent keeps them, under its state directory.
const PEInputDir = "pe-input"

// peInputs writes scheduler inputs off the loop (an fsync must not delay a
// takeover), keeping the newest keep files.
type peInputs struct {
	dir  string
	keep int
	in   chan PEInput
	log  *slog.Logger
	done chan struct{}
	last *PEInput // the newest on disk: a restart does not save it twice
}

func newPEInputs(stateDir string, keep int, log *slog.Logger) (*peInputs, error) {
	dir := filepath.Join(stateDir, PEInputDir)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("pe-input dir: %w", err)
	}
	p := &peInputs{dir: dir, keep: keep, in: make(chan PEInput, 8), log: log, done: make(chan struct{})}
	if files, err := ListPEInputs(stateDir); err == nil && len(files) > 0 {
		if in, err := ReadPEInput(files[len(files)-1]); err == nil {
			p.last = &in
		}
	}
	go p.run()
	return p, nil
}

// add queues an input; a full queue drops it (they are for diagnosis).
func (p *peInputs) add(in PEInput) {
	select {
	case p.in <- in:
	default:
	}
}

// close writes what is queued and stops the writer.
func (p *peInputs) close() { close(p.in); <-p.done }

func (p *peInputs) run() {
	defer close(p.done)
	for in := range p.in {
		if p.last != nil && p.last.ConfigHash == in.ConfigHash && schedule.SameInput(p.last.View, in.View) {
			continue
		}
		if err := p.write(in); err != nil {
			p.log.Warn("save scheduler input", "err", err)
			continue
		}
		p.last = &in
	}
}

// write saves in as a new file, whole or not at all (temp file, fsync,
// rename), then removes the oldest beyond keep.
func (p *peInputs) write(in PEInput) error {
	b, err := json.MarshalIndent(in, "", "  ")
	if err != nil {
		return fmt.Errorf("encode scheduler input: %w", err)
	}
	name := fmt.Sprintf("pe-input-%s.json", in.At.UTC().Format("20060102T150405.000000000"))
	tmp := filepath.Join(p.dir, "."+name)
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, filepath.Join(p.dir, name))
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("save %s: %w", name, err)
	}
	files, err := ListPEInputs(filepath.Dir(p.dir))
	if err != nil {
		return err
	}
	for _, f := range files[:max(0, len(files)-p.keep)] {
		if err := os.Remove(f); err != nil {
			return fmt.Errorf("drop old scheduler input: %w", err)
		}
	}
	return nil
}

// ListPEInputs returns the saved inputs under stateDir, oldest first.
func ListPEInputs(stateDir string) ([]string, error) {
	es, err := os.ReadDir(filepath.Join(stateDir, PEInputDir))
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range es {
		if n := e.Name(); strings.HasPrefix(n, "pe-input-") && strings.HasSuffix(n, ".json") {
			out = append(out, filepath.Join(stateDir, PEInputDir, n))
		}
	}
	slices.Sort(out) // names sort by time
	return out, nil
}

// ReadPEInput loads one saved input.
func ReadPEInput(path string) (PEInput, error) {
	var in PEInput
	b, err := os.ReadFile(path)
	if err != nil {
		return in, fmt.Errorf("saved scheduler input: %w", err)
	}
	if err := json.Unmarshal(b, &in); err != nil {
		return in, fmt.Errorf("%s: %w", path, err)
	}
	return in, nil
}
