package devices

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Addresses of a device on the field networks that speak for it, for the
// devices that do not publish contract v1 themselves. Each is an optional
// column of devices.csv and unique in the registry; ingest's decoders find
// a device by them.
type Addresses struct {
	// GB26875 locates the device behind a user information transmission
	// device (用户信息传输装置) speaking GB/T 26875.3: the unit's address,
	// then the fire alarm system's address, then the component's, as
	// written by FormatGB26875: "0000A1B2C3D4/1/1001" a component,
	// "0000A1B2C3D4/1" a whole system (its controller), "0000A1B2C3D4" the
	// transmission unit itself.
	GB26875 string `json:"gb26875,omitempty"`
	// DevEUI is a LoRaWAN device's EUI (16 hex digits, lower case), as a
	// network server such as ChirpStack names it.
	DevEUI string `json:"dev_eui,omitempty"`
	// IMEI is an NB-IoT or 4G module's IMEI (15 digits), as a carrier
	// platform (CTWing, OneNET) reports it.
	IMEI string `json:"imei,omitempty"`
	// PlatformID is the device's id on its carrier platform (CTWing's
	// deviceId, OneNET's dev_id).
	PlatformID string `json:"platform_id,omitempty"`
}

// FormatGB26875 writes a GB/T 26875.3 address as the registry keeps it:
// the unit's six address bytes as 12 upper-case hex digits, most
// significant first (the frame carries them least significant first),
// then "/system" and "/component" in decimal. A negative system or
// component leaves that part (and what follows) out.
func FormatGB26875(unit uint64, system, component int64) string {
	s := fmt.Sprintf("%012X", unit&0xFFFFFFFFFFFF)
	if system < 0 {
		return s
	}
	s += "/" + strconv.FormatInt(system, 10)
	if component < 0 {
		return s
	}
	return s + "/" + strconv.FormatInt(component, 10)
}

// ParseGB26875 reads an address written as FormatGB26875 writes it (hex
// digits in either case) and returns it in that form.
func ParseGB26875(s string) (string, error) {
	parts := strings.Split(s, "/")
	if len(parts) > 3 {
		return "", fmt.Errorf("%q has more than three parts (want UNIT, UNIT/SYSTEM or UNIT/SYSTEM/COMPONENT)", s)
	}
	if len(parts[0]) != 12 {
		return "", fmt.Errorf("unit %q: want the transmission unit's address as 12 hex digits, e.g. 0000A1B2C3D4", parts[0])
	}
	unit, err := strconv.ParseUint(parts[0], 16, 64)
	if err != nil {
		return "", fmt.Errorf("unit %q: want 12 hex digits", parts[0])
	}
	system, component := int64(-1), int64(-1)
	if len(parts) > 1 {
		v, err := strconv.ParseUint(parts[1], 10, 8)
		if err != nil {
			return "", fmt.Errorf("system %q: want the system address, 0..255", parts[1])
		}
		system = int64(v)
	}
	if len(parts) > 2 {
		v, err := strconv.ParseUint(parts[2], 10, 32)
		if err != nil {
			return "", fmt.Errorf("component %q: want the component address, 0..4294967295", parts[2])
		}
		component = int64(v)
	}
	return FormatGB26875(unit, system, component), nil
}

// normalizeDevEUI checks a DevEUI and returns it in lower case.
func normalizeDevEUI(s string) (string, error) {
	if len(s) != 16 {
		return "", fmt.Errorf("%q: want 16 hex digits, e.g. 70b3d57ed0001a2b", s)
	}
	if _, err := strconv.ParseUint(s, 16, 64); err != nil {
		return "", fmt.Errorf("%q: want 16 hex digits", s)
	}
	return strings.ToLower(s), nil
}

func checkIMEI(s string) error {
	if len(s) != 15 || strings.Trim(s, "0123456789") != "" {
		return fmt.Errorf("%q: want the module's 15-digit IMEI", s)
	}
	return nil
}

// readAddresses reads a device row's address columns into d, checking each
// and that no other device has it.
func (l *loader) readAddresses(t *csvTable, row csvRow, d *Device, file string) {
	if l.r.byAddress == nil {
		l.r.byAddress = map[string]*Device{}
	}
	addr := func() *Addresses {
		if d.addr == nil {
			d.addr = &Addresses{}
		}
		return d.addr
	}
	claim := func(col, key, value string) {
		if prev, dup := l.r.byAddress[key]; dup {
			l.p.line(file, row.line, col, "%q is %s's already (each address names one device)", value, prev.ID)
			return
		}
		l.r.byAddress[key] = d
	}
	if v := t.get(row, "gb26875"); v != "" {
		a, err := ParseGB26875(v)
		if err != nil {
			l.p.line(file, row.line, "gb26875", "%v", err)
		} else {
			addr().GB26875 = a
			claim("gb26875", "gb26875:"+a, v)
		}
	}
	if v := t.get(row, "dev_eui"); v != "" {
		a, err := normalizeDevEUI(v)
		if err != nil {
			l.p.line(file, row.line, "dev_eui", "%v", err)
		} else {
			addr().DevEUI = a
			claim("dev_eui", "eui:"+a, v)
		}
	}
	if v := t.get(row, "imei"); v != "" {
		if err := checkIMEI(v); err != nil {
			l.p.line(file, row.line, "imei", "%v", err)
		} else {
			addr().IMEI = v
			claim("imei", "imei:"+v, v)
		}
	}
	if v := t.get(row, "platform_id"); v != "" {
		if msg := checkID(v); msg != "" {
			l.p.line(file, row.line, "platform_id", "%s", strings.Replace(msg, "id ", "platform id ", 1))
		} else {
			addr().PlatformID = v
			claim("platform_id", "platform:"+v, v)
		}
	}
}

// DeviceByGB26875 returns the device at a GB/T 26875.3 address, in the
// form FormatGB26875 writes.
func (r *Registry) DeviceByGB26875(addr string) (*Device, bool) {
	d, ok := r.byAddress["gb26875:"+addr]
	return d, ok
}

// DeviceByDevEUI returns the device with a LoRaWAN DevEUI (any case).
func (r *Registry) DeviceByDevEUI(eui string) (*Device, bool) {
	d, ok := r.byAddress["eui:"+strings.ToLower(eui)]
	return d, ok
}

// DeviceByIMEI returns the device whose module has an IMEI.
func (r *Registry) DeviceByIMEI(imei string) (*Device, bool) {
	d, ok := r.byAddress["imei:"+imei]
	return d, ok
}

// DeviceByPlatformID returns the device a carrier platform knows by id.
func (r *Registry) DeviceByPlatformID(id string) (*Device, bool) {
	d, ok := r.byAddress["platform:"+id]
	return d, ok
}

// BehindUnit returns the devices mapped behind a GB/T 26875.3 transmission
// unit (its systems and components, and the unit itself), sorted by id: a
// unit's heartbeat is a sign of life of each, since the fire alarm system
// supervises its components and reports their faults.
func (r *Registry) BehindUnit(unit string) []*Device {
	return append([]*Device(nil), r.units[unit]...)
}

// GB26875Units lists the transmission units the registry maps devices
// behind, by address, sorted.
func (r *Registry) GB26875Units() []string {
	out := make([]string, 0, len(r.units))
	for u := range r.units {
		out = append(out, u)
	}
	slices.Sort(out)
	return out
}
