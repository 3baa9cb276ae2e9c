package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// The committed demo territory must be exactly what the generator writes
// with seed 1, so that nobody edits one and forgets the other.
func TestCommittedDemoIsGenerated(t *testing.T) {
	dir := t.TempDir()
	if err := generate(1).write(dir); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"grid.geojson", "stations.geojson", "sites.csv", "residents.csv", "devices.csv"} {
		got, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		want, err := os.ReadFile(filepath.Join("..", "..", "configs", "demo", name))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("configs/demo/%s differs from the generator's output; run: go run ./internal/demogen -out configs/demo -seed 1", name)
		}
	}
}

func TestSeedsDiffer(t *testing.T) {
	a, b := generate(1), generate(2)
	if a.sites[0].at == b.sites[0].at {
		t.Error("seeds 1 and 2 place the first household at the same point")
	}
}
