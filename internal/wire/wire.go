// Package wire is tandem's packet format: framing, sealing under the cluster
// key, and replay protection. It is a pure codec with replay state: no
// sockets, no clocks; randomness comes in as an io.Reader.
//
// A packet:
//
//	offset  size  field
//	0       2     magic "TD" (0x54 0x44)
//	2       1     version (1)
//	3       1     reserved, 0
//	4       8     cluster id: first 8 bytes of SHA-256(cluster name)
//	12      8     incarnation, big endian: the sender's start time (ns), persisted
//	20      8     sequence, big endian: per sender and incarnation, from 1
//	28      1     n = length of the sender's node name (1..63)
//	29      n     sender's node name
//	29+n    24    nonce (random: XChaCha20's 192-bit nonces never collide in practice)
//	53+n    ...   XChaCha20-Poly1305(payload) + 16-byte tag
//
// Bytes 0..29+n are the AEAD's additional data, so the header is
// authenticated too. The payload is a Message (see Encode for its layout).
//
// Receivers drop, and count by reason: malformed packets, other versions,
// other clusters, unknown senders, bad tags, replays (a sequence number seen
// before, or more than Window behind the highest seen) and lower
// incarnations. A packet that fails any check changes no replay state: the
// window is checked first, the packet authenticated and decoded, and only
// then is the window updated.
//
// One Sealer numbers every packet a node sends, to all peers on all links, so
// a receiver sees gaps (packets for other peers) and reordering between links
// of different latency; the window is wide enough for both.
package wire

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strconv"

	"golang.org/x/crypto/chacha20poly1305"
)

// Version is the wire version this code speaks.
const Version = 3

const (
	headerFixed = 29 // up to and including the name length
	nonceSize   = chacha20poly1305.NonceSizeX
	tagSize     = chacha20poly1305.Overhead
	maxName     = 63
	// KeySize is the cluster key's length.
	KeySize = chacha20poly1305.KeySize
	// MaxPacket is the largest packet Seal makes and Open accepts: the
	// largest UDP payload over IPv4.
	MaxPacket = 65507
	// Window is how far behind the highest sequence seen from a sender a
	// packet may arrive and still be accepted (once).
	Window = (windowWords - 1) * 64
	// windowWords sizes the replay bitmap, a ring of 64-bit words as in
	// WireGuard: one word is always being recycled, hence the -1 above.
	windowWords = 16
)

var magic = [2]byte{'T', 'D'}

// ClusterID is the 8-byte id of a cluster name on the wire.
func ClusterID(name string) [8]byte {
	h := sha256.Sum256([]byte(name))
	var id [8]byte
	copy(id[:], h[:8])
	return id
}

// DropReason says why a packet was dropped.
type DropReason uint8

const (
	DropMalformed DropReason = iota
	DropVersion
	DropCluster
	DropUnknownNode
	DropAuth
	DropReplay
	DropOldIncarnation
	numReasons
)

func (r DropReason) String() string {
	switch r {
	case DropMalformed:
		return "malformed"
	case DropVersion:
		return "version"
	case DropCluster:
		return "other-cluster"
	case DropUnknownNode:
		return "unknown-node"
	case DropAuth:
		return "bad-tag"
	case DropReplay:
		return "replay"
	case DropOldIncarnation:
		return "old-incarnation"
	}
	return "unknown"
}

// DropError is why Open refused a packet.
type DropError struct {
	Reason DropReason
	Sender string // as claimed in the header, if it got that far
	Detail string
}

func (e *DropError) Error() string {
	who := e.Sender
	if who == "" {
		who = "unknown sender"
	} else if strconv.Quote(who) != `"`+who+`"` {
		who = strconv.Quote(who) // unauthenticated bytes: keep them off the terminal
	}
	return fmt.Sprintf("packet from %s dropped: %s: %s", who, e.Reason, e.Detail)
}

func drop(r DropReason, sender, format string, a ...any) *DropError {
	return &DropError{Reason: r, Sender: sender, Detail: fmt.Sprintf(format, a...)}
}

func newAEAD(key []byte) (aeadX, error) {
	if len(key) != KeySize {
		return nil, fmt.Errorf("wire: key is %d bytes, want %d", len(key), KeySize)
	}
	a, err := chacha20poly1305.NewX(key)
	if err != nil {
		return nil, fmt.Errorf("wire: %w", err)
	}
	return a, nil
}

type aeadX interface {
	Seal(dst, nonce, plaintext, additionalData []byte) []byte
	Open(dst, nonce, ciphertext, additionalData []byte) ([]byte, error)
}

// Sealer seals this node's outgoing packets. Not safe for concurrent use.
type Sealer struct {
	aead    aeadX
	header  []byte // fixed header with a zero sequence
	seq     uint64
	rand    io.Reader
	scratch []byte
}

// NewSealer returns a sealer for packets from sender in cluster, with this
// run's incarnation.
func NewSealer(key []byte, cluster, sender string, incarnation uint64, rand io.Reader) (*Sealer, error) {
	a, err := newAEAD(key)
	if err != nil {
		return nil, err
	}
	if err := checkName(sender); err != nil {
		return nil, err
	}
	if rand == nil {
		return nil, errors.New("wire: no source of randomness for nonces")
	}
	h := make([]byte, headerFixed+len(sender))
	copy(h, magic[:])
	h[2] = Version
	id := ClusterID(cluster)
	copy(h[4:12], id[:])
	binary.BigEndian.PutUint64(h[12:20], incarnation)
	h[28] = byte(len(sender))
	copy(h[29:], sender)
	return &Sealer{aead: a, header: h, rand: rand}, nil
}

func checkName(name string) error {
	if len(name) == 0 || len(name) > maxName {
		return fmt.Errorf("wire: node name %q must be 1..%d bytes", name, maxName)
	}
	return nil
}

// Seal appends a sealed packet carrying m to dst. It refuses a message the
// receiver would drop as malformed (see Check) rather than send it.
func (s *Sealer) Seal(dst []byte, m *Message) ([]byte, error) {
	if err := Check(m); err != nil {
		return dst, fmt.Errorf("wire: seal: %w", err)
	}
	s.scratch = Encode(s.scratch[:0], m)
	return s.seal(dst, s.scratch)
}

// seal frames and seals an encoded payload under the next sequence number.
func (s *Sealer) seal(dst, payload []byte) ([]byte, error) {
	if n := len(s.header) + nonceSize + len(payload) + tagSize; n > MaxPacket {
		return dst, fmt.Errorf("wire: seal: packet of %d bytes, more than %d", n, MaxPacket)
	}
	s.seq++
	start := len(dst)
	dst = append(dst, s.header...)
	binary.BigEndian.PutUint64(dst[start+20:start+28], s.seq)
	nonceAt := len(dst)
	dst = append(dst, make([]byte, nonceSize)...)
	if _, err := io.ReadFull(s.rand, dst[nonceAt:]); err != nil {
		return dst[:start], fmt.Errorf("wire: nonce: %w", err)
	}
	ad := dst[start:nonceAt]
	nonce := dst[nonceAt : nonceAt+nonceSize]
	return s.aead.Seal(dst, nonce, payload, ad), nil
}

// Packet is an opened packet.
type Packet struct {
	Sender      string
	Incarnation uint64
	Seq         uint64
	Msg         Message
}

// replay is one sender's replay state: its highest incarnation, and for
// that incarnation the highest sequence accepted and which of the Window
// sequences below it were accepted too.
type replay struct {
	inc  uint64
	top  uint64              // highest sequence accepted in inc
	bits [windowWords]uint64 // bit s%64 of word (s/64)%windowWords: s accepted
}

func (r *replay) has(seq uint64) bool {
	return r.bits[(seq/64)%windowWords]&(1<<(seq%64)) != 0
}

// check reports whether (inc, seq) may be accepted, without changing state.
func (r *replay) check(inc, seq uint64) (DropReason, bool) {
	switch {
	case inc < r.inc:
		return DropOldIncarnation, false
	case inc > r.inc || seq > r.top:
		return 0, true
	case r.top-seq >= Window || r.has(seq):
		return DropReplay, false
	}
	return 0, true
}

// accept records (inc, seq); call only after check and authentication passed.
func (r *replay) accept(inc, seq uint64) {
	if inc > r.inc {
		*r = replay{inc: inc}
	}
	if seq > r.top {
		// Clear the words the window slides past: at most all of them.
		from, to := r.top/64, seq/64
		for i := uint64(1); i <= min(to-from, windowWords); i++ {
			r.bits[(from+i)%windowWords] = 0
		}
		r.top = seq
	}
	r.bits[(seq/64)%windowWords] |= 1 << (seq % 64)
}

// Opener checks and opens packets from the cluster's other nodes. Not safe
// for concurrent use.
type Opener struct {
	aead    aeadX
	cluster [8]byte
	peers   map[string]*replay
	drops   [numReasons]uint64
	plain   []byte
}

// NewOpener returns an opener accepting packets from peers of cluster.
func NewOpener(key []byte, cluster string, peers []string) (*Opener, error) {
	a, err := newAEAD(key)
	if err != nil {
		return nil, err
	}
	o := &Opener{aead: a, cluster: ClusterID(cluster), peers: map[string]*replay{}}
	for _, p := range peers {
		if err := checkName(p); err != nil {
			return nil, err
		}
		o.peers[p] = &replay{}
	}
	return o, nil
}

// Drops returns the number of packets dropped so far, by reason.
func (o *Opener) Drops() map[DropReason]uint64 {
	out := map[DropReason]uint64{}
	for r, c := range o.drops {
		out[DropReason(r)] = c
	}
	return out
}

// Open checks pkt and returns what it carries, or a *DropError.
func (o *Opener) Open(pkt []byte) (Packet, error) {
	p, err := o.open(pkt)
	if err != nil {
		var de *DropError
		if errors.As(err, &de) {
			o.drops[de.Reason]++
		}
	}
	return p, err
}

func (o *Opener) open(pkt []byte) (Packet, error) {
	if len(pkt) > MaxPacket {
		return Packet{}, drop(DropMalformed, "", "%d bytes, more than %d", len(pkt), MaxPacket)
	}
	if len(pkt) < headerFixed || pkt[0] != magic[0] || pkt[1] != magic[1] {
		return Packet{}, drop(DropMalformed, "", "not a tandem packet")
	}
	if pkt[2] != Version {
		return Packet{}, drop(DropVersion, "", "version %d, this node speaks %d", pkt[2], Version)
	}
	n := int(pkt[28])
	if n == 0 || n > maxName || len(pkt) < headerFixed+n+nonceSize+tagSize {
		return Packet{}, drop(DropMalformed, "", "truncated header")
	}
	// Unauthenticated until the tag checks out: used to name the sender in
	// drop messages and to find its replay state, never trusted beyond that.
	sender := string(pkt[29 : 29+n])
	if [8]byte(pkt[4:12]) != o.cluster {
		return Packet{}, drop(DropCluster, sender, "cluster id %x is not ours (another cluster on this network?)", pkt[4:12])
	}
	rp, ok := o.peers[sender]
	if !ok {
		return Packet{}, drop(DropUnknownNode, sender, "not a node of this cluster")
	}
	inc := binary.BigEndian.Uint64(pkt[12:20])
	seq := binary.BigEndian.Uint64(pkt[20:28])
	if r, ok := rp.check(inc, seq); !ok {
		return Packet{}, drop(r, sender, "incarnation %d sequence %d (have incarnation %d up to %d)", inc, seq, rp.inc, rp.top)
	}
	adEnd := headerFixed + n
	nonce := pkt[adEnd : adEnd+nonceSize]
	plain, err := o.aead.Open(o.plain[:0], nonce, pkt[adEnd+nonceSize:], pkt[:adEnd])
	if err != nil {
		return Packet{}, drop(DropAuth, sender, "authentication failed (wrong key, or altered in transit)")
	}
	o.plain = plain
	m, err := Decode(plain)
	if err != nil {
		return Packet{}, drop(DropMalformed, sender, "payload: %v", err)
	}
	rp.accept(inc, seq)
	return Packet{Sender: sender, Incarnation: inc, Seq: seq, Msg: m}, nil
}
