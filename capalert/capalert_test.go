package capalert_test

import (
	"bytes"
	"encoding/xml"
	"io"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/firegrid/firegrid/capalert"
	"github.com/firegrid/firegrid/contract"
)

// node is a generic XML element, so the test checks the document as a
// CAP consumer reads it, not through firegrid's own types.
type node struct {
	name     xml.Name
	text     string
	children []*node
}

func parseXML(t *testing.T, b []byte) *node {
	t.Helper()
	dec := xml.NewDecoder(bytes.NewReader(b))
	var stack []*node
	root := &node{}
	stack = append(stack, root)
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("XML: %v\n%s", err, b)
		}
		switch tk := tok.(type) {
		case xml.StartElement:
			n := &node{name: tk.Name}
			top := stack[len(stack)-1]
			top.children = append(top.children, n)
			stack = append(stack, n)
		case xml.EndElement:
			stack = stack[:len(stack)-1]
		case xml.CharData:
			stack[len(stack)-1].text += string(tk)
		}
	}
	return root
}

func (n *node) all(space, local string) []*node {
	var out []*node
	for _, c := range n.children {
		if c.name.Space == space && c.name.Local == local {
			out = append(out, c)
		}
		out = append(out, c.all(space, local)...)
	}
	return out
}

func (n *node) child(local string) *node {
	for _, c := range n.children {
		if c.name.Space == capalert.Namespace && c.name.Local == local {
			return c
		}
	}
	return nil
}

var (
	capTime   = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[-+]\d\d:\d\d$`)
	capCircle = regexp.MustCompile(`^-?\d+(\.\d+)?,-?\d+(\.\d+)? \d+(\.\d+)?$`)
	capEnums  = map[string][]string{
		"status":    {"Actual", "Exercise", "System", "Test", "Draft"},
		"msgType":   {"Alert", "Update", "Cancel", "Ack", "Error"},
		"scope":     {"Public", "Restricted", "Private"},
		"category":  {"Geo", "Met", "Safety", "Security", "Rescue", "Fire", "Health", "Env", "Transport", "Infra", "CBRNE", "Other"},
		"urgency":   {"Immediate", "Expected", "Future", "Past", "Unknown"},
		"severity":  {"Extreme", "Severe", "Moderate", "Minor", "Unknown"},
		"certainty": {"Observed", "Likely", "Possible", "Unlikely", "Unknown"},
	}
)

// checkCAP asserts every element CAP 1.2 requires, with valid values.
func checkCAP(t *testing.T, a *node) {
	t.Helper()
	text := func(n *node, local string) string {
		c := n.child(local)
		if c == nil || strings.TrimSpace(c.text) == "" {
			t.Errorf("<%s> lacks <%s>", n.name.Local, local)
			return ""
		}
		v := strings.TrimSpace(c.text)
		if allowed, ok := capEnums[local]; ok && !contains(allowed, v) {
			t.Errorf("<%s>%s</%s> is not one of %v", local, v, local, allowed)
		}
		return v
	}
	id := text(a, "identifier")
	if strings.ContainsAny(id, " ,<&") {
		t.Errorf("identifier %q has restricted characters", id)
	}
	text(a, "sender")
	if sent := text(a, "sent"); !capTime.MatchString(sent) {
		t.Errorf("sent %q is not a CAP dateTime", sent)
	}
	text(a, "status")
	msgType := text(a, "msgType")
	if scope := text(a, "scope"); scope == "Restricted" {
		text(a, "restriction")
	}
	if msgType == "Update" || msgType == "Cancel" {
		refs := text(a, "references")
		if len(strings.Split(refs, ",")) != 3 {
			t.Errorf("references %q: want sender,identifier,sent", refs)
		}
	}
	infos := a.all(capalert.Namespace, "info")
	if len(infos) == 0 {
		t.Fatal("no <info>")
	}
	for _, info := range infos {
		for _, k := range []string{"category", "event", "urgency", "severity", "certainty"} {
			text(info, k)
		}
		areas := info.all(capalert.Namespace, "area")
		if len(areas) == 0 {
			t.Fatal("no <area>")
		}
		for _, ar := range areas {
			text(ar, "areaDesc")
			circles, polys := ar.all(capalert.Namespace, "circle"), ar.all(capalert.Namespace, "polygon")
			if len(circles)+len(polys) == 0 {
				t.Error("<area> has neither circle nor polygon")
			}
			for _, c := range circles {
				if !capCircle.MatchString(strings.TrimSpace(c.text)) {
					t.Errorf("circle %q: want \"lat,lon radius_km\"", c.text)
				}
			}
		}
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// TestAlertCarriesRequiredElements: an open fire and a hydrant ticket are
// CAP 1.2 alerts with every required element; a later version of an
// incident is an Update that references the first, a resolved one an
// all-clear; no name or phone leaves the dispatch chain.
func TestAlertCarriesRequiredElements(t *testing.T) {
	opened := time.Date(2026, 11, 23, 8, 0, 0, 0, time.UTC)
	fire := &contract.Incident{ID: "INC-1", Type: "fire", Severity: contract.SeverityCritical, Status: contract.StatusOpen,
		Stage: contract.StageNew, Dispatchable: true, Site: "H-0108", SiteName: "住户 501", Address: "郑州市二七区 福寿街 23号院",
		Devices: []string{"SD-0108"}, Location: contract.Point{Lon: 113.643694, Lat: 34.719974}, Zone: "Z-05", Community: "C-2",
		Station: "MFS-2", Resident: contract.ResidentFlags{ElderlyAlone: true}, Guardian: contract.Contact{Name: "王芳", Phone: "13800000000"},
		OpenedAt: opened, UpdatedAt: opened, Version: 1}
	hydrant := &contract.Incident{ID: "INC-2", Type: "low_pressure", Severity: contract.SeverityMajor, Status: contract.StatusOpen,
		Dispatchable: true, Site: "HYD-001", Devices: []string{"HY-001"}, Location: contract.Point{Lon: 113.64, Lat: 34.72},
		OpenedAt: opened, UpdatedAt: opened, Version: 1}
	cfg := capalert.DefaultConfig()
	doc := func(in *contract.Incident) *node {
		b, err := capalert.Marshal(capalert.FromIncident(in, cfg))
		if err != nil {
			t.Fatal(err)
		}
		if fire.Guardian.Phone != "" && bytes.Contains(b, []byte(fire.Guardian.Phone)) {
			t.Error("the guardian's phone is in the CAP alert")
		}
		return parseXML(t, b).all(capalert.Namespace, "alert")[0]
	}
	for _, in := range []*contract.Incident{fire, hydrant} {
		checkCAP(t, doc(in))
	}
	one := doc(fire)
	if one.child("msgType").text != "Alert" || one.child("info").child("category").text != "Fire" ||
		one.child("info").child("urgency").text != "Immediate" {
		t.Errorf("new fire: msgType %s category %s urgency %s", one.child("msgType").text, one.child("info").child("category").text, one.child("info").child("urgency").text)
	}
	resolved := fire.Clone()
	at := opened.Add(4 * time.Minute)
	resolved.Status, resolved.Stage, resolved.ResolvedAt, resolved.Outcome, resolved.Version = contract.StatusResolved, contract.StageResolved, &at, "false_alarm", 3
	done := doc(resolved)
	checkCAP(t, done)
	if done.child("msgType").text != "Update" || done.child("info").child("urgency").text != "Past" ||
		done.child("info").child("responseType").text != "AllClear" || !strings.Contains(done.child("references").text, fire.ID+".1") {
		t.Errorf("resolved fire is not an all-clear update of the first alert")
	}
}
