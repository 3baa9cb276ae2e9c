package devices_test

import (
	"strings"
	"testing"

	"github.com/firegrid/firegrid/devices"
)

// withDevices is the small registry with devices.csv replaced.
func withDevices(t *testing.T, sites, csv string) (*devices.Registry, error) {
	t.Helper()
	fsys := okFS()
	fsys["reg/sites.csv"].Data = []byte(okSites + sites)
	fsys["reg/devices.csv"].Data = []byte(csv)
	return devices.LoadFS(fsys, "reg")
}

func TestAddressesFindDevices(t *testing.T) {
	r, err := withDevices(t, "B-1,building,养老服务中心,测试路 3号,113.006,34.006\n",
		"id,kind,site,model,gb26875,dev_eui,imei,platform_id\n"+
			"SD-1,smoke,H-1,m,,70B3D57ED0001A2B,,\n"+
			"FAS-1,smoke,B-1,panel,0000a1b2c3d4/1,,,\n"+
			"GB-1,smoke,B-1,JTY-GD-G3,0000A1B2C3D4/1/1001,,,\n"+
			"TU-1,smoke,B-1,unit,0000A1B2C3D4,,,\n"+
			"GS-1,gas,H-1,m,,,861234567890123,a1b2c3d4e5\n"+
			"CB-1,button,H-1,m,,,,\n"+
			"CAM-1,camera,B-1,m,,,,\n"+
			"EF-1,electrical,B-1,m,,,,\n")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		got  func() (*devices.Device, bool)
		want string
	}{
		{"component", func() (*devices.Device, bool) { return r.DeviceByGB26875("0000A1B2C3D4/1/1001") }, "GB-1"},
		{"system", func() (*devices.Device, bool) { return r.DeviceByGB26875("0000A1B2C3D4/1") }, "FAS-1"},
		{"unit", func() (*devices.Device, bool) { return r.DeviceByGB26875("0000A1B2C3D4") }, "TU-1"},
		{"DevEUI in any case", func() (*devices.Device, bool) { return r.DeviceByDevEUI("70b3d57ed0001a2b") }, "SD-1"},
		{"IMEI", func() (*devices.Device, bool) { return r.DeviceByIMEI("861234567890123") }, "GS-1"},
		{"platform id", func() (*devices.Device, bool) { return r.DeviceByPlatformID("a1b2c3d4e5") }, "GS-1"},
	} {
		d, ok := c.got()
		if !ok || d.ID != c.want {
			t.Errorf("%s: %v %v, want %s", c.name, d, ok, c.want)
		}
	}
	if _, ok := r.DeviceByGB26875("0000A1B2C3D4/1/1002"); ok {
		t.Error("an unmapped component found a device")
	}
	var behind []string
	for _, d := range r.BehindUnit("0000A1B2C3D4") {
		behind = append(behind, d.ID)
	}
	if strings.Join(behind, ",") != "FAS-1,GB-1,TU-1" || strings.Join(r.GB26875Units(), ",") != "0000A1B2C3D4" {
		t.Errorf("behind the unit %v, units %v", behind, r.GB26875Units())
	}
	if d, _ := r.Device("SD-1"); d.Addresses().DevEUI != "70b3d57ed0001a2b" {
		t.Errorf("DevEUI kept as %q, want lower case", d.Addresses().DevEUI)
	}
}

func TestAddressErrors(t *testing.T) {
	_, err := withDevices(t, "", "id,kind,site,gb26875,dev_eui,imei,platform_id\n"+
		"A-1,smoke,H-1,A1B2C3D4,,,\n"+
		"A-2,smoke,H-1,0000A1B2C3D4/256,,,\n"+
		"A-3,smoke,H-1,0000A1B2C3D4/1/1,70b3,,\n"+
		"A-4,smoke,H-1,0000a1b2c3d4/1/1,,86123,\n"+
		"A-5,smoke,H-1,,,,bad id\n"+
		"A-6,gas,SHED-1,,,,\n"+
		"A-7,camera,H-1,,,,\n")
	for _, want := range []string{
		`reg/devices.csv:2:15: gb26875: unit "A1B2C3D4": want the transmission unit's address as 12 hex digits`,
		`reg/devices.csv:3:15: gb26875: system "256": want the system address, 0..255`,
		`reg/devices.csv:4:32: dev_eui: "70b3": want 16 hex digits`,
		`reg/devices.csv:5:15: gb26875: "0000a1b2c3d4/1/1" is A-3's already`,
		`reg/devices.csv:5:33: imei: "86123": want the module's 15-digit IMEI`,
		`reg/devices.csv:6:18: platform_id: platform id "bad id" has character ' '`,
		`reg/devices.csv:7:9: site: a gas device cannot be installed at charging_shed site "SHED-1" (want a household or building site)`,
		`reg/devices.csv:8:12: site: a camera device cannot be installed at household site "H-1"`,
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("want an error containing\n\t%s\ngot\n\t%v", want, err)
		}
	}
}

func TestFormatGB26875(t *testing.T) {
	if s := devices.FormatGB26875(0xA1B2C3D4, 1, 1001); s != "0000A1B2C3D4/1/1001" {
		t.Error(s)
	}
	if s := devices.FormatGB26875(0xA1B2C3D4, -1, -1); s != "0000A1B2C3D4" {
		t.Error(s)
	}
	if s, err := devices.ParseGB26875("0000a1b2c3d4/0/4294967295"); err != nil || s != "0000A1B2C3D4/0/4294967295" {
		t.Error(s, err)
	}
	for _, bad := range []string{"", "0000A1B2C3D4/1/2/3", "0000A1B2C3DX", "0000A1B2C3D4/x", "0000A1B2C3D4/1/4294967296"} {
		if _, err := devices.ParseGB26875(bad); err == nil {
			t.Errorf("ParseGB26875(%q) took it", bad)
		}
	}
}
