// Package quorum is majority mode's sans-IO core: the election of the DC and
// the replicated cluster state on go.etcd.io/raft/v3, and the leases proven
// by a round trip that let a node keep what it runs (docs/design.md,
// "Mechanism").
//
// Determinism. raft draws each follower's randomized election timeout from
// crypto/rand, which would make a simulator seed unreplayable. So raft is
// ticked only while it leads (heartbeats, and CheckQuorum's step-down of a
// leader no quorum answers), and followers keep time here, deterministically:
// after ET without a message from its leader a member forgets the leader
// (until then raft's CheckQuorum makes it refuse votes, so a node merely cut
// off from the leader cannot depose it), and a voter campaigns (PreVote
// first) after ET plus a spread drawn from the term and its name.
//
// Leases. Every tick the leader opens a ReadIndex round tagged with its send
// time; once a quorum has answered it, its leader lease runs to that send
// time + L. Followers send LeaseReq{term, seq, sent}; a leader with a valid
// leader lease answers Grant{term, seq, sent, dur}, dur ≤ L and never past
// its own lease; the follower's lease runs to sent + dur on its own clock.
// Stale grants (older term or seq) are ignored. The leader remembers when it
// last granted each node, for R3.
//
// Messages are opaque bytes for the wire: one kind byte, then
//
//	kindRaft:  a marshalled raftpb.Message
//	kindReq:   term u64 | seq u64 | sent i64 | applied u64 [| flags u64]
//	kindGrant: term u64 | seq u64 | sent i64 | dur i64 | commit u64
//
// A grant carries the DC's commit index, and the follower may use it only
// once it has applied that far: a node that missed its own reassignment
// cannot run the group on a lease granted after it. Requests carry the
// follower's applied index, so the DC knows who has seen what, and a flag
// when the follower does not vote (its raft state was lost), so the DC
// never hands it leadership.
//
// Lost state. A voter that lost its raft state may have voted in a term it
// no longer remembers, and voting again could elect two leaders in one term.
// It starts not voting: it follows the log and may hold a lease, but it
// drops vote requests and never campaigns, until the operator runs
// `tandem node rejoin`; from then on it votes only in terms above the
// highest it had seen, which every term it could have voted in before the
// loss is below unless a candidate of that time is still campaigning.
package quorum

import (
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"slices"
	"time"

	"go.etcd.io/raft/v3"
	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// Config configures one member's quorum core.
type Config struct {
	Self     string
	Voters   []string // voting nodes and witnesses
	Learners []string // nodes with voter: false: they follow the state, never vote
	// Tick is raft's tick and the lease round: the keepalive.
	Tick time.Duration
	// ElectionTimeout is ET: a voter that hears no leader this long campaigns.
	ElectionTimeout time.Duration
	// Lease is L.
	Lease time.Duration
	// State is what was persisted before a restart (zero: a fresh member).
	State Persisted
	// StateLost says State is empty because the member's raft state was
	// lost (missing after earlier runs, or corrupt): it starts not voting.
	StateLost bool
	// ReceiptLease breaks the lease on purpose — it runs from when the grant
	// arrived, not from when it was asked for — for the simulator's negative
	// control only.
	ReceiptLease bool
}

// Persisted is raft's durable state: written and fsync'd before any
// message of the same Ready is sent.
type Persisted struct {
	Term, Vote, Commit uint64
	Entries            []Entry
	// NoVote is set while this member's raft state counts as lost: it
	// votes again only after a rejoin. VoteAbove is the highest term it had
	// seen when it rejoined: it never votes in that term or below.
	NoVote    bool   `json:",omitempty"`
	VoteAbove uint64 `json:",omitempty"`
}

// Entry is one raft log entry. Empty Data is raft's own no-op.
type Entry struct {
	Index, Term uint64
	Data        []byte
}

// Message is one message for a peer.
type Message struct {
	To   string
	Data []byte
}

// Ready is what to do now, in order: persist (and fsync) Persist if set,
// then send Messages, then apply Committed.
type Ready struct {
	Persist   *Persisted // the full durable state, when it changed
	Messages  []Message
	Committed []Entry  // newly committed entries, in log order (raft's no-ops left out)
	Logs      []string // raft's warnings and our transitions
}

const (
	kindRaft byte = iota + 1
	kindReq
	kindGrant
)

// ErrNotLeader is returned by Propose on a member that is not the DC.
var ErrNotLeader = errors.New("quorum: not the leader")

// Quorum is one member's majority-mode core. Not safe for concurrent use.
type Quorum struct {
	cfg     Config
	ids     map[string]uint64
	names   map[uint64]string
	self    uint64
	voter   bool
	rn      *raft.RawNode
	store   *raft.MemoryStorage
	persist Persisted
	rd      Ready
	log     *logger

	now       time.Duration
	lastTick  time.Duration
	nextRound time.Duration // next lease round (leader) or lease request (follower)
	contact   time.Duration // last message from our leader, or when we last campaigned
	lead      uint64
	term      uint64
	electedAt time.Duration // when we last became leader
	handedOn  time.Duration // when we last handed leadership on for a member that lost its state

	leaderLease time.Duration // leader: end of the leader lease (our clock)
	lease       time.Duration // follower: end of the lease the leader granted
	reqSeq      uint64
	grantSeq    uint64                   // highest grant seq taken
	pending     []grant                  // follower: grants waiting until we have applied their commit index
	applied     uint64                   // highest log index handed to the application
	granted     map[string]time.Duration // leader: when we last granted each member
	reported    map[string]uint64        // leader: applied index each member last reported
	notVoting   map[string]bool          // leader: members whose lease requests say they do not vote
}

// ID is a member's raft ID: a hash of its name, so IDs survive reordering
// the config. Never 0.
func ID(name string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(name))
	return h.Sum64() | 1
}

// New returns the core of cfg.Self, restored from cfg.State. Entries up to
// State.Commit count as applied: the caller rebuilds its state machine from
// them (Committed reports only what commits from now on).
func New(cfg Config, now time.Duration) (*Quorum, error) {
	if cfg.Tick <= 0 || cfg.ElectionTimeout < 2*cfg.Tick || cfg.Lease <= 0 {
		return nil, fmt.Errorf("quorum: tick %v, election timeout %v, lease %v: need tick > 0, ET ≥ 2 ticks, lease > 0", cfg.Tick, cfg.ElectionTimeout, cfg.Lease)
	}
	q := &Quorum{cfg: cfg, ids: map[string]uint64{}, names: map[uint64]string{}, self: ID(cfg.Self),
		store: raft.NewMemoryStorage(), log: &logger{}, now: now, lastTick: now, contact: now,
		granted: map[string]time.Duration{}, reported: map[string]uint64{}, notVoting: map[string]bool{}, applied: cfg.State.Commit}
	cs := &pb.ConfState{}
	for _, n := range cfg.Voters {
		cs.Voters = append(cs.Voters, ID(n))
	}
	for _, n := range cfg.Learners {
		cs.Learners = append(cs.Learners, ID(n))
	}
	for _, n := range slices.Concat(cfg.Voters, cfg.Learners) {
		id := ID(n)
		if other, dup := q.names[id]; dup {
			return nil, fmt.Errorf("quorum: members %q and %q hash to the same raft ID: rename one", other, n)
		}
		q.ids[n], q.names[id] = id, n
	}
	if _, ok := q.names[q.self]; !ok {
		return nil, fmt.Errorf("quorum: %q is neither a voter nor a learner", cfg.Self)
	}
	q.voter = slices.Contains(cfg.Voters, cfg.Self)
	// Every member starts from the same snapshot of the static membership.
	if err := q.store.ApplySnapshot(&pb.Snapshot{Metadata: &pb.SnapshotMetadata{ConfState: cs, Index: proto.Uint64(1), Term: proto.Uint64(1)}}); err != nil {
		return nil, fmt.Errorf("quorum: initial snapshot: %w", err)
	}
	st := cfg.State
	if len(st.Entries) > 0 {
		var es []*pb.Entry
		for _, e := range st.Entries {
			es = append(es, &pb.Entry{Index: proto.Uint64(e.Index), Term: proto.Uint64(e.Term), Type: pb.EntryType_EntryNormal.Enum(), Data: e.Data})
		}
		if err := q.store.Append(es); err != nil {
			return nil, fmt.Errorf("quorum: restore log: %w", err)
		}
	}
	if st.Term > 0 {
		if err := q.store.SetHardState(&pb.HardState{Term: proto.Uint64(st.Term), Vote: proto.Uint64(st.Vote), Commit: proto.Uint64(st.Commit)}); err != nil {
			return nil, fmt.Errorf("quorum: restore state: %w", err)
		}
	}
	q.persist = Persisted{Term: st.Term, Vote: st.Vote, Commit: st.Commit, Entries: slices.Clone(st.Entries), NoVote: st.NoVote || cfg.StateLost, VoteAbove: st.VoteAbove}
	rn, err := raft.NewRawNode(&raft.Config{
		ID: q.self, ElectionTick: int(cfg.ElectionTimeout / cfg.Tick), HeartbeatTick: 1,
		Storage: q.store, Applied: st.Commit, MaxSizePerMsg: 16 << 10, MaxInflightMsgs: 64,
		PreVote: true, CheckQuorum: true, // followers are never ticked: see the package comment
		ReadOnlyOption: raft.ReadOnlySafe, Logger: q.log,
	})
	if err != nil {
		return nil, fmt.Errorf("quorum: %w", err)
	}
	q.rn = rn
	q.term = st.Term
	if cfg.StateLost && q.voter {
		q.logf("raft state lost: not voting until `tandem node rejoin %s`", cfg.Self)
		p := q.persist
		q.rd.Persist = &p // the flag must outlive the next restart
	}
	q.collect()
	return q, nil
}

// Tick lets time pass.
func (q *Quorum) Tick(now time.Duration) {
	q.advanceTo(now)
	et := q.cfg.ElectionTimeout
	if q.isLeader() {
		for q.now-q.lastTick >= q.cfg.Tick {
			q.lastTick += q.cfg.Tick
			q.rn.Tick()
		}
		if q.now >= q.nextRound {
			// A lease round per tick: its send time is its tag.
			q.nextRound = q.now + q.cfg.Tick
			var ctx [8]byte
			binary.BigEndian.PutUint64(ctx[:], uint64(q.now))
			q.rn.ReadIndex(ctx[:])
		}
	} else {
		q.lastTick = q.now
		if q.lead != 0 && q.now-q.contact >= et {
			q.logf("no word from leader %s in %v: forgetting it", q.names[q.lead], et)
			_ = q.rn.ForgetLeader()
		}
		if q.voter && q.mayVote(q.term+1) && q.now-q.contact >= et+q.spread() {
			q.contact = q.now
			q.logf("no leader heard from in %v: campaigning", et)
			_ = q.rn.Campaign()
		}
		if q.lead != 0 && q.lead != q.self && q.now >= q.nextRound {
			q.nextRound = q.now + q.cfg.Tick
			q.reqSeq++
			var flags uint64
			if q.voter && !q.mayVote(q.term+1) {
				flags |= reqNotVoting
			}
			q.send(q.lead, encode(kindReq, q.term, q.reqSeq, uint64(q.now), q.applied, flags))
		}
	}
	q.collect()
}

// spread staggers voters' campaigns: ET × rank/voters, the rank drawn from
// the term and the name, so the same voter is not always first.
func (q *Quorum) spread() time.Duration {
	key := func(n string) uint64 {
		h := fnv.New64a()
		var t [8]byte
		binary.BigEndian.PutUint64(t[:], q.term)
		h.Write(t[:])
		h.Write([]byte(n))
		return h.Sum64()
	}
	vs := slices.Clone(q.cfg.Voters)
	slices.SortFunc(vs, func(a, b string) int { return cmp.Compare(key(a), key(b)) })
	return q.cfg.ElectionTimeout * time.Duration(slices.Index(vs, q.cfg.Self)) / time.Duration(len(vs))
}

// Step takes in a message from a peer.
func (q *Quorum) Step(now time.Duration, from string, data []byte) error {
	q.advanceTo(now)
	defer q.collect()
	id, ok := q.ids[from]
	if !ok {
		return fmt.Errorf("quorum: message from %q, not a member", from)
	}
	if len(data) == 0 {
		return fmt.Errorf("quorum: empty message from %s", from)
	}
	switch data[0] {
	case kindRaft:
		m := &pb.Message{}
		if err := proto.Unmarshal(data[1:], m); err != nil {
			return fmt.Errorf("quorum: raft message from %s: %w", from, err)
		}
		if m.GetFrom() != id || m.GetTo() != q.self {
			return fmt.Errorf("quorum: raft message from %s claims from %x to %x", from, m.GetFrom(), m.GetTo())
		}
		if last, _ := q.store.LastIndex(); m.GetType() == pb.MessageType_MsgHeartbeat && m.GetCommit() > last {
			// A leader that still counts entries this member lost with its
			// state: raft would panic on a commit index past our log.
			m.Commit = proto.Uint64(last)
		}
		switch t := m.GetType(); {
		case (t == pb.MessageType_MsgVote || t == pb.MessageType_MsgPreVote) && !q.mayVote(m.GetTerm()),
			t == pb.MessageType_MsgTimeoutNow && !q.mayVote(m.GetTerm()+1):
			return nil // not voting (state lost): no answer is the answer
		}
		if err := q.rn.Step(m); err != nil && !errors.Is(err, raft.ErrStepPeerNotFound) {
			return fmt.Errorf("quorum: step %v from %s: %w", m.GetType(), from, err)
		}
		if st := q.rn.BasicStatus(); st.Lead == id && st.GetTerm() == m.GetTerm() {
			q.contact = q.now
		}
	case kindReq:
		f, err := decode(data, 5)
		if err != nil {
			if f, err = decode(data, 4); err != nil { // from a member without flags
				return fmt.Errorf("quorum: lease request from %s: %w", from, err)
			}
			f = append(f, 0)
		}
		term, seq, sent, applied := f[0], f[1], f[2], f[3]
		q.reported[from] = max(q.reported[from], applied)
		q.notVoting[from] = f[4]&reqNotVoting != 0
		if q.notVoting[from] && q.isLeader() {
			q.lostEntries(from, applied)
		}
		if !q.isLeader() || term != q.term || q.leaderLease <= q.now {
			return nil // not ours to grant: no answer is the answer
		}
		dur := min(q.cfg.Lease, q.leaderLease-q.now)
		q.granted[from] = q.now
		q.send(id, encode(kindGrant, term, seq, sent, uint64(dur), q.rn.BasicStatus().GetCommit()))
	case kindGrant:
		f, err := decode(data, 5)
		if err != nil {
			return fmt.Errorf("quorum: grant from %s: %w", from, err)
		}
		term, seq, sent, dur, commit := f[0], f[1], time.Duration(f[2]), time.Duration(f[3]), f[4]
		if term != q.term || id != q.lead || seq <= q.grantSeq || dur < 0 || dur > q.cfg.Lease {
			return nil // stale or not from our leader
		}
		q.grantSeq = seq
		if len(q.pending) >= maxPending {
			q.pending = q.pending[1:]
		}
		end := sent + dur
		if q.cfg.ReceiptLease {
			end = q.now + dur
		}
		q.pending = append(q.pending, grant{end: end, commit: commit})
		q.foldGrants()
	default:
		return fmt.Errorf("quorum: message kind %d from %s", data[0], from)
	}
	return nil
}

// grant is a lease a follower holds once it has applied up to commit.
type grant struct {
	end    time.Duration
	commit uint64
}

// maxPending bounds the grants waiting for the log to catch up.
const maxPending = 64

// foldGrants takes in every pending grant whose commit index has been applied.
func (q *Quorum) foldGrants() {
	q.pending = slices.DeleteFunc(q.pending, func(g grant) bool {
		if g.commit <= q.applied {
			q.lease = max(q.lease, g.end)
			return true
		}
		return false
	})
}

// lostEntries handles a member whose state was lost while this leader still
// counts the entries it had acknowledged: raft never sends a follower what
// it thinks it has, so the member cannot catch up under this leader. A new
// leader starts every member's progress afresh: hand leadership to another
// voter that is reachable.
func (q *Quorum) lostEntries(from string, applied uint64) {
	st := q.rn.Status()
	pr, ok := st.Progress[q.ids[from]]
	if !ok || pr.Match <= applied || st.LeadTransferee != 0 || q.now-q.handedOn < q.cfg.ElectionTimeout {
		return
	}
	for _, v := range q.cfg.Voters {
		id := q.ids[v]
		if p, ok := st.Progress[id]; ok && id != q.self && v != from && !q.notVoting[v] && p.RecentActive {
			q.logf("%s lost its raft state (applied %d, acknowledged %d): handing leadership to %s so it can catch up", from, applied, pr.Match, v)
			q.handedOn = q.now
			q.rn.TransferLeader(id)
			return
		}
	}
}

// reqNotVoting flags a lease request from a voter whose state was lost.
const reqNotVoting = 1

// mayVote reports whether this member may vote (or campaign) in term.
func (q *Quorum) mayVote(term uint64) bool {
	return !q.persist.NoVote && term > q.persist.VoteAbove
}

// Voting reports whether a member votes: for this member, its own state;
// for another, whether the DC last heard it say it does not.
func (q *Quorum) Voting(name string) bool {
	if name == q.cfg.Self {
		return q.voter && !q.persist.NoVote
	}
	return slices.Contains(q.cfg.Voters, name) && !q.notVoting[name]
}

// Rejoin lets a member whose state was lost vote again, in terms above the
// highest it has seen. The operator vouches that it is the machine it was.
func (q *Quorum) Rejoin() error {
	if !q.voter {
		return fmt.Errorf("quorum: %s is not a voter (voter: false)", q.cfg.Self)
	}
	if !q.persist.NoVote {
		return fmt.Errorf("quorum: %s already votes", q.cfg.Self)
	}
	q.persist.NoVote, q.persist.VoteAbove = false, max(q.persist.VoteAbove, q.term)
	q.logf("rejoined: voting again in terms above %d", q.persist.VoteAbove)
	p := q.persist
	p.Entries = slices.Clone(p.Entries)
	q.rd.Persist = &p
	return nil
}

// Applied is the log index a member last reported having applied (the DC
// learns it from lease requests); for this member, its own.
func (q *Quorum) Applied(name string) uint64 {
	if name == q.cfg.Self {
		return q.applied
	}
	return q.reported[name]
}

// Propose appends data to the replicated log (the DC only).
func (q *Quorum) Propose(data []byte) error {
	if !q.isLeader() {
		return ErrNotLeader
	}
	defer q.collect()
	if err := q.rn.Propose(data); err != nil {
		return fmt.Errorf("quorum: propose: %w", err)
	}
	return nil
}

// TransferLeader hands the DC role to another voter.
func (q *Quorum) TransferLeader(to string) {
	if id, ok := q.ids[to]; ok && q.isLeader() {
		q.rn.TransferLeader(id)
		q.collect()
	}
}

// LoseLease drops this member's own lease at once: the agent calls it after
// a pause longer than δ (docs/design.md, "Clocks and pauses").
func (q *Quorum) LoseLease() { q.lease, q.leaderLease, q.pending = 0, 0, nil }

func (q *Quorum) advanceTo(now time.Duration) {
	if now > q.now {
		q.now = now
	}
}

func (q *Quorum) isLeader() bool { return q.rn.BasicStatus().RaftState == raft.StateLeader }

// Leader is the member this one follows ("" while there is none).
func (q *Quorum) Leader() string { return q.names[q.lead] }

// Term is the current raft term.
func (q *Quorum) Term() uint64 { return q.term }

// IsDC reports whether this member may assign now: it leads, has committed
// an entry of its term (raft answers lease rounds only then) and holds a
// leader lease.
func (q *Quorum) IsDC(now time.Duration) bool { return q.isLeader() && q.leaderLease > now }

// LeaseEnd is when this member's lease ends on its clock: the leader lease
// on the DC, the granted lease elsewhere (0: none). A member just elected
// keeps the lease its predecessor granted it until its own rounds answer:
// taking leadership must not cost it what it runs.
func (q *Quorum) LeaseEnd() time.Duration {
	if q.isLeader() {
		return max(q.leaderLease, q.lease)
	}
	return q.lease
}

// ElectedAt is when this member last became leader (R2 counts from it).
func (q *Quorum) ElectedAt() time.Duration { return q.electedAt }

// LastGrant is when this leader last granted name a lease, and whether it
// ever did in this term (R3 counts from it).
func (q *Quorum) LastGrant(name string) (time.Duration, bool) {
	t, ok := q.granted[name]
	return t, ok
}

// Ready returns what to do; call Advance once it is done.
func (q *Quorum) Ready() Ready { return q.rd }

// Advance clears the Ready returned last.
func (q *Quorum) Advance() { q.rd = Ready{} }

// collect drains raft's Ready into ours.
func (q *Quorum) collect() {
	for q.rn.HasReady() {
		rd := q.rn.Ready()
		if rd.SoftState != nil {
			if rd.RaftState == raft.StateLeader && q.lead != q.self {
				q.electedAt = q.now
				q.granted = map[string]time.Duration{}
				q.logf("elected DC in term %d", q.rn.BasicStatus().GetTerm())
			}
			if rd.Lead != q.lead {
				// A lease outlives the leader that granted it: its successor
				// waits R2 before reassigning anything. A leader stepping down
				// keeps its leader lease as a follower's for the same reason.
				if q.lead == q.self {
					q.lease, q.leaderLease = max(q.lease, q.leaderLease), 0
				}
				q.contact = q.now
			}
			q.lead = rd.Lead
		}
		changed := false
		if rd.HardState != nil && rd.HardState.GetTerm() != 0 {
			if err := q.store.SetHardState(rd.HardState); err != nil {
				q.logf("set hard state: %v", err)
			}
			q.persist.Term, q.persist.Vote, q.persist.Commit = rd.HardState.GetTerm(), rd.HardState.GetVote(), rd.HardState.GetCommit()
			q.term = q.persist.Term
			changed = true
		}
		if len(rd.Entries) > 0 {
			if err := q.store.Append(rd.Entries); err != nil {
				q.logf("append: %v", err)
			}
			first := rd.Entries[0].GetIndex()
			q.persist.Entries = slices.DeleteFunc(q.persist.Entries, func(e Entry) bool { return e.Index >= first })
			for _, e := range rd.Entries {
				q.persist.Entries = append(q.persist.Entries, Entry{Index: e.GetIndex(), Term: e.GetTerm(), Data: slices.Clone(e.Data)})
			}
			changed = true
		}
		if changed {
			p := q.persist
			p.Entries = slices.Clone(p.Entries)
			q.rd.Persist = &p
		}
		for _, m := range rd.Messages {
			b, err := proto.Marshal(m)
			if err != nil {
				q.logf("marshal %v: %v", m.GetType(), err)
				continue
			}
			q.send(m.GetTo(), append([]byte{kindRaft}, b...))
		}
		for _, e := range rd.CommittedEntries {
			q.applied = max(q.applied, e.GetIndex())
			if e.GetType() == pb.EntryType_EntryNormal && len(e.Data) > 0 {
				q.rd.Committed = append(q.rd.Committed, Entry{Index: e.GetIndex(), Term: e.GetTerm(), Data: slices.Clone(e.Data)})
			}
		}
		for _, rs := range rd.ReadStates {
			if len(rs.RequestCtx) == 8 && q.isLeader() {
				sent := time.Duration(binary.BigEndian.Uint64(rs.RequestCtx))
				q.leaderLease = max(q.leaderLease, sent+q.cfg.Lease)
			}
		}
		q.rn.Advance(rd)
	}
	q.foldGrants()
	q.rd.Logs = append(q.rd.Logs, q.log.take()...)
}

func (q *Quorum) send(to uint64, data []byte) {
	if name, ok := q.names[to]; ok && to != q.self {
		q.rd.Messages = append(q.rd.Messages, Message{To: name, Data: data})
	}
}

func (q *Quorum) logf(format string, a ...any) {
	q.rd.Logs = append(q.rd.Logs, fmt.Sprintf(format, a...))
}

func encode(kind byte, fields ...uint64) []byte {
	b := []byte{kind}
	for _, f := range fields {
		b = binary.BigEndian.AppendUint64(b, f)
	}
	return b
}

func decode(b []byte, fields int) ([]uint64, error) {
	if want := 1 + 8*fields; len(b) != want {
		return nil, fmt.Errorf("%d bytes, want %d", len(b), want)
	}
	out := make([]uint64, fields)
	for i := range out {
		out[i] = binary.BigEndian.Uint64(b[1+8*i:])
	}
	return out, nil
}

// logger keeps raft's warnings for the Ready instead of printing them: the
// core does no I/O. Debug and info lines are dropped.
type logger struct{ lines []string }

func (l *logger) take() []string { s := l.lines; l.lines = nil; return s }

func (l *logger) Debug(...any)          {}
func (l *logger) Debugf(string, ...any) {}
func (l *logger) Info(...any)           {}
func (l *logger) Infof(string, ...any)  {}
func (l *logger) Warning(v ...any)      { l.lines = append(l.lines, "raft: "+fmt.Sprint(v...)) }
func (l *logger) Warningf(f string, v ...any) {
	l.lines = append(l.lines, "raft: "+fmt.Sprintf(f, v...))
}
func (l *logger) Error(v ...any)            { l.lines = append(l.lines, "raft: "+fmt.Sprint(v...)) }
func (l *logger) Errorf(f string, v ...any) { l.lines = append(l.lines, "raft: "+fmt.Sprintf(f, v...)) }
func (l *logger) Fatal(v ...any)            { panic("raft: " + fmt.Sprint(v...)) }
func (l *logger) Fatalf(f string, v ...any) { panic("raft: " + fmt.Sprintf(f, v...)) }
func (l *logger) Panic(v ...any)            { panic("raft: " + fmt.Sprint(v...)) }
func (l *logger) Panicf(f string, v ...any) { panic("raft: " + fmt.Sprintf(f, v...)) }
