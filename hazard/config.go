package hazard

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"
	_ "time/tzdata" // the territory's time zone, also where the system has no zoneinfo

	"github.com/firegrid/firegrid/contract"
)

// Config is the hazards part of firegrid.yaml: the categories, which
// device tickets become hazards, photo limits, the work-order channels of
// other platforms and the inspection plans every zone runs.
type Config struct {
	// Categories are what a hazard may be; the first is not special.
	Categories []Category `yaml:"categories"`
	// DeviceTickets say which device tickets get a linked hazard, and of
	// which category; the first that matches an incident wins.
	DeviceTickets []DeviceTicket `yaml:"device_tickets"`
	Photos        Photos         `yaml:"photos"`
	// Inbound are the work-order channels (12345, the city operations
	// platform): POST /api/v1/workorders/{name}, signed.
	Inbound []Inbound `yaml:"inbound"`
	// Plans are the inspection plans of every zone (communities add their
	// own through the API); one must visit vulnerable residents' homes at
	// least weekly (敲门行动).
	Plans []Plan `yaml:"plans"`
	// TimeZone is the territory's, where days, weeks and months of the
	// rounds begin.
	TimeZone string `yaml:"time_zone"`
	// Poll is how often an instance looks for deadlines other instances
	// set (its own wake it on time).
	Poll time.Duration `yaml:"poll"`
}

// Category is a kind of hazard with its deadlines.
type Category struct {
	ID   string `yaml:"id" json:"id"`
	Name string `yaml:"name" json:"name"`
	// Serious hazards get the short rectification deadline (48 h
	// intervention) and lead the lists.
	Serious bool `yaml:"serious" json:"serious"`
	// Respond runs from the report to the dispatch (24 h); Rectify from
	// the dispatch to the rectification.
	Respond time.Duration `yaml:"respond" json:"respond"`
	Rectify time.Duration `yaml:"rectify" json:"rectify"`
	// Aliases are other names for it, as another platform's work orders
	// call it (占用消防通道).
	Aliases []string `yaml:"aliases" json:"aliases,omitempty"`
}

// DeviceTicket gives the device tickets (incidents) it matches a linked
// hazard of Category.
type DeviceTicket struct {
	// Types are incident types; Kinds, when set, the kinds of device.
	Types    []string        `yaml:"types"`
	Kinds    []contract.Kind `yaml:"kinds"`
	Category string          `yaml:"category"`
}

// Photos limit what a report or a step may carry.
type Photos struct {
	// MaxBytes is the largest photo taken; MaxPerStep how many one step
	// carries.
	MaxBytes   int `yaml:"max_bytes"`
	MaxPerStep int `yaml:"max_per_step"`
	// Types are the content types taken, as the bytes say (not the
	// name or the header): image/jpeg, image/png, image/webp.
	Types []string `yaml:"types"`
}

// Inbound is a channel other platforms send work orders on.
type Inbound struct {
	// Name is the channel's path segment: POST /api/v1/workorders/{name}.
	Name string `yaml:"name"`
	// Source is the source its hazards get (12345).
	Source string `yaml:"source"`
	// Secret keys the HMAC-SHA256 signature the sender puts on each order
	// (as firegrid signs its own webhooks); SecretEnv names an environment
	// variable holding it instead.
	Secret    string `yaml:"secret"`
	SecretEnv string `yaml:"secret_env"`
	// MaxSkew is how far the signature's timestamp may be from now: an
	// older order is a replay.
	MaxSkew time.Duration `yaml:"max_skew"`
}

// The objects a plan's rounds visit.
const (
	ObjectsZone          = "zone"                  // each responsibility zone as a whole
	ObjectsHouseholds    = "households"            // every household
	ObjectsVulnerable    = "vulnerable_households" // homes of elderly living alone, bereaved, disabled residents
	ObjectsCorridors     = "corridors"
	ObjectsChargingSheds = "charging_sheds"
	ObjectsHydrants      = "hydrants"
	ObjectsSites         = "sites" // every site of the registry
)

// ObjectKinds lists the objects a plan may visit.
var ObjectKinds = []string{ObjectsZone, ObjectsHouseholds, ObjectsVulnerable, ObjectsCorridors, ObjectsChargingSheds, ObjectsHydrants, ObjectsSites}

// Frequencies of a plan: each object is visited once in every period.
const (
	Daily      = "daily"
	Weekly     = "weekly"
	Monthly    = "monthly"
	Quarterly  = "quarterly"
	HalfYearly = "half_yearly"
)

// Frequencies lists them, most frequent first.
var Frequencies = []string{Daily, Weekly, Monthly, Quarterly, HalfYearly}

// Plan is an inspection plan: which objects of which zones are visited
// how often, and what is checked there.
type Plan struct {
	ID   string `yaml:"id" json:"id"`
	Name string `yaml:"name" json:"name"`
	// Objects is what a round visits (ObjectKinds).
	Objects   string `yaml:"objects" json:"objects"`
	Frequency string `yaml:"frequency" json:"frequency"`
	// Scope is a zone or a community; empty means every zone.
	Scope string `yaml:"scope" json:"scope,omitempty"`
	// Org, when set, is the property company whose staff do the rounds
	// (a daily patrol); otherwise the zone's grid worker does.
	Org       string          `yaml:"org" json:"org,omitempty"`
	Checklist []ChecklistItem `yaml:"checklist" json:"checklist"`
	// Active plans make rounds; an inactive one is kept for the record.
	Active bool `yaml:"-" json:"active"`
	// Source is configuration or api; UpdatedAt and UpdatedBy say who
	// last changed an API plan.
	Source    string    `yaml:"-" json:"source"`
	UpdatedAt time.Time `yaml:"-" json:"updated_at,omitzero"`
	UpdatedBy string    `yaml:"-" json:"updated_by,omitempty"`
}

// ChecklistItem is one thing a round checks. A failed item opens a hazard
// of Category.
type ChecklistItem struct {
	ID       string `yaml:"id" json:"id"`
	Text     string `yaml:"text" json:"text"`
	Category string `yaml:"category" json:"category,omitempty"`
}

// DefaultConfig holds the categories the municipal plans name, the device
// tickets that are hazards, and the weekly door-knocking plan.
func DefaultConfig() Config {
	const day = 24 * time.Hour
	serious := func(id, name string, aliases ...string) Category {
		return Category{ID: id, Name: name, Serious: true, Respond: day, Rectify: 2 * day, Aliases: aliases}
	}
	general := func(id, name string, aliases ...string) Category {
		return Category{ID: id, Name: name, Respond: day, Rectify: 7 * day, Aliases: aliases}
	}
	return Config{
		Categories: []Category{
			serious("flying_lead_charging", "飞线充电", "私拉电线充电"),
			serious("battery_indoors", "电动自行车、电池进楼入户", "电动车进楼", "电动车进电梯", "电池入户充电"),
			serious("blocked_fire_lane", "占用、堵塞消防车通道", "占用消防通道", "堵塞消防通道"),
			serious("blocked_escape_route", "占用、堵塞疏散通道和安全出口（生命通道）", "堵塞生命通道", "堵塞安全出口", "楼道堆物"),
			serious("three_in_one", "“三合一”场所", "三合一"),
			serious("electrical", "电气线路私拉乱接、老化", "私拉乱接"),
			serious("gas", "燃气使用不规范", "燃气泄漏"),
			serious("open_flame", "违规用火", "违规动火"),
			serious("dead_detector", "烟感报警器失效（离线、故障、电量低）", "烟感失效"),
			serious("hydrant_no_water", "消火栓无水、压力不足", "消火栓无水"),
			serious("hydrant_damaged", "消火栓损坏", "消火栓被撞"),
			general("group_rental", "群租", "群租房"),
			general("extinguisher", "灭火器过期、缺失", "灭火器过期", "灭火器缺失"),
			general("emergency_lighting", "应急照明、疏散指示标志损坏", "应急灯损坏", "疏散指示损坏"),
			general("device_fault", "消防物联网设备故障", "设备故障"),
			general("other", "其他", "其它"),
		},
		DeviceTickets: []DeviceTicket{
			{Types: []string{"detector_fault", "low_battery"}, Category: "dead_detector"},
			{Types: []string{"offline"}, Kinds: []contract.Kind{contract.KindSmoke}, Category: "dead_detector"},
			{Types: []string{"low_pressure"}, Category: "hydrant_no_water"},
			{Types: []string{"hydrant_tamper"}, Category: "hydrant_damaged"},
			{Types: []string{"offline", "device_fault"}, Category: "device_fault"},
		},
		Photos: Photos{MaxBytes: 5 << 20, MaxPerStep: 4, Types: []string{"image/jpeg", "image/png", "image/webp"}},
		Plans: []Plan{{
			ID: "door-knocking", Name: "敲门行动：每周走访独居、失独老人和残疾人家庭", Objects: ObjectsVulnerable, Frequency: Weekly,
			Checklist: []ChecklistItem{
				{ID: "detector", Text: "烟感报警器在位、自检正常", Category: "dead_detector"},
				{ID: "electricity", Text: "用电安全：无私拉乱接，电动自行车电池不入户充电", Category: "electrical"},
				{ID: "gas_fire", Text: "燃气、用火安全", Category: "gas"},
				{ID: "escape", Text: "门口和楼道无堆物，疏散通道畅通", Category: "blocked_escape_route"},
				{ID: "guardian", Text: "监护人联系方式有效，已告知其监护责任", Category: "other"},
			},
		}},
		TimeZone: "Asia/Shanghai",
		Poll:     time.Second,
	}
}

var idPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,63}$`)

// Validate checks the configuration; each error starts with its key path.
func (c *Config) Validate() error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	ids := map[string]bool{}
	for i, cat := range c.Categories {
		key := fmt.Sprintf("categories.%d", i)
		switch {
		case !idPattern.MatchString(cat.ID):
			add("%s.id: %q: want lower-case letters, digits, _ and -", key, cat.ID)
		case ids[cat.ID]:
			add("%s.id: %q is used twice", key, cat.ID)
		}
		ids[cat.ID] = true
		if cat.Name == "" {
			add("%s.name: required", key)
		}
		if cat.Respond <= 0 {
			add("%s.respond: %v: want a positive duration (24h: report to dispatch)", key, cat.Respond)
		}
		if cat.Rectify <= 0 {
			add("%s.rectify: %v: want a positive duration (48h for a serious hazard)", key, cat.Rectify)
		}
	}
	if len(c.Categories) == 0 {
		add("categories: want at least one")
	}
	for i, d := range c.DeviceTickets {
		key := fmt.Sprintf("device_tickets.%d", i)
		if len(d.Types) == 0 {
			add("%s.types: want at least one incident type", key)
		}
		for j, k := range d.Kinds {
			if _, err := contract.ParseKind(string(k)); err != nil {
				add("%s.kinds.%d: %v", key, j, err)
			}
		}
		if !ids[d.Category] {
			add("%s.category: %q is not a category", key, d.Category)
		}
	}
	if c.Photos.MaxBytes < 1024 || c.Photos.MaxBytes > 64<<20 {
		add("photos.max_bytes: %d: want 1024..67108864", c.Photos.MaxBytes)
	}
	if c.Photos.MaxPerStep < 0 || c.Photos.MaxPerStep > 20 {
		add("photos.max_per_step: %d: want 0..20", c.Photos.MaxPerStep)
	}
	for i, t := range c.Photos.Types {
		if !strings.HasPrefix(t, "image/") {
			add("photos.types.%d: %q: want an image type (image/jpeg, image/png, image/webp)", i, t)
		}
	}
	names := map[string]bool{}
	for i, in := range c.Inbound {
		key := fmt.Sprintf("inbound.%d", i)
		switch {
		case !idPattern.MatchString(in.Name):
			add("%s.name: %q: want lower-case letters, digits, _ and - (it is the path: /api/v1/workorders/NAME)", key, in.Name)
		case names[in.Name]:
			add("%s.name: %q is used twice", key, in.Name)
		}
		names[in.Name] = true
		if in.Source != "" && !slices.Contains(contract.HazardSources, in.Source) {
			add("%s.source: %q: want one of %s", key, in.Source, strings.Join(contract.HazardSources, ", "))
		}
		if in.Secret == "" && in.SecretEnv == "" {
			add("%s.secret: required (or secret_env): firegrid takes only orders signed with it", key)
		}
		if in.MaxSkew < 0 {
			add("%s.max_skew: %v: want a positive duration", key, in.MaxSkew)
		}
	}
	planIDs := map[string]bool{}
	knocking := false
	for i, p := range c.Plans {
		key := fmt.Sprintf("plans.%d", i)
		for _, e := range p.check(ids) {
			errs = append(errs, fmt.Errorf("%s.%w", key, e))
		}
		if planIDs[p.ID] {
			add("%s.id: %q is used twice", key, p.ID)
		}
		planIDs[p.ID] = true
		if p.Objects == ObjectsVulnerable && p.Scope == "" && (p.Frequency == Daily || p.Frequency == Weekly) {
			knocking = true
		}
	}
	if !knocking {
		add("plans: want a plan that visits vulnerable_households of every zone at least weekly (敲门行动，每周不少于1次)")
	}
	if _, err := time.LoadLocation(c.TimeZone); err != nil || c.TimeZone == "" {
		add("time_zone: %q: want a time zone name, e.g. Asia/Shanghai", c.TimeZone)
	}
	if c.Poll <= 0 {
		add("poll: %v: want a positive duration", c.Poll)
	}
	return errors.Join(errs...)
}

// check returns what is wrong with a plan, each error starting with the
// plan's key; categories are the known category ids.
func (p *Plan) check(categories map[string]bool) []error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if !idPattern.MatchString(p.ID) {
		add("id: %q: want lower-case letters, digits, _ and -", p.ID)
	}
	if p.Name == "" {
		add("name: required")
	}
	if !slices.Contains(ObjectKinds, p.Objects) {
		add("objects: %q: want one of %s", p.Objects, strings.Join(ObjectKinds, ", "))
	}
	if !slices.Contains(Frequencies, p.Frequency) {
		add("frequency: %q: want one of %s", p.Frequency, strings.Join(Frequencies, ", "))
	}
	if len(p.Checklist) == 0 {
		add("checklist: want at least one item")
	}
	items := map[string]bool{}
	for j, it := range p.Checklist {
		switch {
		case !idPattern.MatchString(it.ID):
			add("checklist.%d.id: %q: want lower-case letters, digits, _ and -", j, it.ID)
		case items[it.ID]:
			add("checklist.%d.id: %q is used twice", j, it.ID)
		}
		items[it.ID] = true
		if it.Text == "" {
			add("checklist.%d.text: required", j)
		}
		if it.Category != "" && !categories[it.Category] {
			add("checklist.%d.category: %q is not a category", j, it.Category)
		}
	}
	return errs
}

// Category returns the category with the given id or alias.
func (c *Config) Category(name string) (*Category, bool) {
	for i := range c.Categories {
		if c.Categories[i].ID == name {
			return &c.Categories[i], true
		}
	}
	for i := range c.Categories {
		if slices.Contains(c.Categories[i].Aliases, name) || c.Categories[i].Name == name {
			return &c.Categories[i], true
		}
	}
	return nil, false
}

// categoryIDs lists the category ids, for messages.
func (c *Config) categoryIDs() string {
	ids := make([]string, len(c.Categories))
	for i, cat := range c.Categories {
		ids[i] = cat.ID
	}
	return strings.Join(ids, ", ")
}
