// Package services renders the configuration files of the Clipper
// appliance's services: PostgreSQL, PgBouncer, Redis, Prometheus (with its
// alert rules), Alertmanager, Grafana, Loki, Grafana Alloy and the node exporter.
//
// Each service has a typed Config with a Default…() for Clipper, a render
// function returning the files kiln places under /etc/kiln/<service>/ on the
// server, and a Runtime describing how the service's container uses them
// (image, command, environment, secrets, bind mounts). The Quadlet units
// themselves are generated elsewhere from that Runtime.
//
// No password ever appears in a rendered file: secrets are created on the
// server at first boot and reach the containers as Podman secrets mounted at
// /run/secrets/<name>, which the configurations and commands here read.
package services
