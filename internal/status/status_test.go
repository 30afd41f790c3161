package status

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "record the shape of a new schema version")

// shape renders the JSON shape of t: every field's JSON name and kind.
func shape(t reflect.Type, indent string, b *strings.Builder) {
	switch t.Kind() {
	case reflect.Struct:
		for i := range t.NumField() {
			f := t.Field(i)
			name := strings.Split(f.Tag.Get("json"), ",")[0]
			fmt.Fprintf(b, "%s%s %s\n", indent, name, f.Type.Kind())
			shape(f.Type, indent+"  ", b)
		}
	case reflect.Slice, reflect.Pointer:
		shape(t.Elem(), indent, b)
	case reflect.Map:
		fmt.Fprintf(b, "%s[key %s] %s\n", indent, t.Key().Kind(), t.Elem().Kind())
	}
}

// The JSON shape of `tandem status --json` may only change together with a
// bump of Schema: scripts parse it.
func TestSchemaGuard(t *testing.T) {
	var b strings.Builder
	shape(reflect.TypeFor[Status](), "", &b)
	golden := filepath.Join("testdata", fmt.Sprintf("schema-%d.shape", Schema))
	if *update {
		if _, err := os.Stat(golden); err == nil {
			t.Fatalf("%s exists: a changed shape needs a new schema number, not a rewritten one", golden)
		}
		if err := os.WriteFile(golden, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v: bump Schema and run with -update", err)
	}
	if b.String() != string(want) {
		t.Fatalf("the status JSON shape changed without a schema bump: bump status.Schema, run go test -update, document it in docs/status.md\nnew shape:\n%s", b.String())
	}
}

// docs/status.schema.json is the schema derived from the types.
func TestJSONSchemaDoc(t *testing.T) {
	got, err := json.MarshalIndent(JSONSchema(), "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	got = append(got, '\n')
	path := filepath.Join("..", "..", "docs", "status.schema.json")
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./internal/status -run TestJSONSchemaDoc -update)", err)
	}
	if string(want) != string(got) {
		t.Fatal("docs/status.schema.json is out of date: run go test ./internal/status -run TestJSONSchemaDoc -update")
	}
}
