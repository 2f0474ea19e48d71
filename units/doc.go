// Package units generates the systemd units and Podman Quadlet files
// (.container, .network, .volume, .service, .timer, .mount, .path) for each
// service and each scheduled job of an appliance.
package units
