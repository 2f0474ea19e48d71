package spec

import (
	"encoding/json"

	"github.com/invopop/jsonschema"

	"github.com/kiln-dev/kiln/images"
)

// SchemaID is the JSON Schema's identifier.
const SchemaID = "https://kiln.dev/schemas/appliance.schema.json"

// Schema returns the JSON Schema of the appliance spec, derived from the Go
// types so that editors can complete and
// check a spec. The schema is never kept apart from the types: a test
// checks that the committed copy matches and that JSON and YAML names agree.
func Schema() ([]byte, error) {
	r := &jsonschema.Reflector{
		RequiredFromJSONSchemaTags: false,
		DoNotReference:             false,
		AllowAdditionalProperties:  false,
	}
	s := r.Reflect(&Appliance{})
	s.ID = SchemaID
	s.Title = "kiln appliance spec"
	out, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(out, '\n'), nil
}

// JSONSchemaExtend lists the kinds of the kind table as the schema's enum
// for a service's kind, so that editors offer exactly the kinds the loader
// accepts.
func (Service) JSONSchemaExtend(s *jsonschema.Schema) {
	k, ok := s.Properties.Get("kind")
	if !ok {
		return
	}
	k.Enum = nil
	for _, name := range serviceKindNames() {
		k.Enum = append(k.Enum, name)
	}
}

// JSONSchemaExtend lists the platforms and formats of images' tables as
// the schema's enums for a target, so that editors offer exactly what the
// validator accepts.
func (Target) JSONSchemaExtend(s *jsonschema.Schema) {
	if p, ok := s.Properties.Get("platform"); ok {
		p.Enum = nil
		for _, name := range images.PlatformNames() {
			p.Enum = append(p.Enum, name)
		}
	}
	if f, ok := s.Properties.Get("formats"); ok && f.Items != nil {
		f.Items.Enum = nil
		for _, name := range images.FormatNames() {
			f.Items.Enum = append(f.Items.Enum, name)
		}
	}
}
