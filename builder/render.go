package builder

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	butane "github.com/coreos/butane/config"
	"github.com/coreos/butane/config/common"
	ign "github.com/coreos/ignition/v2/config/v3_5"
	igntypes "github.com/coreos/ignition/v2/config/v3_5/types"
	"github.com/coreos/vcontext/report"

	"github.com/kiln-dev/kiln/builder/spec"
	"github.com/kiln-dev/kiln/internal/valid"
	"github.com/kiln-dev/kiln/overlays"
	"github.com/kiln-dev/kiln/units"
)

// Request asks for one appliance to be rendered.
type Request struct {
	// File names the spec in diagnostics; snippets are resolved relative
	// to its directory.
	File string
	// Spec is the spec's YAML.
	Spec []byte
	// Strict turns warnings into errors.
	Strict bool
	// ReadFile reads Butane snippets; nil means os.ReadFile.
	ReadFile func(string) ([]byte, error)
}

// Result is a rendered appliance.
type Result struct {
	App *spec.Appliance
	// Diagnostics holds every warning (and, on failure, error) found.
	Diagnostics spec.Diagnostics
	// Butane is the generated Butane config, before user snippets.
	Butane []byte
	// Ignition is the final, validated Ignition config.
	Ignition []byte
	// Units are the systemd units and Quadlet files kiln generated (not
	// those of user snippets), for judging and inspection.
	Units []units.Unit
	// ConfigDigest identifies the configuration: the sha256 of the
	// generated Butane without the release file, and of each snippet. It
	// is written into the release file, so it cannot cover itself.
	ConfigDigest string
}

// OutputName is the base name of an appliance's outputs: <name>-<version>.
func (r *Result) OutputName() string { return r.App.Name + "-" + r.App.Version }

// Render runs the pipeline: load and validate the spec, plan the server,
// write Butane, translate it to Ignition, merge the user's snippets and
// validate the result. It writes nothing.
func Render(req Request) (*Result, error) {
	readFile := req.ReadFile
	if readFile == nil {
		readFile = os.ReadFile
	}
	// 1. Load, default and validate the spec.
	app, src, ds := spec.Load(req.File, req.Spec)
	if app != nil {
		ds = append(ds, exampleKeyWarnings(app, src)...)
	}
	if req.Strict {
		ds = ds.Strict()
	}
	res := &Result{App: app, Diagnostics: ds}
	if err := ds.Err(); err != nil {
		return res, err
	}
	// 2. Plan everything the server gets; planning can find more warnings.
	plan, err := newPlan(app)
	if err != nil {
		return res, planError(res, src, err)
	}
	for _, w := range plan.Warnings {
		sev := spec.Warning
		if req.Strict {
			sev = spec.Error
		}
		res.Diagnostics = append(res.Diagnostics, spec.Diagnostic{Severity: sev, File: src.File, Pos: src.Pos(w.Path), Path: w.Path, Msg: w.Msg, Fix: w.Fix})
	}
	if err := res.Diagnostics.Err(); err != nil {
		return res, err
	}
	// 3. Read the snippets now, so the digest covers them.
	snippets := make([]snippet, len(app.Butane))
	for i, rel := range app.Butane {
		p := rel
		if !filepath.IsAbs(p) {
			p = filepath.Join(filepath.Dir(req.File), rel)
		}
		data, err := readFile(p)
		if err != nil {
			return res, fmt.Errorf("%w: %s (listed in %s at butane[%d]): %w", ErrSnippet, p, req.File, i, err)
		}
		snippets[i] = snippet{path: p, data: data}
	}
	// 4. The plan without the release file gives the config digest.
	bare, err := plan.digest()
	if err != nil {
		return res, err
	}
	h := sha256.New()
	h.Write(bare)
	for _, s := range snippets {
		h.Write([]byte(s.path))
		h.Write(s.data)
	}
	res.ConfigDigest = "sha256:" + hex.EncodeToString(h.Sum(nil))
	res.Units = plan.Units
	plan.Files = append(plan.Files, releaseFiles(app, res.ConfigDigest)...)
	sortFiles(plan.Files)
	if res.Butane, err = plan.butane(); err != nil {
		return res, err
	}
	// 5. Translate kiln's own Butane; any warning is a kiln bug.
	out, err := translate("generated config", res.Butane)
	if err != nil {
		return res, err
	}
	// 6. Merge the user's snippets, each translated on its own so that
	// errors point at the snippet's own lines.
	if len(snippets) > 0 {
		cfg, r, err := ign.Parse(out)
		if err != nil {
			return res, fmt.Errorf("%w: %w\n%s", ErrIgnition, err, r.String())
		}
		for _, s := range snippets {
			sc, r, err := translateSnippet(s)
			for _, e := range r.Entries {
				if !e.Kind.IsFatal() {
					res.Diagnostics = append(res.Diagnostics, snippetDiag(s.path, e, spec.Warning))
				}
			}
			if err != nil {
				return res, err
			}
			cfg = ign.Merge(cfg, sc)
		}
		if out, err = json.Marshal(cfg); err != nil {
			return res, err
		}
		// 7. Validate the merged config as Ignition will read it. Without
		// snippets this was already done: Butane runs Ignition's own
		// validation on the config it produces (and the tests judge every
		// rendered config with ignition-validate too).
		if _, r, err := ign.Parse(out); err != nil || r.IsFatal() {
			return res, fmt.Errorf("%w: %s%v", ErrIgnition, r.String(), errOrEmpty(err))
		}
	}
	res.Ignition = out
	return res, nil
}

type snippet struct {
	path string
	data []byte
}

func errOrEmpty(err error) any {
	if err == nil {
		return ""
	}
	return err
}

func sortFiles(fs []overlays.File) {
	slices.SortStableFunc(fs, func(a, b overlays.File) int { return strings.Compare(a.Path, b.Path) })
}

// translate turns kiln's generated Butane into Ignition. Butane validates
// its output; a warning means kiln generated something questionable, so it
// is an error. Contents stay uncompressed so the config can be read and
// diffed between releases.
func translate(name string, bu []byte) ([]byte, error) {
	opts := common.TranslateBytesOptions{TranslateOptions: common.TranslateOptions{NoResourceAutoCompression: true}}
	raw, r, err := butane.TranslateBytes(bu, opts)
	if err == nil && len(r.Entries) > 0 {
		err = errors.New("warnings in generated config")
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w\n%s", ErrButane, name, err, r.String())
	}
	return raw, nil
}

// translateSnippet translates a user's Butane file. Local files it names
// are resolved relative to the snippet.
func translateSnippet(s snippet) (igntypes.Config, report.Report, error) {
	opts := common.TranslateBytesOptions{TranslateOptions: common.TranslateOptions{FilesDir: filepath.Dir(s.path)}}
	raw, r, err := butane.TranslateBytes(s.data, opts)
	if err != nil {
		var lines []string
		for _, e := range r.Entries {
			if e.Kind.IsFatal() {
				lines = append(lines, snippetDiag(s.path, e, spec.Error).String())
			}
		}
		if len(lines) == 0 {
			lines = append(lines, fmt.Sprintf("%s:1:1: %v — fix the snippet so `butane --strict %s` accepts it", s.path, err, filepath.Base(s.path)))
		}
		return igntypes.Config{}, r, fmt.Errorf("%w: %s", ErrSnippet, strings.Join(lines, "\n"))
	}
	cfg, _, err := ign.Parse(raw)
	if err != nil {
		return igntypes.Config{}, r, fmt.Errorf("%w: %s: %w", ErrSnippet, s.path, err)
	}
	return cfg, r, nil
}

func snippetDiag(file string, e report.Entry, sev spec.Severity) spec.Diagnostic {
	pos := spec.Pos{Line: 1, Col: 1}
	if e.Marker.StartP != nil {
		l, c := e.Marker.Start()
		pos = spec.Pos{Line: int(l), Col: int(c)}
	}
	path := strings.TrimPrefix(e.Context.String(), "$.")
	return spec.Diagnostic{Severity: sev, File: file, Pos: pos, Path: path, Msg: e.Message, Fix: "fix the snippet (Butane fcos " + ButaneVersion + ")"}
}

// planError turns a planning failure about a spec value into a diagnostic
// at the user's line; any other failure is returned as it is.
func planError(res *Result, src *spec.Source, err error) error {
	var se *specError
	if !errors.As(err, &se) {
		return err
	}
	msg, fix := se.err.Error(), ""
	var pr *valid.Problem
	if errors.As(se.err, &pr) {
		msg, fix = pr.Msg, pr.Fix
	}
	res.Diagnostics = append(res.Diagnostics, spec.Diagnostic{Severity: spec.Error, File: src.File,
		Pos: src.Pos(se.path), Path: se.path, Msg: msg, Fix: fix})
	return res.Diagnostics.Err()
}
