// Package esl is a client for FreeSWITCH's event socket (mod_event_socket,
// inbound mode): connect, authenticate, run api commands. No Go library
// for it is served, and tandem needs only this much.
//
// The protocol, as documented for mod_event_socket: every message is
// header lines "Name: Value\n" ending with an empty line; a Content-Length
// header announces that many bytes of body after it. On connect the server
// sends Content-Type: auth/request; the client answers "auth PASSWORD\n\n"
// and gets Content-Type: command/reply with Reply-Text: +OK accepted or
// -ERR invalid. "api CMD\n\n" is answered with Content-Type: api/response
// and the command's output as the body ("-ERR …" when it failed). A server
// that hangs up says Content-Type: text/disconnect-notice first; one whose
// ACL refuses the client says text/rude-rejection.
package esl

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"time"
)

// Limits on what one message may hold: a server's output is trusted no
// further than these (a `sofia status` of a busy box is well under 1 MiB).
const (
	MaxLine    = 8 << 10 // one header line
	MaxHeaders = 64
	MaxBody    = 4 << 20
	// maxSkip bounds the unrelated messages (events, logs) skipped while
	// waiting for a reply.
	maxSkip = 32
)

// Content types this client acts on.
const (
	TypeAuthRequest   = "auth/request"
	TypeCommandReply  = "command/reply"
	TypeAPIResponse   = "api/response"
	TypeDisconnect    = "text/disconnect-notice"
	TypeRudeRejection = "text/rude-rejection"
)

var (
	// ErrMalformed is wrapped by errors for bytes that are not an event-socket message.
	ErrMalformed = errors.New("malformed event-socket message")
	// ErrAuth: the server refused the password.
	ErrAuth = errors.New("event socket refused the password")
	// ErrDisconnected: the server hung up (a disconnect notice, or the
	// connection ended where a message was due).
	ErrDisconnected = errors.New("event socket disconnected")
)

// Header is one header line.
type Header struct{ Name, Value string }

// Message is one event-socket message.
type Message struct {
	Headers []Header // in the order received
	Body    []byte
}

// Get returns the first value of header name (case-insensitive), or "".
func (m *Message) Get(name string) string {
	for _, h := range m.Headers {
		if strings.EqualFold(h.Name, name) {
			return h.Value
		}
	}
	return ""
}

// ContentType is the Content-Type header.
func (m *Message) ContentType() string { return m.Get("Content-Type") }

// ReadMessage reads one message from r. Empty lines before the first
// header are skipped; a connection that ends inside a message gives an
// error wrapping io.ErrUnexpectedEOF, one that ends before it io.EOF.
func ReadMessage(r *bufio.Reader) (*Message, error) {
	m := &Message{}
	started := false
	for lines := 0; ; lines++ {
		if lines > MaxHeaders+8 {
			return nil, fmt.Errorf("%w: more than %d header lines", ErrMalformed, MaxHeaders)
		}
		line, err := readLine(r)
		if err != nil {
			if errors.Is(err, io.EOF) && started {
				err = io.ErrUnexpectedEOF
			}
			return nil, err
		}
		if line == "" {
			if !started {
				continue
			}
			break
		}
		name, value, ok := strings.Cut(line, ":")
		if !ok || name == "" || strings.ContainsAny(name, " \t") || strings.ContainsRune(line, '\r') {
			return nil, fmt.Errorf("%w: header line %q", ErrMalformed, clip(line))
		}
		if len(m.Headers) == MaxHeaders {
			return nil, fmt.Errorf("%w: more than %d headers", ErrMalformed, MaxHeaders)
		}
		started = true
		m.Headers = append(m.Headers, Header{Name: name, Value: strings.TrimLeft(value, " ")})
	}
	cl := m.Get("Content-Length")
	if cl == "" {
		return m, nil
	}
	n, err := strconv.Atoi(cl)
	if err != nil || n < 0 || strings.TrimLeft(cl, "0123456789") != "" {
		return nil, fmt.Errorf("%w: Content-Length %q", ErrMalformed, clip(cl))
	}
	if n > MaxBody {
		return nil, fmt.Errorf("%w: Content-Length %d is over the %d byte limit", ErrMalformed, n, MaxBody)
	}
	m.Body = make([]byte, n)
	if _, err := io.ReadFull(r, m.Body); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, fmt.Errorf("body of %d bytes: %w", n, err)
	}
	return m, nil
}

// readLine reads one line without its "\n" (or "\r\n"), at most MaxLine bytes.
func readLine(r *bufio.Reader) (string, error) {
	var buf []byte
	for {
		part, err := r.ReadSlice('\n')
		buf = append(buf, part...)
		if len(buf) > MaxLine {
			return "", fmt.Errorf("%w: a line longer than %d bytes", ErrMalformed, MaxLine)
		}
		switch {
		case err == nil:
			return string(bytes.TrimSuffix(bytes.TrimSuffix(buf, []byte("\n")), []byte("\r"))), nil
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case errors.Is(err, io.EOF) && len(buf) > 0:
			return "", io.ErrUnexpectedEOF
		default:
			return "", err
		}
	}
}

func clip(s string) string {
	if len(s) > 80 {
		return s[:80] + "…"
	}
	return s
}

// ReplyError is a command the server answered with -ERR.
type ReplyError struct {
	Command string // "auth", "api status", …
	Text    string // "-ERR invalid", "-ERR sofia Command not found!", …
}

func (e *ReplyError) Error() string { return fmt.Sprintf("%s: %s", e.Command, e.Text) }

// Conn is an authenticated event-socket connection. It is not safe for
// concurrent use: one command at a time.
type Conn struct {
	c net.Conn
	r *bufio.Reader
}

// Dial connects to addr (host:port) and authenticates with password; ctx
// bounds the whole exchange.
func Dial(ctx context.Context, addr, password string) (*Conn, error) {
	if strings.ContainsAny(password, "\r\n") {
		return nil, errors.New("esl: the password must be one line")
	}
	var d net.Dialer
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	c := &Conn{c: nc, r: bufio.NewReaderSize(nc, 4096)}
	if err := c.auth(ctx, password); err != nil {
		nc.Close()
		return nil, err
	}
	return c, nil
}

func (c *Conn) auth(ctx context.Context, password string) error {
	defer c.bound(ctx)()
	m, err := c.read()
	if err != nil {
		return fmt.Errorf("waiting for auth/request: %w", err)
	}
	switch m.ContentType() {
	case TypeAuthRequest:
	case TypeRudeRejection:
		return fmt.Errorf("the event socket's ACL refuses this client: %s", strings.TrimSpace(string(m.Body)))
	default:
		return fmt.Errorf("%w: expected auth/request, got %q", ErrMalformed, m.ContentType())
	}
	if _, err := io.WriteString(c.c, "auth "+password+"\n\n"); err != nil {
		return err
	}
	m, err = c.reply(TypeCommandReply)
	if err != nil {
		return fmt.Errorf("auth: %w", err)
	}
	if t := m.Get("Reply-Text"); !strings.HasPrefix(t, "+OK") {
		return fmt.Errorf("%w: %w", ErrAuth, &ReplyError{Command: "auth", Text: t})
	}
	return nil
}

// API runs `api cmd` and returns its output. Output starting with -ERR is
// returned too, with a *ReplyError.
func (c *Conn) API(ctx context.Context, cmd string) (string, error) {
	if cmd == "" || strings.ContainsAny(cmd, "\r\n") {
		return "", fmt.Errorf("esl: api %q: a command is one non-empty line", cmd)
	}
	defer c.bound(ctx)()
	if _, err := io.WriteString(c.c, "api "+cmd+"\n\n"); err != nil {
		return "", fmt.Errorf("api %s: %w", cmd, err)
	}
	m, err := c.reply(TypeAPIResponse)
	if err != nil {
		return "", fmt.Errorf("api %s: %w", cmd, err)
	}
	out := string(m.Body)
	if strings.HasPrefix(out, "-ERR") {
		return out, &ReplyError{Command: "api " + cmd, Text: strings.TrimSpace(out)}
	}
	return out, nil
}

// Close hangs up.
func (c *Conn) Close() error { return c.c.Close() }

// bound makes reads and writes end at ctx's deadline or cancellation; the
// returned function undoes it.
func (c *Conn) bound(ctx context.Context) func() {
	if d, ok := ctx.Deadline(); ok {
		_ = c.c.SetDeadline(d)
	}
	stop := context.AfterFunc(ctx, func() { _ = c.c.SetDeadline(time.Unix(1, 0)) })
	return func() {
		stop()
		_ = c.c.SetDeadline(time.Time{})
	}
}

func (c *Conn) read() (*Message, error) {
	m, err := ReadMessage(c.r)
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return nil, fmt.Errorf("%w: %w", ErrDisconnected, err)
	}
	return m, err
}

// reply reads until a message of type want, skipping events and logs; a
// disconnect notice ends the wait.
func (c *Conn) reply(want string) (*Message, error) {
	for range maxSkip {
		m, err := c.read()
		if err != nil {
			return nil, err
		}
		switch m.ContentType() {
		case want:
			return m, nil
		case TypeDisconnect:
			return nil, fmt.Errorf("%w: %s", ErrDisconnected, strings.TrimSpace(string(m.Body)))
		case TypeRudeRejection:
			return nil, fmt.Errorf("the event socket's ACL refuses this client: %s", strings.TrimSpace(string(m.Body)))
		}
	}
	return nil, fmt.Errorf("no %s among %d messages", want, maxSkip)
}
