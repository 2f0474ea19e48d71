package spec

import (
	"bytes"
	"fmt"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// Source remembers where each field of a loaded spec was written, so that
// checks running on typed values can still point at the user's line.
type Source struct {
	// File is the name shown in diagnostics.
	File string
	pos  map[string]Pos
}

// Pos returns the position of the value at path, or of its nearest parent
// that was written in the file (a defaulted field points at its parent).
func (s *Source) Pos(path string) Pos {
	if s == nil {
		return Pos{1, 1}
	}
	for p := path; ; {
		if pos, ok := s.pos[p]; ok {
			return pos
		}
		i := strings.LastIndexAny(p, ".[")
		if i <= 0 {
			break
		}
		p = p[:i]
	}
	return Pos{1, 1}
}

// Has reports whether path was written in the file.
func (s *Source) Has(path string) bool {
	_, ok := s.pos[path]
	return ok
}

// maxDepth bounds the walk: no valid spec nests deeper, and it stops alias
// cycles and pathological inputs from exhausting the stack.
const maxDepth = 32

// Load parses a spec strictly, applies defaults and validates it. It
// returns the appliance (nil when it could not be decoded), where each
// field came from, and every diagnostic found. Callers decide what to do
// with warnings; errors mean the spec must not be used.
func Load(file string, data []byte) (*Appliance, *Source, Diagnostics) {
	app, src, ds := Decode(file, data)
	if ds.HasErrors() {
		return nil, src, ds
	}
	ApplyDefaults(app)
	ds = append(ds, Validate(app, src)...)
	ds.Sort()
	if ds.HasErrors() {
		return nil, src, ds
	}
	return app, src, ds
}

// Decode parses and type-checks a spec without defaults or semantic checks.
func Decode(file string, data []byte) (*Appliance, *Source, Diagnostics) {
	src := &Source{File: file, pos: map[string]Pos{}}
	var ds Diagnostics
	fail := func(pos Pos, path, msg, fix string) {
		ds = append(ds, Diagnostic{Severity: Error, File: file, Pos: pos, Path: path, Msg: msg, Fix: fix})
	}

	var root yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&root); err != nil {
		if err.Error() == "EOF" {
			fail(Pos{1, 1}, "", "the spec is empty", "start from `kiln init`, which writes a complete example")
			return nil, src, ds
		}
		fail(yamlErrPos(err), "", "not valid YAML: "+trimYAMLErr(err), "fix the syntax at this line")
		return nil, src, ds
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		fail(Pos{extra.Line, extra.Column}, "", "the file holds more than one YAML document", "keep one appliance per file (remove the `---` separator)")
		return nil, src, ds
	}
	doc := &root
	if doc.Kind == yaml.DocumentNode && len(doc.Content) == 1 {
		doc = doc.Content[0]
	}
	w := walker{src: src, fail: fail}
	w.walk(doc, reflect.TypeOf(Appliance{}), "", 0)
	if len(ds) > 0 {
		return nil, src, ds
	}
	var app Appliance
	if err := doc.Decode(&app); err != nil {
		// The walk checks kinds and scalar types first, so this is rare:
		// out-of-range numbers, for example.
		fail(yamlErrPos(err), "", trimYAMLErr(err), "fix the value at this line")
		return nil, src, ds
	}
	return &app, src, ds
}

type walker struct {
	src  *Source
	fail func(pos Pos, path, msg, fix string)
}

var kindNames = map[yaml.Kind]string{
	yaml.MappingNode:  "a mapping",
	yaml.SequenceNode: "a list",
	yaml.ScalarNode:   "a single value",
	yaml.DocumentNode: "a document",
	yaml.AliasNode:    "an alias",
}

func (w *walker) walk(n *yaml.Node, t reflect.Type, path string, depth int) {
	if depth > maxDepth {
		w.fail(Pos{n.Line, n.Column}, path, "nested too deeply", "flatten the structure")
		return
	}
	if n.Kind == yaml.AliasNode {
		if n.Alias == nil {
			return
		}
		w.walk(n.Alias, t, path, depth+1)
		return
	}
	pos := Pos{n.Line, n.Column}
	if path != "" {
		w.src.pos[path] = pos
	}
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return // an empty value leaves the field at its default
	}
	want := func(k yaml.Kind, example string) bool {
		if n.Kind == k {
			return true
		}
		w.fail(pos, path, fmt.Sprintf("expected %s, got %s", kindNames[k], kindNames[n.Kind]), "write it as "+example)
		return false
	}
	switch t.Kind() {
	case reflect.Struct:
		if !want(yaml.MappingNode, "`key: value` lines indented under it") {
			return
		}
		fields := yamlFields(t)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			f, ok := fields[k.Value]
			if !ok {
				w.fail(Pos{k.Line, k.Column}, join(path, k.Value), fmt.Sprintf("unknown field %q", k.Value), suggest(k.Value, fields))
				continue
			}
			w.walk(v, f.Type, join(path, k.Value), depth+1)
		}
	case reflect.Slice:
		if !want(yaml.SequenceNode, "a list of `- item` lines") {
			return
		}
		for i, c := range n.Content {
			w.walk(c, t.Elem(), fmt.Sprintf("%s[%d]", path, i), depth+1)
		}
	case reflect.Map:
		if !want(yaml.MappingNode, "`KEY: value` lines indented under it") {
			return
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			w.walk(v, t.Elem(), join(path, k.Value), depth+1)
		}
	case reflect.String:
		if want(yaml.ScalarNode, "a single value (quote it if it contains `:` or `#`)") && n.Tag == "!!binary" {
			w.fail(pos, path, "binary values are not accepted", "write plain text")
		}
	case reflect.Bool:
		if want(yaml.ScalarNode, "true or false") && n.Tag != "!!bool" {
			w.fail(pos, path, fmt.Sprintf("expected true or false, got %q", n.Value), "write true or false (unquoted)")
		}
	case reflect.Int:
		if want(yaml.ScalarNode, "a whole number") {
			if _, err := strconv.ParseInt(n.Value, 0, 32); err != nil || n.Tag != "!!int" {
				w.fail(pos, path, fmt.Sprintf("expected a whole number, got %q", n.Value), "write a number without quotes or units")
			}
		}
	case reflect.Float64:
		if want(yaml.ScalarNode, "a number") {
			if _, err := strconv.ParseFloat(n.Value, 64); err != nil || (n.Tag != "!!int" && n.Tag != "!!float") {
				w.fail(pos, path, fmt.Sprintf("expected a number, got %q", n.Value), "write a number such as 0.5 or 2")
			}
		}
	}
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// yamlFields maps the YAML names of a struct's fields to the fields.
func yamlFields(t reflect.Type) map[string]reflect.StructField {
	m := map[string]reflect.StructField{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "" || name == "-" {
			continue
		}
		m[name] = f
	}
	return m
}

// suggest proposes the closest known field name, or lists them all.
func suggest(bad string, fields map[string]reflect.StructField) string {
	names := make([]string, 0, len(fields))
	for n := range fields {
		names = append(names, n)
	}
	sort.Strings(names)
	best, bestD := "", 1<<30
	for _, n := range names {
		if d := editDistance(strings.ToLower(bad), n); d < bestD {
			best, bestD = n, d
		}
	}
	if best != "" && bestD <= max(2, len(bad)/3) {
		return fmt.Sprintf("did you mean %q?", best)
	}
	return "remove it; known fields here: " + strings.Join(names, ", ")
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

var yamlLineRE = regexp.MustCompile(`line (\d+)(?::(\d+))?`)

// yamlErrPos extracts the position yaml.v3 puts in its messages.
func yamlErrPos(err error) Pos {
	m := yamlLineRE.FindStringSubmatch(err.Error())
	if m == nil {
		return Pos{1, 1}
	}
	line, _ := strconv.Atoi(m[1])
	col := 1
	if m[2] != "" {
		col, _ = strconv.Atoi(m[2])
	}
	return Pos{line, col}
}

var yamlPrefixRE = regexp.MustCompile(`^yaml: (unmarshal errors:\n\s*)?(line \d+(:\d+)?: )?`)

func trimYAMLErr(err error) string {
	return strings.TrimSpace(yamlPrefixRE.ReplaceAllString(err.Error(), ""))
}
