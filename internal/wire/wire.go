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
// before or older than the 64-packet window) and lower incarnations. A
// packet that fails any check changes no replay state.
package wire

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"golang.org/x/crypto/chacha20poly1305"
)

// Version is the wire version this code speaks.
const Version = 1

const (
	headerFixed = 29 // up to and including the name length
	nonceSize   = chacha20poly1305.NonceSizeX
	tagSize     = chacha20poly1305.Overhead
	maxName     = 63
	// KeySize is the cluster key's length.
	KeySize = chacha20poly1305.KeySize
	// MaxPacket bounds what Open accepts.
	MaxPacket = 64 << 10
	window    = 64
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
	if len(sender) == 0 || len(sender) > maxName {
		return nil, fmt.Errorf("wire: node name %q must be 1..%d bytes", sender, maxName)
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

// Seal appends a sealed packet carrying m to dst.
func (s *Sealer) Seal(dst []byte, m *Message) ([]byte, error) {
	s.seq++
	start := len(dst)
	dst = append(dst, s.header...)
	binary.BigEndian.PutUint64(dst[start+20:start+28], s.seq)
	nonceAt := len(dst)
	dst = append(dst, make([]byte, nonceSize)...)
	if _, err := io.ReadFull(s.rand, dst[nonceAt:]); err != nil {
		return nil, fmt.Errorf("wire: nonce: %w", err)
	}
	s.scratch = Encode(s.scratch[:0], m)
	ad := dst[start:nonceAt]
	nonce := dst[nonceAt : nonceAt+nonceSize]
	return s.aead.Seal(dst, nonce, s.scratch, ad), nil
}

// Packet is an opened packet.
type Packet struct {
	Sender      string
	Incarnation uint64
	Seq         uint64
	Msg         Message
}

type replay struct {
	inc    uint64
	top    uint64 // highest sequence accepted in inc
	bitmap uint64 // bit i: top-i accepted
}

// check reports whether (inc, seq) may be accepted, without changing state.
func (r replay) check(inc, seq uint64) (DropReason, bool) {
	switch {
	case inc < r.inc:
		return DropOldIncarnation, false
	case inc > r.inc || seq > r.top:
		return 0, true
	case r.top-seq >= window:
		return DropReplay, false
	case r.bitmap&(1<<(r.top-seq)) != 0:
		return DropReplay, false
	}
	return 0, true
}

// accept records (inc, seq); call only after check and authentication passed.
func (r *replay) accept(inc, seq uint64) {
	if inc > r.inc {
		*r = replay{inc: inc, top: seq, bitmap: 1}
		return
	}
	if seq > r.top {
		shift := seq - r.top
		if shift >= window {
			r.bitmap = 1
		} else {
			r.bitmap = r.bitmap<<shift | 1
		}
		r.top = seq
		return
	}
	r.bitmap |= 1 << (r.top - seq)
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
	if [8]byte(pkt[4:12]) != o.cluster {
		return Packet{}, drop(DropCluster, "", "cluster id %x is not ours (another cluster on this network?)", pkt[4:12])
	}
	n := int(pkt[28])
	if n == 0 || n > maxName || len(pkt) < headerFixed+n+nonceSize+tagSize {
		return Packet{}, drop(DropMalformed, "", "truncated header")
	}
	sender := string(pkt[29 : 29+n])
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
