package assembly

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/firegrid/firegrid/contract"
)

// BenchmarkScaleOutE2E measures an alarm's way through the scale-out
// topology, from the device's MQTT publish to the incident change on the
// console's SSE stream: Mosquitto, two ingest instances (shared
// subscription), Kafka (kfake over TCP), rules, alarm on PostgreSQL, and a
// sink on InfluxDB 1.8, while hydrants send background telemetry at about
// 800 messages a second. It reports p50 and p99 in milliseconds; one
// iteration is one alarm.
//
//	FIREGRID_BENCH=ScaleOutE2E FIREGRID_BENCH_PKGS=./assembly FIREGRID_BENCHTIME=500x ./scripts/bench.sh
//
// loadPerTick hydrant readings are published every 10 ms.
const loadPerTick = 8

func BenchmarkScaleOutE2E(b *testing.B) {
	c := newCluster(b, true)
	c.start(RoleSink, "sink-1")
	alarmA := c.start(RoleAlarm, "alarm-a")
	c.start(RoleRules, "rules-1")
	c.start(RoleIngest, "ingest-1")
	c.start(RoleIngest, "ingest-2")
	stream := openStream(b, alarmA.HTTPAddr)
	dev := connectDevice(b, c.cfg.MQTT.URL)
	load := connectDevice(b, c.cfg.MQTT.URL)
	hydrants := c.reg.Devices(contract.KindHydrant)
	sites := c.smokeSites(20)

	ctx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var sent atomic.Int64
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(10 * time.Millisecond) // loadPerTick per tick
		defer tick.Stop()
		for seq, i := 1, 0; ; seq++ {
			for range loadPerTick {
				h := hydrants[i%len(hydrants)]
				i++
				p := fmt.Sprintf(`{"ts":%q,"seq":%d,"values":{"pressure_mpa":0.32,"flow_lpm":0,"battery_pct":90}}`,
					time.Now().UTC().Format(time.RFC3339Nano), seq)
				load.client.Publish("fg/v1/hydrant/"+h.ID+"/telemetry", 1, false, p)
				sent.Add(1)
			}
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	}()
	defer func() { stop(); wg.Wait() }()
	time.Sleep(time.Second) // the load is flowing

	lat := make([]time.Duration, 0, b.N)
	start := time.Now()
	b.ResetTimer()
	for i := range b.N {
		d := sites[i%len(sites)]
		t0 := time.Now()
		dev.publish("fg/v1/smoke/"+d.ID+"/event", alarmPayload(1000+i, time.Now()))
		stream.next(b, 10*time.Second, func(ch contract.IncidentChange) bool { return ch.Incident.Site == d.Site })
		lat = append(lat, time.Since(t0))
	}
	b.StopTimer()
	elapsed := time.Since(start)
	slices.Sort(lat)
	q := func(p float64) float64 { return float64(lat[int(p*float64(len(lat)-1))]) / 1e6 }
	b.ReportMetric(q(0.50), "p50-ms")
	b.ReportMetric(q(0.99), "p99-ms")
	b.ReportMetric(float64(lat[len(lat)-1])/1e6, "max-ms")
	b.ReportMetric(float64(sent.Load())/(elapsed.Seconds()+1), "telemetry-msg/s")
}
