package devices

import (
	"github.com/firegrid/firegrid/contract"
	geom "github.com/twpayne/go-geom"
)

// Level is the level of an area in the three-level grid (网格化管理).
type Level string

// The three levels of the grid.
const (
	LevelGrid      Level = "grid"      // 大网格: the town or sub-district
	LevelCommunity Level = "community" // 中网格: community or village
	LevelZone      Level = "zone"      // 小网格: responsibility zone (责任片区)
)

// Area is one polygon of the grid.
type Area struct {
	ID     string `json:"id"`
	Name   string `json:"name"`
	Level  Level  `json:"level"`
	Parent string `json:"parent,omitempty"` // community of a zone, grid of a community
	// Station is the micro fire station responsible for a zone; it may be
	// empty, and then the nearest station by great-circle distance answers.
	Station    string             `json:"station,omitempty"`
	GridWorker contract.Contact   `json:"grid_worker,omitempty"`
	Polygon    *geom.MultiPolygon `json:"-"`
}

// Station is a community micro fire station (微型消防站).
type Station struct {
	ID        string         `json:"id"`
	Name      string         `json:"name"`
	Location  contract.Point `json:"location"`
	Phone     string         `json:"phone,omitempty"`
	Community string         `json:"community,omitempty"`
	Zones     []string       `json:"zones,omitempty"`
}

// Resident is a person living at a site.
type Resident struct {
	Name     string                 `json:"name"`
	Age      int                    `json:"age,omitempty"`
	Phone    string                 `json:"phone,omitempty"`
	Flags    contract.ResidentFlags `json:"flags"`
	Guardian contract.Contact       `json:"guardian,omitempty"` // 监护人
}

// Site is a place devices are installed in: a household, a building's
// corridor, a charging shed, a hydrant. Every device of a site shares the
// site's key on the bus.
type Site struct {
	ID        string            `json:"id"`
	Name      string            `json:"name"`
	Type      contract.SiteType `json:"type"`
	Address   string            `json:"address,omitempty"`
	Location  contract.Point    `json:"location"`
	Zone      string            `json:"zone"`
	Community string            `json:"community"`
	Grid      string            `json:"grid"`
	Station   string            `json:"station"`
	Residents []Resident        `json:"residents,omitempty"`
	// Flags is the union of the residents' flags; Guardian the first
	// guardian named among them.
	Flags    contract.ResidentFlags `json:"flags"`
	Guardian contract.Contact       `json:"guardian,omitempty"`
}

// Device is one registered device. Zone, Community and Station are the
// site's, copied at load so that enrichment is one map look-up.
type Device struct {
	ID        string                 `json:"id"`
	Kind      contract.Kind          `json:"kind"`
	Site      string                 `json:"site"`
	Location  contract.Point         `json:"location"`
	Model     string                 `json:"model,omitempty"`
	Ports     int                    `json:"ports,omitempty"` // chargers: number of ports
	Zone      string                 `json:"zone"`
	Community string                 `json:"community"`
	Station   string                 `json:"station"`
	Flags     contract.ResidentFlags `json:"resident_flags"`
	// Addresses are where field networks (GB/T 26875.3, LoRaWAN, carrier
	// platforms) know the device; empty for a device speaking contract v1.
	Addresses
}
