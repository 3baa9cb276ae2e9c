package simulator

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/firegrid/firegrid/contract"
	"github.com/firegrid/firegrid/internal/clock"
)

// hydrantDay plays the demo's hydrants through one simulated day from
// start, a heartbeat every 5 minutes, and returns their pressures by the
// minute of the day each was read at.
func hydrantDay(t *testing.T, start time.Time, seed uint64) map[int][]float64 {
	t.Helper()
	f, err := NewFleet(demoDevices(), FleetConfig{Kinds: []contract.Kind{contract.KindHydrant}, HydrantInterval: 5 * time.Minute}, seed)
	if err != nil {
		t.Fatal(err)
	}
	f.SetStart(start)
	byMinute := make(map[int][]float64)
	for {
		p, ok := f.Next()
		if !ok || p.At > 24*time.Hour {
			break
		}
		at := start.Add(p.At)
		m := at.Hour()*60 + at.Minute()
		byMinute[m] = append(byMinute[m], p.Message.Values["pressure_mpa"])
	}
	return byMinute
}

// meanAround is the mean pressure read within 20 minutes of hh:mm.
func meanAround(byMinute map[int][]float64, hh, mm int) (float64, int) {
	sum, n := 0.0, 0
	for m := hh*60 + mm - 20; m <= hh*60+mm+20; m++ {
		for _, v := range byMinute[(m+1440)%1440] {
			sum += v
			n++
		}
	}
	if n == 0 {
		return 0, 0
	}
	return sum / float64(n), n
}

// TestHydrantDailyDemand: over a simulated day, hydrant pressure is lowest
// at the morning and evening demand peaks and highest at night, and never
// comes near the low-pressure rule's 0.10 MPa on its own.
func TestHydrantDailyDemand(t *testing.T) {
	for _, start := range []time.Time{
		time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC),
		time.Date(2026, 11, 23, 14, 10, 0, 0, time.FixedZone("CST", 8*3600)),
	} {
		byMinute := hydrantDay(t, start, 1)
		night, n0 := meanAround(byMinute, 3, 0)
		morning, n1 := meanAround(byMinute, 7, 30)
		evening, n2 := meanAround(byMinute, 19, 30)
		if n0 < 100 || n1 < 100 || n2 < 100 {
			t.Fatalf("start %v: %d, %d, %d readings around 3:00, 7:30, 19:30", start, n0, n1, n2)
		}
		t.Logf("start %v: mean pressure 3:00 %.3f, 7:30 %.3f, 19:30 %.3f MPa", start, night, morning, evening)
		if night < 0.30 || night > 0.34 {
			t.Errorf("start %v: mean at 3:00 is %.3f MPa, want about 0.32", start, night)
		}
		for _, peak := range []struct {
			name string
			mean float64
		}{{"7:30", morning}, {"19:30", evening}} {
			if night-peak.mean < 0.04 {
				t.Errorf("start %v: mean at %s is %.3f MPa, only %.3f below 3:00's %.3f (want at least 0.04)", start, peak.name, peak.mean, night-peak.mean, night)
			}
			if peak.mean < 0.24 || peak.mean > 0.28 {
				t.Errorf("start %v: mean at %s is %.3f MPa, want about 0.26", start, peak.name, peak.mean)
			}
		}
		lo, hi := 1.0, 0.0
		for _, vs := range byMinute {
			for _, v := range vs {
				lo, hi = min(lo, v), max(hi, v)
			}
		}
		// 0.15 keeps clear of hydrant-low-pressure (below 0.10 MPa, and its
		// emergency period's 0.14).
		if lo < 0.15 || hi > 0.40 {
			t.Errorf("start %v: pressure ranged %.3f..%.3f MPa, want within 0.15..0.40", start, lo, hi)
		}
	}
}

func TestHydrantDemandShape(t *testing.T) {
	day := time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC)
	at := func(h, m int) float64 {
		return HydrantDemand(day.Add(time.Duration(h)*time.Hour + time.Duration(m)*time.Minute))
	}
	if d := at(3, 0); d > 0.005 {
		t.Errorf("demand at 3:00 is %.3f MPa, want about none", d)
	}
	for _, hm := range [][2]int{{7, 30}, {19, 30}} {
		if d := at(hm[0], hm[1]); d < 0.05 || d > 0.07 {
			t.Errorf("demand at %d:%02d is %.3f MPa, want about 0.06", hm[0], hm[1], d)
		}
	}
	if at(13, 0) >= at(7, 30) || at(13, 0) <= at(3, 0) {
		t.Errorf("demand at 13:00 is %.3f MPa, want between the night's and the peaks'", at(13, 0))
	}
}

// TestHydrantStartDecidesValues: the same seed and start give the same
// bytes; another start of day gives other pressures.
func TestHydrantStartDecidesValues(t *testing.T) {
	play := func(start time.Time) [][]byte {
		fake := clock.NewFake(start)
		rec := &Recorder{Clock: fake}
		var out [][]byte
		r := &Runner{Config: Config{Duration: 10 * time.Minute, Fleet: FleetConfig{Kinds: []contract.Kind{contract.KindHydrant}}, Seed: 3},
			Devices: demoDevices(), Publisher: rec,
			OnPublish: func(p Publication) { out = append(out, bytes.Clone(p.Payload)) }}
		if err := runOnFake(t, context.Background(), r, fake, time.Second); err != nil {
			t.Fatal(err)
		}
		return out
	}
	night, again := play(time.Date(2026, 11, 23, 3, 0, 0, 0, time.UTC)), play(time.Date(2026, 11, 23, 3, 0, 0, 0, time.UTC))
	if len(night) == 0 || len(night) != len(again) {
		t.Fatalf("%d and %d publications", len(night), len(again))
	}
	for i := range night {
		if !bytes.Equal(night[i], again[i]) {
			t.Fatalf("publication %d differs between two runs of one seed and start:\n%s\n%s", i, night[i], again[i])
		}
	}
	// Configured Start wins over the clock's: a run at 3:00 told it is
	// 19:30 sees the evening's pressures.
	fake := clock.NewFake(time.Date(2026, 11, 23, 3, 0, 0, 0, time.UTC))
	var evening []float64
	r := &Runner{Config: Config{Duration: 10 * time.Minute, Fleet: FleetConfig{Kinds: []contract.Kind{contract.KindHydrant}}, Seed: 3,
		Start: time.Date(2026, 11, 23, 19, 30, 0, 0, time.UTC)},
		Devices: demoDevices(), Publisher: &Recorder{Clock: fake},
		OnPublish: func(p Publication) { evening = append(evening, p.Message.Values["pressure_mpa"]) }}
	if err := runOnFake(t, context.Background(), r, fake, time.Second); err != nil {
		t.Fatal(err)
	}
	sum := 0.0
	for _, v := range evening {
		sum += v
	}
	if mean := sum / float64(len(evening)); mean > 0.28 {
		t.Errorf("mean pressure of a run started at 19:30 is %.3f MPa, want the evening's trough", mean)
	}
}
