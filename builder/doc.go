// Package builder is kiln's orchestrator: it loads and validates the
// appliance spec, plans the units and files, assembles Butane, translates it
// to Ignition and validates the result.
package builder
