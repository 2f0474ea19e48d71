// Package judge runs the real programs that consume what kiln writes
// (Ignition's validator and engine, Quadlet, systemd-analyze, systemctl) from
// tests of any package. Every helper takes a testing.TB, finds its program
// with testutil.Tool (skipped locally, fatal in CI when missing) and fails
// the test with the program's own words.
//
// The package never imports kiln's own packages, so the tests inside those
// packages can import it without a cycle: units and files are passed as
// name-to-contents maps.
package judge
