package spec

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/kiln-dev/kiln/internal/testutil"
)

// TestSchemaGolden keeps the published schema (appliance.schema.json)
// equal to the one derived from the types.
func TestSchemaGolden(t *testing.T) {
	got, err := Schema()
	if err != nil {
		t.Fatal(err)
	}
	var parsed map[string]any
	if err := json.Unmarshal(got, &parsed); err != nil {
		t.Fatalf("schema is not JSON: %v", err)
	}
	testutil.Golden(t, "appliance.schema.json", got)
}

// TestJSONAndYAMLNamesAgree: the schema is reflected from json tags, the
// loader reads yaml tags; they must name every field the same way.
func TestJSONAndYAMLNamesAgree(t *testing.T) {
	seen := map[reflect.Type]bool{}
	var walk func(t reflect.Type)
	walk = func(typ reflect.Type) {
		for typ.Kind() == reflect.Slice || typ.Kind() == reflect.Map || typ.Kind() == reflect.Pointer {
			typ = typ.Elem()
		}
		if typ.Kind() != reflect.Struct || seen[typ] {
			return
		}
		seen[typ] = true
		for i := 0; i < typ.NumField(); i++ {
			f := typ.Field(i)
			y, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
			j, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if y == "" || y != j {
				t.Errorf("%s.%s: yaml name %q, json name %q", typ.Name(), f.Name, y, j)
			}
			walk(f.Type)
		}
	}
	walk(reflect.TypeOf(Appliance{}))
}

// TestSchemaRejectsUnknownFields: like the loader, the schema allows no
// field the types do not have.
func TestSchemaRejectsUnknownFields(t *testing.T) {
	got, err := Schema()
	if err != nil {
		t.Fatal(err)
	}
	var s struct {
		Defs map[string]struct {
			AdditionalProperties *bool          `json:"additionalProperties"`
			Properties           map[string]any `json:"properties"`
		} `json:"$defs"`
	}
	if err := json.Unmarshal(got, &s); err != nil {
		t.Fatal(err)
	}
	app, ok := s.Defs["Appliance"]
	if !ok {
		t.Fatalf("no Appliance definition in schema")
	}
	if app.AdditionalProperties == nil || *app.AdditionalProperties {
		t.Error("Appliance must forbid additional properties")
	}
	for _, name := range []string{"name", "version", "services", "backup", "targets"} {
		if _, ok := app.Properties[name]; !ok {
			t.Errorf("schema lacks property %q", name)
		}
	}
}
