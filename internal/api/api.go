// Package api is the agent's local control interface: HTTP+JSON on a unix
// socket that only root can reach (the directory is 0700, the socket 0600),
// and the Client the CLI uses to talk to it.
package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"tandem/internal/schedule"
	"tandem/internal/status"
)

// Backend is what the agent exposes through the socket.
type Backend interface {
	Status(ctx context.Context) (status.Status, error)
	// Unblock releases wait_for_all on a lone survivor.
	Unblock(ctx context.Context) error
	// Rejoin lets node, whose raft state was lost, vote again (majority
	// mode). Only node's own agent can: the flag is in its state.
	Rejoin(ctx context.Context, node string) error
	// Admin applies an operator instruction; a bad one is an error that
	// says what exists instead.
	Admin(ctx context.Context, req AdminRequest) error
	// Explain says where target (a group, clone or resource) is placed and
	// why, from the scheduler's current input.
	Explain(ctx context.Context, target string) (schedule.Explanation, error)
}

// AdminRequest is an operator instruction: tandem standby, online,
// maintenance, move, ban, clear, cleanup, enable, disable.
type AdminRequest struct {
	Op       string `json:"op"`                 // node.AdminOp
	Resource string `json:"resource,omitempty"` // group, resource or clone
	Node     string `json:"node,omitempty"`
	Lifetime string `json:"lifetime,omitempty"` // move only: a Go duration ("30m")
}

// MetricsSource is a Backend that also serves Prometheus metrics: Handler
// mounts it at GET /metrics (a nil handler: no /metrics).
type MetricsSource interface {
	MetricsHandler() http.Handler
}

// Listen creates the socket (replacing a stale one) with root-only permissions.
func Listen(path string) (net.Listener, error) {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("api socket dir: %w", err)
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return nil, fmt.Errorf("api socket dir: %w", err)
	}
	if c, err := net.DialTimeout("unix", path, 200*time.Millisecond); err == nil {
		c.Close()
		return nil, fmt.Errorf("api socket %s: another agent is listening on it", path)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("api socket: remove stale %s: %w", path, err)
	}
	l, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("api socket: %w", err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		l.Close()
		return nil, fmt.Errorf("api socket: %w", err)
	}
	return l, nil
}

// Handler serves the API for b.
func Handler(b Backend) http.Handler {
	mux := http.NewServeMux()
	if ms, ok := b.(MetricsSource); ok {
		if h := ms.MetricsHandler(); h != nil {
			mux.Handle("GET /metrics", h)
		}
	}
	mux.HandleFunc("GET /v1/status", func(w http.ResponseWriter, r *http.Request) {
		st, err := b.Status(r.Context())
		if err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		_ = enc.Encode(st)
	})
	mux.HandleFunc("POST /v1/quorum/unblock", func(w http.ResponseWriter, r *http.Request) {
		if err := b.Unblock(r.Context()); err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("POST /v1/admin", func(w http.ResponseWriter, r *http.Request) {
		var req AdminRequest
		if err := json.NewDecoder(io.LimitReader(r.Body, 64<<10)).Decode(&req); err != nil {
			http.Error(w, "admin request: "+err.Error(), http.StatusBadRequest)
			return
		}
		if err := b.Admin(r.Context(), req); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("GET /v1/explain", func(w http.ResponseWriter, r *http.Request) {
		e, err := b.Explain(r.Context(), r.URL.Query().Get("resource"))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		_ = enc.Encode(e)
	})
	mux.HandleFunc("POST /v1/node/rejoin", func(w http.ResponseWriter, r *http.Request) {
		if err := b.Rejoin(r.Context(), r.URL.Query().Get("node")); err != nil {
			http.Error(w, err.Error(), http.StatusConflict)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	return mux
}

// Serve serves b on l until ctx is done.
func Serve(ctx context.Context, l net.Listener, b Backend) error {
	srv := &http.Server{Handler: Handler(b), ReadHeaderTimeout: 5 * time.Second}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("api: %w", err)
	}
	return nil
}

// Client talks to an agent's socket.
type Client struct {
	socket string
	hc     *http.Client
}

// NewClient returns a client for the agent listening on socket.
func NewClient(socket string) *Client {
	return &Client{socket: socket, hc: &http.Client{
		Timeout: 5 * time.Second,
		Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", socket)
		}},
	}}
}

func (c *Client) do(ctx context.Context, method, path string) ([]byte, error) {
	return c.doBody(ctx, method, path, nil)
}

func (c *Client) doBody(ctx context.Context, method, path string, body io.Reader) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, "http://tandem"+path, body)
	if err != nil {
		return nil, err
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("agent at %s: %w (is `tandem agent` running? --socket or TANDEM_SOCKET choose another)", c.socket, err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return nil, fmt.Errorf("agent at %s: %w", c.socket, err)
	}
	if resp.StatusCode == http.StatusBadRequest {
		return nil, errors.New(strings.TrimSpace(string(out))) // the agent's own words: what is wrong and what exists
	}
	if resp.StatusCode/100 != 2 {
		return nil, fmt.Errorf("agent at %s: %s: %s", c.socket, resp.Status, out)
	}
	return out, nil
}

// Status fetches the agent's status.
func (c *Client) Status(ctx context.Context) (status.Status, error) {
	var st status.Status
	body, err := c.do(ctx, http.MethodGet, "/v1/status")
	if err != nil {
		return st, err
	}
	if err := json.Unmarshal(body, &st); err != nil {
		return st, fmt.Errorf("agent at %s: status: %w", c.socket, err)
	}
	if st.Schema != status.Schema {
		return st, fmt.Errorf("agent at %s speaks status schema %d, this tandem %d: use the same version", c.socket, st.Schema, status.Schema)
	}
	return st, nil
}

// StatusJSON fetches the agent's status as the raw JSON document.
func (c *Client) StatusJSON(ctx context.Context) ([]byte, error) {
	return c.do(ctx, http.MethodGet, "/v1/status")
}

// Metrics fetches the agent's Prometheus metrics in the text format.
func (c *Client) Metrics(ctx context.Context) ([]byte, error) {
	return c.do(ctx, http.MethodGet, "/metrics")
}

// Rejoin lets node, whose raft state was lost, vote again.
func (c *Client) Rejoin(ctx context.Context, node string) error {
	_, err := c.do(ctx, http.MethodPost, "/v1/node/rejoin?node="+url.QueryEscape(node))
	return err
}

// Unblock releases wait_for_all on the agent.
func (c *Client) Unblock(ctx context.Context) error {
	_, err := c.do(ctx, http.MethodPost, "/v1/quorum/unblock")
	return err
}

// Admin sends an operator instruction to the agent.
func (c *Client) Admin(ctx context.Context, req AdminRequest) error {
	b, err := json.Marshal(req)
	if err != nil {
		return err
	}
	_, err = c.doBody(ctx, http.MethodPost, "/v1/admin", bytes.NewReader(b))
	return err
}

// Explain asks the agent where target is placed and why.
func (c *Client) Explain(ctx context.Context, target string) (schedule.Explanation, error) {
	var e schedule.Explanation
	body, err := c.do(ctx, http.MethodGet, "/v1/explain?resource="+url.QueryEscape(target))
	if err != nil {
		return e, err
	}
	if err := json.Unmarshal(body, &e); err != nil {
		return e, fmt.Errorf("agent at %s: explain: %w", c.socket, err)
	}
	return e, nil
}
