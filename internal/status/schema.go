package status

import (
	"reflect"
	"strings"
)

// JSONSchema describes the status document (draft 2020-12), derived from the
// Go types so it cannot drift from what the agent sends; docs/status.schema.json
// is this, checked in, and a test keeps the two equal.
func JSONSchema() map[string]any {
	s := schemaOf(reflect.TypeFor[Status]())
	s["$schema"] = "https://json-schema.org/draft/2020-12/schema"
	s["$id"] = "https://tandem.invalid/status.schema.json"
	s["title"] = "tandem status --json"
	props := s["properties"].(map[string]any)
	props["schema"] = map[string]any{"const": Schema}
	return s
}

func schemaOf(t reflect.Type) map[string]any {
	switch t.Kind() {
	case reflect.Struct:
		props := map[string]any{}
		var required []string
		for i := range t.NumField() {
			f := t.Field(i)
			tag := strings.Split(f.Tag.Get("json"), ",")
			props[tag[0]] = schemaOf(f.Type)
			if len(tag) < 2 || tag[1] != "omitempty" {
				required = append(required, tag[0])
			}
		}
		return map[string]any{"type": "object", "properties": props, "required": required, "additionalProperties": false}
	case reflect.Slice:
		return map[string]any{"type": "array", "items": schemaOf(t.Elem())}
	case reflect.Map:
		return map[string]any{"type": "object", "additionalProperties": schemaOf(t.Elem())}
	case reflect.String:
		return map[string]any{"type": "string"}
	case reflect.Bool:
		return map[string]any{"type": "boolean"}
	case reflect.Float32, reflect.Float64:
		return map[string]any{"type": "number"}
	case reflect.Pointer:
		return schemaOf(t.Elem())
	}
	return map[string]any{"type": "integer"}
}
