package devices_test

import (
	"testing"

	"github.com/firegrid/firegrid/contract"
	"github.com/firegrid/firegrid/devices"
)

func BenchmarkRoute(b *testing.B) {
	r := loadDemo(b)
	sites := r.Sites()
	points := make([]contract.Point, 0, len(sites)+1)
	for _, s := range sites {
		points = append(points, s.Location)
	}
	points = append(points, contract.Point{Lon: 113.70, Lat: 34.72}) // outside: nearest station
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, st := r.Route(points[i%len(points)]); st == nil {
			b.Fatal("no station")
		}
		i++
	}
}

func BenchmarkDevice(b *testing.B) {
	r := loadDemo(b)
	all := r.Devices("")
	ids := make([]string, len(all))
	for i, d := range all {
		ids[i] = d.ID
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, ok := r.Device(ids[i%len(ids)]); !ok {
			b.Fatal("missing device")
		}
		i++
	}
}

func BenchmarkNearbyHydrants(b *testing.B) {
	r := loadDemo(b)
	p := contract.Point{Lon: 113.645, Lat: 34.72}
	b.ReportAllocs()
	for b.Loop() {
		if len(r.Nearby(p, contract.KindHydrant, 3)) != 3 {
			b.Fatal("want 3 hydrants")
		}
	}
}

func BenchmarkLoadDemo(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := devices.Load(demoDir); err != nil {
			b.Fatal(err)
		}
	}
}
