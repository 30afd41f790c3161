package alert

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"tandem/internal/config"
	"tandem/internal/node"
)

// hook writes an executable /bin/sh script into dir.
func hook(t *testing.T, dir, name, body string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

// syncBuf is a log sink the workers may write to concurrently.
type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func logger() (*slog.Logger, *syncBuf) {
	b := &syncBuf{}
	return slog.New(slog.NewTextHandler(b, &slog.HandlerOptions{Level: slog.LevelDebug})), b
}

// eventually polls cond for up to 10s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for range 1000 {
		if cond() {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("timed out waiting: %s", what)
}

func exists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

func readEnv(t *testing.T, p string) map[string]string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]string{}
	for _, l := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(l, "="); ok {
			env[k] = v
		}
	}
	return env
}

func TestEnvironmentReachesHook(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("TANDEM_PEER", "inherited") // the event's value must win
	all := hook(t, dir, "all.sh", `env > "`+dir+`/env.$TANDEM_SEQUENCE"`)
	only := hook(t, dir, "only.sh", `touch "`+dir+`/only.$TANDEM_EVENT"`)
	log, _ := logger()
	d := New(Options{Cluster: "fs-pair", Node: "a", Log: log, Hooks: []config.Alert{
		{Name: "all", Path: all, Timeout: 10 * time.Second, Env: []string{"WEBHOOK_URL=http://x/y?a=b"}},
		{Name: "only", Path: only, Timeout: 10 * time.Second, Events: []string{"node_down"}},
	}})
	at := time.Date(2025, 3, 4, 5, 6, 7, 890123456, time.UTC)
	d.Notify(Event{At: at, Event: node.Event{Kind: node.GroupMoved, Group: "voice", Peer: "b", Link: -1, Took: 1234567 * time.Microsecond}})
	d.Notify(Event{At: at, Event: node.Event{Kind: node.LinkDown, Peer: "b", Link: 1, Detail: "silent for 1s"}})
	d.Notify(Event{At: at, Event: node.Event{Kind: node.NodeDown, Peer: "b", Link: -1, Detail: "dead: silent"}})
	d.Close(10 * time.Second)

	if s := d.Stats(); s != (Stats{Queued: 4, Delivered: 4}) {
		t.Fatalf("stats %+v", s)
	}
	e := readEnv(t, filepath.Join(dir, "env.1"))
	want := map[string]string{
		"TANDEM_ALERT": "all", "TANDEM_EVENT": "group_moved", "TANDEM_CLUSTER": "fs-pair", "TANDEM_NODE": "a",
		"TANDEM_PEER": "b", "TANDEM_GROUP": "voice", "TANDEM_RESOURCE": "", "TANDEM_LINK": "", "TANDEM_DETAIL": "",
		"TANDEM_TOOK_MS": "1234", "TANDEM_TIMESTAMP": "2025-03-04T05:06:07.890123456Z", "TANDEM_SEQUENCE": "1",
		"TANDEM_SUMMARY": "group voice moved from b to a in 1.235s", "WEBHOOK_URL": "http://x/y?a=b",
	}
	for k, v := range want {
		if got, ok := e[k]; !ok || got != v {
			t.Errorf("%s=%q (set %v), want %q", k, got, ok, v)
		}
	}
	if e["PATH"] == "" {
		t.Error("the agent's environment (PATH) was not passed on")
	}
	e = readEnv(t, filepath.Join(dir, "env.2"))
	if e["TANDEM_EVENT"] != "link_down" || e["TANDEM_LINK"] != "1" || e["TANDEM_DETAIL"] != "silent for 1s" || e["TANDEM_SEQUENCE"] != "2" {
		t.Errorf("link_down env: %v", e)
	}
	if !exists(filepath.Join(dir, "only.node_down")) || exists(filepath.Join(dir, "only.group_moved")) || exists(filepath.Join(dir, "only.link_down")) {
		t.Error("events: [node_down] hook ran on the wrong events")
	}
}

// procAlive reports whether pid is a live (not zombie) process: a killed
// child reparented to a PID 1 that never reaps stays a zombie.
func procAlive(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	return len(f) > 0 && f[0] != "Z"
}

func TestTimeoutKillsHookAndItsChildren(t *testing.T) {
	dir := t.TempDir()
	h := hook(t, dir, "slow.sh", `sleep 60 & echo $! > "`+dir+`/child"; echo started; wait`)
	log, logs := logger()
	d := New(Options{Log: log, Hooks: []config.Alert{{Name: "slow", Path: h, Timeout: 300 * time.Millisecond}}})
	d.Notify(Event{At: time.Now(), Event: node.Event{Kind: node.NodeUp, Peer: "b", Link: -1}})
	d.Close(20 * time.Second) // the timeout, not Close, ends it
	if s := d.Stats(); s != (Stats{Queued: 1, TimedOut: 1}) {
		t.Fatalf("stats %+v\n%s", s, logs)
	}
	b, err := os.ReadFile(filepath.Join(dir, "child"))
	if err != nil {
		t.Fatal(err)
	}
	child, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "the hook's child (sleep 60) to die", func() bool { return !procAlive(child) })
	if l := logs.String(); !strings.Contains(l, "alert hook timed out") || !strings.Contains(l, "output=started") {
		t.Errorf("log:\n%s", l)
	}
}

func TestFailureLogsExitAndOutput(t *testing.T) {
	dir := t.TempDir()
	h := hook(t, dir, "bad.sh", `echo "no route to webhook" >&2; exit 3`)
	log, logs := logger()
	d := New(Options{Log: log, Hooks: []config.Alert{
		{Name: "bad", Path: h, Timeout: 10 * time.Second},
		{Name: "gone", Path: filepath.Join(dir, "missing.sh"), Timeout: 10 * time.Second},
	}})
	d.Notify(Event{At: time.Now(), Event: node.Event{Kind: node.QuorumLost, Link: -1}})
	d.Close(10 * time.Second)
	if s := d.Stats(); s != (Stats{Queued: 2, Failed: 2}) {
		t.Fatalf("stats %+v", s)
	}
	l := logs.String()
	for _, w := range []string{`alert=bad`, `exit_code=3`, `output="no route to webhook"`, `alert hook could not be started`} {
		if !strings.Contains(l, w) {
			t.Errorf("log lacks %q:\n%s", w, l)
		}
	}
	if err := Check([]config.Alert{{Name: "gone", Path: filepath.Join(dir, "missing.sh")}}); err == nil || !strings.Contains(err.Error(), "alert gone") {
		t.Errorf("Check of a missing hook: %v", err)
	}
	os.Chmod(h, 0o644)
	if err := Check([]config.Alert{{Name: "bad", Path: h}}); err == nil || !strings.Contains(err.Error(), "not executable") {
		t.Errorf("Check of a non-executable hook: %v", err)
	}
}

// The agent's loop calls Notify for every event in the same turn as it
// sends heartbeats and dispatches starts. This is the argument that hooks
// never delay either: with every worker stuck in a hook that waits for a
// file only this test creates, and the queue full, 100 Notify calls all
// return — were one to block, nothing could ever unblock it and the test
// would fail. What did not fit is counted exactly: the queue plus the jobs
// in the workers' hands were accepted, the rest dropped.
func TestHundredSlowHooksNeverBlock(t *testing.T) {
	dir := t.TempDir()
	release := filepath.Join(dir, "release")
	h := hook(t, dir, "slow.sh", `touch "`+dir+`/started.$TANDEM_SEQUENCE"
while [ ! -e "`+release+`" ]; do sleep 0.02; done`)
	log, logs := logger()
	const queue, workers, total = 64, 2, 100
	d := New(Options{Log: log, QueueSize: queue, Workers: workers, Hooks: []config.Alert{{Name: "slow", Path: h, Timeout: time.Minute}}})
	defer d.Close(0)
	ev := Event{At: time.Now(), Event: node.Event{Kind: node.NodeDown, Peer: "b", Link: -1}}
	started := func() []int {
		m, _ := filepath.Glob(filepath.Join(dir, "started.*"))
		var seqs []int
		for _, p := range m {
			n, _ := strconv.Atoi(strings.TrimPrefix(filepath.Ext(p), "."))
			seqs = append(seqs, n)
		}
		slices.Sort(seqs)
		return seqs
	}
	for range workers {
		d.Notify(ev)
	}
	eventually(t, "every worker to be inside a hook", func() bool { return len(started()) == workers })

	done := make(chan struct{})
	go func() {
		defer close(done)
		for range total - workers {
			d.Notify(ev)
		}
	}()
	select {
	case <-done:
	case <-time.After(30 * time.Second): // only a block can take this long: no hook can finish yet
		t.Fatal("Notify blocked while every worker was busy and the queue full")
	}
	if s := d.Stats(); s != (Stats{Queued: queue + workers, Dropped: total - queue - workers}) {
		t.Fatalf("stats after %d events: %+v, want %d queued and %d dropped", total, s, queue+workers, total-queue-workers)
	}
	if got := started(); len(got) != workers {
		t.Fatalf("hooks started while the workers were stuck: %v", got)
	}
	if !strings.Contains(logs.String(), "alert queue full") || strings.Count(logs.String(), "alert queue full") != 1 {
		t.Errorf("want one (rate-limited) queue-full warning:\n%s", logs)
	}

	if err := os.WriteFile(release, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	d.Close(time.Minute)
	if s := d.Stats(); s != (Stats{Queued: queue + workers, Delivered: queue + workers, Dropped: total - queue - workers}) {
		t.Fatalf("stats after release: %+v", s)
	}
	// The first events got through, in order; the overflow was the latest.
	got := started()
	for i, seq := range got {
		if seq != i+1 {
			t.Fatalf("hooks ran for sequences %v, want 1..%d", got, queue+workers)
		}
	}
	if len(got) != queue+workers {
		t.Fatalf("%d hooks ran, want %d", len(got), queue+workers)
	}
}

// Shutdown waits for hooks only up to its grace, then kills them and drops
// what is still queued.
func TestCloseIsBounded(t *testing.T) {
	dir := t.TempDir()
	h := hook(t, dir, "stuck.sh", `echo $$ >> "`+dir+`/pids"; sleep 60`)
	log, logs := logger()
	d := New(Options{Log: log, Workers: 2, Hooks: []config.Alert{{Name: "stuck", Path: h, Timeout: time.Minute}}})
	for range 5 {
		d.Notify(Event{At: time.Now(), Event: node.Event{Kind: node.NodeUp, Peer: "b", Link: -1}})
	}
	eventually(t, "both workers to be inside a hook", func() bool {
		b, _ := os.ReadFile(filepath.Join(dir, "pids"))
		return len(strings.Fields(string(b))) == 2
	})
	d.Close(200 * time.Millisecond)
	if s := d.Stats(); s != (Stats{Queued: 5, Failed: 2, Dropped: 3}) {
		t.Fatalf("stats %+v\n%s", s, logs)
	}
	b, _ := os.ReadFile(filepath.Join(dir, "pids"))
	for _, f := range strings.Fields(string(b)) {
		pid, _ := strconv.Atoi(f)
		eventually(t, "the hook killed at shutdown to die", func() bool { return !procAlive(pid) })
	}
	// After Close, Notify is still safe and counts what it cannot run.
	d.Notify(Event{At: time.Now(), Event: node.Event{Kind: node.NodeUp, Peer: "b", Link: -1}})
	if s := d.Stats(); s.Dropped != 4 {
		t.Fatalf("after close: %+v", s)
	}
	if err := syscall.Kill(os.Getpid(), 0); err != nil { // the test process itself was not in a killed group
		t.Fatal(err)
	}
}

func TestNilAndEmptyDispatcher(t *testing.T) {
	var d *Dispatcher
	d.Notify(Event{})
	d.Close(time.Second)
	if d.Stats() != (Stats{}) {
		t.Fatal("nil dispatcher has stats")
	}
	d = New(Options{})
	d.Notify(Event{Event: node.Event{Kind: node.NodeUp}})
	d.Close(time.Second)
	if d.Stats() != (Stats{}) {
		t.Fatal("a dispatcher without hooks counted something")
	}
}
