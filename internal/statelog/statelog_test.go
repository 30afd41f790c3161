package statelog

import (
	"slices"
	"testing"
)

func TestPairLastWriterWins(t *testing.T) {
	a, b := NewPair("a"), NewPair("b")
	a.Set("k", "1")
	b.Merge(a.Entries())
	if v, _ := b.Get("k"); v != "1" {
		t.Fatalf("b.k = %q, want 1", v)
	}
	// Concurrent writes during a split: same epoch, the higher node name wins on both sides.
	a.Set("x", "from-a")
	b.Set("x", "from-b")
	a.Merge(b.Entries())
	b.Merge(a.Entries())
	va, _ := a.Get("x")
	vb, _ := b.Get("x")
	if va != vb || va != "from-b" {
		t.Fatalf("after heal a.x=%q b.x=%q, want both from-b", va, vb)
	}
	// A later write (higher epoch) wins whatever the name.
	a.Set("x", "later")
	if ch := b.Merge(a.Entries()); !slices.Contains(ch, "x") {
		t.Fatalf("merge reported %v, want x changed", ch)
	}
	if v, _ := b.Get("x"); v != "later" {
		t.Fatalf("b.x = %q, want later", v)
	}
	// Deletion replicates as a tombstone.
	b.Set("k", "")
	a.Merge(b.Entries())
	if _, ok := a.Get("k"); ok {
		t.Fatal("deleted key still visible on a")
	}
	// Merging the same entries again changes nothing.
	if ch := a.Merge(b.Entries()); len(ch) != 0 {
		t.Fatalf("re-merge changed %v", ch)
	}
}
