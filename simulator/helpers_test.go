package simulator

import (
	"fmt"
	"testing"

	"github.com/firegrid/firegrid/contract"
	"github.com/firegrid/firegrid/devices"
)

// demoDevices returns a fleet shaped like the demo registry: 227 smoke
// detectors (216 households, 6 corridors, 5 sheds), 20 hydrants and 5
// chargers of 10 ports, so that tests need no registry files.
func demoDevices() []*devices.Device {
	var devs []*devices.Device
	for i := 1; i <= 227; i++ {
		devs = append(devs, &devices.Device{ID: fmt.Sprintf("SD-%04d", i), Kind: contract.KindSmoke, Site: fmt.Sprintf("H-%04d", i)})
	}
	for i := 1; i <= 20; i++ {
		devs = append(devs, &devices.Device{ID: fmt.Sprintf("HY-%03d", i), Kind: contract.KindHydrant, Site: fmt.Sprintf("HYD-%03d", i)})
	}
	for i := 1; i <= 5; i++ {
		devs = append(devs, &devices.Device{ID: fmt.Sprintf("CH-%03d", i), Kind: contract.KindCharger, Site: fmt.Sprintf("SHED-%02d", i), Ports: 10})
	}
	return devs
}

// fieldDevices are a few devices of each kind added within contract v1.
func fieldDevices() []*devices.Device {
	return []*devices.Device{
		{ID: "EF-001", Kind: contract.KindElectrical, Site: "SHED-01"},
		{ID: "GS-0001", Kind: contract.KindGas, Site: "H-0006"},
		{ID: "CB-0001", Kind: contract.KindButton, Site: "H-0007"},
		{ID: "CAM-001", Kind: contract.KindCamera, Site: "COR-01"},
	}
}

// mustParse parses a scenario held in a test.
func mustParse(t testing.TB, src string) *Scenario {
	t.Helper()
	sc, err := ParseScenario("test.yaml", []byte(src))
	if err != nil {
		t.Fatalf("ParseScenario: %v", err)
	}
	return sc
}
