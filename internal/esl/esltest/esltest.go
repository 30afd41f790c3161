// Package esltest is a scripted fake of FreeSWITCH's event socket on
// loopback, for tests: FreeSWITCH is not packaged in Debian 12, so the
// esl client and the freeswitch agent are tested against this fake, which
// speaks the protocol as mod_event_socket documents it (auth/request,
// command/reply, api/response with Content-Length bodies, disconnect
// notices) and can misbehave on purpose: refuse the password, answer
// -ERR, hang up in the middle of a reply, dribble a body over many writes.
package esltest

import (
	"bufio"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

// Reply is how the fake answers one api command.
type Reply struct {
	Body string
	// Chunk > 0 writes the whole message in pieces of Chunk bytes, each
	// written apart after a short pause, so the client's reads split it.
	Chunk int
	// CutAfter > 0 hangs up after that many bytes of the message.
	CutAfter int
	// Delay holds the answer back (a hung FreeSWITCH).
	Delay time.Duration
}

// Handler answers api commands; cmd is the text after "api ".
type Handler func(cmd string) Reply

// Server is the fake event socket.
type Server struct {
	Password string

	mu       sync.Mutex
	ln       net.Listener
	addr     string
	handler  Handler
	commands []string
	conns    map[net.Conn]bool
	wg       sync.WaitGroup
}

// New starts a fake on 127.0.0.1 (a free port) answering with h; it is
// closed when the test ends.
func New(t testing.TB, password string, h Handler) *Server {
	t.Helper()
	s := &Server{Password: password, handler: h, conns: map[net.Conn]bool{}}
	if err := s.listen("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

// Addr is host:port to dial.
func (s *Server) Addr() string { s.mu.Lock(); defer s.mu.Unlock(); return s.addr }

// Commands are the api commands received so far, in order.
func (s *Server) Commands() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.commands...)
}

// SetHandler replaces the handler.
func (s *Server) SetHandler(h Handler) { s.mu.Lock(); s.handler = h; s.mu.Unlock() }

// Down stops listening and drops every connection, as a FreeSWITCH that
// exits: a dial is then refused.
func (s *Server) Down() {
	s.mu.Lock()
	ln := s.ln
	s.ln = nil
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	if ln != nil {
		ln.Close()
	}
	s.wg.Wait()
}

// Up listens again on the same address.
func (s *Server) Up() error { return s.listen(s.Addr()) }

// Close stops the fake (Down); the test's cleanup calls it.
func (s *Server) Close() { s.Down() }

func (s *Server) listen(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("esltest: listen %s: %w", addr, err)
	}
	s.mu.Lock()
	s.ln, s.addr = ln, ln.Addr().String()
	s.mu.Unlock()
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.mu.Lock()
			if s.ln != ln {
				s.mu.Unlock()
				c.Close()
				return
			}
			s.conns[c] = true
			s.wg.Add(1)
			s.mu.Unlock()
			go func() {
				defer s.wg.Done()
				s.serve(c)
				s.mu.Lock()
				delete(s.conns, c)
				s.mu.Unlock()
				c.Close()
			}()
		}
	}()
	return nil
}

// message renders one message with a body (Content-Length when non-empty).
func message(ctype, extra, body string) string {
	var b strings.Builder
	b.WriteString("Content-Type: " + ctype + "\n")
	b.WriteString(extra)
	if body != "" {
		fmt.Fprintf(&b, "Content-Length: %d\n", len(body))
	}
	b.WriteString("\n")
	b.WriteString(body)
	return b.String()
}

func (s *Server) serve(c net.Conn) {
	// Every exchange is bounded: a test that forgets the client cannot hang here.
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	r := bufio.NewReader(c)
	if _, err := c.Write([]byte(message("auth/request", "", ""))); err != nil {
		return
	}
	authed := false
	for range 1000 {
		cmd, err := readCommand(r)
		if err != nil {
			return
		}
		switch {
		case strings.HasPrefix(cmd, "auth "):
			if strings.TrimPrefix(cmd, "auth ") != s.Password {
				// As mod_event_socket does: -ERR, then a disconnect notice.
				_, _ = c.Write([]byte(message("command/reply", "Reply-Text: -ERR invalid\n", "")))
				_, _ = c.Write([]byte(message("text/disconnect-notice", "", "Disconnected, goodbye.\nSee you at ClueCon! http://www.cluecon.com/\n")))
				return
			}
			authed = true
			_, _ = c.Write([]byte(message("command/reply", "Reply-Text: +OK accepted\n", "")))
		case !authed:
			_, _ = c.Write([]byte(message("command/reply", "Reply-Text: -ERR command not found\n", "")))
		case strings.HasPrefix(cmd, "api "):
			api := strings.TrimPrefix(cmd, "api ")
			s.mu.Lock()
			s.commands = append(s.commands, api)
			h := s.handler
			s.mu.Unlock()
			rep := h(api)
			if !s.answer(c, rep) {
				return
			}
		case cmd == "exit":
			_, _ = c.Write([]byte(message("command/reply", "Reply-Text: +OK bye\n", "")))
			return
		default:
			_, _ = c.Write([]byte(message("command/reply", "Reply-Text: -ERR command not found\n", "")))
		}
	}
}

// answer writes rep as an api/response; false: the connection is done.
func (s *Server) answer(c net.Conn, rep Reply) bool {
	if rep.Delay > 0 {
		time.Sleep(rep.Delay)
	}
	msg := []byte(message("api/response", "", rep.Body))
	if rep.CutAfter > 0 && rep.CutAfter < len(msg) {
		_, _ = c.Write(msg[:rep.CutAfter])
		return false
	}
	if rep.Chunk <= 0 {
		_, err := c.Write(msg)
		return err == nil
	}
	for len(msg) > 0 {
		n := min(rep.Chunk, len(msg))
		if _, err := c.Write(msg[:n]); err != nil {
			return false
		}
		msg = msg[n:]
		time.Sleep(2 * time.Millisecond) // each piece its own segment, its own read
	}
	return true
}

// readCommand reads one client command: lines up to an empty line.
func readCommand(r *bufio.Reader) (string, error) {
	var lines []string
	for range 64 {
		l, err := r.ReadString('\n')
		if err != nil {
			return "", err
		}
		l = strings.TrimRight(l, "\r\n")
		if l == "" {
			if len(lines) == 0 {
				continue
			}
			return strings.Join(lines, "\n"), nil
		}
		lines = append(lines, l)
	}
	return "", fmt.Errorf("esltest: command too long")
}
