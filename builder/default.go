package builder

import _ "embed"

// DefaultSpec is the default appliance, Clipper, as `kiln init` writes it.
//
//go:embed appliances/clipper.yaml
var DefaultSpec []byte

// DefaultSpecName names the embedded spec in diagnostics.
const DefaultSpecName = "clipper.yaml (embedded default)"
