package devices

import (
	"cmp"
	"errors"
	"fmt"
	"github.com/firegrid/firegrid/contract"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	geom "github.com/twpayne/go-geom"
	"github.com/twpayne/go-geom/xy"
	"github.com/twpayne/go-geom/xy/location"
	"github.com/twpayne/go-geom/xy/orientation"
)

// The files of a registry directory. See the package README for their
// formats.
const (
	GridFile      = "grid.geojson"     // the three-level grid: polygons
	StationsFile  = "stations.geojson" // micro fire stations: points
	SitesFile     = "sites.csv"        // households, corridors, charging sheds, hydrants
	ResidentsFile = "residents.csv"    // who lives at a site (optional file)
	DevicesFile   = "devices.csv"      // detectors, pressure monitors, chargers
)

// Columns of the CSV files: required first, then optional.
var (
	siteColumns        = []string{"id", "type", "lon", "lat"}
	siteOptional       = []string{"name", "address"}
	residentColumns    = []string{"site", "name"}
	residentOptional   = []string{"age", "phone", "elderly_alone", "bereaved", "disabled", "guardian_name", "guardian_phone"}
	deviceColumns      = []string{"id", "kind", "site"}
	deviceOptional     = []string{"lon", "lat", "model", "ports", "gb26875", "dev_eui", "imei", "platform_id"}
	areaProperties     = []string{"id", "name", "level", "parent", "station", "grid_worker_name", "grid_worker_phone"}
	stationProperties  = []string{"id", "name", "phone", "community"}
	maxChargerPorts    = 64
	maxResidentAge     = 130
	maxIDLength        = 64
	siteTypesWant      = "household, corridor, charging_shed, hydrant or building"
	deviceSiteTypesFor = map[contract.Kind][]contract.SiteType{
		contract.KindSmoke:      {contract.SiteHousehold, contract.SiteCorridor, contract.SiteChargingShed, contract.SiteBuilding},
		contract.KindHydrant:    {contract.SiteHydrant},
		contract.KindCharger:    {contract.SiteChargingShed},
		contract.KindElectrical: {contract.SiteHousehold, contract.SiteCorridor, contract.SiteChargingShed, contract.SiteBuilding},
		contract.KindGas:        {contract.SiteHousehold, contract.SiteBuilding},
		contract.KindButton:     {contract.SiteHousehold, contract.SiteBuilding},
		contract.KindCamera:     {contract.SiteCorridor, contract.SiteChargingShed, contract.SiteBuilding},
	}
)

// Load reads and validates the registry in directory dir. The files (the
// package README has the full description):
//
//   - grid.geojson: a FeatureCollection of Polygon or MultiPolygon features
//     with string properties id, name, level (grid, community or zone),
//     parent (zone → community, community → grid), and for zones station
//     (may be empty) and grid_worker_name, grid_worker_phone.
//   - stations.geojson: a FeatureCollection of Point features with id, name,
//     phone and community.
//   - sites.csv: id,type,name,address,lon,lat; type household, corridor,
//     charging_shed or hydrant. Zone, community, grid and station are
//     computed by point-in-polygon; every site must lie in exactly one zone.
//   - residents.csv (optional): site,name,age,phone,elderly_alone,bereaved,
//     disabled,guardian_name,guardian_phone; booleans true/false, yes/no,
//     1/0 or empty.
//   - devices.csv: id,kind,site,lon,lat,model,ports,gb26875,dev_eui,imei,
//     platform_id; lon and lat empty for the site's location; ports (1..64)
//     for chargers only; the last four optional, the device's addresses on
//     the field networks that speak for it (see addresses.go).
//
// CSV files have a header row naming their columns in any order; an unknown
// column is an error. Load reports every problem it finds, each as a
// *conf.Error naming the file (as filepath.Join(dir, file)), the line and
// column, and the field (a CSV column's name, or a GeoJSON member's path
// such as features.4.properties.parent with the feature's id), joined with
// errors.Join; on any problem it returns a nil registry.
func Load(dir string) (*Registry, error) {
	return load(os.DirFS(dir), ".", func(f string) string { return filepath.Join(dir, f) })
}

// LoadFS is Load reading from fsys, the registry being the directory name
// inside it ("." for the root). File names in errors are paths inside fsys.
func LoadFS(fsys fs.FS, name string) (*Registry, error) {
	return load(fsys, name, func(f string) string { return path.Join(name, f) })
}

// loader holds the state of one load.
type loader struct {
	fsys fs.FS
	dir  string
	show func(string) string
	p    problems

	r         *Registry
	areaFeat  map[string]rawFeature // area id → its feature, for later messages
	zoneIdx   []zoneIndex           // the zones, for point-in-polygon while loading
	strings   map[string]string     // interned strings
	prefetch  map[string]chan *parsedCSV
	zoneGrid  *zoneGrid
	siteLine  map[string]int
	brokenAny map[string]bool // files that could not be read at all
	// brokenIDs are ids of features or rows that had an error of their
	// own: references to them are not reported again.
	brokenIDs map[string]bool
	// partialGrid is set when an area was dropped: a site outside every
	// zone may then be the grid's fault, so that is not reported.
	partialGrid bool
}

func load(fsys fs.FS, dir string, show func(string) string) (*Registry, error) {
	if st, err := fs.Stat(fsys, dir); err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return nil, fmt.Errorf("registry %s: %w", show(""), err)
	} else if !st.IsDir() {
		return nil, fmt.Errorf("registry %s: not a directory", show(""))
	}
	l := &loader{
		fsys: fsys, dir: dir, show: show,
		r: &Registry{
			devices:     map[string]*Device{},
			sites:       map[string]*Site{},
			stations:    map[string]*Station{},
			areas:       map[string]*Area{},
			byKind:      map[contract.Kind][]*Device{},
			byLevel:     map[Level][]*Area{},
			siteDevices: map[string][]*Device{},
		},
		areaFeat:  map[string]rawFeature{},
		strings:   map[string]string{},
		siteLine:  map[string]int{},
		brokenAny: map[string]bool{},
		brokenIDs: map[string]bool{},
	}
	// The big CSV files are read and parsed while the grid is checked.
	l.prefetch = map[string]chan *parsedCSV{}
	for _, f := range []struct {
		name               string
		required, optional []string
	}{{SitesFile, siteColumns, siteOptional}, {ResidentsFile, residentColumns, residentOptional}, {DevicesFile, deviceColumns, deviceOptional}} {
		ch := make(chan *parsedCSV, 1)
		l.prefetch[f.name] = ch
		go func() {
			pc := &parsedCSV{}
			pc.data, pc.err = fs.ReadFile(fsys, path.Join(dir, f.name))
			if pc.err == nil {
				pc.t = readCSV(&pc.p, show(f.name), pc.data, f.required, f.optional)
			}
			ch <- pc
		}()
	}
	areaFeats := l.readAreas()
	l.readStations()
	l.checkAreas(areaFeats)
	l.readSites()
	l.readResidents()
	l.readDevices()
	if len(l.p.list) > 0 {
		return nil, l.p.err()
	}
	l.index()
	return l.r, nil
}

// parsedCSV is a CSV file read and parsed ahead, with its problems.
type parsedCSV struct {
	data []byte
	err  error
	t    *csvTable
	p    problems
}

// table returns a CSV file's table, read ahead, after recording its
// problems as read would have. ok is false when the file could not be
// read (a missing optional file records nothing); t is nil when it did
// not parse.
func (l *loader) table(file string, optional bool) (t *csvTable, ok bool) {
	pc := <-l.prefetch[file]
	if pc.err != nil {
		l.brokenAny[file] = true
		if optional && errors.Is(pc.err, fs.ErrNotExist) {
			return nil, false
		}
		if errors.Is(pc.err, fs.ErrNotExist) {
			l.p.file(l.show(file), "missing: a registry needs %s, %s, %s and %s", GridFile, StationsFile, SitesFile, DevicesFile)
		} else {
			l.p.file(l.show(file), "cannot read: %v", pc.err)
		}
		return nil, false
	}
	l.p.list = append(l.p.list, pc.p.list...)
	if l.p.src == nil {
		l.p.src = map[string]*source{}
	}
	for name, src := range pc.p.src {
		l.p.src[name] = src
	}
	return pc.t, true
}

// read returns a file's bytes, or nil after recording why not. A missing
// optional file is not an error.
func (l *loader) read(file string, optional bool) []byte {
	data, err := fs.ReadFile(l.fsys, path.Join(l.dir, file))
	if err != nil {
		l.brokenAny[file] = true
		if optional && errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if errors.Is(err, fs.ErrNotExist) {
			l.p.file(l.show(file), "missing: a registry needs %s, %s, %s and %s", GridFile, StationsFile, SitesFile, DevicesFile)
		} else {
			l.p.file(l.show(file), "cannot read: %v", err)
		}
		return nil
	}
	return data
}

// checkID validates an identifier: it travels in MQTT topics and URLs, so
// it is limited to letters, digits, '-', '_' and '.'.
func checkID(id string) string {
	if id == "" {
		return "missing value"
	}
	if len(id) > maxIDLength {
		return fmt.Sprintf("id longer than %d characters", maxIDLength)
	}
	for _, c := range id {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return fmt.Sprintf("id %q has character %q (want letters, digits, '-', '_' or '.')", id, c)
		}
	}
	return ""
}

// checkPhone validates a phone number loosely: digits with optional '+',
// '-', spaces and parentheses.
func checkPhone(s string) string {
	digits := 0
	for _, c := range s {
		switch {
		case c >= '0' && c <= '9':
			digits++
		case c == '+' || c == '-' || c == ' ' || c == '(' || c == ')':
		default:
			return fmt.Sprintf("%q is not a phone number (want digits, e.g. 13800000000)", s)
		}
	}
	if digits < 3 {
		return fmt.Sprintf("%q is not a phone number (want digits, e.g. 13800000000)", s)
	}
	return ""
}

func (l *loader) readAreas() []rawFeature {
	file := l.show(GridFile)
	data := l.read(GridFile, false)
	if data == nil {
		return nil
	}
	feats, bad, ok := readFeatures(&l.p, file, data, areaProperties, "Polygon", "MultiPolygon")
	if !ok {
		l.brokenAny[GridFile] = true
		return nil
	}
	for _, f := range bad {
		l.brokenIDs[f.id] = true
		l.partialGrid = true
	}
	var kept []rawFeature
	for _, f := range feats {
		if msg := checkID(f.id); msg != "" {
			l.p.feature(file, f.index, f.id, "properties.id", "%s", msg)
			continue
		}
		if prev, dup := l.areaFeat[f.id]; dup {
			l.p.feature(file, f.index, f.id, "properties.id", "duplicate id (first defined by feature %d)", prev.index)
			continue
		}
		a := &Area{
			ID:      f.id,
			Name:    f.props["name"],
			Level:   Level(f.props["level"]),
			Parent:  f.props["parent"],
			Station: f.props["station"],
			GridWorker: contract.Contact{
				Name:  f.props["grid_worker_name"],
				Phone: f.props["grid_worker_phone"],
			},
			Polygon: f.poly,
		}
		switch a.Level {
		case LevelGrid, LevelCommunity, LevelZone:
		case "":
			l.p.feature(file, f.index, f.id, "properties.level", "missing (want grid, community or zone)")
		default:
			l.p.feature(file, f.index, f.id, "properties.level", "unknown level %q (want grid, community or zone)", a.Level)
		}
		if a.Name == "" {
			l.p.feature(file, f.index, f.id, "properties.name", "missing value (want the area's name)")
		}
		if a.GridWorker.Phone != "" {
			if msg := checkPhone(a.GridWorker.Phone); msg != "" {
				l.p.feature(file, f.index, f.id, "properties.grid_worker_phone", "%s", msg)
			}
		}
		l.areaFeat[f.id] = f
		l.r.areas[f.id] = a
		kept = append(kept, f)
	}
	return kept
}

func (l *loader) readStations() {
	file := l.show(StationsFile)
	data := l.read(StationsFile, false)
	if data == nil {
		return
	}
	feats, bad, ok := readFeatures(&l.p, file, data, stationProperties, "Point")
	if !ok {
		l.brokenAny[StationsFile] = true
		return
	}
	for _, f := range bad {
		l.brokenIDs[f.id] = true
	}
	first := map[string]int{}
	for _, f := range feats {
		if msg := checkID(f.id); msg != "" {
			l.p.feature(file, f.index, f.id, "properties.id", "%s", msg)
			continue
		}
		if prev, dup := first[f.id]; dup {
			l.p.feature(file, f.index, f.id, "properties.id", "duplicate id (first defined by feature %d)", prev)
			continue
		}
		first[f.id] = f.index
		s := &Station{
			ID:        f.id,
			Name:      f.props["name"],
			Location:  f.point,
			Phone:     f.props["phone"],
			Community: f.props["community"],
		}
		if s.Name == "" {
			l.p.feature(file, f.index, f.id, "properties.name", "missing value (want the station's name)")
		}
		if s.Phone != "" {
			if msg := checkPhone(s.Phone); msg != "" {
				l.p.feature(file, f.index, f.id, "properties.phone", "%s", msg)
			}
		}
		if s.Community != "" && !l.brokenAny[GridFile] {
			if a, ok := l.r.areas[s.Community]; !ok && !l.brokenIDs[s.Community] {
				l.p.feature(file, f.index, f.id, "properties.community", "community %q is not defined in %s", s.Community, GridFile)
			} else if a.Level != LevelCommunity {
				l.p.feature(file, f.index, f.id, "properties.community", "%q is a %s (want a community)", s.Community, a.Level)
			}
		}
		l.r.stations[f.id] = s
	}
}

// checkAreas checks the references between areas and to stations, and that
// the geometry nests: zones inside their community, no overlaps.
func (l *loader) checkAreas(feats []rawFeature) {
	file := l.show(GridFile)
	want := map[Level]Level{LevelCommunity: LevelGrid, LevelZone: LevelCommunity}
	for _, f := range feats {
		a := l.r.areas[f.id]
		parentLevel, needsParent := want[a.Level]
		switch {
		case a.Level == LevelGrid && a.Parent != "":
			l.p.feature(file, f.index, f.id, "properties.parent", "a grid has no parent (got %q)", a.Parent)
		case needsParent && a.Parent == "":
			l.p.feature(file, f.index, f.id, "properties.parent", "missing (want the id of the %s this %s belongs to)", parentLevel, a.Level)
		case needsParent:
			p, ok := l.r.areas[a.Parent]
			if !ok && l.brokenIDs[a.Parent] {
				break
			}
			if !ok {
				l.p.feature(file, f.index, f.id, "properties.parent", "%s %q is not defined", parentLevel, a.Parent)
			} else if p.Level != parentLevel {
				l.p.feature(file, f.index, f.id, "properties.parent", "%q is a %s (want a %s)", a.Parent, p.Level, parentLevel)
			} else if v, outside := firstVertexOutside(a, p); outside {
				l.p.feature(file, f.index, f.id, "geometry", "vertex [%v, %v] lies outside parent %s %q", v.Lon, v.Lat, p.Level, p.ID)
			}
		}
		if a.Station != "" {
			if a.Level != LevelZone {
				l.p.feature(file, f.index, f.id, "properties.station", "only a zone has a station (this is a %s)", a.Level)
			} else if _, ok := l.r.stations[a.Station]; !ok && !l.brokenAny[StationsFile] && !l.brokenIDs[a.Station] {
				l.p.feature(file, f.index, f.id, "properties.station", "station %q is not defined in %s", a.Station, StationsFile)
			}
		}
	}
	for _, f := range feats {
		if a := l.r.areas[f.id]; a.Level == LevelZone {
			l.zoneIdx = append(l.zoneIdx, zoneIndex{area: a, box: boundsOf(a.Polygon)})
		}
	}
	slices.SortFunc(l.zoneIdx, func(a, b zoneIndex) int { return cmp.Compare(a.area.ID, b.area.ID) })
	l.zoneGrid = newZoneGrid(l.zoneIdx)
	// Overlaps between areas of the same level: a sweep over their boxes
	// by west edge, so that only areas whose boxes meet are compared.
	type boxed struct {
		f   rawFeature
		box bbox
	}
	for _, lv := range []Level{LevelCommunity, LevelZone, LevelGrid} {
		var same []boxed
		for _, f := range feats {
			if a := l.r.areas[f.id]; a.Level == lv {
				same = append(same, boxed{f, boundsOf(a.Polygon)})
			}
		}
		slices.SortStableFunc(same, func(a, b boxed) int { return cmp.Compare(a.box.minLon, b.box.minLon) })
		var found [][2]boxed
		for i := range same {
			for j := i + 1; j < len(same) && same[j].box.minLon < same[i].box.maxLon; j++ {
				if !same[i].box.overlaps(same[j].box) {
					continue
				}
				first, second := same[i], same[j]
				if second.f.index < first.f.index {
					first, second = second, first
				}
				if overlaps(l.r.areas[first.f.id], l.r.areas[second.f.id]) {
					found = append(found, [2]boxed{first, second})
				}
			}
		}
		// Reported in file order, as a person reads the file.
		slices.SortFunc(found, func(a, b [2]boxed) int {
			return cmp.Or(cmp.Compare(a[0].f.index, b[0].f.index), cmp.Compare(a[1].f.index, b[1].f.index))
		})
		for _, pr := range found {
			a, b := l.r.areas[pr[0].f.id], l.r.areas[pr[1].f.id]
			l.p.feature(file, pr[1].f.index, b.ID, "geometry", "overlaps %s %q (feature %d): %ss must not overlap", lv, a.ID, pr[0].f.index, lv)
		}
	}
}

// firstVertexOutside returns a vertex of a that lies outside p.
func firstVertexOutside(a, p *Area) (contract.Point, bool) {
	flat := a.Polygon.FlatCoords()
	for i := 0; i+1 < len(flat); i += 2 {
		v := contract.Point{Lon: flat[i], Lat: flat[i+1]}
		if locate(p.Polygon, v) == location.Exterior {
			return v, true
		}
	}
	return contract.Point{}, false
}

// overlaps reports whether two areas share interior: two edges crossing, a
// vertex of one in the interior of the other, or both containing the same
// centroid (which catches a copied polygon). Areas that only touch along
// edges or at vertices do not overlap.
func overlaps(a, b *Area) bool {
	ba, bb := boundsOf(a.Polygon), boundsOf(b.Polygon)
	if ba.maxLon <= bb.minLon || bb.maxLon <= ba.minLon || ba.maxLat <= bb.minLat || bb.maxLat <= ba.minLat {
		return false
	}
	if edgesCross(a.Polygon, b.Polygon) {
		return true
	}
	for _, pair := range [][2]*Area{{a, b}, {b, a}} {
		flat := pair[0].Polygon.FlatCoords()
		for i := 0; i+1 < len(flat); i += 2 {
			if locate(pair[1].Polygon, contract.Point{Lon: flat[i], Lat: flat[i+1]}) == location.Interior {
				return true
			}
		}
		c := xy.MultiPolygonCentroid(pair[0].Polygon)
		cp := contract.Point{Lon: c.X(), Lat: c.Y()}
		if locate(pair[0].Polygon, cp) == location.Interior && locate(pair[1].Polygon, cp) == location.Interior {
			return true
		}
	}
	return false
}

// edgesCross reports whether an edge of a properly crosses an edge of b:
// they meet at one point interior to both. Orientation is computed exactly.
func edgesCross(a, b *geom.MultiPolygon) bool {
	ea, eb := edges(a), edges(b)
	for _, e := range ea {
		for _, f := range eb {
			if max(e[0], e[2]) <= min(f[0], f[2]) || max(f[0], f[2]) <= min(e[0], e[2]) ||
				max(e[1], e[3]) <= min(f[1], f[3]) || max(f[1], f[3]) <= min(e[1], e[3]) {
				continue
			}
			p1, p2 := geom.Coord(e[0:2]), geom.Coord(e[2:4])
			q1, q2 := geom.Coord(f[0:2]), geom.Coord(f[2:4])
			o1, o2 := xy.OrientationIndex(p1, p2, q1), xy.OrientationIndex(p1, p2, q2)
			o3, o4 := xy.OrientationIndex(q1, q2, p1), xy.OrientationIndex(q1, q2, p2)
			if o1 != orientation.Collinear && o2 != orientation.Collinear && o1 != o2 &&
				o3 != orientation.Collinear && o4 != orientation.Collinear && o3 != o4 {
				return true
			}
		}
	}
	return false
}

// edges lists the segments of every ring of mp as [x1, y1, x2, y2].
func edges(mp *geom.MultiPolygon) [][4]float64 {
	var out [][4]float64
	flat, offset := mp.FlatCoords(), 0
	for _, ends := range mp.Endss() {
		for _, end := range ends {
			for i := offset; i+3 < end; i += 2 {
				out = append(out, [4]float64{flat[i], flat[i+1], flat[i+2], flat[i+3]})
			}
			offset = end
		}
	}
	return out
}

// zonesAt returns the zones whose closed polygon contains p, sorted by id.
func (l *loader) zonesAt(p contract.Point) []*Area {
	var out []*Area
	if l.zoneGrid == nil {
		return nil
	}
	l.zoneGrid.candidates(p, func(z *zoneIndex) bool {
		if locate(z.area.Polygon, p) != location.Exterior {
			out = append(out, z.area)
		}
		return true
	})
	return out
}

func (l *loader) readSites() {
	file := l.show(SitesFile)
	t, ok := l.table(SitesFile, false)
	if !ok {
		return
	}
	if t == nil {
		l.brokenAny[SitesFile] = true
		return
	}
	l.r.sites = make(map[string]*Site, len(t.rows))
	l.siteLine = make(map[string]int, len(t.rows))
	for _, row := range t.rows {
		id := t.get(row, "id")
		if msg := checkID(id); msg != "" {
			l.p.line(file, row.line, "id", "%s", msg)
			continue
		}
		if prev, dup := l.siteLine[id]; dup {
			l.p.line(file, row.line, "id", "duplicate id %q (first defined on line %d)", id, prev)
			continue
		}
		l.siteLine[id] = row.line
		// Copies, not views of the CSV row: the row, with its numbers and
		// separators, is not kept alive by them.
		id = strings.Clone(id)
		s := &Site{
			ID:      id,
			Name:    strings.Clone(t.get(row, "name")),
			Type:    internSiteType(t.get(row, "type")),
			Address: strings.Clone(t.get(row, "address")),
		}
		switch {
		case knownSiteType(s.Type):
		case s.Type == "":
			l.p.line(file, row.line, "type", "missing value (want %s)", siteTypesWant)
		default:
			l.p.line(file, row.line, "type", "unknown site type %q (want %s)", s.Type, siteTypesWant)
		}
		lon, msgLon := parseCoord(t.get(row, "lon"), 180)
		lat, msgLat := parseCoord(t.get(row, "lat"), 90)
		if msgLon != "" {
			l.p.line(file, row.line, "lon", "%s %q (want a longitude in degrees, -180..180)", msgLon, t.get(row, "lon"))
		}
		if msgLat != "" {
			l.p.line(file, row.line, "lat", "%s %q (want a latitude in degrees, -90..90)", msgLat, t.get(row, "lat"))
		}
		l.r.sites[id] = s
		if msgLon != "" || msgLat != "" {
			continue
		}
		s.Location = contract.Point{Lon: lon, Lat: lat}
		if l.brokenAny[GridFile] {
			continue
		}
		zones := l.zonesAt(s.Location)
		switch len(zones) {
		case 0:
			if l.partialGrid {
				continue
			}
			l.p.line(file, row.line, "lon,lat", "[%v, %v] lies outside every zone of %s (every site must be in exactly one zone)", lon, lat, GridFile)
			continue
		case 1:
		default:
			ids := make([]string, len(zones))
			for i, z := range zones {
				ids[i] = strconv.Quote(z.ID)
			}
			l.p.line(file, row.line, "lon,lat", "[%v, %v] lies in zones %s (zones overlap or the site is on their shared edge; every site must be in exactly one zone)", lon, lat, strings.Join(ids, " and "))
			continue
		}
		z := zones[0]
		s.Zone = z.ID
		s.Community = z.Parent
		if c, ok := l.r.areas[z.Parent]; ok {
			s.Grid = c.Parent
		}
		s.Station = z.Station
	}
}

// intern returns one copy of each distinct string (device models repeat
// across a city).
func (l *loader) intern(s string) string {
	if s == "" {
		return ""
	}
	if c, ok := l.strings[s]; ok {
		return c
	}
	c := strings.Clone(s)
	l.strings[c] = c
	return c
}

// internSiteType returns the site type's own constant for a known type.
func internSiteType(s string) contract.SiteType {
	for _, t := range []contract.SiteType{contract.SiteHousehold, contract.SiteCorridor, contract.SiteChargingShed, contract.SiteHydrant} {
		if string(t) == s {
			return t
		}
	}
	return contract.SiteType(s)
}

func (l *loader) readResidents() {
	file := l.show(ResidentsFile)
	t, ok := l.table(ResidentsFile, true)
	if !ok || t == nil {
		return
	}
	for _, row := range t.rows {
		site := t.get(row, "site")
		s, ok := l.r.sites[site]
		switch {
		case site == "":
			l.p.line(file, row.line, "site", "missing value (want a site id from %s)", SitesFile)
		case !ok && !l.brokenAny[SitesFile]:
			l.p.line(file, row.line, "site", "site %q is not defined in %s", site, SitesFile)
		}
		res := Resident{
			Name:     t.get(row, "name"),
			Phone:    t.get(row, "phone"),
			Guardian: contract.Contact{Name: t.get(row, "guardian_name"), Phone: t.get(row, "guardian_phone")},
		}
		if res.Name == "" {
			l.p.line(file, row.line, "name", "missing value (want the resident's name)")
		}
		if a := t.get(row, "age"); a != "" {
			n, err := strconv.Atoi(a)
			if err != nil || n < 0 || n > maxResidentAge {
				l.p.line(file, row.line, "age", "%q is not an age (want a whole number 0..%d, or empty)", a, maxResidentAge)
			}
			res.Age = n
		}
		for _, ph := range []string{"phone", "guardian_phone"} {
			if v := t.get(row, ph); v != "" {
				if msg := checkPhone(v); msg != "" {
					l.p.line(file, row.line, ph, "%s", msg)
				}
			}
		}
		for _, b := range []struct {
			col string
			dst *bool
		}{
			{"elderly_alone", &res.Flags.ElderlyAlone},
			{"bereaved", &res.Flags.Bereaved},
			{"disabled", &res.Flags.Disabled},
		} {
			v, ok := parseBool(t.get(row, b.col))
			if !ok {
				l.p.line(file, row.line, b.col, "%q is not a boolean (want true/false, yes/no, 1/0 or empty)", t.get(row, b.col))
			}
			*b.dst = v
		}
		if s != nil {
			s.residents.add(res)
			s.Flags.ElderlyAlone = s.Flags.ElderlyAlone || res.Flags.ElderlyAlone
			s.Flags.Bereaved = s.Flags.Bereaved || res.Flags.Bereaved
			s.Flags.Disabled = s.Flags.Disabled || res.Flags.Disabled
			if s.Guardian.Name == "" && res.Guardian.Name != "" {
				s.Guardian = contract.Contact{Name: strings.Clone(res.Guardian.Name), Phone: strings.Clone(res.Guardian.Phone)}
			}
		}
	}
}

func (l *loader) readDevices() {
	file := l.show(DevicesFile)
	t, ok := l.table(DevicesFile, false)
	if !ok || t == nil {
		return
	}
	first := make(map[string]int, len(t.rows))
	l.r.devices = make(map[string]*Device, len(t.rows))
	for _, row := range t.rows {
		id := t.get(row, "id")
		if msg := checkID(id); msg != "" {
			l.p.line(file, row.line, "id", "%s", msg)
			continue
		}
		if prev, dup := first[id]; dup {
			l.p.line(file, row.line, "id", "duplicate id %q (first defined on line %d)", id, prev)
			continue
		}
		first[id] = row.line
		d := &Device{ID: strings.Clone(id), Site: t.get(row, "site"), Model: l.intern(t.get(row, "model"))}
		kind, err := contract.ParseKind(t.get(row, "kind"))
		switch {
		case t.get(row, "kind") == "":
			l.p.line(file, row.line, "kind", "missing value (want smoke, hydrant or charger)")
		case err != nil:
			l.p.line(file, row.line, "kind", "%v", err)
		}
		d.Kind = kind
		site, siteOK := l.r.sites[d.Site]
		if siteOK {
			d.Site = site.ID // the site's own string, not a view of this row
		}
		switch {
		case d.Site == "":
			l.p.line(file, row.line, "site", "missing value (want a site id from %s)", SitesFile)
		case !siteOK && !l.brokenAny[SitesFile]:
			l.p.line(file, row.line, "site", "site %q is not defined in %s", d.Site, SitesFile)
		case siteOK && kind != "" && knownSiteType(site.Type) && !slices.Contains(deviceSiteTypesFor[kind], site.Type):
			var w []string
			for _, st := range deviceSiteTypesFor[kind] {
				w = append(w, string(st))
			}
			l.p.line(file, row.line, "site", "a %s device cannot be installed at %s site %q (want a %s site)", kind, site.Type, d.Site, strings.Join(w, " or "))
		}
		// Ports: chargers only.
		ports := t.get(row, "ports")
		switch {
		case kind == contract.KindCharger:
			n, err := strconv.Atoi(ports)
			if err != nil || n < 1 || n > maxChargerPorts {
				l.p.line(file, row.line, "ports", "%q is not a port count (want 1..%d for a charger)", ports, maxChargerPorts)
			}
			d.Ports = n
		case ports != "" && kind != "":
			l.p.line(file, row.line, "ports", "only a charger has ports (this is a %s; leave it empty)", kind)
		}
		// Location: the site's unless both lon and lat are given.
		lonS, latS := t.get(row, "lon"), t.get(row, "lat")
		if siteOK {
			d.Location = site.Location
		}
		if lonS != "" || latS != "" {
			lon, msgLon := parseCoord(lonS, 180)
			lat, msgLat := parseCoord(latS, 90)
			if msgLon != "" {
				l.p.line(file, row.line, "lon", "%s %q (want a longitude in degrees, -180..180, or lon and lat both empty for the site's location)", msgLon, lonS)
			}
			if msgLat != "" {
				l.p.line(file, row.line, "lat", "%s %q (want a latitude in degrees, -90..90, or lon and lat both empty for the site's location)", msgLat, latS)
			}
			if msgLon == "" && msgLat == "" {
				d.Location = contract.Point{Lon: lon, Lat: lat}
				if !l.brokenAny[GridFile] && !l.partialGrid && len(l.zonesAt(d.Location)) == 0 {
					l.p.line(file, row.line, "lon,lat", "[%v, %v] lies outside every zone of %s", lon, lat, GridFile)
				}
			}
		}
		l.readAddresses(t, row, d, file)
		l.r.devices[id] = d
	}
}

func knownSiteType(t contract.SiteType) bool {
	switch t {
	case contract.SiteHousehold, contract.SiteCorridor, contract.SiteChargingShed, contract.SiteHydrant, contract.SiteBuilding:
		return true
	}
	return false
}

// index fills the derived fields and the sorted lists; it runs only on a
// registry that loaded without problems.
func (l *loader) index() {
	r := l.r
	byID := func(a, b string) int { return cmp.Compare(a, b) }
	// Stations: nearest station for sites whose zone has none.
	for _, s := range r.stations {
		r.stationList = append(r.stationList, s)
	}
	slices.SortFunc(r.stationList, func(a, b *Station) int { return byID(a.ID, b.ID) })
	for _, a := range r.areas {
		r.byLevel[a.Level] = append(r.byLevel[a.Level], a)
	}
	for lv := range r.byLevel {
		slices.SortFunc(r.byLevel[lv], func(a, b *Area) int { return byID(a.ID, b.ID) })
	}
	r.zones = l.zoneGrid
	if r.zones == nil {
		r.zones = newZoneGrid(nil)
	}
	for _, z := range r.byLevel[LevelZone] {
		if z.Station != "" {
			st := r.stations[z.Station]
			st.Zones = append(st.Zones, z.ID)
		}
	}
	for _, s := range r.sites {
		r.siteList = append(r.siteList, s)
		if s.Station == "" {
			if _, st := r.Route(s.Location); st != nil {
				s.Station = st.ID
			}
		}
	}
	slices.SortFunc(r.siteList, func(a, b *Site) int { return byID(a.ID, b.ID) })
	for _, d := range r.devices {
		d.site = r.sites[d.Site]
		r.allDevices = append(r.allDevices, d)
	}
	slices.SortFunc(r.allDevices, func(a, b *Device) int { return byID(a.ID, b.ID) })
	r.units = map[string][]*Device{}
	for _, d := range r.allDevices {
		r.byKind[d.Kind] = append(r.byKind[d.Kind], d)
		r.siteDevices[d.Site] = append(r.siteDevices[d.Site], d)
		if d.Addresses().GB26875 != "" {
			unit, _, _ := strings.Cut(d.Addresses().GB26875, "/")
			r.units[unit] = append(r.units[unit], d)
		}
	}
	r.gaps = findGaps(r)
}
