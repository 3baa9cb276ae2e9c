// Package capalert writes incidents as OASIS Common Alerting Protocol 1.2
// alerts, for the alerting systems that read them: the console's CAP feed
// and the CAP webhooks of the notifiers. It only formats.
package capalert

import (
	"encoding/xml"
	"errors"
	"fmt"
	"github.com/firegrid/firegrid/contract"
	"strconv"
	"strings"
	"time"
)

// Namespace is the OASIS Common Alerting Protocol 1.2 namespace.
const Namespace = "urn:oasis:names:tc:emergency:cap:1.2"

// Config says who firegrid is to alerting systems that read its CAP.
type Config struct {
	// Sender identifies firegrid, e.g. firegrid@erqi.zhengzhou.gov.cn.
	Sender     string `yaml:"sender"`
	SenderName string `yaml:"sender_name"`
	// Scope is Public, Restricted or Private; Restriction says who may
	// read a Restricted alert.
	Scope       string `yaml:"scope"`
	Restriction string `yaml:"restriction"`
	// Language of the texts (RFC 3066), default zh-CN.
	Language string `yaml:"language"`
}

// DefaultConfig is restricted to the dispatch chain.
func DefaultConfig() Config {
	return Config{Sender: "firegrid@localhost", SenderName: "firegrid 社区消防物联网", Scope: "Restricted",
		Restriction: "micro fire stations, 119 command centre and sub-district only", Language: "zh-CN"}
}

// Validate checks the CAP settings.
func (c Config) Validate() error {
	var errs []error
	if c.Sender == "" || strings.ContainsAny(c.Sender, " ,<&") {
		errs = append(errs, fmt.Errorf("sender: %q: want an identifier without spaces, commas, < or &", c.Sender))
	}
	switch c.Scope {
	case "Public", "Private":
	case "Restricted":
		if c.Restriction == "" {
			errs = append(errs, errors.New("restriction: required when scope is Restricted"))
		}
	default:
		errs = append(errs, fmt.Errorf("scope: %q: want Public, Restricted or Private", c.Scope))
	}
	if c.Language == "" {
		errs = append(errs, errors.New("language: required, e.g. zh-CN"))
	}
	return errors.Join(errs...)
}

// Alert is a CAP 1.2 alert message. Elements are in the order the CAP
// schema requires.
type Alert struct {
	XMLName     xml.Name `xml:"urn:oasis:names:tc:emergency:cap:1.2 alert"`
	Identifier  string   `xml:"identifier"`
	Sender      string   `xml:"sender"`
	Sent        string   `xml:"sent"`
	Status      string   `xml:"status"`
	MsgType     string   `xml:"msgType"`
	Scope       string   `xml:"scope"`
	Restriction string   `xml:"restriction,omitempty"`
	Note        string   `xml:"note,omitempty"`
	References  string   `xml:"references,omitempty"`
	Incidents   string   `xml:"incidents,omitempty"`
	Info        []Info   `xml:"info"`
}

// Info is an alert's info block.
type Info struct {
	Language     string   `xml:"language"`
	Category     []string `xml:"category"`
	Event        string   `xml:"event"`
	ResponseType []string `xml:"responseType,omitempty"`
	Urgency      string   `xml:"urgency"`
	Severity     string   `xml:"severity"`
	Certainty    string   `xml:"certainty"`
	EventCode    []Value  `xml:"eventCode,omitempty"`
	Effective    string   `xml:"effective,omitempty"`
	SenderName   string   `xml:"senderName,omitempty"`
	Headline     string   `xml:"headline,omitempty"`
	Description  string   `xml:"description,omitempty"`
	Instruction  string   `xml:"instruction,omitempty"`
	Contact      string   `xml:"contact,omitempty"`
	Parameter    []Value  `xml:"parameter,omitempty"`
	Area         []Area   `xml:"area"`
}

// Value is a valueName/value pair.
type Value struct {
	ValueName string `xml:"valueName"`
	Value     string `xml:"value"`
}

// Area is where the alert applies.
type Area struct {
	AreaDesc string   `xml:"areaDesc"`
	Polygon  []string `xml:"polygon,omitempty"`
	Circle   []string `xml:"circle,omitempty"`
}

// capTime writes a CAP dateTime: seconds, and a numeric zone (CAP forbids
// "Z").
func capTime(t time.Time) string { return t.Format("2006-01-02T15:04:05-07:00") }

// incidentEvents names incident types for people; unknown types keep
// their id.
var incidentEvents = map[string]string{
	"fire":             "火警 fire alarm",
	"charger_overheat": "电动自行车充电桩过热 e-bike charger overheating",
	"detector_fault":   "探测器故障 detector fault",
	"low_battery":      "探测器电量低 detector low battery",
	"low_pressure":     "消火栓水压不足 hydrant pressure low",
	"hydrant_tamper":   "消火栓被撞或被开启 hydrant hit or opened",
	"device_fault":     "设备故障 device fault",
	"offline":          "设备离线 device offline",
	"test":             "测试 test",
	// The kinds added within contract v1.
	"electrical_fire_risk": "电气火灾隐患 electrical fire risk",
	"gas_leak":             "燃气泄漏 gas leak",
	"emergency_call":       "紧急呼叫 emergency call",
	"fire_lane_blocked":    "消防通道被占用 fire lane blocked",
	"ebike_in_lift":        "电动自行车进电梯 e-bike in a lift",
}

// capIdentifier names one version of an incident as a CAP message.
func capIdentifier(id string, version int) string { return id + "." + strconv.Itoa(version) }

// CAP renders an incident as a CAP 1.2 alert. The first version is an
// Alert; later versions are Updates that reference it; a resolved incident
// is an all-clear. It carries no resident's name or phone: CAP leaves the
// dispatch chain.
func FromIncident(in *contract.Incident, c Config) *Alert {
	a := &Alert{
		Identifier: capIdentifier(in.ID, in.Version),
		Sender:     c.Sender,
		Sent:       capTime(in.UpdatedAt),
		Status:     "Actual",
		MsgType:    "Alert",
		Scope:      c.Scope,
		Incidents:  in.ID,
	}
	if c.Scope == "Restricted" {
		a.Restriction = c.Restriction
	}
	if in.Type == "test" {
		a.Status = "Test"
	}
	if in.Version > 1 {
		a.MsgType = "Update"
		a.References = strings.Join([]string{c.Sender, capIdentifier(in.ID, 1), capTime(in.OpenedAt)}, ",")
	}
	event := incidentEvents[in.Type]
	if event == "" {
		event = in.Type
	}
	info := Info{
		Language:   c.Language,
		Category:   []string{capCategory(in.Type)},
		Event:      event,
		Urgency:    capUrgency(in),
		Severity:   capSeverity(in.Severity),
		Certainty:  capCertainty(in),
		EventCode:  []Value{{ValueName: "firegrid:type", Value: in.Type}},
		Effective:  capTime(in.OpenedAt),
		SenderName: c.SenderName,
		Headline:   strings.TrimSpace(event + " · " + firstNonEmpty(in.SiteName, in.Site)),
		Contact:    in.StationName,
		Parameter: []Value{
			{ValueName: "firegrid:incident", Value: in.ID},
			{ValueName: "firegrid:station", Value: in.Station},
			{ValueName: "firegrid:stage", Value: string(in.Stage)},
			{ValueName: "firegrid:zone", Value: in.Zone},
			{ValueName: "firegrid:community", Value: in.Community},
		},
		Area: []Area{{
			AreaDesc: firstNonEmpty(in.Address, in.SiteName, in.Site),
			Circle:   []string{fmt.Sprintf("%.6f,%.6f 0.05", in.Location.Lat, in.Location.Lon)},
		}},
	}
	var desc []string
	desc = append(desc, fmt.Sprintf("%s at %s, responsible station %s %s.", event, firstNonEmpty(in.Address, in.Site), in.Station, in.StationName))
	if in.Resident.Any() {
		desc = append(desc, "A resident needing care lives here (elderly alone, bereaved or disabled).")
	}
	if len(in.EscalatedTo) > 0 {
		desc = append(desc, "Escalated to "+strings.Join(in.EscalatedTo, ", ")+".")
	}
	if in.Resident.Any() {
		info.Parameter = append(info.Parameter, Value{ValueName: "firegrid:vulnerable_resident", Value: "true"})
	}
	switch {
	case in.Status == contract.StatusResolved:
		a.MsgType = "Update"
		info.ResponseType = []string{"AllClear"}
		desc = append(desc, "Resolved: "+in.Outcome+".")
	case in.Type == "fire" || in.Type == "charger_overheat":
		info.ResponseType = []string{"Evacuate", "Monitor"}
		info.Instruction = "Crew of the responsible micro fire station: acknowledge within 1 minute, be on scene within 3, handle within 5."
	default:
		info.ResponseType = []string{"Monitor"}
	}
	info.Description = strings.Join(desc, " ")
	a.Info = []Info{info}
	return a
}

func firstNonEmpty(s ...string) string {
	for _, x := range s {
		if x != "" {
			return x
		}
	}
	return ""
}

func capCategory(typ string) string {
	switch typ {
	case "fire", "charger_overheat", "electrical_fire_risk":
		return "Fire"
	case "low_pressure", "hydrant_tamper":
		return "Infra"
	case "emergency_call":
		return "Rescue"
	}
	return "Safety"
}

func capSeverity(s contract.Severity) string {
	switch s {
	case contract.SeverityCritical:
		return "Severe"
	case contract.SeverityMajor:
		return "Moderate"
	case contract.SeverityMinor, contract.SeverityInfo:
		return "Minor"
	}
	return "Unknown"
}

func capUrgency(in *contract.Incident) string {
	switch {
	case in.Status == contract.StatusResolved:
		return "Past"
	case in.Severity == contract.SeverityCritical:
		return "Immediate"
	case in.Severity == contract.SeverityMajor:
		return "Expected"
	}
	return "Future"
}

func capCertainty(in *contract.Incident) string {
	switch {
	case in.Outcome == "fire" || in.ArrivedAt != nil:
		return "Observed"
	case in.Outcome == "false_alarm" || in.Outcome == "nuisance" || in.Outcome == "test":
		return "Unlikely"
	case in.Type == "fire" && len(in.Devices) > 1:
		return "Likely" // two detectors agree
	case in.Type == "fire":
		return "Possible"
	}
	return "Observed" // faults and readings are what the device reports
}

// Marshal writes a CAP alert as an XML document.
func Marshal(a *Alert) ([]byte, error) {
	b, err := xml.MarshalIndent(a, "", "  ")
	if err != nil {
		return nil, err
	}
	return append([]byte(xml.Header), b...), nil
}
