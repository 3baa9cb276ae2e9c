package simulator

import (
	"fmt"
	"math"

	"github.com/firegrid/firegrid/contract"
	"math/rand/v2"
	"time"
)

// Model constants. They shape plausible values, not physics: what matters
// is that a console shows numbers that look like a device's and that rules
// see the usual noise, never a threshold crossed by accident.
const (
	// Smoke detectors.
	smokeLowBatteryPct = 15.0 // a detector reports low_battery below this
	smokeDrainingShare = 0.05 // share of detectors whose battery drains
	// Hydrants: municipal mains at a nominal 0.32 MPa at night, pulled
	// down by the daily demand to about 0.26 MPa at the morning (7-8 h) and
	// evening (19-20 h) peaks; never near the 0.10 MPa of GB 50974.
	hydrantNominalMPa = 0.32
	hydrantNoiseMPa   = 0.004
	// Chargers.
	chargerDefaultPorts = 10
	chargerMainsV       = 220.0
	chargerPowerFactor  = 0.95
	chargerAmbientC     = 24.0
	chargerBusyShare    = 0.3     // ports charging when the run starts
	chargerPlugInPerSec = 1.0e-4  // chance per second that an idle port starts a session
	chargerMinSession   = 20 * 60 // seconds
	chargerMaxSession   = 2 * 3600
)

// model is one simulated device: what it measures, its schedule state and
// what a scenario has imposed on it.
type model struct {
	id     string
	kind   contract.Kind
	index  int // position in the fleet, the tie-break of the schedule
	rng    *rand.Rand
	seq    uint64 // messages sent so far
	beats  bool   // the fleet gives it heartbeats
	queued bool   // it has a slot in the schedule
	silent bool   // a scenario silenced it
	last   time.Duration
	topics [2]string // telemetry and event topics, built once

	// Values a scenario step imposed; they replace the generated ones until
	// a resume step.
	override map[string]float64
	portOver map[int]PortValues

	// smoke
	ambient, temp, obscuration, rssi float64
	battery, drainPerHour            float64
	lowBatterySent                   bool
	// hydrant
	nominal, pressure, tilt float64
	demandScale             float64 // how much of the daily demand this hydrant's main feels
	// charger
	voltage float64
	ports   []portState
	// electrical fire monitor
	leakage, cableTemp float64
}

// portState is one charger port: idle, or charging with a session under way.
type portState struct {
	left    float64 // seconds of session left; 0 when idle
	length  float64 // the session's full length
	current float64 // amps drawn while in the bulk phase
	temp    float64
}

// newModel builds the model of a device. Its random source is derived from
// the fleet seed and the device id alone, so adding a device to the fleet
// changes no other device's sequence.
func newModel(id string, kind contract.Kind, ports int, index int, seed uint64) *model {
	m := &model{
		id:    id,
		kind:  kind,
		index: index,
		rng:   rand.New(rand.NewPCG(seed, fnv64a(id))),
	}
	r := m.rng
	switch kind {
	case contract.KindSmoke:
		m.ambient = 18 + 8*r.Float64()
		m.temp = m.ambient
		m.obscuration = 0.05 + 0.1*r.Float64()
		m.rssi = -100 + 35*r.Float64()
		if r.Float64() < smokeDrainingShare {
			m.battery = 16 + 14*r.Float64()
			m.drainPerHour = 0.5 + 1.5*r.Float64()
		} else {
			m.battery = 60 + 40*r.Float64()
			m.drainPerHour = 0.002
		}
	case contract.KindHydrant:
		m.nominal = min(max(hydrantNominalMPa+0.01*r.NormFloat64(), 0.29), 0.35)
		m.pressure = m.nominal
		m.demandScale = 0.8 + 0.4*r.Float64()
		m.tilt = 0.2 + 0.8*r.Float64()
		m.battery = 70 + 30*r.Float64()
		m.drainPerHour = 0.002
	case contract.KindElectrical:
		m.leakage = 15 + 45*r.Float64()
		m.cableTemp = 26 + 8*r.Float64()
		m.voltage = chargerMainsV
	case contract.KindButton:
		m.battery = 60 + 40*r.Float64()
		m.drainPerHour = 0.002
		m.rssi = -105 + 35*r.Float64()
	case contract.KindCharger:
		if ports <= 0 {
			ports = chargerDefaultPorts
		}
		m.voltage = chargerMainsV
		m.ports = make([]portState, ports)
		for i := range m.ports {
			p := &m.ports[i]
			p.temp = chargerAmbientC + r.Float64()
			if r.Float64() < chargerBusyShare {
				m.startSession(p)
				p.left = p.length * r.Float64()
				p.temp += 4 * p.current
			}
		}
	}
	return m
}

func (m *model) startSession(p *portState) {
	r := m.rng
	p.length = chargerMinSession + (chargerMaxSession-chargerMinSession)*r.Float64()
	p.left = p.length
	p.current = 1.5 + 1.7*r.Float64()
}

// tick moves the device's state on by dt, the time since its last
// heartbeat, to the simulated wall-clock time now.
func (m *model) tick(dt time.Duration, now time.Time) {
	s := dt.Seconds()
	r := m.rng
	switch m.kind {
	case contract.KindSmoke:
		m.temp += (m.ambient-m.temp)*settle(s, 600) + 0.15*r.NormFloat64()
		m.obscuration = 0.05 + math.Abs(0.05*r.NormFloat64())
		m.battery = max(m.battery-m.drainPerHour*s/3600, 0)
	case contract.KindHydrant:
		m.pressure = m.nominal - m.demandScale*HydrantDemand(now) + hydrantNoiseMPa*r.NormFloat64()
		m.battery = max(m.battery-m.drainPerHour*s/3600, 0)
	case contract.KindElectrical:
		m.voltage = chargerMainsV + 2*r.NormFloat64()
		m.leakage = min(max(m.leakage+2*r.NormFloat64(), 5), 90)
		m.cableTemp = min(max(m.cableTemp+0.3*r.NormFloat64(), 20), 45)
	case contract.KindButton:
		m.battery = max(m.battery-m.drainPerHour*s/3600, 0)
	case contract.KindCharger:
		m.voltage = chargerMainsV + 2*r.NormFloat64()
		for i := range m.ports {
			p := &m.ports[i]
			if p.left > 0 {
				p.left = max(p.left-s, 0)
			} else if r.Float64() < chargerPlugInPerSec*s {
				m.startSession(p)
			}
			target := chargerAmbientC + 6*m.portCurrent(p)
			p.temp += (target-p.temp)*settle(s, 180) + 0.2*r.NormFloat64()
		}
	}
}

// HydrantDemand is how far, in MPa, the daily demand on the water mains
// pulls a hydrant's pressure below its nominal at the wall-clock time t, in
// t's own location: about 0.055 at the morning peak (7:30), 0.06 at the
// evening peak (19:30), a little over the middle of the day and nearly
// nothing at night.
func HydrantDemand(t time.Time) float64 {
	h := float64(t.Hour()) + float64(t.Minute())/60 + float64(t.Second())/3600
	return 0.055*peak(h, 7.5, 1.3) + 0.06*peak(h, 19.5, 1.6) + 0.02*peak(h, 13, 3)
}

// peak is a bell of height 1 centred on hour c of the day, of width sigma
// hours, wrapping around midnight.
func peak(h, c, sigma float64) float64 {
	d := math.Abs(h - c)
	d = min(d, 24-d)
	return math.Exp(-0.5 * (d / sigma) * (d / sigma))
}

// settle is the share of the way to its target that a first-order system
// with time constant tau seconds covers in s seconds.
func settle(s, tau float64) float64 { return 1 - math.Exp(-s/tau) }

// portCurrent is what a port draws: the bulk current, a trickle in the
// last fifth of a session, nothing when idle.
func (m *model) portCurrent(p *portState) float64 {
	switch {
	case p.left <= 0:
		return 0
	case p.left < p.length/5:
		return p.current / 5
	}
	return p.current
}

// values returns the device's current values as the contract names them,
// with what a scenario imposed applied on top. The map is new: messages own
// their values.
func (m *model) values() map[string]float64 {
	v := make(map[string]float64, 4)
	switch m.kind {
	case contract.KindSmoke:
		v["obscuration_pct_m"] = round(m.obscuration, 2)
		v["temp_c"] = round(m.temp, 1)
		v["battery_pct"] = math.Floor(m.battery)
		v["rssi_dbm"] = math.Round(m.rssi + 2*m.rng.NormFloat64())
	case contract.KindHydrant:
		v["pressure_mpa"] = round(m.pressure, 3)
		v["flow_lpm"] = 0
		v["tilt_deg"] = round(m.tilt, 1)
		v["battery_pct"] = math.Floor(m.battery)
	case contract.KindCharger:
		v["voltage_v"] = round(m.voltage, 1)
	case contract.KindElectrical:
		v["residual_current_ma"] = math.Round(m.leakage)
		v["cable_temp_c"] = round(m.cableTemp, 1)
		v["voltage_v"] = round(m.voltage, 1)
	case contract.KindGas:
		v["lel_pct"] = 0
		v["valve_closed"] = 0
	case contract.KindButton:
		v["battery_pct"] = math.Floor(m.battery)
		v["rssi_dbm"] = math.Round(m.rssi + 2*m.rng.NormFloat64())
	}
	for k, x := range m.override {
		v[k] = x
	}
	return v
}

// portValues returns a charger's ports as the contract carries them, with
// what a scenario imposed applied on top; nil for other kinds.
func (m *model) portValues(voltage float64) []contract.Port {
	if m.kind != contract.KindCharger {
		return nil
	}
	out := make([]contract.Port, len(m.ports))
	for i := range m.ports {
		p := &m.ports[i]
		cur := m.portCurrent(p)
		out[i] = contract.Port{
			Port:     i + 1,
			CurrentA: round(cur, 2),
			PowerW:   math.Round(voltage * cur * chargerPowerFactor),
			TempC:    round(p.temp, 1),
			State:    portStateName(cur),
		}
		if o, ok := m.portOver[i+1]; ok {
			o.applyTo(&out[i], voltage)
		}
	}
	return out
}

func portStateName(current float64) string {
	if current > 0 {
		return "charging"
	}
	return "idle"
}

// impose makes a step's values stick: later heartbeats carry them.
func (m *model) impose(values map[string]float64, ports []PortValues) {
	for k, x := range values {
		if m.override == nil {
			m.override = make(map[string]float64)
		}
		m.override[k] = x
	}
	for _, p := range ports {
		if m.portOver == nil {
			m.portOver = make(map[int]PortValues)
		}
		m.portOver[p.Port] = m.portOver[p.Port].merge(p)
	}
}

// resume drops what scenarios imposed and lets the device beat again.
func (m *model) resume() {
	m.override = nil
	m.portOver = nil
	m.silent = false
}

// batteryLow reports, once, that a smoke detector's battery fell below the
// low-battery threshold.
func (m *model) batteryLow() bool {
	if m.kind != contract.KindSmoke || m.lowBatterySent {
		return false
	}
	b, ok := m.override["battery_pct"]
	if !ok {
		b = math.Floor(m.battery)
	}
	if b >= smokeLowBatteryPct {
		return false
	}
	m.lowBatterySent = true
	return true
}

// snapshot is what a camera sends with a detection: the URL of its
// picture (on the example domain: a simulation stores none).
func (m *model) snapshot(event string, seq uint64) []string {
	if m.kind != contract.KindCamera || (event != "fire_lane_blocked" && event != "ebike_in_lift") {
		return nil
	}
	return []string{fmt.Sprintf("https://snapshots.example.com/%s/%d.jpg", m.id, seq)}
}

// topic returns the device's uplink topic on channel ch.
func (m *model) topic(ch contract.Channel) string {
	i := 0
	if ch == contract.ChannelEvent {
		i = 1
	}
	if m.topics[i] == "" {
		m.topics[i] = contract.Message{Kind: m.kind, Device: m.id, Channel: ch}.Topic()
	}
	return m.topics[i]
}

// interval returns the gap to the next heartbeat: base with up to ±jitter
// of it drawn at random.
func (m *model) interval(base time.Duration, jitter float64) time.Duration {
	if jitter <= 0 {
		return base
	}
	f := 1 + jitter*(2*m.rng.Float64()-1)
	return time.Duration(float64(base) * f)
}

// fnv64a hashes s (FNV-1a, 64 bits).
func fnv64a(s string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= 1099511628211
	}
	return h
}
