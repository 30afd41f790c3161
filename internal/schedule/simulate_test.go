package schedule

import (
	"reflect"
	"testing"
	"time"
)

// SameInput must see every field of View but Now: a field added to View
// and forgotten there would let the agent skip saving inputs that differ.
func TestSameInputSeesEveryField(t *testing.T) {
	base := View{Now: epoch}
	rv := reflect.ValueOf(&base).Elem()
	for i := 0; i < rv.NumField(); i++ {
		f := rv.Type().Field(i)
		changed := base
		fv := reflect.ValueOf(&changed).Elem().Field(i)
		switch f.Type.Kind() {
		case reflect.Slice:
			fv.Set(reflect.Append(reflect.MakeSlice(f.Type, 0, 1), reflect.ValueOf("x")))
		case reflect.Bool:
			fv.SetBool(true)
		case reflect.Map:
			m := reflect.MakeMap(f.Type)
			var elem reflect.Value
			switch f.Type.Elem().Kind() {
			case reflect.Map:
				inner := reflect.MakeMap(f.Type.Elem())
				iv := reflect.New(f.Type.Elem().Elem()).Elem()
				if iv.Kind() == reflect.Int {
					iv.SetInt(1)
				} else if iv.Type() == reflect.TypeOf(time.Time{}) {
					iv.Set(reflect.ValueOf(epoch))
				} else {
					iv.SetString("x")
				}
				inner.SetMapIndex(reflect.ValueOf("x"), iv)
				elem = inner
			case reflect.Slice:
				elem = reflect.Append(reflect.MakeSlice(f.Type.Elem(), 0, 1), reflect.ValueOf("x"))
			case reflect.Bool:
				elem = reflect.ValueOf(true)
			default:
				elem = reflect.ValueOf("x")
			}
			m.SetMapIndex(reflect.ValueOf("x"), elem)
			fv.Set(m)
		default:
			if f.Name == "Now" {
				fv.Set(reflect.ValueOf(epoch.Add(time.Hour)))
				if !SameInput(base, changed) {
					t.Errorf("SameInput sees a change of Now; it should not")
				}
				continue
			}
			t.Fatalf("field %s of kind %s: teach this test about it", f.Name, f.Type.Kind())
		}
		if SameInput(base, changed) {
			t.Errorf("SameInput misses a change of %s", f.Name)
		}
	}
	if !SameInput(View{Running: map[string]string{}}, View{}) {
		t.Error("an empty map and a nil one differ")
	}
}
