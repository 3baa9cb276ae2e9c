package alarm

import (
	"encoding/xml"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/firegrid/firegrid/rules"
)

// CAPNamespace is the OASIS Common Alerting Protocol 1.2 namespace.
const CAPNamespace = "urn:oasis:names:tc:emergency:cap:1.2"

// CAPConfig says who firegrid is to alerting systems that read its CAP.
type CAPConfig struct {
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

// DefaultCAPConfig is restricted to the dispatch chain.
func DefaultCAPConfig() CAPConfig {
	return CAPConfig{Sender: "firegrid@localhost", SenderName: "firegrid 社区消防物联网", Scope: "Restricted",
		Restriction: "micro fire stations, 119 command centre and sub-district only", Language: "zh-CN"}
}

// Validate checks the CAP settings.
func (c CAPConfig) Validate() error {
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

// CAPAlert is a CAP 1.2 alert message. Elements are in the order the CAP
// schema requires.
type CAPAlert struct {
	XMLName     xml.Name  `xml:"urn:oasis:names:tc:emergency:cap:1.2 alert"`
	Identifier  string    `xml:"identifier"`
	Sender      string    `xml:"sender"`
	Sent        string    `xml:"sent"`
	Status      string    `xml:"status"`
	MsgType     string    `xml:"msgType"`
	Scope       string    `xml:"scope"`
	Restriction string    `xml:"restriction,omitempty"`
	Note        string    `xml:"note,omitempty"`
	References  string    `xml:"references,omitempty"`
	Incidents   string    `xml:"incidents,omitempty"`
	Info        []CAPInfo `xml:"info"`
}

// CAPInfo is an alert's info block.
type CAPInfo struct {
	Language     string     `xml:"language"`
	Category     []string   `xml:"category"`
	Event        string     `xml:"event"`
	ResponseType []string   `xml:"responseType,omitempty"`
	Urgency      string     `xml:"urgency"`
	Severity     string     `xml:"severity"`
	Certainty    string     `xml:"certainty"`
	EventCode    []CAPValue `xml:"eventCode,omitempty"`
	Effective    string     `xml:"effective,omitempty"`
	SenderName   string     `xml:"senderName,omitempty"`
	Headline     string     `xml:"headline,omitempty"`
	Description  string     `xml:"description,omitempty"`
	Instruction  string     `xml:"instruction,omitempty"`
	Contact      string     `xml:"contact,omitempty"`
	Parameter    []CAPValue `xml:"parameter,omitempty"`
	Area         []CAPArea  `xml:"area"`
}

// CAPValue is a valueName/value pair.
type CAPValue struct {
	ValueName string `xml:"valueName"`
	Value     string `xml:"value"`
}

// CAPArea is where the alert applies.
type CAPArea struct {
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
}

// capIdentifier names one version of an incident as a CAP message.
func capIdentifier(id string, version int) string { return id + "." + strconv.Itoa(version) }

// CAP renders an incident as a CAP 1.2 alert. The first version is an
// Alert; later versions are Updates that reference it; a resolved incident
// is an all-clear. It carries no resident's name or phone: CAP leaves the
// dispatch chain.
func CAP(in *Incident, c CAPConfig) *CAPAlert {
	a := &CAPAlert{
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
	info := CAPInfo{
		Language:   c.Language,
		Category:   []string{capCategory(in.Type)},
		Event:      event,
		Urgency:    capUrgency(in),
		Severity:   capSeverity(in.Severity),
		Certainty:  capCertainty(in),
		EventCode:  []CAPValue{{ValueName: "firegrid:type", Value: in.Type}},
		Effective:  capTime(in.OpenedAt),
		SenderName: c.SenderName,
		Headline:   strings.TrimSpace(event + " · " + firstNonEmpty(in.SiteName, in.Site)),
		Contact:    in.StationName,
		Parameter: []CAPValue{
			{ValueName: "firegrid:incident", Value: in.ID},
			{ValueName: "firegrid:station", Value: in.Station},
			{ValueName: "firegrid:stage", Value: string(in.Stage)},
			{ValueName: "firegrid:zone", Value: in.Zone},
			{ValueName: "firegrid:community", Value: in.Community},
		},
		Area: []CAPArea{{
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
		info.Parameter = append(info.Parameter, CAPValue{ValueName: "firegrid:vulnerable_resident", Value: "true"})
	}
	switch {
	case in.Status == StatusResolved:
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
	a.Info = []CAPInfo{info}
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
	case "fire", "charger_overheat":
		return "Fire"
	case "low_pressure", "hydrant_tamper":
		return "Infra"
	}
	return "Safety"
}

func capSeverity(s rules.Severity) string {
	switch s {
	case rules.SeverityCritical:
		return "Severe"
	case rules.SeverityMajor:
		return "Moderate"
	case rules.SeverityMinor, rules.SeverityInfo:
		return "Minor"
	}
	return "Unknown"
}

func capUrgency(in *Incident) string {
	switch {
	case in.Status == StatusResolved:
		return "Past"
	case in.Severity == rules.SeverityCritical:
		return "Immediate"
	case in.Severity == rules.SeverityMajor:
		return "Expected"
	}
	return "Future"
}

func capCertainty(in *Incident) string {
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

// MarshalCAP writes a CAP alert as an XML document.
func MarshalCAP(a *CAPAlert) ([]byte, error) {
	b, err := xml.MarshalIndent(a, "", "  ")
	if err != nil {
		return nil, err
	}
	return append([]byte(xml.Header), b...), nil
}

// atomFeed is the Atom list of current alerts, each CAP alert inline.
type atomFeed struct {
	XMLName xml.Name    `xml:"http://www.w3.org/2005/Atom feed"`
	ID      string      `xml:"id"`
	Title   string      `xml:"title"`
	Updated string      `xml:"updated"`
	Author  atomAuthor  `xml:"author"`
	Entries []atomEntry `xml:"entry"`
}

type atomAuthor struct {
	Name string `xml:"name"`
}

type atomEntry struct {
	ID      string      `xml:"id"`
	Title   string      `xml:"title"`
	Updated string      `xml:"updated"`
	Link    atomLink    `xml:"link"`
	Content atomContent `xml:"content"`
}

type atomLink struct {
	Rel  string `xml:"rel,attr"`
	Type string `xml:"type,attr"`
	Href string `xml:"href,attr"`
}

type atomContent struct {
	Type  string    `xml:"type,attr"`
	Alert *CAPAlert `xml:"alert"`
}

// capFeed serves the open incidents the caller may see as an Atom feed of
// CAP alerts.
func (a *API) capFeed(w http.ResponseWriter, r *http.Request) {
	list, err := a.Manager.List(r.Context(), Filter{Status: StatusOpen})
	if err != nil {
		writeError(w, http.StatusInternalServerError, "could not list incidents")
		return
	}
	p := PrincipalOf(r.Context())
	f := atomFeed{ID: "urn:firegrid:cap:" + a.CAP.Sender, Title: "firegrid current alerts", Updated: a.Manager.clock.Now().UTC().Format(time.RFC3339),
		Author: atomAuthor{Name: a.CAP.SenderName}}
	for _, in := range list {
		if !p.Sees(in) {
			continue
		}
		al := CAP(in, a.CAP)
		f.Entries = append(f.Entries, atomEntry{ID: "urn:firegrid:cap:" + al.Identifier, Title: al.Info[0].Headline,
			Updated: in.UpdatedAt.UTC().Format(time.RFC3339), Link: atomLink{Rel: "alternate", Type: "application/cap+xml", Href: "/api/v1/cap/" + in.ID},
			Content: atomContent{Type: "application/cap+xml", Alert: al}})
	}
	b, err := xml.MarshalIndent(f, "", "  ")
	if err != nil {
		writeError(w, http.StatusInternalServerError, "could not write the feed")
		return
	}
	w.Header().Set("Content-Type", "application/atom+xml; charset=utf-8")
	w.Write([]byte(xml.Header))
	w.Write(b)
}

// capAlert serves one incident as a CAP alert.
func (a *API) capAlert(w http.ResponseWriter, r *http.Request) {
	in := a.visibleIncident(w, r, "cap")
	if in == nil {
		return
	}
	b, err := MarshalCAP(CAP(in, a.CAP))
	if err != nil {
		writeError(w, http.StatusInternalServerError, "could not write CAP")
		return
	}
	w.Header().Set("Content-Type", "application/cap+xml; charset=utf-8")
	w.Write(b)
}
