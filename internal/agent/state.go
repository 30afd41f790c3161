package agent

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"tandem/internal/quorum"
	"tandem/internal/statelog"
)

// StateFormat is the version of the files in state_dir (incarnation,
// cluster-state.json, events.json, raft.json). Bump it on any change an older agent
// would misread; `tandem version` shows it.
const StateFormat = 1

// stateDir is the agent's persistent state: the wire incarnation and the
// state log. Leases and deadlines are never persisted.
type stateDir struct{ dir string }

func openState(dir string) (*stateDir, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("state dir: %w", err)
	}
	return &stateDir{dir: dir}, nil
}

// writeFile replaces name atomically and durably.
func (s *stateDir) writeFile(name string, data []byte) error {
	path := filepath.Join(s.dir, name)
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	d, err := os.Open(s.dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// nextIncarnation returns the wall-clock start time in ns, but always above
// the last persisted one so a clock stepped back cannot make peers drop us
// as a replay of an older run.
func (s *stateDir) nextIncarnation(now time.Time) (uint64, error) {
	path := filepath.Join(s.dir, "incarnation")
	inc := uint64(now.UnixNano())
	b, err := os.ReadFile(path)
	switch {
	case err == nil:
		last, perr := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
		if perr != nil {
			return 0, fmt.Errorf("state %s: %w (remove the file to start afresh)", path, perr)
		}
		inc = max(inc, last+1)
	case !errors.Is(err, os.ErrNotExist):
		return 0, fmt.Errorf("state: %w", err)
	}
	if err := s.writeFile("incarnation", []byte(strconv.FormatUint(inc, 10)+"\n")); err != nil {
		return 0, fmt.Errorf("state: persist incarnation: %w", err)
	}
	return inc, nil
}

func (s *stateDir) loadLog() ([]statelog.Entry, error) {
	path := filepath.Join(s.dir, "cluster-state.json")
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("state: %w", err)
	}
	var es []statelog.Entry
	if err := json.Unmarshal(b, &es); err != nil {
		return nil, fmt.Errorf("state %s: %w (the peer holds a copy: remove the file and restart)", path, err)
	}
	return es, nil
}

func (s *stateDir) saveLog(es []statelog.Entry) error {
	b, err := json.MarshalIndent(es, "", "  ")
	if err != nil {
		return err
	}
	return s.writeFile("cluster-state.json", b)
}

// loadRaft reads majority mode's raft state (zero when there is none yet).
// lost says it was there once and is now missing, or is corrupt: a voter
// that forgot its vote could vote twice in a term, so the node starts not
// voting (docs/design.md, "Restarts"); a corrupt file is kept aside for a
// post-mortem. A state_dir wiped whole looks like a new node's.
func (s *stateDir) loadRaft() (p quorum.Persisted, lost bool, why string, err error) {
	path := filepath.Join(s.dir, "raft.json")
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		if _, err := os.Stat(filepath.Join(s.dir, raftMarker)); err == nil {
			return quorum.Persisted{}, true, path + " is missing, though this node has voted before", nil
		}
		return quorum.Persisted{}, false, "", nil
	}
	if err != nil {
		return quorum.Persisted{}, false, "", fmt.Errorf("state: %w", err)
	}
	if err := json.Unmarshal(b, &p); err != nil {
		aside := path + ".corrupt"
		if rerr := os.Rename(path, aside); rerr != nil {
			return quorum.Persisted{}, false, "", fmt.Errorf("state %s is corrupt (%v) and cannot be moved aside: %w", path, err, rerr)
		}
		return quorum.Persisted{}, true, fmt.Sprintf("%s is corrupt (%v); kept as %s", path, err, aside), nil
	}
	return p, false, "", nil
}

// raftMarker is written with the first raft state: its presence says a
// missing raft.json was lost, not never written.
const raftMarker = "raft.voted"

// saveRaft persists raft's state durably; the caller sends the Ready's
// messages only after it returns (a vote or an ack must survive a crash).
func (s *stateDir) saveRaft(p quorum.Persisted) error {
	b, err := json.Marshal(p)
	if err != nil {
		return err
	}
	if err := s.writeFile("raft.json", b); err != nil {
		return err
	}
	if _, err := os.Stat(filepath.Join(s.dir, raftMarker)); errors.Is(err, os.ErrNotExist) {
		return s.writeFile(raftMarker, []byte("raft.json has been written here: if it goes missing, this node must rejoin before it votes\n"))
	}
	return nil
}
