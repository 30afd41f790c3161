package config

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"reflect"
	"strconv"
	"strings"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"
	"github.com/goccy/go-yaml/token"
)

// Error is one problem in a config file, located and explained.
type Error struct {
	File      string
	Line, Col int
	Field     string // path like resources[0].params.label; "" for the whole file
	Msg       string // what is wrong and what is allowed
}

func (e Error) Error() string {
	loc := e.File
	if e.Line > 0 {
		loc = fmt.Sprintf("%s:%d:%d", e.File, e.Line, e.Col)
	}
	if e.Field == "" {
		return loc + ": " + e.Msg
	}
	return loc + ": " + e.Field + ": " + e.Msg
}

// Errors is every problem found, in file order.
type Errors []Error

func (es Errors) Error() string {
	var b strings.Builder
	for i, e := range es {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(e.Error())
	}
	return b.String()
}

// raw* mirror the YAML; strict decoding rejects any key not listed here.
type rawConfig struct {
	Cluster     string          `yaml:"cluster"`
	KeyFile     string          `yaml:"key_file"`
	Port        *int            `yaml:"port"`
	StateDir    string          `yaml:"state_dir"`
	Socket      string          `yaml:"socket"`
	Timing      rawTiming       `yaml:"timing"`
	Quorum      rawQuorum       `yaml:"quorum"`
	Fencing     rawFencing      `yaml:"fencing"`
	Watchdog    rawWatchdog     `yaml:"watchdog"`
	Witnesses   []rawWitness    `yaml:"witnesses"`
	Nodes       []rawNode       `yaml:"nodes"`
	Resources   []rawResource   `yaml:"resources"`
	Groups      []rawGroup      `yaml:"groups"`
	Clones      []rawClone      `yaml:"clones"` // placement.go
	Constraints []rawConstraint `yaml:"constraints"`
	Defaults    rawDefaults     `yaml:"defaults"`
	Metrics     rawMetrics      `yaml:"metrics"`
	Health      rawHealth       `yaml:"health"` // health.go
	Alerts      []rawAlert      `yaml:"alerts"`
}

type rawTiming struct {
	Keepalive string `yaml:"keepalive"`
	Warntime  string `yaml:"warntime"`
	Deadtime  string `yaml:"deadtime"`
	Initdead  string `yaml:"initdead"`
	Lease     string `yaml:"lease"`
}

type rawQuorum struct {
	Mode       string   `yaml:"mode"`
	WaitForAll *bool    `yaml:"wait_for_all"`
	Ping       []string `yaml:"ping"` // health.go
}

type rawFencing struct {
	Enabled  bool                  `yaml:"enabled"`
	Timeout  string                `yaml:"timeout"`
	Retries  *int                  `yaml:"retries"`
	Delay    string                `yaml:"delay"`
	Monitor  string                `yaml:"monitor_interval"`
	Devices  []rawFenceDevice      `yaml:"devices"`
	Topology map[string][][]string `yaml:"topology"`
}

type rawFenceDevice struct {
	Name   string            `yaml:"name"`
	Agent  string            `yaml:"agent"`
	Exec   string            `yaml:"exec"`
	Params map[string]any    `yaml:"params"`
	Nodes  []string          `yaml:"nodes"`
	Plugs  map[string]string `yaml:"plugs"`
}

type rawWitness struct {
	Name  string   `yaml:"name"`
	Links []string `yaml:"links"`
}

type rawNode struct {
	Name  string   `yaml:"name"`
	Links []string `yaml:"links"`
	Voter *bool    `yaml:"voter"`
}

type rawResource struct {
	Name   string         `yaml:"name"`
	Type   string         `yaml:"type"`
	Params map[string]any `yaml:"params"`
	Ops    rawOps         `yaml:"ops"`
	Meta   *rawMeta       `yaml:"meta"` // placement.go
}

type rawOps struct {
	Start *rawOp `yaml:"start"`
	Stop  *rawOp `yaml:"stop"`
	// Monitor is one mapping {interval, timeout, on_fail, depth} or a list
	// of them (several monitors, as Pacemaker's several monitor ops).
	Monitor any `yaml:"monitor"`
}

type rawOp struct {
	Interval string `yaml:"interval"`
	Timeout  string `yaml:"timeout"`
	OnFail   string `yaml:"on_fail"`
}

type rawGroup struct {
	Name    string   `yaml:"name"`
	Members []string `yaml:"members"`
	Meta    *rawMeta `yaml:"meta"`
}

type rawConstraint struct {
	Location string `yaml:"location"`
	Node     string `yaml:"node"`
	Rule     string `yaml:"rule"` // placement.go: location by node attributes
	Score    any    `yaml:"score"`
	// placement.go: colocation (colocation, with, score) and order
	// (order, then, kind, symmetrical) constraints share the list.
	Colocation  string `yaml:"colocation"`
	With        string `yaml:"with"`
	Order       string `yaml:"order"`
	Then        string `yaml:"then"`
	Kind        string `yaml:"kind"`
	Symmetrical *bool  `yaml:"symmetrical"`
}

type rawMetrics struct {
	Listen string `yaml:"listen"`
}

type rawDefaults struct {
	Stickiness         int    `yaml:"stickiness"`
	MigrationThreshold any    `yaml:"migration_threshold"` // placement.go
	FailureTimeout     string `yaml:"failure_timeout"`
}

// Load reads and validates the config file at path.
func Load(path string) (*Model, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	return Parse(path, data)
}

// Parse validates data as the config file name. It never panics.
func Parse(name string, data []byte) (m *Model, err error) {
	defer func() {
		// The YAML library is third-party code: a panic on hostile input must
		// still come out as an error naming the file.
		if r := recover(); r != nil {
			m, err = nil, Errors{{File: name, Msg: fmt.Sprintf("cannot parse: %v", r)}}
		}
	}()
	file, err := parser.ParseBytes(data, 0)
	if err != nil {
		return nil, Errors{yamlError(name, nil, err)}
	}
	idx := index(file)
	if len(file.Docs) == 0 || file.Docs[0].Body == nil {
		return nil, Errors{{File: name, Msg: "empty config: at least cluster, nodes and resources are needed (see examples/freeswitch-pair.yaml)"}}
	}
	if len(file.Docs) > 1 {
		return nil, Errors{{File: name, Msg: "more than one YAML document: put everything in one"}}
	}
	var raw rawConfig
	if err := yaml.NodeToValue(file.Docs[0].Body, &raw, yaml.DisallowUnknownField()); err != nil {
		return nil, Errors{yamlError(name, idx, err)}
	}
	v := &validator{file: name, idx: idx}
	m = v.model(&raw)
	if len(v.errs) > 0 {
		v.errs.Sort()
		return nil, v.errs
	}
	sum := sha256.Sum256(data)
	m.Hash = binary.BigEndian.Uint64(sum[:8])
	m.Path = name
	m.idx = idx
	return m, nil
}

// yamlError turns a decode error into a located Error with the field path
// and, for unknown keys, the keys allowed there.
func yamlError(file string, idx *posIndex, err error) Error {
	var ye yaml.Error
	if !errors.As(err, &ye) || ye.GetToken() == nil {
		return Error{File: file, Msg: err.Error()}
	}
	tk := ye.GetToken()
	e := Error{File: file, Line: tk.Position.Line, Col: tk.Position.Column, Msg: ye.GetMessage()}
	if idx != nil {
		e.Field = idx.pathAt(tk.Position)
	}
	var uf *yaml.UnknownFieldError
	if errors.As(err, &uf) && e.Field != "" {
		if allowed := allowedKeys(parentPath(e.Field)); len(allowed) > 0 {
			e.Msg += "; allowed: " + strings.Join(allowed, ", ")
		}
		e.Field = parentPath(e.Field)
		if e.Field == "" {
			e.Field = "(top level)"
		}
	}
	var te *yaml.TypeError
	if errors.As(err, &te) {
		e.Msg = "wrong type: " + e.Msg
	}
	return e
}

// posIndex maps field paths to where they are written, and back.
type posIndex struct {
	byPath map[string]*token.Position
	paths  []pathPos
}

type pathPos struct {
	path string
	pos  *token.Position
}

func index(f *ast.File) *posIndex {
	idx := &posIndex{byPath: map[string]*token.Position{}}
	if len(f.Docs) > 0 && f.Docs[0].Body != nil {
		idx.walk("", f.Docs[0].Body)
	}
	return idx
}

func (x *posIndex) add(path string, tk *token.Token) {
	if tk == nil || path == "" {
		return
	}
	if _, ok := x.byPath[path]; !ok {
		x.byPath[path] = tk.Position
		x.paths = append(x.paths, pathPos{path, tk.Position})
	}
}

func (x *posIndex) walk(path string, n ast.Node) {
	switch n := n.(type) {
	case *ast.MappingNode:
		for _, mv := range n.Values {
			x.walk(path, mv)
		}
	case *ast.MappingValueNode:
		key := strings.Trim(n.Key.String(), `"'`)
		p := key
		if path != "" {
			p = path + "." + key
		}
		x.add(p, n.Key.GetToken())
		if n.Value != nil {
			x.walk(p, n.Value)
		}
	case *ast.SequenceNode:
		for i, it := range n.Values {
			p := fmt.Sprintf("%s[%d]", path, i)
			if it != nil {
				x.add(p, it.GetToken())
				x.walk(p, it)
			}
		}
	case *ast.TagNode:
		x.walk(path, n.Value)
	case *ast.AnchorNode:
		x.walk(path, n.Value)
	}
}

// pos finds where path (or its nearest written parent) is.
func (x *posIndex) pos(path string) (int, int) {
	for p := path; ; p = parentPath(p) {
		if pos, ok := x.byPath[p]; ok {
			return pos.Line, pos.Column
		}
		if p == "" {
			return 0, 0
		}
	}
}

// pathAt returns the path written at pos (a key or a sequence item), or the
// deepest path that starts before it on the same line.
func (x *posIndex) pathAt(pos *token.Position) string {
	best := ""
	for _, pp := range x.paths {
		if pp.pos.Line == pos.Line && pp.pos.Column == pos.Column {
			return pp.path
		}
		if pp.pos.Line == pos.Line && pp.pos.Column < pos.Column && len(pp.path) > len(best) {
			best = pp.path
		}
	}
	return best
}

func parentPath(p string) string {
	i := max(strings.LastIndexByte(p, '.'), strings.LastIndexByte(p, '['))
	if i < 0 {
		return ""
	}
	return p[:i]
}

// allowedKeys lists the YAML keys valid at path, read from the raw structs'
// tags so the list can never drift from what the decoder accepts.
func allowedKeys(path string) []string {
	t := reflect.TypeFor[rawConfig]()
	if path != "" {
		for _, part := range strings.Split(strings.NewReplacer("[", ".[").Replace(path), ".") {
			for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice {
				t = t.Elem()
			}
			if strings.HasPrefix(part, "[") {
				continue
			}
			if t.Kind() != reflect.Struct {
				return nil
			}
			found := false
			for i := range t.NumField() {
				if f := t.Field(i); strings.Split(f.Tag.Get("yaml"), ",")[0] == part {
					t, found = f.Type, true
					break
				}
			}
			if !found {
				return nil
			}
		}
	}
	for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct {
		return nil
	}
	var keys []string
	for i := range t.NumField() {
		keys = append(keys, strings.Split(t.Field(i).Tag.Get("yaml"), ",")[0])
	}
	return keys
}

// scalar renders a param value written as a YAML scalar.
func scalar(v any) (string, bool) {
	switch v := v.(type) {
	case string:
		return v, true
	case bool:
		return strconv.FormatBool(v), true
	case int, int64, uint64, float64:
		return fmt.Sprint(v), true
	case nil:
		return "", true
	}
	return "", false
}
