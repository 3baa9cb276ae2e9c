package testenv

import (
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	influxdb2 "github.com/influxdata/influxdb-client-go/v2"
)

// influxRequest sends one request to influxd and returns the status and body.
func influxRequest(t *testing.T, method, u, contentType, body string, header map[string]string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, u, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, u, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read body: %v", method, u, err)
	}
	return resp.StatusCode, string(b)
}

// TestInfluxdV2WriteAndFluxQuery is the proof that the InfluxDB 1.8 started
// by Influxd serves what firegrid's sink and console use: the v2-compatible
// write endpoint with a "db/rp" bucket, and Flux over /api/v2/query.
func TestInfluxdV2WriteAndFluxQuery(t *testing.T) {
	t.Parallel()
	base := Influxd(t)

	status, body := influxRequest(t, http.MethodPost, base+"/query", "application/x-www-form-urlencoded",
		url.Values{"q": {"CREATE DATABASE firegrid"}}.Encode(), nil)
	if status != http.StatusOK || strings.Contains(body, `"error"`) {
		t.Fatalf("CREATE DATABASE: %d %s", status, body)
	}

	ts := time.Now().Add(-time.Minute).UnixNano()
	lines := fmt.Sprintf("hydrant,device=hyd-1,site=s-42 pressure_mpa=0.31,flow_lpm=0 %d\n"+
		"hydrant,device=hyd-1,site=s-42 pressure_mpa=0.12,flow_lpm=900 %d\n", ts, ts+int64(time.Second))
	status, body = influxRequest(t, http.MethodPost, base+"/api/v2/write?bucket=firegrid/autogen&precision=ns",
		"text/plain; charset=utf-8", lines, nil)
	if status != http.StatusNoContent {
		t.Fatalf("POST /api/v2/write: %d %s", status, body)
	}

	flux := `from(bucket: "firegrid/autogen")
  |> range(start: -1h)
  |> filter(fn: (r) => r._measurement == "hydrant" and r._field == "pressure_mpa")
  |> min()`
	status, body = influxRequest(t, http.MethodPost, base+"/api/v2/query", "application/vnd.flux", flux,
		map[string]string{"Accept": "application/csv"})
	if status != http.StatusOK {
		t.Fatalf("POST /api/v2/query: %d %s", status, body)
	}
	// Drop the annotation rows (#datatype, #group, #default) and blank lines.
	var data []string
	for _, line := range strings.Split(body, "\n") {
		if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
			data = append(data, line)
		}
	}
	records, err := csv.NewReader(strings.NewReader(strings.Join(data, "\n"))).ReadAll()
	if err != nil {
		t.Fatalf("Flux answer is not CSV: %v\n%s", err, body)
	}
	if len(records) != 2 {
		t.Fatalf("Flux answer has %d rows, want a header and one value:\n%s", len(records), body)
	}
	col := func(name string) string {
		for i, h := range records[0] {
			if h == name {
				return records[1][i]
			}
		}
		t.Fatalf("Flux answer has no column %q:\n%s", name, body)
		return ""
	}
	if got := col("_value"); got != "0.12" {
		t.Errorf("min(pressure_mpa) = %s, want 0.12", got)
	}
	if got := col("site"); got != "s-42" {
		t.Errorf("site = %q, want s-42", got)
	}
}

// TestInfluxdWithClientLibrary checks the official v2 Go client, which
// firegrid's time-series sink uses, against the 1.8 server: no auth, no
// organisation, bucket "db/rp".
func TestInfluxdWithClientLibrary(t *testing.T) {
	t.Parallel()
	base := Influxd(t)
	status, body := influxRequest(t, http.MethodPost, base+"/query", "application/x-www-form-urlencoded",
		url.Values{"q": {"CREATE DATABASE telemetry"}}.Encode(), nil)
	if status != http.StatusOK {
		t.Fatalf("CREATE DATABASE: %d %s", status, body)
	}

	client := influxdb2.NewClient(base, "")
	defer client.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	ok, err := client.Ping(ctx)
	if err != nil || !ok {
		t.Fatalf("client ping: %v, %v", ok, err)
	}
	write := client.WriteAPIBlocking("", "telemetry/autogen")
	p := influxdb2.NewPoint("charger",
		map[string]string{"device": "chg-7", "port": "3"},
		map[string]any{"temp_c": 71.5, "current_a": 2.1},
		time.Now().Add(-time.Second))
	if err := write.WritePoint(ctx, p); err != nil {
		t.Fatalf("client write: %v", err)
	}
	result, err := client.QueryAPI("").Query(ctx, `from(bucket: "telemetry/autogen")
  |> range(start: -1h)
  |> filter(fn: (r) => r._measurement == "charger" and r._field == "temp_c")`)
	if err != nil {
		t.Fatalf("client query: %v", err)
	}
	var values []any
	for result.Next() {
		values = append(values, result.Record().Value())
	}
	if err := result.Err(); err != nil {
		t.Fatalf("client query result: %v", err)
	}
	if len(values) != 1 || values[0] != 71.5 {
		t.Fatalf("temp_c values = %v, want [71.5]", values)
	}
}

func TestInfluxdWithoutFluxWritesAndInfluxQL(t *testing.T) {
	t.Parallel()
	start := time.Now()
	base := Influxd(t, WithoutFlux())
	t.Logf("influxd without Flux ready in %v", time.Since(start))

	status, body := influxRequest(t, http.MethodPost, base+"/query", "application/x-www-form-urlencoded",
		url.Values{"q": {"CREATE DATABASE firegrid"}}.Encode(), nil)
	if status != http.StatusOK {
		t.Fatalf("CREATE DATABASE: %d %s", status, body)
	}
	status, body = influxRequest(t, http.MethodPost, base+"/api/v2/write?bucket=firegrid/autogen&precision=ms",
		"text/plain", fmt.Sprintf("smoke,device=smk-9 obscuration_pct_m=12.5 %d\n", time.Now().UnixMilli()), nil)
	if status != http.StatusNoContent {
		t.Fatalf("POST /api/v2/write: %d %s", status, body)
	}
	q := url.Values{"db": {"firegrid"}, "q": {`SELECT last("obscuration_pct_m") FROM "smoke"`}}
	status, body = influxRequest(t, http.MethodGet, base+"/query?"+q.Encode(), "", "", nil)
	if status != http.StatusOK || !strings.Contains(body, ",12.5]") {
		t.Fatalf("InfluxQL answer %d %s, want the value 12.5", status, body)
	}
	status, _ = influxRequest(t, http.MethodPost, base+"/api/v2/query", "application/vnd.flux", `buckets()`, nil)
	if status == http.StatusOK {
		t.Error("Flux answered although WithoutFlux was given")
	}
}

func TestCheckInfluxdVersion(t *testing.T) {
	dir := t.TempDir()
	fake := func(name, output string) string {
		p := dir + "/" + name
		script := "#!/bin/sh\necho '" + output + "'\n"
		if err := os.WriteFile(p, []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
		return p
	}
	tests := []struct {
		output string
		ok     bool
	}{
		{"InfluxDB v1.8.10 (git: unknown v1.8.10)", true},
		{"InfluxDB vunknown (git: unknown unknown)", true},
		{"InfluxDB v2.7.11 (git: 3ee9b3ec5c) build_date: 2024-12-11T20:24:43Z", false},
	}
	for i, tt := range tests {
		err := checkInfluxdVersion(fake(fmt.Sprintf("influxd%d", i), tt.output))
		if (err == nil) != tt.ok {
			t.Errorf("version %q: err = %v, want ok = %v", tt.output, err, tt.ok)
		}
	}
}
