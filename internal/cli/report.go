package cli

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/goccy/go-yaml"
	"github.com/spf13/cobra"

	"tandem/internal/api"
	"tandem/internal/config"
	"tandem/internal/status"
)

// Bounds of what a report collects, so that it finishes and stays mailable
// on a machine in trouble.
const (
	reportCmdTimeout     = 10 * time.Second // each external command
	reportJournalTimeout = 30 * time.Second // journalctl over a day can be slow
	reportMaxOutput      = 32 << 20         // per command output, then truncated
	reportMaxStateFile   = 8 << 20          // larger state_dir files are listed, not copied
)

func reportCmd(g *globals) *cobra.Command {
	var cfgPath, out, stateDir string
	var since time.Duration
	c := &cobra.Command{
		Use:   "report [--since DURATION] [-o FILE]",
		Short: "Collect config, status, event history and recent logs into a tarball for a post-mortem",
		Long: `report writes a .tar.gz (like Pacemaker's crm_report) with what is needed to
understand what the cluster did on this node:

  README.txt     what is in the tarball and what could not be collected
  config/        the config file and ` + "`config check`" + `'s verdict on it
  status.json    the agent's status (status.txt for people), if it answers
  state/         state_dir: events.json (event history), cluster-state.json,
                 incarnation, ...
  logs/          journalctl -u tandem and the kernel log for --since
  version.txt    ` + "`tandem version`" + `
  system/        uname -a, ip -d addr, ip route, ip -6 route

The cluster key (key_file) and any file in state_dir whose name contains
"key" are never included. The config names addresses and commands: review
the tarball before sending it outside. Run it on every node; the agent need
not be running. Each external command is given at most 10 s (journalctl 30 s).`,
		Example: "  tandem report\n  tandem report --since 2h -o /tmp/node1.tar.gz",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if since <= 0 {
				return fmt.Errorf("--since %v: must be positive", since)
			}
			r := &report{g: g, now: time.Now(), since: since, cfgPath: cfgPath, stateDir: stateDir}
			r.collect(cmd.Context())
			if out == "" {
				out = r.base() + ".tar.gz"
			}
			if err := r.write(out); err != nil {
				return err
			}
			fmt.Fprintf(g.stdout, "wrote %s (%d files", out, len(r.files))
			if len(r.missing) > 0 {
				fmt.Fprintf(g.stdout, "; not collected: %s", strings.Join(r.missingNames(), ", "))
			}
			fmt.Fprintln(g.stdout, ")")
			return nil
		},
	}
	c.Flags().StringVar(&cfgPath, "config", "/etc/tandem/tandem.yaml", "config file to include (its state_dir and socket are used too)")
	c.Flags().StringVar(&stateDir, "state-dir", "", "state directory (default: the config's state_dir, else "+config.DefaultStateDir+")")
	c.Flags().DurationVar(&since, "since", 24*time.Hour, "how far back to collect logs")
	c.Flags().StringVarP(&out, "output", "o", "", "tarball to write (default tandem-report-HOST-TIME.tar.gz in the current directory)")
	c.MarkFlagFilename("config", "yaml", "yml")
	return c
}

type reportFile struct {
	name, what string
	data       []byte
}

type report struct {
	g        *globals
	now      time.Time
	since    time.Duration
	cfgPath  string
	stateDir string
	files    []reportFile
	missing  []reportFile // name, what, and why (data)
	skipped  []string     // state_dir files left out on purpose, with why
}

func (r *report) add(name, what string, data []byte) {
	r.files = append(r.files, reportFile{name: name, what: what, data: data})
}

// miss records what could not be collected, as NAME.missing.txt saying why.
func (r *report) miss(name, what string, why error) {
	f := reportFile{name: name + ".missing.txt", what: what + " — not collected", data: []byte(why.Error() + "\n")}
	r.files = append(r.files, f)
	r.missing = append(r.missing, f)
}

func (r *report) missingNames() []string {
	var s []string
	for _, f := range r.missing {
		s = append(s, strings.TrimSuffix(f.name, ".missing.txt"))
	}
	return s
}

func (r *report) host() string {
	h, err := os.Hostname()
	if err != nil || h == "" {
		return "unknown"
	}
	return h
}

func (r *report) base() string {
	return "tandem-report-" + r.host() + "-" + r.now.Format("20060102-150405")
}

func (r *report) collect(ctx context.Context) {
	// Config: the file as it is, and what config check makes of it.
	// Where the agent keeps things; from a config that does not validate,
	// read leniently: a broken config is when a report is needed most.
	var where struct {
		KeyFile  string `yaml:"key_file"`
		StateDir string `yaml:"state_dir"`
		Socket   string `yaml:"socket"`
	}
	if b, err := os.ReadFile(r.cfgPath); err != nil {
		r.miss("config/"+filepath.Base(r.cfgPath), "config file "+r.cfgPath, err)
	} else {
		r.add("config/"+filepath.Base(r.cfgPath), "config file "+r.cfgPath, b)
		if m, err := config.Load(r.cfgPath); err != nil {
			r.add("config/check.txt", "config check: the config does not load", []byte(err.Error()+"\n"))
			_ = yaml.Unmarshal(b, &where)
		} else {
			r.add("config/check.txt", "tandem config check "+r.cfgPath, []byte(config.Check(m).String()))
			where.KeyFile, where.StateDir, where.Socket = m.KeyFile, m.StateDir, m.Socket
		}
	}
	socket, stateDir, keyFile := where.Socket, where.StateDir, where.KeyFile
	if stateDir == "" {
		stateDir = config.DefaultStateDir
	}
	if keyFile == "" {
		keyFile = config.DefaultKeyFile
	}
	if r.stateDir != "" {
		stateDir = r.stateDir
	}
	r.status(ctx, r.g.socketPath(socket))
	r.state(stateDir, keyFile)
	r.logs(ctx)
	r.add("version.txt", "tandem version", []byte(buildVersion().String()))
	for _, c := range []struct {
		name string
		argv []string
	}{
		{"system/uname.txt", []string{"uname", "-a"}},
		{"system/ip-addr.txt", []string{"ip", "-d", "addr"}},
		{"system/ip-route.txt", []string{"ip", "route"}},
		{"system/ip6-route.txt", []string{"ip", "-6", "route"}},
	} {
		r.command(ctx, c.name, reportCmdTimeout, c.argv...)
	}
}

func (r *report) status(ctx context.Context, socket string) {
	sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	b, err := api.NewClient(socket).StatusJSON(sctx)
	if err != nil {
		r.miss("status.json", "the agent's status", err)
		return
	}
	r.add("status.json", "tandem status --json (from "+socket+")", b)
	var st status.Status
	if err := json.Unmarshal(b, &st); err == nil {
		var w bytes.Buffer
		WriteStatus(&w, st, false)
		r.add("status.txt", "tandem status", w.Bytes())
	}
}

// state copies state_dir's regular files, never one that looks like a key.
func (r *report) state(dir, keyFile string) {
	keyAbs, _ := filepath.Abs(keyFile)
	if _, err := os.Stat(dir); err != nil {
		r.miss("state", "state_dir "+dir, err)
		return
	}
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			r.skipped = append(r.skipped, fmt.Sprintf("%s: %v", path, err))
			return nil
		}
		if d.IsDir() || path == dir {
			return nil
		}
		rel, _ := filepath.Rel(dir, path)
		abs, _ := filepath.Abs(path)
		switch {
		case abs == keyAbs || strings.Contains(strings.ToLower(d.Name()), "key"):
			r.skipped = append(r.skipped, rel+": key material is never included")
			return nil
		case !d.Type().IsRegular():
			return nil // the API socket, fifos: nothing to copy
		}
		fi, err := d.Info()
		if err == nil && fi.Size() > reportMaxStateFile {
			r.skipped = append(r.skipped, fmt.Sprintf("%s: %d bytes, over the %d-byte limit", rel, fi.Size(), reportMaxStateFile))
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			r.skipped = append(r.skipped, fmt.Sprintf("%s: %v", rel, err))
			return nil
		}
		what := "state_dir file " + path
		switch rel {
		case "events.json":
			what = "event history (" + path + "), newest last"
		case "cluster-state.json":
			what = "replicated cluster state: fail counts, ... (" + path + ")"
		case "incarnation":
			what = "wire incarnation of the last agent start, ns since 1970 (" + path + ")"
		}
		r.add("state/"+filepath.ToSlash(rel), what, b)
		return nil
	})
	if err != nil {
		r.miss("state", "state_dir "+dir, err)
	}
}

func (r *report) logs(ctx context.Context) {
	if _, err := exec.LookPath("journalctl"); err != nil {
		err = fmt.Errorf("journalctl not found (%w): collect the agent's logs from wherever its stderr went", err)
		r.miss("logs/journal.txt", "the agent's journal", err)
		return
	}
	since := "@" + strconv.FormatInt(r.now.Add(-r.since).Unix(), 10)
	r.command(ctx, "logs/journal.txt", reportJournalTimeout, "journalctl", "--no-pager", "-o", "short-iso-precise", "-u", "tandem.service", "--since", since)
	r.command(ctx, "logs/kernel.txt", reportJournalTimeout, "journalctl", "--no-pager", "-o", "short-iso-precise", "-k", "--since", since)
}

// command runs argv for at most timeout and adds its output (stdout and
// stderr, a failure noted at the end); a missing program is a .missing.txt.
func (r *report) command(ctx context.Context, name string, timeout time.Duration, argv ...string) {
	what := strings.Join(argv, " ")
	if _, err := exec.LookPath(argv[0]); err != nil {
		r.miss(name, what, err)
		return
	}
	cctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(cctx, argv[0], argv[1:]...)
	cmd.WaitDelay = time.Second
	var out capped
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if out.dropped > 0 {
		fmt.Fprintf(&out.b, "\n[truncated: %d more bytes]\n", out.dropped)
	}
	if err != nil {
		if cctx.Err() != nil && ctx.Err() == nil {
			err = fmt.Errorf("timed out after %v (%w)", timeout, err)
		}
		fmt.Fprintf(&out.b, "\n[%s: %v]\n", what, err)
		what += " (failed: " + err.Error() + ")"
	}
	r.add(name, what, out.b.Bytes())
}

// capped keeps the first reportMaxOutput bytes written to it.
type capped struct {
	b       bytes.Buffer
	dropped int
}

func (c *capped) Write(p []byte) (int, error) {
	keep := min(len(p), max(0, reportMaxOutput-c.b.Len()))
	c.b.Write(p[:keep])
	c.dropped += len(p) - keep
	return len(p), nil
}

func (r *report) readme() []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "tandem report from %s, made %s, logs since %s (--since %v)\n",
		r.host(), r.now.Format(time.RFC3339), r.now.Add(-r.since).Format(time.RFC3339), r.since)
	fmt.Fprintf(&b, "by tandem %s\n\n", buildVersion().short())
	b.WriteString("Files:\n")
	w := 0
	for _, f := range r.files {
		w = max(w, len(f.name))
	}
	for _, f := range r.files {
		fmt.Fprintf(&b, "  %-*s  %s\n", w, f.name, f.what)
	}
	if len(r.missing) > 0 {
		b.WriteString("\nNot collected (each NAME.missing.txt says why):\n")
		for _, f := range r.missing {
			fmt.Fprintf(&b, "  %s: %s", strings.TrimSuffix(f.name, ".missing.txt"), f.data)
		}
	}
	if len(r.skipped) > 0 {
		b.WriteString("\nLeft out of state_dir:\n")
		for _, s := range r.skipped {
			fmt.Fprintf(&b, "  %s\n", s)
		}
	}
	b.WriteString("\nNever included: the cluster key (key_file). The config names addresses and\ncommands: review this before sending it outside.\n")
	return []byte(b.String())
}

// write puts README.txt and every file under one top directory in a
// .tar.gz at path, mode 0600, replacing it atomically.
func (r *report) write(path string) (err error) {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tandem-report-*")
	if err != nil {
		return fmt.Errorf("report: %w", err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if err := tmp.Chmod(0o600); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	zw := gzip.NewWriter(tmp)
	tw := tar.NewWriter(zw)
	top := strings.TrimSuffix(strings.TrimSuffix(filepath.Base(path), ".gz"), ".tar")
	if top == "" || strings.HasPrefix(top, ".") {
		top = r.base()
	}
	all := append([]reportFile{{name: "README.txt", data: r.readme()}}, r.files...)
	for _, f := range all {
		hdr := &tar.Header{Name: top + "/" + f.name, Mode: 0o600, Size: int64(len(f.data)), ModTime: r.now, Typeflag: tar.TypeReg}
		if err := tw.WriteHeader(hdr); err != nil {
			return fmt.Errorf("report: %w", err)
		}
		if _, err := tw.Write(f.data); err != nil {
			return fmt.Errorf("report: %w", err)
		}
	}
	if err := errors.Join(tw.Close(), zw.Close(), tmp.Sync(), tmp.Close()); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	return nil
}
