// Package overlays holds the embedded file trees and templates that kiln
// renders onto the server: nginx, nftables, sshd, sysctl,
// Prometheus, Grafana, Loki, Alloy, PgBouncer, PostgreSQL, Redis and the
// backup scripts. Each template lives beside the Go code that renders it.
package overlays
