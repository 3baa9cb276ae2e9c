package alarm_test

import (
	"bytes"
	"encoding/xml"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/firegrid/firegrid/alarm"
	"github.com/firegrid/firegrid/rules"
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
		if c.name.Space == alarm.CAPNamespace && c.name.Local == local {
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
	infos := a.all(alarm.CAPNamespace, "info")
	if len(infos) == 0 {
		t.Fatal("no <info>")
	}
	for _, info := range infos {
		for _, k := range []string{"category", "event", "urgency", "severity", "certainty"} {
			text(info, k)
		}
		areas := info.all(alarm.CAPNamespace, "area")
		if len(areas) == 0 {
			t.Fatal("no <area>")
		}
		for _, ar := range areas {
			text(ar, "areaDesc")
			circles, polys := ar.all(alarm.CAPNamespace, "circle"), ar.all(alarm.CAPNamespace, "polygon")
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

// TestCAPFeedCarriesRequiredElements: GET /api/v1/cap is an Atom feed of
// the open incidents as CAP 1.2 alerts, each with every required element;
// GET /api/v1/cap/{id} is one alert; a later version is an Update that
// references the first, a resolved incident an all-clear.
func TestCAPFeedCarriesRequiredElements(t *testing.T) {
	r := newRig(t, "", nil, nil)
	fire := raise(t, r.m, smokeDetector(t, r.reg), "sig-fire", "fire", rules.SeverityCritical)
	var hydrant = r.reg.Devices("hydrant")[0]
	raise(t, r.m, hydrant, "sig-low", "low_pressure", rules.SeverityMajor)
	srv := httptest.NewServer((&alarm.API{Manager: r.m, Registry: r.reg}).Handler())
	defer srv.Close()
	get := func(path, wantType string) []byte {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), wantType) {
			t.Fatalf("GET %s: %d %s", path, resp.StatusCode, resp.Header.Get("Content-Type"))
		}
		return b
	}
	feed := parseXML(t, get("/api/v1/cap", "application/atom+xml"))
	entries := feed.all("http://www.w3.org/2005/Atom", "entry")
	alerts := feed.all(alarm.CAPNamespace, "alert")
	if len(entries) != 2 || len(alerts) != 2 {
		t.Fatalf("feed has %d entries, %d alerts; want 2", len(entries), len(alerts))
	}
	for _, a := range alerts {
		checkCAP(t, a)
	}

	one := parseXML(t, get("/api/v1/cap/"+fire.ID, "application/cap+xml")).all(alarm.CAPNamespace, "alert")[0]
	checkCAP(t, one)
	if one.child("msgType").text != "Alert" || one.child("info").child("category").text != "Fire" ||
		one.child("info").child("urgency").text != "Immediate" {
		t.Errorf("new fire: msgType %s category %s urgency %s", one.child("msgType").text, one.child("info").child("category").text, one.child("info").child("urgency").text)
	}
	if _, err := r.m.Resolve(t.Context(), fire.ID, "crew", "false_alarm", "toast"); err != nil {
		t.Fatal(err)
	}
	done := parseXML(t, get("/api/v1/cap/"+fire.ID, "application/cap+xml")).all(alarm.CAPNamespace, "alert")[0]
	checkCAP(t, done)
	if done.child("msgType").text != "Update" || done.child("info").child("urgency").text != "Past" ||
		done.child("info").child("responseType").text != "AllClear" || !strings.Contains(done.child("references").text, fire.ID+".1") {
		t.Errorf("resolved fire is not an all-clear update of the first alert")
	}
	// The resolved incident leaves the feed of current alerts.
	if n := len(parseXML(t, get("/api/v1/cap", "application/atom+xml")).all(alarm.CAPNamespace, "alert")); n != 1 {
		t.Errorf("feed after resolve has %d alerts, want 1", n)
	}
	// No names or phones leave the dispatch chain.
	b := get("/api/v1/cap/"+fire.ID, "application/cap+xml")
	if fire.Guardian.Phone != "" && bytes.Contains(b, []byte(fire.Guardian.Phone)) {
		t.Error("the guardian's phone is in the CAP alert")
	}
}
