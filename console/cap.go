package console

import (
	"encoding/xml"
	"net/http"
	"time"

	"github.com/firegrid/firegrid/alarm"
	"github.com/firegrid/firegrid/capalert"
	"github.com/firegrid/firegrid/contract"
)

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
	Type  string          `xml:"type,attr"`
	Alert *capalert.Alert `xml:"alert"`
}

// capFeed serves the open incidents the caller may see as an Atom feed of
// CAP alerts.
func (a *API) capFeed(w http.ResponseWriter, r *http.Request) {
	list, err := a.Manager.List(r.Context(), alarm.Filter{Status: contract.StatusOpen})
	if err != nil {
		writeError(w, http.StatusInternalServerError, "could not list incidents")
		return
	}
	p := PrincipalOf(r.Context())
	f := atomFeed{ID: "urn:firegrid:cap:" + a.CAP.Sender, Title: "firegrid current alerts", Updated: a.now().UTC().Format(time.RFC3339),
		Author: atomAuthor{Name: a.CAP.SenderName}}
	for _, in := range list {
		if !p.Sees(in) {
			continue
		}
		al := capalert.FromIncident(in, a.CAP)
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
	b, err := capalert.Marshal(capalert.FromIncident(in, a.CAP))
	if err != nil {
		writeError(w, http.StatusInternalServerError, "could not write CAP")
		return
	}
	w.Header().Set("Content-Type", "application/cap+xml; charset=utf-8")
	w.Write(b)
}
