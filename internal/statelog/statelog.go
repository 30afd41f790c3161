// Package statelog holds the replicated cluster state: admin settings and
// fail counts that every node must agree on. In two_node mode the pair syncs
// it with last-writer-wins per key by (epoch, node); in majority mode raft
// will implement the same Log interface.
package statelog

import (
	"cmp"
	"slices"
)

// Entry is one key's latest write. An empty Value is a deletion (kept as a
// tombstone so that the deletion itself replicates).
type Entry struct {
	Key   string
	Value string
	Epoch uint64 // Lamport clock of the write
	Node  string // the writer; breaks epoch ties
}

// Newer reports whether a wins over b: the higher epoch, then the higher node name.
func Newer(a, b Entry) bool {
	if a.Epoch != b.Epoch {
		return a.Epoch > b.Epoch
	}
	return a.Node > b.Node
}

// Log is the seam between the core and whatever replicates cluster state.
type Log interface {
	// Get returns a key's value; deleted and missing keys return "", false.
	Get(key string) (string, bool)
	// Set writes a key locally; the write replicates from there.
	Set(key, value string) Entry
	// Entries returns every entry, tombstones included, sorted by key.
	Entries() []Entry
}

// Pair is the two_node Log: each node keeps a full copy and merges the
// peer's copy, last writer wins. Not safe for concurrent use (the core is single-threaded).
type Pair struct {
	self     string
	clock    uint64
	entries  map[string]Entry
	version  uint64  // bumped at every change: readers cache what they derive
	sorted   []Entry // Entries at sortedAt, for the next caller at the same version
	sortedAt uint64
}

// Version changes whenever an entry does: what is derived from the log
// at one version holds until the next.
func (p *Pair) Version() uint64 { return p.version }

// NewPair returns an empty log written to as node self.
func NewPair(self string) *Pair {
	return &Pair{self: self, entries: map[string]Entry{}}
}

// Get implements Log.
func (p *Pair) Get(key string) (string, bool) {
	e, ok := p.entries[key]
	if !ok || e.Value == "" {
		return "", false
	}
	return e.Value, true
}

// Entry returns key's entry, a deletion (empty value) included.
func (p *Pair) Entry(key string) (Entry, bool) {
	e, ok := p.entries[key]
	return e, ok
}

// Set implements Log.
func (p *Pair) Set(key, value string) Entry {
	p.clock++
	p.version++
	e := Entry{Key: key, Value: value, Epoch: p.clock, Node: p.self}
	p.entries[key] = e
	return e
}

// Entries implements Log.
// The core reads them several times per message; they change far less.
func (p *Pair) Entries() []Entry {
	if p.sorted == nil || p.sortedAt != p.version {
		p.sorted = make([]Entry, 0, len(p.entries))
		for _, e := range p.entries {
			p.sorted = append(p.sorted, e)
		}
		slices.SortFunc(p.sorted, func(a, b Entry) int { return cmp.Compare(a.Key, b.Key) })
		p.sortedAt = p.version
	}
	return slices.Clone(p.sorted)
}

// Merge folds in entries from a peer (or from disk) and returns the keys
// whose value changed.
func (p *Pair) Merge(in []Entry) []string {
	var changed []string
	for _, e := range in {
		p.clock = max(p.clock, e.Epoch)
		old, ok := p.entries[e.Key]
		if ok && !Newer(e, old) {
			continue
		}
		p.entries[e.Key] = e
		p.version++
		if !ok || old.Value != e.Value {
			changed = append(changed, e.Key)
		}
	}
	return changed
}
