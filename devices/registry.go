package devices

import (
	"encoding/json"
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
	// Flags is the union of the residents' flags; Guardian the first
	// guardian named among them.
	Flags    contract.ResidentFlags `json:"flags"`
	Guardian contract.Contact       `json:"guardian,omitempty"`

	// residents are kept packed (see Residents): a city has hundreds of
	// thousands, and only an incident view asks for them.
	residents packedResidents
}

// Residents returns the people living at the site, in file order.
func (s *Site) Residents() []Resident { return s.residents.unpack() }

// ResidentCount is how many people live at the site.
func (s *Site) ResidentCount() int { return s.residents.n }

// Device is one registered device. Its zone, community, station and
// resident flags are its site's: enrichment is one look-up of the device.
type Device struct {
	ID       string         `json:"id"`
	Kind     contract.Kind  `json:"kind"`
	Site     string         `json:"site"`
	Location contract.Point `json:"location"`
	Model    string         `json:"model,omitempty"`
	Ports    int            `json:"ports,omitempty"` // chargers: number of ports

	site *Site
	// addr is where field networks know the device; nil for the many
	// that speak contract v1 themselves.
	addr *Addresses
}

// WithAddresses sets where field networks know a device made outside a
// registry (a tool's or a test's), and returns it.
func (d *Device) WithAddresses(a Addresses) *Device {
	d.addr = &a
	return d
}

// Addresses are where field networks (GB/T 26875.3, LoRaWAN, carrier
// platforms) know the device; empty for a device speaking contract v1.
func (d *Device) Addresses() Addresses {
	if d.addr == nil {
		return Addresses{}
	}
	return *d.addr
}

// Zone is the responsibility zone of the device's site.
func (d *Device) Zone() string { return d.siteOrEmpty().Zone }

// Community is the community of the device's site.
func (d *Device) Community() string { return d.siteOrEmpty().Community }

// Station is the micro fire station that answers for the device's site.
func (d *Device) Station() string { return d.siteOrEmpty().Station }

// Flags are the flags of the people living at the device's site.
func (d *Device) Flags() contract.ResidentFlags { return d.siteOrEmpty().Flags }

var noSite Site

func (d *Device) siteOrEmpty() *Site {
	if d.site == nil {
		return &noSite
	}
	return d.site
}

// deviceJSON is a device as the API shows it, with its site's attributes.
type deviceJSON struct {
	ID        string                 `json:"id"`
	Kind      contract.Kind          `json:"kind"`
	Site      string                 `json:"site"`
	Location  contract.Point         `json:"location"`
	Model     string                 `json:"model,omitempty"`
	Ports     int                    `json:"ports,omitempty"`
	Zone      string                 `json:"zone"`
	Community string                 `json:"community"`
	Station   string                 `json:"station"`
	Flags     contract.ResidentFlags `json:"resident_flags"`
	// Addresses are where field networks (GB/T 26875.3, LoRaWAN, carrier
	// platforms) know the device; empty for a device speaking contract v1.
	Addresses
}

// MarshalJSON writes the device with its site's zone, community, station
// and resident flags.
func (d *Device) MarshalJSON() ([]byte, error) {
	return json.Marshal(deviceJSON{ID: d.ID, Kind: d.Kind, Site: d.Site, Location: d.Location, Model: d.Model, Ports: d.Ports,
		Zone: d.Zone(), Community: d.Community(), Station: d.Station(), Flags: d.Flags(), Addresses: d.Addresses()})
}
