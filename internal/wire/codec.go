package wire

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
)

// Payload layout (all integers big endian; str = u8 length + bytes):
//
//	u8  type          u8  flags        u64 config hash
//	u32 link seq      i64 sent at      i64 echo sent at    i64 echo held
//	u64 heard incarnation (the receiver's, as the sender last heard it)
//	u16 n, n × {str name, u8 state}                       resources
//	u16 n, n × {str name, u64 epoch}                      groups
//	u16 n, n × {str key, u16-length value, u64 epoch, str node}   state log
//	u16 n, n × {u16-length bytes}                         quorum messages (majority mode)
//
// Limits keep a hostile packet from making Decode allocate more than the
// packet's own size.
const (
	maxItems = 1024
	maxStr   = 255
	maxValue = 4096
	// MaxQuorum bounds one quorum message (raft's MaxSizePerMsg stays below it).
	MaxQuorum = 32 << 10
)

var errShort = errors.New("truncated")

// Check reports whether m can be encoded as is and decoded by a peer: a
// known type, at most 1024 resources, groups and log entries, names and keys
// of at most 255 bytes, values of at most 4096.
func Check(m *Message) error {
	if m.Type != TypeHeartbeat && m.Type != TypeBye {
		return fmt.Errorf("unknown message type %d", m.Type)
	}
	if n := max(len(m.Resources), len(m.Groups), len(m.Log)); n > maxItems {
		return fmt.Errorf("%d resources, %d groups, %d log entries: at most %d of each fit a message", len(m.Resources), len(m.Groups), len(m.Log), maxItems)
	}
	for _, r := range m.Resources {
		if len(r.Name) > maxStr {
			return fmt.Errorf("resource name %.40q... longer than %d bytes", r.Name, maxStr)
		}
	}
	for _, g := range m.Groups {
		if len(g.Name) > maxStr {
			return fmt.Errorf("group name %.40q... longer than %d bytes", g.Name, maxStr)
		}
	}
	for _, e := range m.Log {
		if len(e.Key) > maxStr || len(e.Node) > maxStr || len(e.Value) > maxValue {
			return fmt.Errorf("log entry %.40q: key and node at most %d bytes, value at most %d", e.Key, maxStr, maxValue)
		}
	}
	if len(m.Quorum) > maxItems {
		return fmt.Errorf("%d quorum messages: at most %d fit a message", len(m.Quorum), maxItems)
	}
	for _, q := range m.Quorum {
		if len(q) > MaxQuorum {
			return fmt.Errorf("quorum message of %d bytes: at most %d", len(q), MaxQuorum)
		}
	}
	return nil
}

// Encode appends m's payload encoding to dst. Whatever exceeds the limits
// Check describes is cut (so a lie never reaches the wire); Seal refuses such
// a message instead.
func Encode(dst []byte, m *Message) []byte {
	dst = append(dst, byte(m.Type), byte(m.Flags))
	dst = binary.BigEndian.AppendUint64(dst, m.ConfigHash)
	dst = binary.BigEndian.AppendUint32(dst, m.LinkSeq)
	dst = binary.BigEndian.AppendUint64(dst, uint64(m.SentAt))
	dst = binary.BigEndian.AppendUint64(dst, uint64(m.EchoSentAt))
	dst = binary.BigEndian.AppendUint64(dst, uint64(m.EchoHeld))
	dst = binary.BigEndian.AppendUint64(dst, m.HeardInc)
	dst = binary.BigEndian.AppendUint16(dst, uint16(min(len(m.Resources), maxItems)))
	for _, r := range m.Resources[:min(len(m.Resources), maxItems)] {
		dst = appendStr(dst, r.Name)
		dst = append(dst, byte(r.State))
	}
	dst = binary.BigEndian.AppendUint16(dst, uint16(min(len(m.Groups), maxItems)))
	for _, g := range m.Groups[:min(len(m.Groups), maxItems)] {
		dst = appendStr(dst, g.Name)
		dst = binary.BigEndian.AppendUint64(dst, g.Epoch)
	}
	dst = binary.BigEndian.AppendUint16(dst, uint16(min(len(m.Log), maxItems)))
	for _, e := range m.Log[:min(len(m.Log), maxItems)] {
		dst = appendStr(dst, e.Key)
		v := e.Value
		if len(v) > maxValue {
			v = v[:maxValue]
		}
		dst = binary.BigEndian.AppendUint16(dst, uint16(len(v)))
		dst = append(dst, v...)
		dst = binary.BigEndian.AppendUint64(dst, e.Epoch)
		dst = appendStr(dst, e.Node)
	}
	var qs [][]byte
	for _, q := range m.Quorum[:min(len(m.Quorum), maxItems)] {
		if len(q) <= MaxQuorum {
			qs = append(qs, q)
		}
	}
	dst = binary.BigEndian.AppendUint16(dst, uint16(len(qs)))
	for _, q := range qs {
		dst = binary.BigEndian.AppendUint16(dst, uint16(len(q)))
		dst = append(dst, q...)
	}
	return dst
}

// appendStr writes a u8-length string, cut at 255 bytes (names are
// validated far shorter by config).
func appendStr(dst []byte, s string) []byte {
	if len(s) > maxStr {
		s = s[:maxStr]
	}
	dst = append(dst, byte(len(s)))
	return append(dst, s...)
}

type reader struct {
	b   []byte
	err error
}

func (r *reader) take(n int) []byte {
	if r.err != nil {
		return nil
	}
	if n > len(r.b) {
		r.err = errShort
		return nil
	}
	v := r.b[:n]
	r.b = r.b[n:]
	return v
}

func (r *reader) u8() uint8 {
	if v := r.take(1); v != nil {
		return v[0]
	}
	return 0
}

func (r *reader) u16() uint16 {
	if v := r.take(2); v != nil {
		return binary.BigEndian.Uint16(v)
	}
	return 0
}

func (r *reader) u32() uint32 {
	if v := r.take(4); v != nil {
		return binary.BigEndian.Uint32(v)
	}
	return 0
}

func (r *reader) u64() uint64 {
	if v := r.take(8); v != nil {
		return binary.BigEndian.Uint64(v)
	}
	return 0
}

func (r *reader) str() string { return string(r.take(int(r.u8()))) }

// count reads a list length and checks that the rest can hold that many
// items of at least min bytes, so a lie cannot make us allocate.
func (r *reader) count(what string, min int) int {
	n := int(r.u16())
	if r.err == nil && (n > maxItems || n*min > len(r.b)) {
		r.err = fmt.Errorf("%s: %d items do not fit", what, n)
		return 0
	}
	return n
}

// Decode parses a payload. It never panics and rejects trailing bytes.
func Decode(b []byte) (Message, error) {
	r := &reader{b: b}
	var m Message
	m.Type = Type(r.u8())
	m.Flags = Flags(r.u8())
	m.ConfigHash = r.u64()
	m.LinkSeq = r.u32()
	m.SentAt = int64(r.u64())
	m.EchoSentAt = int64(r.u64())
	m.EchoHeld = int64(r.u64())
	m.HeardInc = r.u64()
	if r.err == nil && m.Type != TypeHeartbeat && m.Type != TypeBye {
		return Message{}, fmt.Errorf("unknown message type %d", m.Type)
	}
	if n := r.count("resources", 2); n > 0 {
		m.Resources = make([]Resource, 0, n)
		for range n {
			m.Resources = append(m.Resources, Resource{Name: r.str(), State: ResState(r.u8())})
		}
	}
	if n := r.count("groups", 9); n > 0 {
		m.Groups = make([]Group, 0, n)
		for range n {
			m.Groups = append(m.Groups, Group{Name: r.str(), Epoch: r.u64()})
		}
	}
	if n := r.count("log", 12); n > 0 {
		m.Log = make([]Entry, 0, n)
		for range n {
			e := Entry{Key: r.str()}
			vl := int(r.u16())
			if vl > maxValue && r.err == nil {
				r.err = fmt.Errorf("log value of %d bytes", vl)
			}
			e.Value = string(r.take(vl))
			e.Epoch = r.u64()
			e.Node = r.str()
			m.Log = append(m.Log, e)
		}
	}
	if n := r.count("quorum", 2); n > 0 {
		m.Quorum = make([][]byte, 0, n)
		for range n {
			l := int(r.u16())
			if l > MaxQuorum && r.err == nil {
				r.err = fmt.Errorf("quorum message of %d bytes", l)
			}
			m.Quorum = append(m.Quorum, slices.Clone(r.take(l)))
		}
	}
	if r.err != nil {
		return Message{}, fmt.Errorf("decode: %w", r.err)
	}
	if len(r.b) != 0 {
		return Message{}, fmt.Errorf("decode: %d trailing bytes", len(r.b))
	}
	return m, nil
}
