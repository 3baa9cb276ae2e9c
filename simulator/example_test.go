package simulator_test

import (
	"context"
	"fmt"
	"log"

	"github.com/firegrid/firegrid/contract"
	"github.com/firegrid/firegrid/devices"
	"github.com/firegrid/firegrid/simulator"
)

// A scenario played without the fleet's heartbeats, a hundred times faster
// than real time, into a Recorder. Against a broker, the Publisher is
// simulator.NewMQTTPublisher(ctx, "tcp://localhost:1883", "") and the
// devices come from devices.Load("configs/demo").
func ExampleRunner() {
	sc, err := simulator.ParseScenario("kitchen.yaml", []byte(`
name: kitchen
steps:
  - at: 0s
    device: SD-0108
    telemetry: {obscuration_pct_m: 3.2, temp_c: 31}
  - at: 5s
    device: SD-0108
    event: alarm
    values: {obscuration_pct_m: 12.5, temp_c: 41}
  - at: 10s
    device: SD-0108
    silence: true
`))
	if err != nil {
		log.Fatal(err)
	}
	rec := &simulator.Recorder{}
	r := &simulator.Runner{
		Config:    simulator.Config{Speed: 100, NoFleet: true},
		Scenario:  sc,
		Devices:   []*devices.Device{{ID: "SD-0108", Kind: contract.KindSmoke, Site: "H-0108"}},
		Publisher: rec,
	}
	if err := r.Run(context.Background()); err != nil {
		log.Fatal(err)
	}
	for _, m := range rec.Records() {
		fmt.Println(m.Topic)
	}
	// Output:
	// fg/v1/smoke/SD-0108/telemetry
	// fg/v1/smoke/SD-0108/event
}

// Fixtures give other packages' tests the bytes the simulator sends.
func ExampleSmokeAlarm() {
	m := simulator.SmokeAlarm("SD-0001")
	fmt.Println(m.Topic())
	fmt.Println(string(contract.Payload(m)))
	// Output:
	// fg/v1/smoke/SD-0001/event
	// {"ts":"2026-11-23T08:00:00.120Z","seq":812,"event":"alarm","values":{"battery_pct":88,"obscuration_pct_m":12.5,"rssi_dbm":-91,"temp_c":41}}
}
