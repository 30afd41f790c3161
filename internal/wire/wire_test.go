package wire

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var key = bytes.Repeat([]byte{7}, KeySize)

func sample() *Message {
	return &Message{
		Type: TypeHeartbeat, Flags: FlagProbing, ConfigHash: 0xfeedface, LinkSeq: 9,
		SentAt: 123456789, EchoSentAt: 123, EchoHeld: 45,
		Resources: []Resource{{Name: "vip", State: ResRunning}, {Name: "fs", State: ResStarting}},
		Groups:    []Group{{Name: "voice", Epoch: 3}},
		Log:       []Entry{{Key: "fail/fs/b", Value: "INFINITY", Epoch: 2, Node: "b"}},
	}
}

func pair(t testing.TB) (*Sealer, *Opener) {
	t.Helper()
	s, err := NewSealer(key, "fs-pair", "a", 1000, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	o, err := NewOpener(key, "fs-pair", []string{"a"})
	if err != nil {
		t.Fatal(err)
	}
	return s, o
}

func TestRoundTrip(t *testing.T) {
	m := sample()
	got, err := Decode(Encode(nil, m))
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(*m, got); d != "" {
		t.Fatalf("codec round trip (-want +got):\n%s", d)
	}
	s, o := pair(t)
	pkt, err := s.Seal(nil, m)
	if err != nil {
		t.Fatal(err)
	}
	p, err := o.Open(pkt)
	if err != nil {
		t.Fatal(err)
	}
	if p.Sender != "a" || p.Incarnation != 1000 || p.Seq != 1 {
		t.Fatalf("header %+v", p)
	}
	if d := cmp.Diff(*m, p.Msg); d != "" {
		t.Fatalf("seal round trip (-want +got):\n%s", d)
	}
}

func reason(t *testing.T, err error) DropReason {
	t.Helper()
	var de *DropError
	if !errors.As(err, &de) {
		t.Fatalf("error %v is not a DropError", err)
	}
	return de.Reason
}

// A captured packet replayed is dropped as a replay and counted.
func TestReplayedPacketDropped(t *testing.T) {
	s, o := pair(t)
	captured, _ := s.Seal(nil, sample())
	if _, err := o.Open(captured); err != nil {
		t.Fatal(err)
	}
	_, err := o.Open(captured)
	if r := reason(t, err); r != DropReplay {
		t.Fatalf("replay dropped as %s", r)
	}
	if o.Drops()[DropReplay] != 1 {
		t.Fatalf("drops %v", o.Drops())
	}
}

func TestWindowAndIncarnations(t *testing.T) {
	s, o := pair(t)
	var pkts [][]byte
	for range 70 {
		p, _ := s.Seal(nil, sample())
		pkts = append(pkts, p)
	}
	// Out of order within the window: accepted once.
	for _, i := range []int{5, 3, 4} {
		if _, err := o.Open(pkts[i]); err != nil {
			t.Fatalf("packet %d: %v", i, err)
		}
	}
	if _, err := o.Open(pkts[3]); reason(t, err) != DropReplay {
		t.Fatal("second copy of 3 accepted")
	}
	if _, err := o.Open(pkts[69]); err != nil {
		t.Fatal(err)
	}
	// Now 4 is more than 64 behind: too old.
	if _, err := o.Open(pkts[4]); reason(t, err) != DropReplay {
		t.Fatal("packet older than the window accepted")
	}
	// A restart (higher incarnation) resets the window.
	s2, _ := NewSealer(key, "fs-pair", "a", 2000, rand.Reader)
	p, _ := s2.Seal(nil, sample())
	if _, err := o.Open(p); err != nil {
		t.Fatalf("new incarnation: %v", err)
	}
	// The old run's packets are now from a lower incarnation.
	if _, err := o.Open(pkts[68]); reason(t, err) != DropOldIncarnation {
		t.Fatal("lower incarnation accepted")
	}
}

func TestDropReasons(t *testing.T) {
	s, o := pair(t)
	good, _ := s.Seal(nil, sample())
	other, _ := NewSealer(key, "other-cluster", "a", 1000, rand.Reader)
	otherPkt, _ := other.Seal(nil, sample())
	stranger, _ := NewSealer(key, "fs-pair", "mallory", 1000, rand.Reader)
	strangerPkt, _ := stranger.Seal(nil, sample())
	wrongKey, _ := NewSealer(bytes.Repeat([]byte{8}, KeySize), "fs-pair", "a", 1000, rand.Reader)
	wrongPkt, _ := wrongKey.Seal(nil, sample())
	v2 := bytes.Clone(good)
	v2[2] = 2
	cases := []struct {
		name string
		pkt  []byte
		want DropReason
	}{
		{"garbage", []byte("hello"), DropMalformed},
		{"version", v2, DropVersion},
		{"other cluster", otherPkt, DropCluster},
		{"unknown node", strangerPkt, DropUnknownNode},
		{"wrong key", wrongPkt, DropAuth},
	}
	for _, c := range cases {
		if _, err := o.Open(c.pkt); reason(t, err) != c.want {
			t.Errorf("%s: dropped as %v, want %v", c.name, reason(t, err), c.want)
		}
	}
	// None of that touched the replay state: the good packet still opens.
	if _, err := o.Open(good); err != nil {
		t.Fatal(err)
	}
}

// Flipping any byte of a sealed packet makes it fail, and leaves the replay
// state as it was.
func TestTamperChangesNoState(t *testing.T) {
	s, o := pair(t)
	pkt, _ := s.Seal(nil, sample())
	before := o.snapshot()
	for i := range pkt {
		bad := bytes.Clone(pkt)
		bad[i] ^= 0x40
		if _, err := o.Open(bad); err == nil {
			t.Fatalf("byte %d flipped: accepted", i)
		}
		if o.snapshot() != before {
			t.Fatalf("byte %d flipped: replay state changed", i)
		}
	}
	if _, err := o.Open(pkt); err != nil {
		t.Fatalf("original after tampering: %v", err)
	}
}

func (o *Opener) snapshot() string {
	r := o.peers["a"]
	return fmt.Sprintf("%d/%d/%x", r.inc, r.top, r.bitmap)
}

func FuzzDecode(f *testing.F) {
	f.Add(Encode(nil, sample()))
	f.Add(Encode(nil, &Message{Type: TypeBye}))
	f.Add([]byte{1, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := Decode(b)
		if err != nil {
			return
		}
		again, err := Decode(Encode(nil, &m))
		if err != nil {
			t.Fatalf("re-decode: %v", err)
		}
		if d := cmp.Diff(m, again); d != "" {
			t.Fatalf("round trip (-first +second):\n%s", d)
		}
	})
}

func FuzzOpen(f *testing.F) {
	s, _ := pair(f)
	for range 3 {
		p, _ := s.Seal(nil, sample())
		f.Add(p)
	}
	f.Add([]byte("TD\x01\x00"))
	f.Fuzz(func(t *testing.T, pkt []byte) {
		_, o := pair(t)
		before := o.snapshot()
		if _, err := o.Open(pkt); err != nil && o.snapshot() != before {
			t.Fatal("a packet that failed to open changed the replay state")
		}
	})
}

func BenchmarkSeal(b *testing.B) {
	s, _ := pair(b)
	m := sample()
	buf := make([]byte, 0, 512)
	for b.Loop() {
		buf, _ = s.Seal(buf[:0], m)
	}
}

func BenchmarkOpen(b *testing.B) {
	s, o := pair(b)
	m := sample()
	pkts := make([][]byte, 0, 1<<12)
	for range cap(pkts) {
		p, _ := s.Seal(nil, m)
		pkts = append(pkts, p)
	}
	i := 0
	for b.Loop() {
		if i == len(pkts) {
			b.StopTimer()
			s, o = pair(b)
			pkts = pkts[:0]
			for range cap(pkts) {
				p, _ := s.Seal(nil, m)
				pkts = append(pkts, p)
			}
			i = 0
			b.StartTimer()
		}
		if _, err := o.Open(pkts[i]); err != nil {
			b.Fatal(err)
		}
		i++
	}
}
