package overlays

import "io/fs"

// File is one file kiln places on the server's filesystem through Ignition.
// Renderers return Files; the builder turns them into Butane storage.files
// entries, so every overlay shares one description of ownership and mode.
type File struct {
	// Path is absolute on the server, e.g. /etc/nginx/nginx.conf.
	Path string
	// Mode is the permission bits (0644 for configs, 0600 for secrets,
	// 0755 for scripts).
	Mode fs.FileMode
	// Contents is written verbatim.
	Contents []byte
	// User and Group own the file; empty means root.
	User, Group string
}
