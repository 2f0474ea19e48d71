package overlays

import "github.com/kiln-dev/kiln/units"

// Component is one service kind rendered for the appliance (a kind of
// overlays/services, or the nginx edge): the files its container reads,
// the kind's part of that container, and the directories it writes on the
// data filesystem. It is the only description of a kind's
// container: the plan adds what the spec decides (name, image, network,
// published ports, limits) and writes the Quadlet file with units.Container.
type Component struct {
	// Files are the configuration files to place on the server.
	Files []File
	// Container holds what the kind decides: command, entrypoint,
	// environment, the ownership of its secrets, mounts, health check and
	// host namespaces. A secret the spec's service does not list is
	// mounted only when first boot generates it (the spec declares it, or
	// a recipe needs it).
	Container units.Container
	// DataDirs are the host directories of Container's writable mounts, on
	// the data filesystem; the plan creates them at boot, owned by the
	// container's user, unless a spec volume takes the mount's place.
	DataDirs []DataDir
}

// DataDir is a directory of the data filesystem a component writes.
type DataDir struct {
	// Path is the directory on the server.
	Path string
	// Adopt hands everything inside to the owner at every boot, for a
	// directory whose owner changed between releases.
	Adopt bool
}
