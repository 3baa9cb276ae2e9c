package territory_test

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/firegrid/firegrid/contract"
	"github.com/firegrid/firegrid/devices"
	"github.com/firegrid/firegrid/simulator/territory"
)

var files = []string{"grid.geojson", "stations.geojson", "sites.csv", "residents.csv", "devices.csv"}

func write(t testing.TB, o territory.Options) (string, *territory.Territory) {
	t.Helper()
	tr, err := territory.Generate(o)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := tr.Write(dir); err != nil {
		t.Fatal(err)
	}
	return dir, tr
}

func read(t testing.TB, dir, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// The committed demo territory must be exactly what the generator writes
// with the defaults and seed 1, so that nobody edits one and forgets the
// other.
func TestCommittedDemoIsGenerated(t *testing.T) {
	dir, _ := write(t, territory.Options{Seed: 1})
	for _, name := range files {
		if !bytes.Equal(read(t, dir, name), read(t, filepath.Join("..", "..", "configs", "demo"), name)) {
			t.Errorf("configs/demo/%s differs from the generator's output; run: go run ./cmd/firegrid simulate generate --out configs/demo --seed 1", name)
		}
	}
}

func TestSeeds(t *testing.T) {
	o := territory.Options{Seed: 7, Households: 1000}
	a, _ := write(t, o)
	b, _ := write(t, o)
	o.Seed = 8
	c, _ := write(t, o)
	for _, name := range files {
		if !bytes.Equal(read(t, a, name), read(t, b, name)) {
			t.Errorf("%s: seed 7 wrote different bytes twice", name)
		}
	}
	if bytes.Equal(read(t, a, "sites.csv"), read(t, c, "sites.csv")) {
		t.Error("sites.csv: seeds 7 and 8 wrote the same sites")
	}
}

// A generated territory of any size loads without errors and holds what
// was asked.
func TestGeneratedTerritoriesLoad(t *testing.T) {
	cases := []struct {
		name string
		o    territory.Options
	}{
		{"default", territory.Options{Seed: 1}},
		{"small", territory.Options{Seed: 3, Households: 10, Hydrants: 2, Sheds: 1}},
		{"1000 households", territory.Options{Seed: 2, Households: 1000, Hydrants: 90, Sheds: 23}},
		{"5000 households", territory.Options{Seed: 5, Households: 5000}},
	}
	if testing.Short() {
		cases = cases[:3]
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir, tr := write(t, tc.o)
			reg, err := devices.Load(dir)
			if err != nil {
				t.Fatal(err)
			}
			want := tc.o
			if want.Households == 0 {
				want.Households, want.Hydrants, want.Sheds = territory.DefaultHouseholds, territory.DefaultHydrants, territory.DefaultSheds
			}
			if want.Hydrants == 0 {
				want.Hydrants = territory.DefaultHydrants
			}
			if want.Sheds == 0 {
				want.Sheds = territory.DefaultSheds
			}
			c := tr.Counts()
			if c.Households != want.Households || c.Hydrants != want.Hydrants || c.HydrantMonitors != want.Hydrants ||
				c.Sheds != want.Sheds || c.Chargers != want.Sheds {
				t.Errorf("counts %+v, want %d households, %d hydrants, %d sheds", c, want.Households, want.Hydrants, want.Sheds)
			}
			if wantSmoke := want.Households + (want.Households+7)/8 + c.Corridors + want.Sheds + c.UnitDetectors + c.LoRaWAN + c.LoRaWAN; c.SmokeDetectors != wantSmoke {
				t.Errorf("%d smoke detectors, want %d", c.SmokeDetectors, wantSmoke)
			}
			// The field devices: buildings behind transmission units, an
			// electrical fire monitor per shed and building, a camera per
			// corridor and building, LoRaWAN and NB-IoT detectors alike.
			if c.Buildings < 1 || c.TransmissionUnits != c.Buildings || c.UnitDetectors != 4*c.Buildings ||
				c.ElectricalMonitors != want.Sheds+c.Buildings || c.Cameras != c.Corridors+c.Buildings ||
				c.GasDetectors != (want.Households+6)/12 || c.CallButtons == 0 || c.LoRaWAN < 1 {
				t.Errorf("field devices %+v", c)
			}
			if len(reg.GB26875Units()) != c.TransmissionUnits {
				t.Errorf("registry maps %d units, generated %d", len(reg.GB26875Units()), c.TransmissionUnits)
			}
			if c.Communities != tc.o.Communities() || c.Zones != 3*c.Communities || c.Stations != c.Communities {
				t.Errorf("counts %+v, want %d communities of 3 zones, a station each", c, tc.o.Communities())
			}
			if c.Households > territory.HouseholdsPerZone*c.Zones {
				t.Errorf("%d households in %d zones", c.Households, c.Zones)
			}
			n := 0
			for _, k := range contract.Kinds {
				n += len(reg.Devices(k))
			}
			if n != c.Devices() {
				t.Errorf("registry has %d devices, generated %d", n, c.Devices())
			}
		})
	}
}

func TestOptionsValidate(t *testing.T) {
	for _, o := range []territory.Options{{Households: -1}, {Hydrants: -2}, {Sheds: 1000}, {Households: territory.MaxHouseholds + 1}} {
		if _, err := territory.Generate(o); err == nil {
			t.Errorf("Generate(%+v): no error", o)
		}
	}
}
