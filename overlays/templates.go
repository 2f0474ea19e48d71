package overlays

import (
	"bytes"
	"fmt"
	"io/fs"
	"text/template"
)

// Templates parses the *.tmpl files of an overlay's embedded tree; each
// template is named by its file name. A template that does not parse is a
// bug in kiln, found when the package loads.
func Templates(fsys fs.FS) *template.Template {
	return template.Must(template.New("").ParseFS(fsys, "*.tmpl"))
}

// Execute renders the template name of ts with data.
func Execute(ts *template.Template, name string, data any) ([]byte, error) {
	var b bytes.Buffer
	if err := ts.ExecuteTemplate(&b, name, data); err != nil {
		return nil, fmt.Errorf("rendering %s: %w", name, err)
	}
	return b.Bytes(), nil
}
