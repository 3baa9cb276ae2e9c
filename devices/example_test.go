package devices_test

import (
	"fmt"

	"github.com/firegrid/firegrid/contract"
	"github.com/firegrid/firegrid/devices"
)

// Route finds who answers an alarm: the zone's own micro fire station, or
// the nearest one when the zone has none (in the demo, zone Z-06).
func ExampleRegistry_Route() {
	r, err := devices.Load("../configs/demo")
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, id := range []string{"SD-0001", "CH-004"} {
		d, _ := r.Device(id)
		zone, station := r.Route(d.Location)
		fmt.Printf("%s at %s: zone %s (station %q), answered by %s\n", d.ID, d.Site, zone.ID, zone.Station, station.ID)
	}
	d, _ := r.Device("SD-0001")
	for _, h := range r.Nearby(d.Location, contract.KindHydrant, 2) {
		fmt.Printf("hydrant %s %.0f m away\n", h.ID, devices.Distance(d.Location, h.Location))
	}
	// Output:
	// SD-0001 at H-0001: zone Z-01 (station "MFS-1"), answered by MFS-1
	// CH-004 at SHED-04: zone Z-06 (station ""), answered by MFS-3
	// hydrant HY-001 242 m away
	// hydrant HY-002 513 m away
}
