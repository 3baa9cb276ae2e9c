package devices_test

import (
	"testing"
	"testing/fstest"

	"github.com/firegrid/firegrid/contract"
	"github.com/firegrid/firegrid/devices"
	"github.com/firegrid/firegrid/internal/conf/conftest"
)

// FuzzLoadCSV feeds arbitrary bytes as devices.csv and as sites.csv: loading
// must never panic, its errors must be *conf.Error values, and a registry
// that loads must be consistent.
func FuzzLoadCSV(f *testing.F) {
	f.Add([]byte(okDevices), []byte(okSites))
	f.Add([]byte("id,kind,site,lon,lat,model,ports\nCH-1,charger,SHED-1,,,m,64\nSD-1,smoke,H-1,,,m,\n"), []byte(okSites))
	f.Add([]byte("\ufeffid,kind,site\n\"SD-1\",smoke,\"H-1\"\n"), []byte(okSites))
	f.Add([]byte("id,kind,site\nSD-1,smoke,H-1,extra\n\"unterminated"), []byte("id,type,lon,lat\nH-1,household,NaN,Inf\n"))
	f.Add([]byte(""), []byte(""))
	f.Add([]byte("id,kind,site,lon,lat\nSD-1,smoke,H-1,113.01,34.004\n"), []byte("id,type,lon,lat\nH-1,household,113.01,34.004\n"))
	f.Fuzz(func(t *testing.T, devicesCSV, sitesCSV []byte) {
		fsys := okFS()
		fsys["reg/devices.csv"] = &fstest.MapFile{Data: devicesCSV}
		fsys["reg/sites.csv"] = &fstest.MapFile{Data: sitesCSV}
		r, err := devices.LoadFS(fsys, "reg")
		if bad := conftest.Check(err); bad != nil {
			t.Fatal(bad)
		}
		if err != nil {
			if r != nil {
				t.Fatal("registry returned with an error")
			}
			return
		}
		for _, d := range r.Devices("") {
			if _, err := contract.ParseKind(string(d.Kind)); err != nil {
				t.Fatalf("device %s loaded with kind %q", d.ID, d.Kind)
			}
			s, ok := r.Site(d.Site)
			if !ok {
				t.Fatalf("device %s loaded with unknown site %q", d.ID, d.Site)
			}
			if d.Zone() == "" || d.Zone() != s.Zone || d.Station() == "" {
				t.Fatalf("device %s not placed: zone %q station %q", d.ID, d.Zone(), d.Station())
			}
			if d.Kind == contract.KindCharger && (d.Ports < 1 || d.Ports > 64) {
				t.Fatalf("charger %s with %d ports", d.ID, d.Ports)
			}
			r.Route(d.Location)
			r.Nearby(d.Location, d.Kind, 3)
		}
		r.Gaps()
	})
}

// FuzzLoadGeoJSON feeds arbitrary bytes as grid.geojson and
// stations.geojson: loading must never panic, and its errors must be
// *conf.Error values.
func FuzzLoadGeoJSON(f *testing.F) {
	f.Add([]byte(okGrid), []byte(okStations))
	f.Add([]byte(`{"type":"FeatureCollection","features":[{"type":"Feature","properties":{"id":"Z"},"geometry":{"type":"Polygon","coordinates":[[[0,0],[1,0],[0,0]]]}}]}`), []byte(`{"type":"FeatureCollection","features":[null]}`))
	f.Add([]byte(`{"type":"FeatureCollection","features":[{"type":"Feature","properties":null,"geometry":{"type":"MultiPolygon","coordinates":[[]]}}]}`), []byte(`{"type":"FeatureCollection","features":[{"type":"Feature","geometry":{"type":"Point","coordinates":[1]}}]}`))
	f.Add([]byte(`[]`), []byte(`{"type":"FeatureCollection","features":[{"type":"Feature","properties":{"id":"MFS-1","name":"x"},"geometry":{"type":"Point","coordinates":[113.005,34.005,12]}}]}`))
	f.Fuzz(func(t *testing.T, grid, stations []byte) {
		fsys := okFS()
		fsys["reg/grid.geojson"] = &fstest.MapFile{Data: grid}
		fsys["reg/stations.geojson"] = &fstest.MapFile{Data: stations}
		r, err := devices.LoadFS(fsys, "reg")
		if bad := conftest.Check(err); bad != nil {
			t.Fatal(bad)
		}
		if err != nil {
			return
		}
		for _, s := range r.Sites() {
			if z, ok := r.Locate(s.Location); !ok || z.ID != s.Zone {
				t.Fatalf("site %s in zone %q, Locate says %v", s.ID, s.Zone, z)
			}
			r.Route(s.Location)
		}
		r.Gaps()
	})
}
