package console_test

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/firegrid/firegrid/console"
	"github.com/firegrid/firegrid/contract"
	"github.com/firegrid/firegrid/devices"
)

// TestStationReport: two fires (one in time, one late), two hazard
// tickets (one closed) at one station; the report gives response-time
// percentiles, SLA compliance, false-alarm, rectification and intact rates,
// as JSON and CSV.
func TestStationReport(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	var smoke []*devices.Device
	for _, d := range r.reg.Devices(contract.KindSmoke) {
		if d.Station() == "MFS-1" && (len(smoke) == 0 || smoke[len(smoke)-1].Site != d.Site) {
			smoke = append(smoke, d)
		}
	}
	// Fire 1 at 0 s: ack 30 s, on scene 2 min, resolved 4 min, false alarm.
	a := raise(t, r.m, smoke[0], "sig-a", "fire", contract.SeverityCritical)
	r.clk.Set(t0.Add(30 * time.Second))
	r.m.Ack(ctx, a.ID, "crew", "")
	r.clk.Set(t0.Add(2 * time.Minute))
	r.m.Arrive(ctx, a.ID, "crew", "")
	r.clk.Set(t0.Add(4 * time.Minute))
	r.m.Resolve(ctx, a.ID, "crew", "false_alarm", "")
	// Fire 2 at 10 min: ack 90 s, on scene 4 min, resolved 6 min: all late.
	r.clk.Set(t0.Add(10 * time.Minute))
	b := raise(t, r.m, smoke[1], "sig-b", "fire", contract.SeverityCritical)
	r.clk.Set(t0.Add(10*time.Minute + 90*time.Second))
	r.m.Ack(ctx, b.ID, "crew", "")
	r.clk.Set(t0.Add(14 * time.Minute))
	r.m.Arrive(ctx, b.ID, "crew", "")
	r.clk.Set(t0.Add(16 * time.Minute))
	r.m.Resolve(ctx, b.ID, "crew", "fire", "")
	// Two hazard tickets; one fixed.
	raise(t, r.m, smoke[2], "sig-c", "detector_fault", contract.SeverityMajor)
	fixed := raise(t, r.m, smoke[3], "sig-d", "low_battery", contract.SeverityMinor)
	r.m.Resolve(ctx, fixed.ID, "grid worker", "fault_fixed", "")

	srv := r.serve(&console.API{})
	url := srv.URL + "/api/v1/reports/stations?from=2026-11-23T00:00:00Z&to=2026-11-24T00:00:00Z"
	resp, err := http.Get(url)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("report: %v %v", err, resp.Status)
	}
	var rep console.Report
	json.NewDecoder(resp.Body).Decode(&rep)
	resp.Body.Close()
	var row *console.ReportRow
	for i := range rep.Rows {
		if rep.Rows[i].ID == "MFS-1" {
			row = &rep.Rows[i]
		}
	}
	if row == nil {
		t.Fatalf("no MFS-1 row in %+v", rep.Rows)
	}
	eq := func(name string, got *float64, want float64) {
		t.Helper()
		if got == nil || *got != want {
			if got == nil {
				t.Errorf("%s = nil, want %v", name, want)
			} else {
				t.Errorf("%s = %v, want %v", name, *got, want)
			}
		}
	}
	if row.Incidents != 4 || row.Hazards != 2 || row.HazardsRectified != 1 {
		t.Errorf("counts %+v", row)
	}
	eq("ack p50", row.AckP50, 30)
	eq("ack p90", row.AckP90, 90)
	eq("arrive p90", row.ArriveP90, 240)
	eq("resolve p50", row.ResolveP50, 240)
	// Fire 1 and the fixed ticket in time, fire 2 late; the open fault's
	// deadlines have not passed yet and do not count.
	eq("sla ack", row.SLAAck, 2.0/3)
	eq("sla arrive", row.SLAArrive, 0.5)
	eq("sla resolve", row.SLAResolve, 2.0/3)
	eq("false alarm rate", row.FalseAlarmRate, 0.5)
	eq("rectification rate", row.RectificationRate, 0.5)
	n := 0
	for _, d := range r.reg.Devices("") {
		if d.Station() == "MFS-1" {
			n++
		}
	}
	if row.Devices != n || row.DevicesIntact != n-1 {
		t.Errorf("devices %d intact %d, want %d and %d (one with an open fault)", row.Devices, row.DevicesIntact, n, n-1)
	}
	eq("intact rate", row.IntactRate, float64(n-1)/float64(n))

	resp, err = http.Get(url + "&format=csv")
	if err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(resp.Body).ReadAll()
	resp.Body.Close()
	if err != nil || len(recs) != len(rep.Rows)+1 || recs[0][0] != "station" || recs[0][len(recs[0])-1] != "intact_rate" {
		t.Fatalf("csv: %v %v", err, recs[:1])
	}
	// A period before everything has no incidents.
	resp, _ = http.Get(srv.URL + "/api/v1/reports/communities?from=2026-01-01&to=2026-01-02")
	json.NewDecoder(resp.Body).Decode(&rep)
	resp.Body.Close()
	if rep.By != "community" || len(rep.Rows) == 0 {
		t.Fatalf("community report: %+v", rep)
	}
	for _, row := range rep.Rows {
		if row.Incidents != 0 {
			t.Errorf("%s: %d incidents in an empty period", row.ID, row.Incidents)
		}
	}
}
