// Command demogen writes firegrid's demo territory (see package
// simulator/territory), as `firegrid simulate generate` does:
//
//	go run ./internal/demogen -out configs/demo -seed 1
//
// With the default sizes and seed 1 the files are configs/demo's.
package main

import (
	"flag"
	"log/slog"
	"os"

	"github.com/firegrid/firegrid/simulator/territory"
)

func main() {
	out := flag.String("out", "configs/demo", "directory to write the registry files into")
	var o territory.Options
	flag.Uint64Var(&o.Seed, "seed", 1, "random seed; the same seed writes the same files")
	flag.IntVar(&o.Households, "households", territory.DefaultHouseholds, "households, one smoke detector each")
	flag.IntVar(&o.Hydrants, "hydrants", territory.DefaultHydrants, "hydrants, one pressure monitor each")
	flag.IntVar(&o.Sheds, "sheds", territory.DefaultSheds, "e-bike charging sheds, a charger and a smoke detector each")
	flag.Parse()
	t, err := territory.Generate(o)
	if err == nil {
		err = t.Write(*out)
	}
	if err != nil {
		slog.Error("demogen", "err", err)
		os.Exit(1)
	}
	c := t.Counts()
	slog.Info("territory written", "dir", *out, "zones", c.Zones, "sites", c.Households+c.Corridors+c.Sheds+c.Hydrants+c.Buildings, "devices", c.Devices(), "residents", c.Residents)
}
