package wire

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"maps"
	mrand "math/rand/v2"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var key = bytes.Repeat([]byte{7}, KeySize)

func sample() *Message {
	return &Message{
		Type: TypeHeartbeat, Flags: FlagProbing, ConfigHash: 0xfeedface, LinkSeq: 9,
		SentAt: 123456789, EchoSentAt: -123, EchoHeld: 45, HeardInc: 1 << 40,
		Resources: []Resource{{Name: "vip", State: ResRunning}, {Name: "fs", State: ResStarting}},
		Groups:    []Group{{Name: "voice", Epoch: 3}},
		Log:       []Entry{{Key: "fail/fs/b", Value: "INFINITY", Epoch: 2, Node: "b"}},
		Quorum:    [][]byte{{1, 2, 3}, {0}},
	}
}

// largest is a message at each limit Check allows that still fits a packet:
// the most resources and groups, the longest names, keys and values.
func largest() *Message {
	m := &Message{Type: TypeBye, Flags: FlagLeaving, SentAt: -1, EchoHeld: 1 << 62}
	long := strings.Repeat("x", maxStr)
	for i := range maxItems {
		m.Resources = append(m.Resources, Resource{Name: strings.Repeat("r", i%17), State: ResBlocked})
		m.Groups = append(m.Groups, Group{Name: strings.Repeat("g", i%17), Epoch: ^uint64(0)})
	}
	m.Resources[0].Name, m.Groups[0].Name = long, long
	for range 3 {
		m.Log = append(m.Log, Entry{Key: long, Value: strings.Repeat("v", maxValue), Epoch: 1, Node: long})
	}
	return m
}

// fixedLen is the payload's fixed part: type, flags, hash, link seq, 3 times, heard incarnation.
const fixedLen = 1 + 1 + 8 + 4 + 3*8 + 8

func pair(t testing.TB) (*Sealer, *Opener) {
	t.Helper()
	s, err := NewSealer(key, "fs-pair", "a", 1000, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	o, err := NewOpener(key, "fs-pair", []string{"a", "c"})
	if err != nil {
		t.Fatal(err)
	}
	return s, o
}

func seal(t testing.TB, s *Sealer, m *Message) []byte {
	t.Helper()
	p, err := s.Seal(nil, m)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func mustOpen(t testing.TB, o *Opener, pkt []byte) Packet {
	t.Helper()
	p, err := o.Open(pkt)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func reason(t *testing.T, err error) DropReason {
	t.Helper()
	var de *DropError
	if !errors.As(err, &de) {
		t.Fatalf("error %v is not a DropError", err)
	}
	return de.Reason
}

// snapshot copies every peer's replay state, for before/after comparisons.
func (o *Opener) snapshot() map[string]replay {
	out := map[string]replay{}
	for name, r := range o.peers {
		out[name] = *r
	}
	return out
}

func TestCodecRoundTrip(t *testing.T) {
	for _, m := range []*Message{sample(), {Type: TypeBye}, largest()} {
		got, err := Decode(Encode(nil, m))
		if err != nil {
			t.Fatal(err)
		}
		if d := cmp.Diff(*m, got); d != "" {
			t.Fatalf("codec round trip (-want +got):\n%s", d)
		}
	}
	// Encode appends.
	b := Encode([]byte("prefix"), sample())
	if !bytes.HasPrefix(b, []byte("prefix")) {
		t.Fatal("Encode overwrote dst")
	}
	if _, err := Decode(b[len("prefix"):]); err != nil {
		t.Fatal(err)
	}
}

func TestDecodeRejects(t *testing.T) {
	good := Encode(nil, sample())
	for i := range len(good) {
		if _, err := Decode(good[:i]); err == nil {
			t.Errorf("truncated to %d of %d bytes: accepted", i, len(good))
		}
	}
	if _, err := Decode(append(bytes.Clone(good), 0)); err == nil || !strings.Contains(err.Error(), "trailing") {
		t.Errorf("trailing byte: %v", err)
	}
	for _, typ := range []byte{0, 3, 255} {
		bad := bytes.Clone(good)
		bad[0] = typ
		if _, err := Decode(bad); err == nil || !strings.Contains(err.Error(), "unknown message type") {
			t.Errorf("type %d: %v", typ, err)
		}
	}
	// List counts the rest of the payload cannot hold, or over the limit,
	// refused before anything is allocated for them.
	head := Encode(nil, &Message{Type: TypeHeartbeat})[:fixedLen]
	for _, c := range []struct {
		count []byte
		rest  int
	}{{[]byte{0x03, 0xe8}, 1999}, {[]byte{0x04, 0x01}, 1 << 16}, {[]byte{0xff, 0xff}, 1 << 20}} {
		b := append(bytes.Clone(head), c.count...)
		b = append(b, make([]byte, c.rest)...)
		if _, err := Decode(b); err == nil || !strings.Contains(err.Error(), "do not fit") {
			t.Errorf("count %x before %d bytes: %v", c.count, c.rest, err)
		}
	}
	// A log value over the limit.
	m := &Message{Type: TypeHeartbeat, Log: []Entry{{Key: "k", Value: "v"}}}
	b := Encode(nil, m)
	valLen := fixedLen + 2 + 2 + 2 + 1 + 1 // 2 empty lists, log count, key
	b[valLen], b[valLen+1] = 0x10, 0x01
	b = append(b, make([]byte, maxValue)...)
	if _, err := Decode(b); err == nil || !strings.Contains(err.Error(), "log value") {
		t.Errorf("oversized log value: %v", err)
	}
}

func TestCheckAndSealRefuseWhatDecodeWould(t *testing.T) {
	over := strings.Repeat("x", maxStr+1)
	cases := map[string]*Message{
		"type":          {Type: 9},
		"resources":     {Type: TypeHeartbeat, Resources: make([]Resource, maxItems+1)},
		"groups":        {Type: TypeHeartbeat, Groups: make([]Group, maxItems+1)},
		"log":           {Type: TypeHeartbeat, Log: make([]Entry, maxItems+1)},
		"resource name": {Type: TypeHeartbeat, Resources: []Resource{{Name: over}}},
		"group name":    {Type: TypeHeartbeat, Groups: []Group{{Name: over}}},
		"log key":       {Type: TypeHeartbeat, Log: []Entry{{Key: over}}},
		"log node":      {Type: TypeHeartbeat, Log: []Entry{{Node: over}}},
		"log value":     {Type: TypeHeartbeat, Log: []Entry{{Value: strings.Repeat("v", maxValue+1)}}},
	}
	s, o := pair(t)
	for name, m := range cases {
		if err := Check(m); err == nil {
			t.Errorf("%s: Check passed", name)
		}
		if _, err := s.Seal(nil, m); err == nil {
			t.Errorf("%s: sealed", name)
		}
		// Encode cuts it down to something Decode accepts, never a lie.
		if m.Type == TypeHeartbeat {
			if _, err := Decode(Encode(nil, m)); err != nil {
				t.Errorf("%s: Encode made something Decode refuses: %v", name, err)
			}
		}
	}
	// Too big for one UDP packet.
	big := largest()
	for range 20 {
		big.Log = append(big.Log, big.Log[0])
	}
	if _, err := s.Seal(nil, big); err == nil || !strings.Contains(err.Error(), "more than") {
		t.Errorf("oversized packet: %v", err)
	}
	// The refusals used no sequence numbers.
	if p := mustOpen(t, o, seal(t, s, sample())); p.Seq != 1 {
		t.Fatalf("first packet after refusals has sequence %d", p.Seq)
	}
}

func TestSealOpenRoundTrip(t *testing.T) {
	s, o := pair(t)
	for i, m := range []*Message{sample(), {Type: TypeBye}, largest()} {
		pkt := seal(t, s, m)
		if len(pkt) > MaxPacket {
			t.Fatalf("packet of %d bytes", len(pkt))
		}
		p := mustOpen(t, o, pkt)
		if p.Sender != "a" || p.Incarnation != 1000 || p.Seq != uint64(i+1) {
			t.Fatalf("header %+v", p)
		}
		if d := cmp.Diff(*m, p.Msg); d != "" {
			t.Fatalf("seal round trip (-want +got):\n%s", d)
		}
	}
	// Seal appends to dst and leaves what was there.
	pkt, err := s.Seal([]byte("prefix"), sample())
	if err != nil || !bytes.HasPrefix(pkt, []byte("prefix")) {
		t.Fatalf("Seal with a prefix: %v", err)
	}
	mustOpen(t, o, pkt[len("prefix"):])
	// The nonce is fresh each time, so equal messages never look equal.
	a, b := seal(t, s, sample()), seal(t, s, sample())
	if bytes.Equal(a[len(a)-100:], b[len(b)-100:]) {
		t.Fatal("two sealings of one message share ciphertext")
	}
}

type failingReader struct{}

func (failingReader) Read([]byte) (int, error) { return 0, errors.New("entropy exhausted") }

func TestConstructorsAndRandomness(t *testing.T) {
	if _, err := NewSealer(key[:16], "c", "a", 1, rand.Reader); err == nil {
		t.Error("short key accepted by NewSealer")
	}
	if _, err := NewOpener(key[:31], "c", []string{"a"}); err == nil {
		t.Error("short key accepted by NewOpener")
	}
	for _, name := range []string{"", strings.Repeat("n", maxName+1)} {
		if _, err := NewSealer(key, "c", name, 1, rand.Reader); err == nil {
			t.Errorf("sender %q accepted", name)
		}
		if _, err := NewOpener(key, "c", []string{"a", name}); err == nil {
			t.Errorf("peer %q accepted", name)
		}
	}
	if _, err := NewSealer(key, "c", "a", 1, nil); err == nil {
		t.Error("nil rand accepted")
	}
	s, err := NewSealer(key, "c", "a", 1, failingReader{})
	if err != nil {
		t.Fatal(err)
	}
	dst := []byte("keep")
	out, err := s.Seal(dst, sample())
	if err == nil || !strings.Contains(err.Error(), "entropy exhausted") || string(out) != "keep" {
		t.Fatalf("Seal without randomness: %q, %v", out, err)
	}
}

// A captured packet replayed is dropped as a replay and counted.
func TestReplayedPacketDropped(t *testing.T) {
	s, o := pair(t)
	captured := seal(t, s, sample())
	mustOpen(t, o, captured)
	for i := range 3 {
		_, err := o.Open(captured)
		if r := reason(t, err); r != DropReplay {
			t.Fatalf("replay dropped as %s", r)
		}
		if got := o.Drops()[DropReplay]; got != uint64(i+1) {
			t.Fatalf("replay drops %d after %d replays", got, i+1)
		}
	}
}

func TestWindowAndIncarnations(t *testing.T) {
	s, o := pair(t)
	pkts := map[int][]byte{} // by sequence number
	for n := 1; n <= Window+10; n++ {
		pkts[n] = seal(t, s, sample())
	}
	// Out of order within the window: accepted once.
	for _, n := range []int{10, 8, 9} {
		mustOpen(t, o, pkts[n])
	}
	if _, err := o.Open(pkts[8]); reason(t, err) != DropReplay {
		t.Fatal("second copy of 8 accepted")
	}
	// Jump ahead: 7 is Window-1 behind the top, still accepted; 6 is Window
	// behind, too old.
	top := 6 + Window
	mustOpen(t, o, pkts[top])
	mustOpen(t, o, pkts[7])
	if _, err := o.Open(pkts[6]); reason(t, err) != DropReplay {
		t.Fatal("packet Window behind accepted")
	}
	// Everything in between still opens once, in any order.
	for n := top - 1; n > 10; n-- {
		mustOpen(t, o, pkts[n])
	}
	for _, n := range []int{7, 9, 10, top - 1, top} {
		if _, err := o.Open(pkts[n]); reason(t, err) != DropReplay {
			t.Fatalf("second copy of %d accepted", n)
		}
	}
	// A restart (higher incarnation) resets the window: its sequence numbers
	// start again at 1, far below the old run's.
	s2, _ := NewSealer(key, "fs-pair", "a", 2000, rand.Reader)
	if p := mustOpen(t, o, seal(t, s2, sample())); p.Incarnation != 2000 || p.Seq != 1 {
		t.Fatalf("new incarnation: %+v", p)
	}
	// The old run's packets are now from a lower incarnation, even unseen ones.
	for _, n := range []int{top + 1, top + 2} {
		if _, err := o.Open(pkts[n]); reason(t, err) != DropOldIncarnation {
			t.Fatalf("lower incarnation accepted (sequence %d)", n)
		}
	}
	if o.Drops()[DropOldIncarnation] != 2 {
		t.Fatalf("drops %v", o.Drops())
	}
	// Peers have separate state: c's first packet is fine.
	sc, _ := NewSealer(key, "fs-pair", "c", 1, rand.Reader)
	mustOpen(t, o, seal(t, sc, sample()))
}

// The ring window agrees with a plain set of every sequence ever accepted,
// under random reordering, duplication and jumps.
func TestWindowAgainstModel(t *testing.T) {
	rng := mrand.New(mrand.NewPCG(1, 2))
	var r replay
	type model struct {
		inc, top uint64
		seen     map[uint64]bool
	}
	m := model{seen: map[uint64]bool{}}
	inc := uint64(0)
	for step := range 200000 {
		seq := m.top
		switch k := rng.IntN(100); {
		case k < 1:
			inc += uint64(rng.IntN(2)) // a restart, sometimes the same incarnation
			seq = uint64(rng.IntN(3))
		case k < 3:
			seq += uint64(rng.IntN(3 * Window))
		case k < 50:
			seq += uint64(rng.IntN(5))
		default:
			seq -= min(seq, uint64(rng.IntN(Window+70)))
		}
		try := inc
		if rng.IntN(200) == 0 && inc > 0 {
			try = inc - 1
		}
		var want DropReason
		ok := false
		switch {
		case try < m.inc:
			want = DropOldIncarnation
		case try > m.inc:
			ok = true
		case m.seen[seq] || (seq < m.top && m.top-seq >= Window):
			want = DropReplay
		default:
			ok = true
		}
		got, gotOK := r.check(try, seq)
		if gotOK != ok || (!ok && got != want) {
			t.Fatalf("step %d: (%d, %d) with model inc %d top %d: got %v %v, want %v %v", step, try, seq, m.inc, m.top, gotOK, got, ok, want)
		}
		if ok {
			r.accept(try, seq)
			if try > m.inc {
				m = model{inc: try, seen: map[uint64]bool{}}
			}
			m.seen[seq] = true
			m.top = max(m.top, seq)
		}
		if r.inc != m.inc || r.top != m.top {
			t.Fatalf("step %d: state %d/%d, model %d/%d", step, r.inc, r.top, m.inc, m.top)
		}
	}
}

func TestDropReasons(t *testing.T) {
	s, o := pair(t)
	sealer := func(k []byte, cluster, name string, inc uint64) *Sealer {
		s, err := NewSealer(k, cluster, name, inc, rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	// Establish state: incarnation 1000, sequence 1 seen.
	mustOpen(t, o, seal(t, s, sample()))
	good := seal(t, s, sample())

	v2 := bytes.Clone(good)
	v2[2] = Version + 1
	garbled, err := s.seal(nil, []byte{byte(TypeHeartbeat), 0, 1, 2})
	if err != nil {
		t.Fatal(err)
	}
	old := seal(t, sealer(key, "fs-pair", "a", 999), sample())
	replayed := seal(t, sealer(key, "fs-pair", "a", 1000), sample()) // sequence 1 again
	cases := []struct {
		name, sender, text string
		pkt                []byte
		want               DropReason
	}{
		{"garbage", "", "not a tandem packet", []byte("hello"), DropMalformed},
		{"version", "", fmt.Sprintf("version %d", Version+1), v2, DropVersion},
		{"other cluster", "a", "not ours", seal(t, sealer(key, "other-cluster", "a", 1000), sample()), DropCluster},
		{"unknown node", "mallory", "not a node", seal(t, sealer(key, "fs-pair", "mallory", 1000), sample()), DropUnknownNode},
		// A higher incarnation passes the window check, then fails the tag:
		// a forgery must not reset the window.
		{"wrong key", "a", "authentication failed", seal(t, sealer(bytes.Repeat([]byte{8}, KeySize), "fs-pair", "a", 1001), sample()), DropAuth},
		{"bad payload", "a", "payload", garbled, DropMalformed},
		{"replay", "a", "sequence 1", replayed, DropReplay},
		{"old incarnation", "a", "incarnation 999", old, DropOldIncarnation},
	}
	before := o.snapshot()
	for _, c := range cases {
		_, err := o.Open(c.pkt)
		var de *DropError
		if !errors.As(err, &de) {
			t.Fatalf("%s: %v", c.name, err)
		}
		if de.Reason != c.want || de.Sender != c.sender {
			t.Errorf("%s: dropped as %v from %q, want %v from %q", c.name, de.Reason, de.Sender, c.want, c.sender)
		}
		msg := err.Error()
		if !strings.Contains(msg, c.want.String()) || !strings.Contains(msg, c.text) || (c.sender != "" && !strings.Contains(msg, "from "+c.sender)) {
			t.Errorf("%s: message %q", c.name, msg)
		}
	}
	if d := cmp.Diff(before, o.snapshot(), cmp.AllowUnexported(replay{})); d != "" {
		t.Fatalf("drops changed the replay state:\n%s", d)
	}
	want := map[DropReason]uint64{DropMalformed: 2, DropVersion: 1, DropCluster: 1, DropUnknownNode: 1, DropAuth: 1, DropReplay: 1, DropOldIncarnation: 1}
	if d := cmp.Diff(want, o.Drops()); d != "" {
		t.Fatalf("drop counts (-want +got):\n%s", d)
	}
	// None of that touched the replay state: the good packet still opens.
	mustOpen(t, o, good)
	for r := range numReasons {
		if s := r.String(); s == "unknown" || strings.Contains(s, " ") {
			t.Errorf("reason %d is %q", r, s)
		}
	}
}

func TestDropErrorQuotesSender(t *testing.T) {
	e := &DropError{Reason: DropUnknownNode, Sender: "evil\x1b[2J", Detail: "x"}
	if strings.ContainsRune(e.Error(), 0x1b) {
		t.Fatalf("escape reached the message: %q", e.Error())
	}
	e = &DropError{Reason: DropAuth, Sender: "node-b", Detail: "x"}
	if !strings.HasPrefix(e.Error(), "packet from node-b dropped: bad-tag") {
		t.Fatalf("message %q", e.Error())
	}
}

// Flipping any byte of a sealed packet, or cutting it short, makes it fail,
// and leaves the replay state as it was.
func TestTamperChangesNoState(t *testing.T) {
	s, o := pair(t)
	var pkts [][]byte
	for range 6 {
		pkts = append(pkts, seal(t, s, sample()))
	}
	for _, i := range []int{0, 1, 3} {
		mustOpen(t, o, pkts[i])
	}
	before := o.snapshot()
	// Header fields are checked before the tag, so a flipped incarnation or
	// sequence may be dropped as old or replayed instead.
	allowed := map[DropReason]bool{DropMalformed: true, DropVersion: true, DropCluster: true, DropUnknownNode: true, DropAuth: true, DropReplay: true, DropOldIncarnation: true}
	tries := 0
	for _, pkt := range [][]byte{pkts[2], pkts[5]} { // in the window, and ahead of it
		for i := range pkt {
			for _, mask := range []byte{0x01, 0x40, 0xff} {
				bad := bytes.Clone(pkt)
				bad[i] ^= mask
				_, err := o.Open(bad)
				if err == nil {
					t.Fatalf("byte %d ^ %#x: accepted", i, mask)
				}
				if r := reason(t, err); !allowed[r] {
					t.Fatalf("byte %d ^ %#x: dropped as %v", i, mask, r)
				}
				tries++
			}
		}
		for n := range len(pkt) {
			if _, err := o.Open(pkt[:n]); err == nil {
				t.Fatalf("cut to %d bytes: accepted", n)
			}
			tries++
		}
		if _, err := o.Open(append(bytes.Clone(pkt), 0)); err == nil {
			t.Fatal("extra byte: accepted")
		}
		tries++
	}
	if d := cmp.Diff(before, o.snapshot(), cmp.AllowUnexported(replay{})); d != "" {
		t.Fatalf("tampered packets changed the replay state:\n%s", d)
	}
	var total uint64
	for _, c := range o.Drops() {
		total += c
	}
	if total != uint64(tries) {
		t.Fatalf("%d drops counted for %d tampered packets", total, tries)
	}
	for _, i := range []int{2, 5, 4} {
		mustOpen(t, o, pkts[i])
	}
}

func FuzzDecode(f *testing.F) {
	f.Add(Encode(nil, sample()))
	f.Add(Encode(nil, &Message{Type: TypeBye}))
	f.Add(Encode(nil, &Message{Type: TypeHeartbeat, Log: []Entry{{Key: "k", Value: "v", Node: "n"}}}))
	f.Add([]byte{1, 0})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := Decode(b)
		if err != nil {
			return
		}
		if err := Check(&m); err != nil {
			t.Fatalf("decoded a message Check refuses: %v", err)
		}
		enc := Encode(nil, &m)
		if !bytes.Equal(enc, b) {
			t.Fatalf("re-encoding differs:\n%x\n%x", b, enc)
		}
		again, err := Decode(enc)
		if err != nil {
			t.Fatalf("re-decode: %v", err)
		}
		if d := cmp.Diff(m, again); d != "" {
			t.Fatalf("round trip (-first +second):\n%s", d)
		}
	})
}

// FuzzOpen feeds packets to an opener that has already accepted some: none
// may panic, and one that fails must leave every peer's state as it was.
func FuzzOpen(f *testing.F) {
	s, _ := pair(f)
	var pkts [][]byte
	for range 8 {
		pkts = append(pkts, seal(f, s, sample()))
	}
	for _, p := range pkts {
		f.Add(p)
	}
	s2, _ := NewSealer(key, "fs-pair", "a", 999, rand.Reader)
	f.Add(seal(f, s2, sample()))
	garbled, _ := s.seal(nil, []byte{1, 2, 3})
	f.Add(garbled)
	f.Add([]byte("TD\x01\x00"))
	f.Fuzz(func(t *testing.T, pkt []byte) {
		o, err := NewOpener(key, "fs-pair", []string{"a", "c"})
		if err != nil {
			t.Fatal(err)
		}
		for _, i := range []int{1, 3, 6} {
			mustOpen(t, o, pkts[i])
		}
		before := o.snapshot()
		p, err := o.Open(pkt)
		after := o.snapshot()
		if err != nil {
			if !maps.Equal(before, after) {
				t.Fatalf("a packet that failed to open (%v) changed the replay state", err)
			}
			return
		}
		// Accepted: only the sender's state moved, and it now refuses a copy.
		delete(before, p.Sender)
		delete(after, p.Sender)
		if !maps.Equal(before, after) {
			t.Fatal("a packet changed another peer's state")
		}
		if _, err := o.Open(pkt); err == nil {
			t.Fatal("the same packet opened twice")
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
		pkts = append(pkts, seal(b, s, m))
	}
	i := 0
	for b.Loop() {
		if i == len(pkts) {
			b.StopTimer()
			s, o = pair(b)
			pkts = pkts[:0]
			for range cap(pkts) {
				pkts = append(pkts, seal(b, s, m))
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
