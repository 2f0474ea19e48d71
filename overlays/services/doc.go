// Package services renders the service kinds of an appliance: PostgreSQL,
// PgBouncer, Redis, Prometheus (with its alert rules), Alertmanager,
// Grafana, Loki, Grafana Alloy, the node exporter and the exporters of the
// databases and the edge.
//
// Each kind is one component: a typed Config whose every field the plan
// decides (ports, network subnet, the image's numeric user, paths on the
// data filesystem) and a function returning an overlays.Component — the
// files kiln places under /etc/kiln/<service>/, the kind's part of the
// container, and the data directories it writes. No appliance's defaults
// live here: Clipper's are in its spec and in the tests' fixtures.
//
// No password ever appears in a rendered file: secrets are created on the
// server at first boot and reach the containers as Podman secrets mounted at
// /run/secrets/<name>, which the configurations and commands here read.
package services
