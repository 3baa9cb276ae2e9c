package devices_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/firegrid/firegrid/devices"
	"github.com/firegrid/firegrid/internal/conf"
)

// A small valid registry: grid G-1 = community C-1, split into zone Z-1
// (west, station MFS-1) and Z-2 (east, no station).
const (
	okGrid = `{"type": "FeatureCollection", "features": [
{"type": "Feature", "properties": {"id": "G-1", "name": "测试街道", "level": "grid"}, "geometry": {"type": "Polygon", "coordinates": [[[113.00, 34.00], [113.02, 34.00], [113.02, 34.01], [113.00, 34.01], [113.00, 34.00]]]}},
{"type": "Feature", "properties": {"id": "C-1", "name": "测试社区", "level": "community", "parent": "G-1"}, "geometry": {"type": "Polygon", "coordinates": [[[113.00, 34.00], [113.02, 34.00], [113.02, 34.01], [113.00, 34.01], [113.00, 34.00]]]}},
{"type": "Feature", "properties": {"id": "Z-1", "name": "西片", "level": "zone", "parent": "C-1", "station": "MFS-1", "grid_worker_name": "张伟", "grid_worker_phone": "13800000001"}, "geometry": {"type": "Polygon", "coordinates": [[[113.00, 34.00], [113.01, 34.00], [113.01, 34.01], [113.00, 34.01], [113.00, 34.00]]]}},
{"type": "Feature", "properties": {"id": "Z-2", "name": "东片", "level": "zone", "parent": "C-1", "station": ""}, "geometry": {"type": "MultiPolygon", "coordinates": [[[[113.01, 34.00], [113.02, 34.00], [113.02, 34.01], [113.01, 34.01], [113.01, 34.00]]]]}}
]}`
	okStations = `{"type": "FeatureCollection", "features": [
{"type": "Feature", "properties": {"id": "MFS-1", "name": "测试微型消防站", "phone": "13800000002", "community": "C-1"}, "geometry": {"type": "Point", "coordinates": [113.005, 34.005]}}
]}`
	okSites = "id,type,name,address,lon,lat\n" +
		"H-1,household,住户,测试路 1号院 1号楼 1单元 101,113.004,34.004\n" +
		"HYD-1,hydrant,消火栓,测试路口,113.015,34.005\n" +
		"SHED-1,charging_shed,充电棚,测试路 2号,113.016,34.006\n"
	okResidents = "site,name,age,phone,elderly_alone,bereaved,disabled,guardian_name,guardian_phone\n" +
		"H-1,王秀英,82,,yes,,,王建国,13800000003\n"
	okDevices = "id,kind,site,lon,lat,model,ports\n" +
		"SD-1,smoke,H-1,,,m,\n" +
		"HY-1,hydrant,HYD-1,,,m,\n" +
		"CH-1,charger,SHED-1,113.0161,34.0061,m,10\n" +
		"SD-2,smoke,SHED-1,,,m,\n"
)

func okFS() fstest.MapFS {
	return fstest.MapFS{
		"reg/grid.geojson":     {Data: []byte(okGrid)},
		"reg/stations.geojson": {Data: []byte(okStations)},
		"reg/sites.csv":        {Data: []byte(okSites)},
		"reg/residents.csv":    {Data: []byte(okResidents)},
		"reg/devices.csv":      {Data: []byte(okDevices)},
	}
}

func TestSmallRegistryLoads(t *testing.T) {
	r, err := devices.LoadFS(okFS(), "reg")
	if err != nil {
		t.Fatal(err)
	}
	h, _ := r.Site("H-1")
	if h.Zone != "Z-1" || h.Community != "C-1" || h.Grid != "G-1" || h.Station != "MFS-1" {
		t.Errorf("H-1 placed in %s/%s/%s/%s", h.Grid, h.Community, h.Zone, h.Station)
	}
	if !h.Flags.ElderlyAlone || h.Guardian.Phone != "13800000003" {
		t.Errorf("H-1 flags %+v guardian %+v", h.Flags, h.Guardian)
	}
	// HYD-1 is in Z-2, which has no station: the nearest (only) one answers.
	hy, _ := r.Device("HY-1")
	if hy.Zone() != "Z-2" || hy.Station() != "MFS-1" {
		t.Errorf("HY-1 zone %s station %s, want Z-2 and MFS-1", hy.Zone(), hy.Station())
	}
	z2, _ := r.Area("Z-2")
	if z2.Polygon == nil || z2.Polygon.NumPolygons() != 1 {
		t.Errorf("Z-2 MultiPolygon not decoded")
	}
	// Residents is optional.
	fsys := okFS()
	delete(fsys, "reg/residents.csv")
	if _, err := devices.LoadFS(fsys, "reg"); err != nil {
		t.Errorf("without residents.csv: %v", err)
	}
	// Gaps: Z-2 without a station and without a grid worker.
	kinds := map[string]bool{}
	for _, g := range r.Gaps() {
		kinds[g.Kind+" "+g.ID] = true
	}
	for _, want := range []string{devices.GapZoneWithoutStation + " Z-2", devices.GapZoneWithoutGridWorker + " Z-2"} {
		if !kinds[want] {
			t.Errorf("Gaps() lacks %q: %v", want, r.Gaps())
		}
	}
	if kinds[devices.GapZoneWithoutStation+" Z-1"] {
		t.Error("Z-1 has a station but is reported as a gap")
	}
}

func TestValidationErrors(t *testing.T) {
	type edit struct{ file, old, new string }
	for _, tc := range []struct {
		name  string
		edits []edit
		want  []string // each must appear in the error
	}{
		{"unknown kind", []edit{{"devices.csv", "SD-1,smoke", "SD-1,smok"}},
			[]string{`reg/devices.csv:2:6: kind: unknown device kind "smok" (want smoke, hydrant, charger, electrical, gas, button or camera)`}},
		{"duplicate device", []edit{{"devices.csv", "HY-1,hydrant,HYD-1", "SD-1,hydrant,HYD-1"}},
			[]string{`reg/devices.csv:3:1: id: duplicate id "SD-1" (first defined on line 2)`}},
		{"unknown site", []edit{{"devices.csv", "SD-1,smoke,H-1", "SD-1,smoke,H-9"}},
			[]string{`reg/devices.csv:2:12: site: site "H-9" is not defined in sites.csv`}},
		{"unknown column", []edit{{"devices.csv", "model,ports", "model,ports,colour"}},
			[]string{`reg/devices.csv:1:34: colour: unknown column`}},
		{"missing column", []edit{{"devices.csv", "id,kind,site,", "id,kind,"}},
			[]string{`reg/devices.csv:1: site: missing column`}},
		{"wrong field count", []edit{{"devices.csv", "SD-1,smoke,H-1,,,m,", "SD-1,smoke,H-1"}},
			[]string{`reg/devices.csv:2:`, `wrong number of fields`}},
		{"charger ports 0", []edit{{"devices.csv", "m,10", "m,0"}},
			[]string{`reg/devices.csv:4:40: ports: "0" is not a port count (want 1..64 for a charger)`}},
		{"charger ports 65", []edit{{"devices.csv", "m,10", "m,65"}},
			[]string{`reg/devices.csv:4:40: ports: "65"`}},
		{"charger ports missing", []edit{{"devices.csv", "m,10", "m,"}},
			[]string{`reg/devices.csv:4:40: ports: ""`}},
		{"ports on a smoke detector", []edit{{"devices.csv", "SD-1,smoke,H-1,,,m,", "SD-1,smoke,H-1,,,m,4"}},
			[]string{`reg/devices.csv:2:20: ports: only a charger has ports`}},
		{"charger in a household", []edit{{"devices.csv", "CH-1,charger,SHED-1,113.0161,34.0061", "CH-1,charger,H-1,,"}},
			[]string{`reg/devices.csv:4:14: site: a charger device cannot be installed at household site "H-1"`}},
		{"device lat out of range", []edit{{"devices.csv", "113.0161,34.0061", "113.0161,94"}},
			[]string{`reg/devices.csv:4:30: lat: out of range "94"`}},
		{"device outside every zone", []edit{{"devices.csv", "113.0161,34.0061", "113.5,34.0061"}},
			[]string{`reg/devices.csv:4:21: lon,lat: [113.5, 34.0061] lies outside every zone`}},
		{"bad device id", []edit{{"devices.csv", "SD-1,smoke", "SD/1,smoke"}},
			[]string{`reg/devices.csv:2:1: id: id "SD/1" has character '/'`}},
		{"site lon out of range", []edit{{"sites.csv", "113.004,34.004", "213.004,34.004"}},
			[]string{`reg/sites.csv:2:38: lon: out of range "213.004" (want a longitude in degrees, -180..180)`}},
		{"site lat not a number", []edit{{"sites.csv", "113.004,34.004", "113.004,北纬34"}},
			[]string{`reg/sites.csv:2:46: lat: not a number "北纬34"`}},
		{"site type", []edit{{"sites.csv", "H-1,household", "H-1,flat"}},
			[]string{`reg/sites.csv:2:5: type: unknown site type "flat" (want household, corridor, charging_shed, hydrant or building)`}},
		{"duplicate site", []edit{{"sites.csv", "HYD-1,hydrant", "H-1,hydrant"}},
			[]string{`reg/sites.csv:3:1: id: duplicate id "H-1" (first defined on line 2)`}},
		{"site outside every zone", []edit{{"sites.csv", "113.004,34.004", "113.5,34.004"}},
			[]string{`reg/sites.csv:2:38: lon,lat: [113.5, 34.004] lies outside every zone`}},
		{"site in a zone's hole", []edit{{"grid.geojson", `[[[113.00, 34.00], [113.01, 34.00], [113.01, 34.01], [113.00, 34.01], [113.00, 34.00]]]}}`, `[[[113.00, 34.00], [113.01, 34.00], [113.01, 34.01], [113.00, 34.01], [113.00, 34.00]], [[113.003, 34.003], [113.005, 34.003], [113.005, 34.005], [113.003, 34.005], [113.003, 34.003]]]}}`}},
			[]string{`reg/sites.csv:2:38: lon,lat: [113.004, 34.004] lies outside every zone`}},
		{"site on a shared edge", []edit{{"sites.csv", "113.004,34.004", "113.01,34.004"}},
			[]string{`reg/sites.csv:2:38: lon,lat: [113.01, 34.004] lies in zones "Z-1" and "Z-2"`}},
		{"site missing id", []edit{{"sites.csv", "H-1,household", ",household"}},
			[]string{`reg/sites.csv:2:1: id: missing value`}},
		{"resident unknown site", []edit{{"residents.csv", "H-1,王秀英", "H-2,王秀英"}},
			[]string{`reg/residents.csv:2:1: site: site "H-2" is not defined in sites.csv`}},
		{"resident bad boolean", []edit{{"residents.csv", ",yes,", ",maybe,"}},
			[]string{`reg/residents.csv:2:13: elderly_alone: "maybe" is not a boolean`}},
		{"resident bad age", []edit{{"residents.csv", ",82,", ",八十二,"}},
			[]string{`reg/residents.csv:2:9: age: "八十二" is not an age`}},
		{"resident bad phone", []edit{{"residents.csv", "13800000003", "call me"}},
			[]string{`reg/residents.csv:2:23: guardian_phone: "call me" is not a phone number`}},
		{"undefined parent", []edit{{"grid.geojson", `"parent": "C-1", "station": "MFS-1"`, `"parent": "C-9", "station": "MFS-1"`}},
			[]string{`reg/grid.geojson:4:80: features.2.properties.parent (id "Z-1"): community "C-9" is not defined`}},
		{"parent of the wrong level", []edit{{"grid.geojson", `"parent": "C-1", "station": "MFS-1"`, `"parent": "G-1", "station": "MFS-1"`}},
			[]string{`reg/grid.geojson:4:80: features.2.properties.parent (id "Z-1"): "G-1" is a grid (want a community)`}},
		{"zone without parent", []edit{{"grid.geojson", `"parent": "C-1", "station": ""`, `"station": ""`}},
			[]string{`reg/grid.geojson:5:21: features.3.properties.parent (id "Z-2"): missing`}},
		{"undefined station", []edit{{"grid.geojson", `"station": "MFS-1"`, `"station": "MFS-7"`}},
			[]string{`reg/grid.geojson:4:97: features.2.properties.station (id "Z-1"): station "MFS-7" is not defined in stations.geojson`}},
		{"unknown level", []edit{{"grid.geojson", `"level": "zone", "parent": "C-1", "station": ""`, `"level": "片区", "parent": "C-1", "station": ""`}},
			[]string{`reg/grid.geojson:5:63: features.3.properties.level (id "Z-2"): unknown level "片区" (want grid, community or zone)`}},
		{"unknown property", []edit{{"grid.geojson", `"name": "西片"`, `"name": "西片", "stroke": "#f00"`}},
			[]string{`reg/grid.geojson:4:63: features.2.properties.stroke (id "Z-1"): unknown property`}},
		{"property not a string", []edit{{"grid.geojson", `"name": "西片"`, `"name": 7`}},
			[]string{`reg/grid.geojson:4:49: features.2.properties.name (id "Z-1"): got 7, want a string`}},
		{"duplicate area", []edit{{"grid.geojson", `"id": "Z-2"`, `"id": "Z-1"`}},
			[]string{`reg/grid.geojson:5:36: features.3.properties.id (id "Z-1"): duplicate id (first defined by feature 2)`}},
		{"wrong geometry type", []edit{{"grid.geojson", `{"type": "MultiPolygon", "coordinates": [[[[113.01, 34.00], [113.02, 34.00], [113.02, 34.01], [113.01, 34.01], [113.01, 34.00]]]]}`, `{"type": "LineString", "coordinates": [[113.01, 34.00], [113.02, 34.00]]}`}},
			[]string{`reg/grid.geojson:5:113: features.3.geometry (id "Z-2"): type "LineString" not accepted here (want Polygon or MultiPolygon)`}},
		{"ring not closed", []edit{{"grid.geojson", `[113.01, 34.01], [113.01, 34.00]]]]}`, `[113.01, 34.01], [113.011, 34.00]]]]}`}},
			[]string{`reg/grid.geojson:5:113: features.3.geometry (id "Z-2"): polygon 0 ring 0 is not closed`}},
		{"coordinate out of range", []edit{{"grid.geojson", `[[[[113.01, 34.00], [113.02, 34.00]`, `[[[[113.01, 34.00], [113.02, 134.00]`}},
			[]string{`reg/grid.geojson:5:113: features.3.geometry (id "Z-2"): polygon 0 ring 0: position [113.02, 134] out of range`}},
		{"overlapping zones", []edit{{"grid.geojson", `[[[[113.01, 34.00], [113.02, 34.00], [113.02, 34.01], [113.01, 34.01], [113.01, 34.00]]]]`, `[[[[113.005, 34.00], [113.02, 34.00], [113.02, 34.01], [113.005, 34.01], [113.005, 34.00]]]]`}},
			[]string{`reg/grid.geojson:5:113: features.3.geometry (id "Z-2"): overlaps zone "Z-1" (feature 2)`}},
		{"zones crossing like a plus sign", []edit{
			{"grid.geojson", `[[[113.00, 34.00], [113.01, 34.00], [113.01, 34.01], [113.00, 34.01], [113.00, 34.00]]]}}`, `[[[113.004, 34.00], [113.006, 34.00], [113.006, 34.01], [113.004, 34.01], [113.004, 34.00]]]}}`},
			{"grid.geojson", `[[[[113.01, 34.00], [113.02, 34.00], [113.02, 34.01], [113.01, 34.01], [113.01, 34.00]]]]`, `[[[[113.00, 34.004], [113.02, 34.004], [113.02, 34.0045], [113.00, 34.0045], [113.00, 34.004]]]]`},
			{"sites.csv", "113.004,34.004", "113.005,34.002"},
		}, []string{`reg/grid.geojson:5:113: features.3.geometry (id "Z-2"): overlaps zone "Z-1" (feature 2)`}},
		{"zone outside its community", []edit{{"grid.geojson", `[[[[113.01, 34.00], [113.02, 34.00], [113.02, 34.01], [113.01, 34.01], [113.01, 34.00]]]]`, `[[[[113.01, 34.00], [113.03, 34.00], [113.03, 34.01], [113.01, 34.01], [113.01, 34.00]]]]`}},
			[]string{`reg/grid.geojson:5:113: features.3.geometry (id "Z-2"): vertex [113.03, 34] lies outside parent community "C-1"`}},
		{"not a feature collection", []edit{{"grid.geojson", `"FeatureCollection"`, `"Feature"`}},
			[]string{`reg/grid.geojson:1:2: type: got "Feature", want "FeatureCollection"`}},
		{"JSON syntax error", []edit{{"grid.geojson", `"level": "grid"}`, `"level": "grid"`}},
			[]string{`reg/grid.geojson:3:1: not valid GeoJSON`}},
		{"station not a point", []edit{{"stations.geojson", `{"type": "Point", "coordinates": [113.005, 34.005]}`, `{"type": "Polygon", "coordinates": [[[113.00, 34.00], [113.01, 34.00], [113.01, 34.01], [113.00, 34.00]]]}`}},
			[]string{`reg/stations.geojson:2:115: features.0.geometry (id "MFS-1"): type "Polygon" not accepted here (want Point)`}},
		{"station community undefined", []edit{{"stations.geojson", `"community": "C-1"`, `"community": "C-3"`}},
			[]string{`reg/stations.geojson:2:94: features.0.properties.community (id "MFS-1"): community "C-3" is not defined in grid.geojson`}},
		{"missing devices file", []edit{{"devices.csv", "", ""}},
			[]string{`reg/devices.csv: missing`}},
		{"several errors at once", []edit{{"devices.csv", "SD-1,smoke", "SD-1,smok"}, {"sites.csv", "113.004,34.004", "113.004,91"}, {"grid.geojson", `"station": "MFS-1"`, `"station": "MFS-7"`}},
			[]string{`reg/devices.csv:2:6: kind: unknown device kind`, `reg/sites.csv:2:46: lat: out of range`, `reg/grid.geojson:4:97: features.2.properties.station (id "Z-1"): station "MFS-7"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fsys := okFS()
			for _, e := range tc.edits {
				key := "reg/" + e.file
				if e.old == "" && e.new == "" {
					delete(fsys, key)
					continue
				}
				data := string(fsys[key].Data)
				if !strings.Contains(data, e.old) {
					t.Fatalf("test is broken: %s has no %q", e.file, e.old)
				}
				fsys[key] = &fstest.MapFile{Data: []byte(strings.Replace(data, e.old, e.new, 1))}
			}
			r, err := devices.LoadFS(fsys, "reg")
			if err == nil {
				t.Fatal("loaded without error")
			}
			if r != nil {
				t.Error("returned a registry along with the error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not contain\n\t%s\ngot:\n\t%s", w, strings.ReplaceAll(err.Error(), "\n", "\n\t"))
				}
			}
			var fe *conf.Error
			if !errors.As(err, &fe) {
				t.Errorf("error %v holds no *conf.Error", err)
			}
		})
	}
}

// Load (not LoadFS) names files by their path on disk.
func TestLoadNamesFilesOnDisk(t *testing.T) {
	dir := t.TempDir()
	for name, f := range okFS() {
		data := f.Data
		if name == "reg/devices.csv" {
			data = []byte(strings.Replace(string(data), "SD-1,smoke", "SD-1,smok", 1))
		}
		if err := os.WriteFile(filepath.Join(dir, strings.TrimPrefix(name, "reg/")), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	_, err := devices.Load(dir)
	want := filepath.Join(dir, "devices.csv") + `:2:6: kind: unknown device kind "smok"`
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("error %v, want it to contain %s", err, want)
	}
	var fe *conf.Error
	if !errors.As(err, &fe) || fe.Line != 2 || fe.Column != 6 || fe.Field != "kind" || fe.File != filepath.Join(dir, "devices.csv") {
		t.Errorf("conf.Error %+v", fe)
	}
	if _, err := devices.Load(filepath.Join(dir, "nowhere")); err == nil || !strings.Contains(err.Error(), "nowhere") {
		t.Errorf("Load of a missing directory: %v", err)
	}
}

// CSV files from spreadsheets start with a byte-order mark and may have
// the columns in another order.
func TestCSVBOMAndColumnOrder(t *testing.T) {
	fsys := okFS()
	fsys["reg/devices.csv"] = &fstest.MapFile{Data: []byte("\ufeffkind,id,site,ports\n" +
		"smoke,SD-1,H-1,\nhydrant,HY-1,HYD-1,\ncharger,CH-1,SHED-1,8\n# a comment line\nsmoke,SD-2,SHED-1,\n")}
	r, err := devices.LoadFS(fsys, "reg")
	if err != nil {
		t.Fatal(err)
	}
	ch, ok := r.Device("CH-1")
	if !ok || ch.Ports != 8 {
		t.Errorf("CH-1 = %+v", ch)
	}
	if len(r.Devices("")) != 4 {
		t.Errorf("%d devices, want 4", len(r.Devices("")))
	}
}
