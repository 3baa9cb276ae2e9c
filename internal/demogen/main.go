// Command demogen writes firegrid's demo territory: a registry directory
// (grid.geojson, stations.geojson, sites.csv, residents.csv, devices.csv)
// for one made-up sub-district of Zhengzhou's Erqi district (二七区).
//
//	go run ./internal/demogen -out configs/demo -seed 1
//
// The output depends only on the seed. The names, addresses, phone numbers
// and boundaries are invented; only the rough position (around 113.64 E,
// 34.72 N) is real.
package main

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

func main() {
	out := flag.String("out", "configs/demo", "directory to write the registry files into")
	seed := flag.Uint64("seed", 1, "random seed; the same seed writes the same files")
	flag.Parse()
	t := generate(*seed)
	if err := t.write(*out); err != nil {
		slog.Error("demogen", "err", err)
		os.Exit(1)
	}
	slog.Info("demo territory written", "dir", *out, "sites", len(t.sites), "devices", len(t.devices), "residents", len(t.residents))
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
}

type territory struct {
	areas     []area
	stations  []station
	sites     []site
	residents []resident
	devices   []device
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

func generate(seed uint64) *territory {
	rng := rand.New(rand.NewPCG(seed, 0x6669726567726964)) // "firegrid"
	nm := &names{rng: rng, phones: map[string]bool{}}
	t := &territory{}

	// The large grid: a sub-district about 2.7 km by 2.2 km.
	const west, east, south, north = 113.630, 113.660, 34.710, 34.730
	t.areas = append(t.areas, area{
		id: "G-1", name: "德化街街道", level: "grid",
		workerName: nm.person(), workerPhone: nm.phone(),
		ring: []pt{{west, south}, {east, south}, {east, north}, {west, north}},
	})

	// Communities: three strips with straight north-south borders, so that
	// the zones' corners on them lie exactly on the line after rounding.
	communities := []struct {
		name  string
		roads []string
	}{
		{"大同路社区", []string{"大同路", "兴华北街", "政通路"}},
		{"福寿街社区", []string{"福寿街", "长江路", "大学路"}},
		{"钱塘路社区", []string{"钱塘路", "京广路", "淮河路"}},
	}
	zoneWords := []string{"第一责任片区", "第二责任片区", "第三责任片区"}
	zoneNo := 0
	var zones []*area
	for c, cm := range communities {
		x0 := round6(west + float64(c)*(east-west)/3)
		x1 := round6(west + float64(c+1)*(east-west)/3)
		cid := fmt.Sprintf("C-%d", c+1)
		t.areas = append(t.areas, area{
			id: cid, name: cm.name, level: "community", parent: "G-1",
			workerName: nm.person(), workerPhone: nm.phone(),
			ring: []pt{{x0, south}, {x1, south}, {x1, north}, {x0, north}},
		})
		// Two slanted east-west borders split the community in three zones.
		rows := [4][2]float64{{south, south}, {}, {}, {north, north}}
		for r := 1; r <= 2; r++ {
			base := south + float64(r)*(north-south)/3
			rows[r] = [2]float64{
				round6(base + (rng.Float64()-0.5)*0.0016),
				round6(base + (rng.Float64()-0.5)*0.0016),
			}
		}
		for r := range 3 {
			zoneNo++
			q := quad{{x0, rows[r][0]}, {x1, rows[r][1]}, {x1, rows[r+1][1]}, {x0, rows[r+1][0]}}
			t.areas = append(t.areas, area{
				id: fmt.Sprintf("Z-%02d", zoneNo), name: cm.name + zoneWords[r], level: "zone", parent: cid,
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
	zones[5].station = ""

	// Stations: one per community, inside one of its zones.
	stationZone := []int{1, 3, 8}
	for c, zi := range stationZone {
		z := zones[zi]
		t.stations = append(t.stations, station{
			id: fmt.Sprintf("MFS-%d", c+1), name: communities[c].name + "微型消防站",
			phone: nm.phone(), community: fmt.Sprintf("C-%d", c+1),
			at: z.q.at(0.2+0.6*rng.Float64(), 0.3+0.4*rng.Float64()),
		})
	}

	// Households: two compounds (院) per zone, two or three buildings each.
	var households []*site
	var buildings []struct {
		addr string
		at   pt
		zone *area
	}
	hh := 0
	for _, z := range zones {
		for k := range 2 {
			road := z.roads[rng.IntN(len(z.roads))]
			compound := fmt.Sprintf("%s %s %d号院", district, road, 2+rng.IntN(180))
			nb := 2 + rng.IntN(2)
			perCompound := 12
			for b := range nb {
				u := 0.15 + 0.3*float64(k) + 0.25*rng.Float64()
				v := 0.15 + 0.7*float64(b)/float64(nb) + 0.1*rng.Float64()
				bat := z.q.at(u, v)
				baddr := fmt.Sprintf("%s %d号楼", compound, b+1)
				buildings = append(buildings, struct {
					addr string
					at   pt
					zone *area
				}{baddr, bat, z})
				n := perCompound / nb
				if b < perCompound%nb {
					n++
				}
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
	// with a guardian; some bereaved couples, some disabled residents.
	order := rng.Perm(len(households))
	nElderly := len(households) / 3
	nBereaved := 10
	nDisabled := 12
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
	// Keep the residents file in household order.
	sortResidents(t.residents)

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
	// A few corridor detectors in the stairwells of some buildings.
	for i, bi := range []int{0, 7, 15, 22, 30, 38} {
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
	for i, zi := range []int{0, 2, 4, 5, 7} {
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
	// Hydrants: two per zone, two more in the busiest zones.
	hy := 0
	for zi, z := range zones {
		n := 2
		if zi == 1 || zi == 7 {
			n = 3
		}
		for k := range n {
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
	return t
}

// sortResidents orders residents by site id, keeping the order within a
// site.
func sortResidents(rs []resident) {
	// Insertion sort keeps it stable and the list is short.
	for i := 1; i < len(rs); i++ {
		for j := i; j > 0 && rs[j].site < rs[j-1].site; j-- {
			rs[j], rs[j-1] = rs[j-1], rs[j]
		}
	}
}

func round6(x float64) float64 { return math.Round(x*1e6) / 1e6 }

func coord(x float64) string { return strconv.FormatFloat(round6(x), 'f', -1, 64) }

func (t *territory) write(dir string) error {
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

func (t *territory) gridJSON() []byte {
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

func (t *territory) stationsJSON() []byte {
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

func (t *territory) sitesCSV() []byte {
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

func (t *territory) residentsCSV() []byte {
	rows := [][]string{{"site", "name", "age", "phone", "elderly_alone", "bereaved", "disabled", "guardian_name", "guardian_phone"}}
	for _, r := range t.residents {
		rows = append(rows, []string{r.site, r.name, strconv.Itoa(r.age), r.phone,
			yes(r.elderlyAlone), yes(r.bereaved), yes(r.disab), r.guardianName, r.guardianPhone})
	}
	return writeCSV(rows)
}

func (t *territory) devicesCSV() []byte {
	rows := [][]string{{"id", "kind", "site", "lon", "lat", "model", "ports"}}
	for _, d := range t.devices {
		lon, lat, ports := "", "", ""
		if d.at != nil {
			lon, lat = coord(d.at.lon), coord(d.at.lat)
		}
		if d.ports > 0 {
			ports = strconv.Itoa(d.ports)
		}
		rows = append(rows, []string{d.id, d.kind, d.site, lon, lat, d.model, ports})
	}
	return writeCSV(rows)
}
