package services

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"unicode"
)

// The Alloy configuration language has no packaged checker, so this file
// holds a small parser for the subset kiln writes: blocks, attributes,
// strings, lists, objects and references. It checks that the file is
// well-formed, that every component is one kiln knows with its required
// arguments, and that every reference names an existing component's export.

type alloyToken struct {
	kind string // ident, string, number, punct
	text string
	line int
}

func alloyLex(src string) ([]alloyToken, error) {
	var toks []alloyToken
	line := 1
	for i := 0; i < len(src); {
		c := src[i]
		switch {
		case c == '\n':
			line++
			i++
		case c == ' ' || c == '\t' || c == '\r':
			i++
		case strings.HasPrefix(src[i:], "//"):
			for i < len(src) && src[i] != '\n' {
				i++
			}
		case c == '"':
			j := i + 1
			for ; j < len(src) && src[j] != '"'; j++ {
				if src[j] == '\\' {
					j++
				}
				if j < len(src) && src[j] == '\n' {
					return nil, fmt.Errorf("line %d: newline in string", line)
				}
			}
			if j >= len(src) {
				return nil, fmt.Errorf("line %d: unterminated string", line)
			}
			toks = append(toks, alloyToken{"string", src[i+1 : j], line})
			i = j + 1
		case c == '_' || unicode.IsLetter(rune(c)):
			j := i
			for j < len(src) && (src[j] == '_' || src[j] == '.' || unicode.IsLetter(rune(src[j])) || unicode.IsDigit(rune(src[j]))) {
				j++
			}
			toks = append(toks, alloyToken{"ident", src[i:j], line})
			i = j
		case unicode.IsDigit(rune(c)):
			j := i
			for j < len(src) && (unicode.IsDigit(rune(src[j])) || src[j] == '.') {
				j++
			}
			toks = append(toks, alloyToken{"number", src[i:j], line})
			i = j
		case strings.ContainsRune("{}[]=,", rune(c)):
			toks = append(toks, alloyToken{"punct", string(c), line})
			i++
		default:
			return nil, fmt.Errorf("line %d: unexpected %q", line, c)
		}
	}
	return toks, nil
}

type alloyBlock struct {
	name, label string
	line        int
	attrs       map[string]bool
	blocks      []*alloyBlock
}

type alloyParser struct {
	toks []alloyToken
	pos  int
	refs []alloyToken
}

func (p *alloyParser) peek() alloyToken {
	if p.pos < len(p.toks) {
		return p.toks[p.pos]
	}
	return alloyToken{kind: "eof", line: -1}
}

func (p *alloyParser) next() alloyToken { t := p.peek(); p.pos++; return t }

func (p *alloyParser) expect(kind, text string) (alloyToken, error) {
	t := p.next()
	if t.kind != kind || (text != "" && t.text != text) {
		return t, fmt.Errorf("line %d: want %s %q, got %s %q", t.line, kind, text, t.kind, t.text)
	}
	return t, nil
}

// body parses statements until a closing brace (or the end of the file
// when top is set).
func (p *alloyParser) body(top bool) (map[string]bool, []*alloyBlock, error) {
	attrs := map[string]bool{}
	var blocks []*alloyBlock
	for {
		t := p.peek()
		if top && t.kind == "eof" {
			return attrs, blocks, nil
		}
		if !top && t.kind == "punct" && t.text == "}" {
			return attrs, blocks, nil
		}
		name, err := p.expect("ident", "")
		if err != nil {
			return nil, nil, err
		}
		switch n := p.peek(); {
		case n.kind == "punct" && n.text == "=":
			p.next()
			if attrs[name.text] {
				return nil, nil, fmt.Errorf("line %d: attribute %s set twice", name.line, name.text)
			}
			attrs[name.text] = true
			if err := p.expr(); err != nil {
				return nil, nil, err
			}
		default:
			b := &alloyBlock{name: name.text, line: name.line}
			if n.kind == "string" {
				b.label = p.next().text
			}
			if _, err := p.expect("punct", "{"); err != nil {
				return nil, nil, err
			}
			if b.attrs, b.blocks, err = p.body(false); err != nil {
				return nil, nil, err
			}
			if _, err := p.expect("punct", "}"); err != nil {
				return nil, nil, err
			}
			blocks = append(blocks, b)
		}
	}
}

func (p *alloyParser) expr() error {
	t := p.next()
	switch {
	case t.kind == "string" || t.kind == "number":
		return nil
	case t.kind == "ident" && (t.text == "true" || t.text == "false" || t.text == "null"):
		return nil
	case t.kind == "ident":
		p.refs = append(p.refs, t)
		return nil
	case t.kind == "punct" && t.text == "[":
		return p.list("]", func() error { return p.expr() })
	case t.kind == "punct" && t.text == "{":
		return p.list("}", func() error {
			if k := p.next(); k.kind != "ident" && k.kind != "string" {
				return fmt.Errorf("line %d: object key %q", k.line, k.text)
			}
			if _, err := p.expect("punct", "="); err != nil {
				return err
			}
			return p.expr()
		})
	}
	return fmt.Errorf("line %d: unexpected %q in expression", t.line, t.text)
}

func (p *alloyParser) list(end string, item func() error) error {
	for {
		if t := p.peek(); t.kind == "punct" && t.text == end {
			p.next()
			return nil
		}
		if err := item(); err != nil {
			return err
		}
		if t := p.peek(); t.kind == "punct" && t.text == "," {
			p.next()
		}
	}
}

// alloyComponents lists the components kiln writes: their required
// arguments and their exports.
var alloyComponents = map[string]struct {
	required []string
	exports  []string
}{
	"loki.relabel":        {required: []string{"forward_to"}, exports: []string{"receiver", "rules"}},
	"loki.source.journal": {required: []string{"forward_to"}},
	"loki.write":          {exports: []string{"receiver"}},
}

// checkAlloy parses src and checks its components and references.
func checkAlloy(src string) error {
	toks, err := alloyLex(src)
	if err != nil {
		return err
	}
	p := &alloyParser{toks: toks}
	_, blocks, err := p.body(true)
	if err != nil {
		return err
	}
	defined := map[string]bool{}
	for _, b := range blocks {
		spec, ok := alloyComponents[b.name]
		if !ok {
			return fmt.Errorf("line %d: unknown component %s", b.line, b.name)
		}
		if b.label == "" {
			return fmt.Errorf("line %d: component %s needs a label", b.line, b.name)
		}
		for _, a := range spec.required {
			if !b.attrs[a] {
				return fmt.Errorf("line %d: %s %q lacks %s", b.line, b.name, b.label, a)
			}
		}
		id := b.name + "." + b.label
		if defined[id] {
			return fmt.Errorf("line %d: %s defined twice", b.line, id)
		}
		for _, e := range spec.exports {
			defined[id+"."+e] = true
		}
		defined[id] = true
	}
	for _, r := range p.refs {
		if !defined[r.text] || strings.Count(r.text, ".") < 2 {
			return fmt.Errorf("line %d: reference %s names no component export", r.line, r.text)
		}
	}
	return nil
}

func TestAlloy(t *testing.T) {
	files, err := filesOf(Alloy(clipperAlloy()))
	if err != nil {
		t.Fatal(err)
	}
	goldenFiles(t, "alloy", files)
	src := string(files[0].Contents)
	if err := checkAlloy(src); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`source_labels = ["__journal__systemd_unit"]`,
		`target_label  = "unit"`,
		`url = "http://loki:3100/loki/api/v1/push"`,
		"relabel_rules = loki.relabel.journal.rules",
		"forward_to    = [loki.write.loki.receiver]",
		"Promtail",
	} {
		if !strings.Contains(src, want) {
			t.Errorf("config.alloy lacks %q", want)
		}
	}
}

// TestAlloyCheckerCatchesMistakes proves the structural check can fail.
func TestAlloyCheckerCatchesMistakes(t *testing.T) {
	files, err := filesOf(Alloy(clipperAlloy()))
	if err != nil {
		t.Fatal(err)
	}
	src := string(files[0].Contents)
	for name, bad := range map[string]string{
		"dangling reference": strings.Replace(src, "loki.write.loki.receiver", "loki.write.default.receiver", 1),
		"unknown export":     strings.Replace(src, "loki.relabel.journal.rules", "loki.relabel.journal.rulez", 1),
		"unbalanced brace":   strings.Replace(src, "  endpoint {", "  endpoint {{", 1),
		"missing forward_to": strings.Replace(src, "forward_to    = [loki.write.loki.receiver]", "", 1),
		"unterminated":       strings.Replace(src, `"unit"`, `"unit`, 1),
		"unknown component":  strings.Replace(src, "loki.write \"loki\"", "loki.writer \"loki\"", 1),
	} {
		if bad == src {
			t.Fatalf("%s: mutation did not apply", name)
		}
		if err := checkAlloy(bad); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestAlloyValidate(t *testing.T) {
	cfg := clipperAlloy()
	cfg.PushURL = "loki:3100"
	if _, err := filesOf(Alloy(cfg)); !errors.Is(err, ErrInvalidValue) {
		t.Fatalf("got %v, want ErrInvalidValue", err)
	}
}
