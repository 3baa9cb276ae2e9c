// Package devices holds firegrid's registry: the territory every message
// refers to. It is the three-level grid (large grid, communities,
// responsibility zones) as polygons, the micro fire stations, the sites
// (households, corridors, charging sheds, hydrants) with their residents,
// and the devices, with the look-ups the pipeline makes on every message and
// the routing of a place to its station.
//
// The device model itself (kinds, the canonical message, the reading, the
// command) is contract v1, in package contract; the registry sits beside it
// at the bottom of the pipeline. Every role loads the same registry; it is
// immutable once loaded, and nothing here does I/O on the hot path.
package devices
