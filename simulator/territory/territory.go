// Package territory generates made-up territories for firegrid: a registry
// directory (grid.geojson, stations.geojson, sites.csv, residents.csv,
// devices.csv, as devices.Load reads it) for one invented sub-district of
// Zhengzhou's Erqi district (二七区), of any size.
//
// In the data flow it stands before everything else: it writes the files a
// firegrid and a simulated fleet load, and never talks to either. The
// output depends only on the Options: the same options and seed give the
// same bytes. With the default options and seed 1 it writes the demo
// territory committed in configs/demo. A bigger fleet spreads over more
// communities and zones (about 24 households a zone), so that a zone looks
// the same at any size.
//
// The names, addresses, phone numbers and boundaries are invented; only the
// rough position (from around 113.63 E, 34.71 N) is real.
package territory

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// Defaults of Options.
const (
	DefaultHouseholds = 216
	DefaultHydrants   = 20
	DefaultSheds      = 5
	// HouseholdsPerZone is how many households a responsibility zone holds
	// at most: a territory has enough zones, three per community, for its
	// households at this density.
	HouseholdsPerZone = 24
	// MaxHouseholds bounds Options.Households (ids and phone numbers stay
	// unique well below it).
	MaxHouseholds = 200000
)

// Options says what territory to generate. The zero value means the
// defaults, which with Seed 1 are the demo territory of configs/demo.
type Options struct {
	// Seed seeds every random choice; the same options give the same files.
	Seed uint64
	// Households is how many households (each with a smoke detector) the
	// territory has; 0 means 216. Communities and zones grow with it.
	Households int
	// Hydrants is how many hydrants (each with a pressure monitor); 0 means
	// 20.
	Hydrants int
	// Sheds is how many e-bike charging sheds (each with a 10-port charger
	// and a smoke detector); 0 means 5.
	Sheds int
}

func (o Options) withDefaults() Options {
	if o.Households == 0 {
		o.Households = DefaultHouseholds
	}
	if o.Hydrants == 0 {
		o.Hydrants = DefaultHydrants
	}
	if o.Sheds == 0 {
		o.Sheds = DefaultSheds
	}
	return o
}

// Validate reports what is wrong with o.
func (o Options) Validate() error {
	var errs []error
	if o.Households < 0 || o.Households > MaxHouseholds {
		errs = append(errs, fmt.Errorf("households: %d is out of range (want 1..%d, or 0 for %d)", o.Households, MaxHouseholds, DefaultHouseholds))
	}
	if o.Hydrants < 0 || o.Hydrants > MaxHouseholds {
		errs = append(errs, fmt.Errorf("hydrants: %d is out of range (want 1..%d, or 0 for %d)", o.Hydrants, MaxHouseholds, DefaultHydrants))
	}
	if o.Sheds < 0 || o.Sheds > 999 {
		errs = append(errs, fmt.Errorf("sheds: %d is out of range (want 1..999, or 0 for %d)", o.Sheds, DefaultSheds))
	}
	return errors.Join(errs...)
}

// Communities returns how many communities (each of three zones) a
// territory of o has.
func (o Options) Communities() int {
	o = o.withDefaults()
	perCommunity := 3 * HouseholdsPerZone
	return max(1, (o.Households+perCommunity-1)/perCommunity)
}

// Territory is a generated territory, ready to Write.
type Territory struct {
	areas     []area
	stations  []station
	sites     []site
	residents []resident
	devices   []device
}

// Counts says how many of each thing a territory holds.
type Counts struct {
	Communities, Zones, Stations                        int
	Households, Corridors, Sheds, Hydrants, Buildings   int
	Residents                                           int
	SmokeDetectors, HydrantMonitors, Chargers           int
	ElectricalMonitors, GasDetectors, CallButtons       int
	Cameras                                             int
	TransmissionUnits, UnitDetectors, LoRaWAN, Platform int
}

// Counts counts what t holds.
func (t *Territory) Counts() Counts {
	var c Counts
	for _, a := range t.areas {
		switch a.level {
		case "community":
			c.Communities++
		case "zone":
			c.Zones++
		}
	}
	for _, s := range t.sites {
		switch s.typ {
		case "household":
			c.Households++
		case "corridor":
			c.Corridors++
		case "charging_shed":
			c.Sheds++
		case "hydrant":
			c.Hydrants++
		case "building":
			c.Buildings++
		}
	}
	units := map[string]bool{}
	for _, d := range t.devices {
		switch d.kind {
		case "smoke":
			c.SmokeDetectors++
		case "hydrant":
			c.HydrantMonitors++
		case "charger":
			c.Chargers++
		case "electrical":
			c.ElectricalMonitors++
		case "gas":
			c.GasDetectors++
		case "button":
			c.CallButtons++
		case "camera":
			c.Cameras++
		}
		switch {
		case d.gb != "":
			c.UnitDetectors++
			units[strings.SplitN(d.gb, "/", 2)[0]] = true
		case d.devEUI != "":
			c.LoRaWAN++
		case d.imei != "" || d.platformID != "":
			c.Platform++
		}
	}
	c.TransmissionUnits = len(units)
	c.Stations, c.Residents = len(t.stations), len(t.residents)
	return c
}

// Devices is how many devices t holds.
func (c Counts) Devices() int {
	return c.SmokeDetectors + c.HydrantMonitors + c.Chargers + c.ElectricalMonitors + c.GasDetectors + c.CallButtons + c.Cameras
}

// pt is a longitude/latitude pair in degrees.
type pt struct{ lon, lat float64 }

// quad is a four-cornered zone: bottom-left, bottom-right, top-right,
// top-left.
type quad [4]pt

// at maps (u, v) in the unit square into the quad bilinearly.
func (q quad) at(u, v float64) pt {
	b := pt{q[0].lon + u*(q[1].lon-q[0].lon), q[0].lat + u*(q[1].lat-q[0].lat)}
	t := pt{q[3].lon + u*(q[2].lon-q[3].lon), q[3].lat + u*(q[2].lat-q[3].lat)}
	return pt{b.lon + v*(t.lon-b.lon), b.lat + v*(t.lat-b.lat)}
}

type area struct {
	id, name, level, parent, station string
	workerName, workerPhone          string
	ring                             []pt
	q                                quad
	roads                            []string // zone: roads its compounds sit on
}

type station struct {
	id, name, phone, community string
	at                         pt
}

type site struct {
	id, typ, name, address string
	at                     pt
}

type resident struct {
	site, name                    string
	age                           int
	phone                         string
	elderlyAlone, bereaved, disab bool
	guardianName, guardianPhone   string
}

type device struct {
	id, kind, site, model string
	at                    *pt // nil: the site's location
	ports                 int
	// Addresses on field networks (devices.csv gb26875, dev_eui, imei,
	// platform_id).
	gb, devEUI, imei, platformID string
}

// names makes Chinese-plausible names and unique made-up phone numbers.
type names struct {
	rng    *rand.Rand
	phones map[string]bool
}

var (
	surnames = []rune("王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗梁宋郑谢韩唐冯于董萧程曹袁邓许傅沈曾彭吕苏卢蒋蔡贾丁魏薛叶阎余潘杜戴夏钟汪田任姜范方石姚谭廖邹熊金陆郝孔白崔康毛邱秦江史顾侯邵孟龙万段雷钱汤尹黎易常武乔贺赖龚文")
	given    = []rune("伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰凤珍建国志红梅淑德海燕荣保林春生文")
)

func (n *names) person() string {
	s := string(surnames[n.rng.IntN(len(surnames))])
	k := 1 + n.rng.IntN(2)
	for range k {
		s += string(given[n.rng.IntN(len(given))])
	}
	return s
}

func (n *names) sameSurname(of string) string {
	r := []rune(of)
	s := string(r[0])
	for range 1 + n.rng.IntN(2) {
		s += string(given[n.rng.IntN(len(given))])
	}
	return s
}

func (n *names) phone() string {
	for {
		p := fmt.Sprintf("138%08d", n.rng.IntN(100000000))
		if !n.phones[p] {
			n.phones[p] = true
			return p
		}
	}
}

const district = "郑州市二七区"

// The first three communities are the demo's; more take their names and
// roads from roadPool.
var (
	demoCommunities = []community{
		{"大同路社区", []string{"大同路", "兴华北街", "政通路"}},
		{"福寿街社区", []string{"福寿街", "长江路", "大学路"}},
		{"钱塘路社区", []string{"钱塘路", "京广路", "淮河路"}},
	}
	roadPool = []string{"航海路", "嵩山路", "陇海路", "中原路", "建设路", "桐柏路", "伏牛路", "工人路",
		"民主路", "解放路", "人民路", "二七路", "铭功路", "正兴街", "苑陵街", "敦睦路",
		"碧云路", "马寨路", "侯寨路", "齐礼阎路", "长江东路", "南三环", "秦岭路", "华山路"}
	poolSuffix = []string{"", "东", "西", "南", "北", "中"}
	zoneWords  = []string{"第一责任片区", "第二责任片区", "第三责任片区"}
	// The demo's corridors and sheds sit in these buildings and zones; more
	// are spread evenly.
	demoCorridorBuildings = []int{0, 7, 15, 22, 30, 38}
	demoShedZones         = []int{0, 2, 4, 5, 7}
	// Hydrants beyond an even share go to these zones first.
	busyZones = []int{1, 7}
)

type community struct {
	name  string
	roads []string
}

// communityNamed returns the name and roads of the c-th community.
func communityNamed(c int) community {
	if c < len(demoCommunities) {
		return demoCommunities[c]
	}
	i := c - len(demoCommunities)
	n := len(roadPool)
	road := roadPool[i%n]
	suffix := poolSuffix[(i/n)%len(poolSuffix)]
	if k := i / (n * len(poolSuffix)); k > 0 {
		suffix += strconv.Itoa(k + 1)
	}
	return community{road + suffix + "社区", []string{road, roadPool[(i+1)%n], roadPool[(i+5)%n]}}
}

// Generate builds the territory of o.
func Generate(o Options) (*Territory, error) {
	if err := o.Validate(); err != nil {
		return nil, fmt.Errorf("territory: %w", err)
	}
	o = o.withDefaults()
	rng := rand.New(rand.NewPCG(o.Seed, 0x6669726567726964)) // "firegrid"
	nm := &names{rng: rng, phones: map[string]bool{}}
	t := &Territory{}

	// A community is a strip about 0.9 km by 2.2 km with straight borders,
	// so that the zones' corners on them lie exactly on the line after
	// rounding. The demo's three sit side by side; more are laid out in
	// a grid of about as many kilometres north-south as east-west.
	const west, east, south, north = 113.630, 113.660, 34.710, 34.730
	nc := o.Communities()
	cols := min(nc, int(math.Ceil(math.Sqrt(2.4*float64(nc)))))
	rows := (nc + cols - 1) / cols
	xAt := func(col int) float64 { return round6(west + float64(col)*(east-west)/3) }
	yAt := func(row int) float64 { return round6(south + float64(row)*(north-south)) }

	// The large grid: the sub-district around them all.
	t.areas = append(t.areas, area{
		id: "G-1", name: "德化街街道", level: "grid",
		workerName: nm.person(), workerPhone: nm.phone(),
		ring: []pt{{west, south}, {xAt(cols), south}, {xAt(cols), yAt(rows)}, {west, yAt(rows)}},
	})

	zoneNo := 0
	var zones []*area
	for c := range nc {
		cm := communityNamed(c)
		x0, x1 := xAt(c%cols), xAt(c%cols+1)
		y0, y1 := yAt(c/cols), yAt(c/cols+1)
		cid := fmt.Sprintf("C-%d", c+1)
		t.areas = append(t.areas, area{
			id: cid, name: cm.name, level: "community", parent: "G-1",
			workerName: nm.person(), workerPhone: nm.phone(),
			ring: []pt{{x0, y0}, {x1, y0}, {x1, y1}, {x0, y1}},
		})
		// Two slanted east-west borders split the community in three zones.
		rows := [4][2]float64{{y0, y0}, {}, {}, {y1, y1}}
		for r := 1; r <= 2; r++ {
			base := y0 + float64(r)*(north-south)/3
			rows[r] = [2]float64{
				round6(base + (rng.Float64()-0.5)*0.0016),
				round6(base + (rng.Float64()-0.5)*0.0016),
			}
		}
		for r := range 3 {
			zoneNo++
			q := quad{{x0, rows[r][0]}, {x1, rows[r][1]}, {x1, rows[r+1][1]}, {x0, rows[r+1][0]}}
			t.areas = append(t.areas, area{
				id: zoneID(zoneNo), name: cm.name + zoneWords[r], level: "zone", parent: cid,
				station:    fmt.Sprintf("MFS-%d", c+1),
				workerName: nm.person(), workerPhone: nm.phone(),
				ring: q[:], q: q,
				roads: cm.roads,
			})
		}
	}
	for i := range t.areas {
		if t.areas[i].level == "zone" {
			zones = append(zones, &t.areas[i])
		}
	}
	// One zone is deliberately left without a station: its alarms must go
	// to the nearest one (and Gaps must say so).
	if len(zones) > 5 {
		zones[5].station = ""
	}

	// Stations: one per community, inside one of its zones (the second,
	// first and third in turn).
	for c := range nc {
		z := zones[3*c+[]int{1, 0, 2}[c%3]]
		t.stations = append(t.stations, station{
			id: fmt.Sprintf("MFS-%d", c+1), name: communityNamed(c).name + "微型消防站",
			phone: nm.phone(), community: fmt.Sprintf("C-%d", c+1),
			at: z.q.at(0.2+0.6*rng.Float64(), 0.3+0.4*rng.Float64()),
		})
	}

	// Households: two compounds (院) per zone, two or three buildings each;
	// the households are shared out evenly over the zones.
	var households []*site
	var buildings []building
	hh := 0
	for zi, z := range zones {
		inZone := share(o.Households, len(zones), zi)
		for k := range 2 {
			road := z.roads[rng.IntN(len(z.roads))]
			compound := fmt.Sprintf("%s %s %d号院", district, road, 2+rng.IntN(180))
			nb := 2 + rng.IntN(2)
			perCompound := share(inZone, 2, k)
			for b := range nb {
				u := 0.15 + 0.3*float64(k) + 0.25*rng.Float64()
				v := 0.15 + 0.7*float64(b)/float64(nb) + 0.1*rng.Float64()
				bat := z.q.at(u, v)
				baddr := fmt.Sprintf("%s %d号楼", compound, b+1)
				buildings = append(buildings, building{baddr, bat})
				n := share(perCompound, nb, b)
				used := map[string]bool{}
				for range n {
					var apt string
					for {
						apt = fmt.Sprintf("%d单元 %d%02d", 1+rng.IntN(3), 1+rng.IntN(7), 1+rng.IntN(2))
						if !used[apt] {
							used[apt] = true
							break
						}
					}
					hh++
					t.sites = append(t.sites, site{
						id: fmt.Sprintf("H-%04d", hh), typ: "household",
						name:    "住户 " + strings.TrimPrefix(baddr, district+" ") + " " + apt,
						address: baddr + " " + apt,
						at:      pt{bat.lon + (rng.Float64()-0.5)*0.00008, bat.lat + (rng.Float64()-0.5)*0.00008},
					})
				}
			}
		}
	}
	for i := range t.sites {
		households = append(households, &t.sites[i])
	}

	// Residents: a third of households an elderly person living alone
	// with a guardian; some bereaved couples, some disabled residents (ten
	// and twelve in the demo's 216 households).
	order := rng.Perm(len(households))
	nElderly := len(households) / 3
	nBereaved := len(households) * 10 / DefaultHouseholds
	nDisabled := len(households) * 12 / DefaultHouseholds
	for rank, idx := range order {
		h := households[idx]
		switch {
		case rank < nElderly:
			name := nm.person()
			r := resident{site: h.id, name: name, age: 68 + rng.IntN(26), elderlyAlone: true,
				guardianName: nm.sameSurname(name), guardianPhone: nm.phone()}
			if rng.IntN(4) > 0 {
				r.phone = nm.phone()
			}
			if rng.IntN(8) == 0 {
				r.disab = true
			}
			t.residents = append(t.residents, r)
		case rank < nElderly+nBereaved:
			husband := nm.person()
			guardian, gphone := nm.person(), nm.phone() // a community contact
			for _, who := range []string{husband, nm.person()} {
				t.residents = append(t.residents, resident{site: h.id, name: who, age: 62 + rng.IntN(20),
					phone: nm.phone(), bereaved: true, guardianName: guardian, guardianPhone: gphone})
			}
		case rank < nElderly+nBereaved+nDisabled:
			name := nm.person()
			t.residents = append(t.residents,
				resident{site: h.id, name: name, age: 20 + rng.IntN(60), disab: true,
					guardianName: nm.sameSurname(name), guardianPhone: nm.phone()},
				resident{site: h.id, name: nm.sameSurname(name), age: 25 + rng.IntN(50), phone: nm.phone()},
			)
		default:
			head := nm.person()
			t.residents = append(t.residents, resident{site: h.id, name: head, age: 30 + rng.IntN(45), phone: nm.phone()})
			for range rng.IntN(4) {
				t.residents = append(t.residents, resident{site: h.id, name: nm.sameSurname(head), age: 3 + rng.IntN(80)})
			}
		}
	}
	// Keep the residents file in household order, and within a household
	// in the order drawn.
	slices.SortStableFunc(t.residents, func(a, b resident) int { return strings.Compare(a.site, b.site) })

	// Devices: one smoke detector per household.
	sd := 0
	smokeModels := []string{"JTY-GD-FG100 NB-IoT", "JTY-GD-FG200 4G"}
	for _, h := range households {
		sd++
		t.devices = append(t.devices, device{id: fmt.Sprintf("SD-%04d", sd), kind: "smoke", site: h.id, model: smokeModels[rng.IntN(2)]})
	}
	// Every eighth household also has a kitchen detector, so that a fire
	// seen by two detectors of one home is part of the demo. They are
	// numbered apart (SD-K001...) and draw nothing from rng, so the rest of
	// the territory stays as it was.
	for i := 0; i < len(households); i += 8 {
		t.devices = append(t.devices, device{id: fmt.Sprintf("SD-K%03d", i/8+1), kind: "smoke", site: households[i].id, model: smokeModels[1]})
	}
	// A few corridor detectors in the stairwells of some buildings: one
	// for every 36 households.
	nCorridors := max(1, len(households)*len(demoCorridorBuildings)/DefaultHouseholds)
	for i := range nCorridors {
		bi := i * len(buildings) / nCorridors
		if i < len(demoCorridorBuildings) {
			bi = demoCorridorBuildings[i]
		}
		b := buildings[bi%len(buildings)]
		id := fmt.Sprintf("COR-%02d", i+1)
		t.sites = append(t.sites, site{id: id, typ: "corridor",
			name:    "楼道 " + strings.TrimPrefix(b.addr, district+" ") + " 1单元",
			address: b.addr + " 1单元 楼道",
			at:      pt{b.at.lon + 0.00003, b.at.lat},
		})
		sd++
		t.devices = append(t.devices, device{id: fmt.Sprintf("SD-%04d", sd), kind: "smoke", site: id, model: smokeModels[0]})
	}
	// Charging sheds, each with a 10-port charger and a smoke detector.
	for i := range o.Sheds {
		zi := i * len(zones) / o.Sheds
		if i < len(demoShedZones) && demoShedZones[i] < len(zones) {
			zi = demoShedZones[i]
		}
		z := zones[zi]
		id := fmt.Sprintf("SHED-%02d", i+1)
		at := z.q.at(0.5+0.3*rng.Float64(), 0.4+0.2*rng.Float64())
		road := z.roads[rng.IntN(len(z.roads))]
		compound := fmt.Sprintf("%s %d号院", road, 2+rng.IntN(180))
		building := 1 + rng.IntN(180)%12
		t.sites = append(t.sites, site{id: id, typ: "charging_shed",
			name:    compound + " 电动自行车集中充电棚",
			address: fmt.Sprintf("%s %s %d号楼东侧", district, compound, building),
			at:      at,
		})
		charger := pt{at.lon + 0.00002, at.lat + 0.00001}
		t.devices = append(t.devices, device{id: fmt.Sprintf("CH-%03d", i+1), kind: "charger", site: id, model: "FG-EC10 10路智能充电桩", ports: 10, at: &charger})
		sd++
		t.devices = append(t.devices, device{id: fmt.Sprintf("SD-%04d", sd), kind: "smoke", site: id, model: smokeModels[0]})
	}
	// Hydrants: an even share per zone (two in the demo), the rest in the
	// busiest zones.
	perZone := make([]int, len(zones))
	for zi := range zones {
		perZone[zi] = o.Hydrants / len(zones)
	}
	extra := o.Hydrants % len(zones)
	for _, zi := range busyZones {
		if extra > 0 && zi < len(zones) {
			perZone[zi]++
			extra--
		}
	}
	for zi := 0; extra > 0; zi++ {
		if !slices.Contains(busyZones, zi) {
			perZone[zi]++
			extra--
		}
	}
	hy := 0
	for zi, z := range zones {
		for k := range perZone[zi] {
			hy++
			id := fmt.Sprintf("HYD-%03d", hy)
			road := z.roads[k%len(z.roads)]
			cross := z.roads[(k+1)%len(z.roads)]
			corner := []string{"东北角", "西北角", "东南角", "西南角"}[rng.IntN(4)]
			t.sites = append(t.sites, site{id: id, typ: "hydrant",
				name:    fmt.Sprintf("市政消火栓 %s与%s交叉口", road, cross),
				address: fmt.Sprintf("%s %s与%s交叉口%s", district, road, cross, corner),
				at:      z.q.at(0.1+0.8*rng.Float64(), 0.1+0.8*rng.Float64()),
			})
			t.devices = append(t.devices, device{id: fmt.Sprintf("HY-%03d", hy), kind: "hydrant", site: id, model: "FG-HP20 消火栓水压监测终端"})
		}
	}
	t.fieldDevices(o, zones)
	return t, nil
}

// Field devices: the plans' other sensors, and devices that reach firegrid
// through field networks rather than contract v1. They are added last,
// from a random source of their own, so the rest of the territory is what
// it was before them.
//
//   - Larger buildings (an elderly care home, a community health centre)
//     whose fire alarm system reports through a GB/T 26875.3 transmission
//     unit: two per three communities, four point photoelectric smoke
//     detectors each (FD-), a fire-lane camera and an electrical fire
//     monitor.
//   - An electrical fire monitor in each charging shed's distribution box.
//   - A gas detector with a shut-off valve in every twelfth household
//     (NB-IoT on OneNET), an emergency call button in every household of
//     an elderly resident living alone (NB-IoT on CTWing).
//   - A lift camera in each corridor's building.
//   - A few second smoke detectors on LoRaWAN (ChirpStack, LS-) and on
//     NB-IoT (CTWing, NS-), one each for every 54 households.
func (t *Territory) fieldDevices(o Options, zones []*area) {
	rng := rand.New(rand.NewPCG(o.Seed, 0x6669656c64)) // "field"
	households := t.sites[:o.Households]
	elderly := map[string]bool{}
	for _, r := range t.residents {
		if r.elderlyAlone {
			elderly[r.site] = true
		}
	}
	const (
		unitDetector = "JTY-GD-G3 点型光电感烟火灾探测器"
		electrical   = "ARCM300-Z 电气火灾监控探测器"
		gasModel     = "NB-GD01 NB-IoT 家用可燃气体探测器"
		buttonModel  = "NB-CB01 NB-IoT 紧急呼叫按钮"
		cameraModel  = "AI-CAM01 消防通道/电梯智能摄像机"
		loraModel    = "LD-SD01 LoRaWAN 光电感烟探测器"
		nbModel      = "NB-SD01 NB-IoT 独立式光电感烟探测器"
	)
	buildingNames := []string{"社区养老服务中心", "社区卫生服务中心", "社区文化活动中心", "农贸市场", "幼儿园"}
	nb := max(1, len(zones)/3*2/3)
	ef, cam := 0, 0
	for i := range nb {
		z := zones[(1+3*i)%len(zones)]
		id := fmt.Sprintf("B-%02d", i+1)
		road := z.roads[rng.IntN(len(z.roads))]
		name := strings.TrimSuffix(t.communityOf(z), "社区") + buildingNames[i%len(buildingNames)]
		t.sites = append(t.sites, site{id: id, typ: "building", name: name,
			address: fmt.Sprintf("%s %s %d号", district, road, 2+rng.IntN(180)),
			at:      z.q.at(0.75+0.1*rng.Float64(), 0.45+0.1*rng.Float64())})
		unit := fmt.Sprintf("0000A001%04X", i+1)
		for k := range 4 {
			t.devices = append(t.devices, device{id: fmt.Sprintf("FD-%02d%02d", i+1, k+1), kind: "smoke", site: id, model: unitDetector,
				gb: fmt.Sprintf("%s/1/%d", unit, 1001+k)})
		}
		cam++
		t.devices = append(t.devices, device{id: fmt.Sprintf("CAM-%03d", cam), kind: "camera", site: id, model: cameraModel,
			platformID: fmt.Sprintf("ctw-cam-%03d", cam)})
		ef++
		t.devices = append(t.devices, device{id: fmt.Sprintf("EF-%03d", ef), kind: "electrical", site: id, model: electrical})
	}
	for _, s := range t.sites {
		switch s.typ {
		case "charging_shed":
			ef++
			t.devices = append(t.devices, device{id: fmt.Sprintf("EF-%03d", ef), kind: "electrical", site: s.id, model: electrical})
		case "corridor":
			cam++
			t.devices = append(t.devices, device{id: fmt.Sprintf("CAM-%03d", cam), kind: "camera", site: s.id, model: cameraModel,
				platformID: fmt.Sprintf("ctw-cam-%03d", cam)})
		}
	}
	gs, cb := 0, 0
	for i, h := range households {
		if i%12 == 5 {
			gs++
			t.devices = append(t.devices, device{id: fmt.Sprintf("GS-%04d", gs), kind: "gas", site: h.id, model: gasModel,
				imei: fmt.Sprintf("8612345602%05d", gs), platformID: fmt.Sprintf("2023%05d", gs)})
		}
		if elderly[h.id] {
			cb++
			t.devices = append(t.devices, device{id: fmt.Sprintf("CB-%04d", cb), kind: "button", site: h.id, model: buttonModel,
				imei: fmt.Sprintf("8612345603%05d", cb), platformID: fmt.Sprintf("ctw-cb-%05d", cb)})
		}
	}
	n := max(1, len(households)/54)
	for i := range n {
		h := households[(i*54+11)%len(households)]
		t.devices = append(t.devices, device{id: fmt.Sprintf("LS-%04d", i+1), kind: "smoke", site: h.id, model: loraModel,
			devEUI: fmt.Sprintf("70b3d57ed000%04x", i+1)})
		h = households[(i*54+37)%len(households)]
		t.devices = append(t.devices, device{id: fmt.Sprintf("NS-%04d", i+1), kind: "smoke", site: h.id, model: nbModel,
			imei: fmt.Sprintf("8612345601%05d", i+1), platformID: fmt.Sprintf("ctw-sd-%05d", i+1)})
	}
}

// communityOf names the community a zone belongs to.
func (t *Territory) communityOf(z *area) string {
	for _, a := range t.areas {
		if a.id == z.parent {
			return a.name
		}
	}
	return ""
}

// zoneID names the n-th zone: Z-01..Z-99, then Z-100...
func zoneID(n int) string { return fmt.Sprintf("Z-%02d", n) }

// share returns the i-th of n nearly equal parts of total, the larger
// parts first.
func share(total, n, i int) int {
	s := total / n
	if i < total%n {
		s++
	}
	return s
}

type building struct {
	addr string
	at   pt
}

func round6(x float64) float64 { return math.Round(x*1e6) / 1e6 }

func coord(x float64) string { return strconv.FormatFloat(round6(x), 'f', -1, 64) }

// Write writes t as a registry directory: grid.geojson, stations.geojson,
// sites.csv, residents.csv and devices.csv, creating dir if need be and
// replacing files of those names.
func (t *Territory) Write(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	files := map[string][]byte{
		"grid.geojson":     t.gridJSON(),
		"stations.geojson": t.stationsJSON(),
		"sites.csv":        t.sitesCSV(),
		"residents.csv":    t.residentsCSV(),
		"devices.csv":      t.devicesCSV(),
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// feature writes one GeoJSON feature: properties one per line, the
// coordinates compact on one line, so the file reads and diffs well.
func feature(b *bytes.Buffer, props [][2]string, geometry string, last bool) {
	b.WriteString("    {\n      \"type\": \"Feature\",\n      \"properties\": {\n")
	for i, kv := range props {
		v, _ := json.Marshal(kv[1])
		fmt.Fprintf(b, "        %q: %s", kv[0], v)
		if i < len(props)-1 {
			b.WriteString(",")
		}
		b.WriteString("\n")
	}
	fmt.Fprintf(b, "      },\n      \"geometry\": %s\n    }", geometry)
	if !last {
		b.WriteString(",")
	}
	b.WriteString("\n")
}

func collection(write func(b *bytes.Buffer)) []byte {
	var b bytes.Buffer
	b.WriteString("{\n  \"type\": \"FeatureCollection\",\n  \"features\": [\n")
	write(&b)
	b.WriteString("  ]\n}\n")
	return b.Bytes()
}

func (t *Territory) gridJSON() []byte {
	return collection(func(b *bytes.Buffer) {
		for i, a := range t.areas {
			props := [][2]string{{"id", a.id}, {"name", a.name}, {"level", a.level}}
			if a.parent != "" {
				props = append(props, [2]string{"parent", a.parent})
			}
			if a.level == "zone" {
				props = append(props, [2]string{"station", a.station})
			}
			props = append(props, [2]string{"grid_worker_name", a.workerName}, [2]string{"grid_worker_phone", a.workerPhone})
			ring := append(append([]pt(nil), a.ring...), a.ring[0])
			var cs []string
			for _, p := range ring {
				cs = append(cs, "["+coord(p.lon)+", "+coord(p.lat)+"]")
			}
			geometry := `{"type": "Polygon", "coordinates": [[` + strings.Join(cs, ", ") + `]]}`
			feature(b, props, geometry, i == len(t.areas)-1)
		}
	})
}

func (t *Territory) stationsJSON() []byte {
	return collection(func(b *bytes.Buffer) {
		for i, s := range t.stations {
			props := [][2]string{{"id", s.id}, {"name", s.name}, {"phone", s.phone}, {"community", s.community}}
			geometry := `{"type": "Point", "coordinates": [` + coord(s.at.lon) + ", " + coord(s.at.lat) + `]}`
			feature(b, props, geometry, i == len(t.stations)-1)
		}
	})
}

func writeCSV(rows [][]string) []byte {
	var b bytes.Buffer
	w := csv.NewWriter(&b)
	_ = w.WriteAll(rows) // a bytes.Buffer does not fail
	return b.Bytes()
}

func (t *Territory) sitesCSV() []byte {
	rows := [][]string{{"id", "type", "name", "address", "lon", "lat"}}
	for _, s := range t.sites {
		rows = append(rows, []string{s.id, s.typ, s.name, s.address, coord(s.at.lon), coord(s.at.lat)})
	}
	return writeCSV(rows)
}

func yes(b bool) string {
	if b {
		return "yes"
	}
	return ""
}

func (t *Territory) residentsCSV() []byte {
	rows := [][]string{{"site", "name", "age", "phone", "elderly_alone", "bereaved", "disabled", "guardian_name", "guardian_phone"}}
	for _, r := range t.residents {
		rows = append(rows, []string{r.site, r.name, strconv.Itoa(r.age), r.phone,
			yes(r.elderlyAlone), yes(r.bereaved), yes(r.disab), r.guardianName, r.guardianPhone})
	}
	return writeCSV(rows)
}

func (t *Territory) devicesCSV() []byte {
	rows := [][]string{{"id", "kind", "site", "lon", "lat", "model", "ports", "gb26875", "dev_eui", "imei", "platform_id"}}
	for _, d := range t.devices {
		lon, lat, ports := "", "", ""
		if d.at != nil {
			lon, lat = coord(d.at.lon), coord(d.at.lat)
		}
		if d.ports > 0 {
			ports = strconv.Itoa(d.ports)
		}
		rows = append(rows, []string{d.id, d.kind, d.site, lon, lat, d.model, ports, d.gb, d.devEUI, d.imei, d.platformID})
	}
	return writeCSV(rows)
}
