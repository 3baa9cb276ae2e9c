package console

import (
	"encoding/csv"
	"fmt"
	"html/template"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/firegrid/firegrid/access"
	"github.com/firegrid/firegrid/contract"
	"github.com/firegrid/firegrid/hazard"
)

// The three lists the plans keep (三个清单): the baseline of what there is
// to look after (底数清单), the hazards found (隐患清单), and who must fix
// what by when (整改责任清单, 限期销号).
const (
	ListBaseline       = "baseline"
	ListHazards        = "hazards"
	ListResponsibility = "responsibility"
)

// listTitles are the lists' names on the printed page.
var listTitles = map[string]string{
	ListBaseline:       "底数清单 Baseline",
	ListHazards:        "隐患清单 Hazards",
	ListResponsibility: "整改责任清单 Responsibility (限期销号)",
}

// Table is a list as rows of cells under a header, whatever it is
// written as (JSON, CSV, a printable page).
type Table struct {
	List    string     `json:"list"`
	Title   string     `json:"title"`
	Scope   string     `json:"scope"`
	At      time.Time  `json:"at"`
	Columns []string   `json:"columns"`
	Labels  []string   `json:"-"`
	Rows    [][]string `json:"rows"`
}

// listScope returns the community and zone a list covers for the caller
// (empty: all), refusing one outside its scope.
func (a *API) listScope(w http.ResponseWriter, r *http.Request) (community, zone string, ok bool) {
	p := PrincipalOf(r.Context())
	community, zone = r.URL.Query().Get("community"), r.URL.Query().Get("zone")
	switch p.Role {
	case access.RoleCommunity:
		if community != "" && community != p.Area {
			a.forbid(w, r, "view list", "community "+community, "a community sees its own community's lists")
			return "", "", false
		}
		community = p.Area
		if z, ok := a.Registry.Area(zone); zone != "" && (!ok || z.Parent != p.Area) {
			a.forbid(w, r, "view list", "zone "+zone, "a community sees its own zones' lists")
			return "", "", false
		}
	case access.RoleGridWorker:
		if (zone != "" && zone != p.Area) || community != "" {
			a.forbid(w, r, "view list", "zone "+zone+community, "a grid worker sees its own zone's lists")
			return "", "", false
		}
		zone = p.Area
	}
	return community, zone, true
}

func fmtTime(t *time.Time, loc *time.Location) string {
	if t == nil || t.IsZero() {
		return ""
	}
	return t.In(loc).Format("2006-01-02 15:04")
}

func place(h *contract.Hazard) string {
	s := h.SiteName
	if h.Address != "" && h.Address != h.SiteName {
		s = strings.TrimSpace(s + " " + h.Address)
	}
	if s == "" {
		s = fmt.Sprintf("%.6f,%.6f", h.Location.Lon, h.Location.Lat)
	}
	return s
}

// list serves GET /api/v1/lists/{list}?format=json|csv|html&community=&zone=.
func (a *API) list(w http.ResponseWriter, r *http.Request) {
	l := a.ledger(w)
	if l == nil {
		return
	}
	name := r.PathValue("list")
	if listTitles[name] == "" {
		writeError(w, http.StatusNotFound, fmt.Sprintf("no list %q: want baseline, hazards or responsibility", name))
		return
	}
	format := r.URL.Query().Get("format")
	if format != "" && format != "json" && format != "csv" && format != "html" {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("format %q: want json, csv or html (a page to print)", format))
		return
	}
	community, zone, ok := a.listScope(w, r)
	if !ok {
		return
	}
	loc, now := l.Location(), a.now()
	t := Table{List: name, Title: listTitles[name], Scope: firstNonEmpty(zone, community, "all"), At: now}
	if area, ok := a.Registry.Area(t.Scope); ok {
		t.Scope = area.ID + " " + area.Name
	}
	hazards, err := l.List(r.Context(), hazard.Filter{Community: community, Zone: zone, Limit: -1})
	if err != nil {
		a.hazardError(w, "list hazards", err)
		return
	}
	p := PrincipalOf(r.Context())
	hazards = slices.DeleteFunc(hazards, func(h *contract.Hazard) bool { return !p.SeesHazard(h) })
	switch name {
	case ListBaseline:
		err = a.baseline(r, l, &t, community, zone, hazards)
	case ListHazards:
		t.Columns = []string{"id", "category", "serious", "source", "status", "place", "zone", "community", "reported_at", "reporter", "description", "overdue", "supervision"}
		t.Labels = []string{"编号", "类别", "重大", "来源", "状态", "地点", "责任片区", "社区", "发现时间", "报告人", "隐患描述", "逾期", "督办"}
		for _, h := range hazards {
			t.Rows = append(t.Rows, []string{h.ID, h.CategoryName, yes(h.Serious), h.Source, string(h.Status), place(h), h.Zone, h.Community,
				fmtTime(&h.ReportedAt, loc), strings.TrimSpace(h.Reporter.Name + " " + h.Reporter.Phone), h.Description,
				strings.Join(h.Overdue, " "), strings.Join(h.Supervision, " ")})
		}
	case ListResponsibility:
		t.Columns = []string{"id", "category", "place", "responsible_kind", "responsible", "phone", "dispatched_at", "deadline", "status", "overdue", "supervision", "rectified_at", "closed_at"}
		t.Labels = []string{"编号", "类别", "地点", "责任方类型", "整改责任人", "电话", "派遣时间", "整改期限", "状态", "逾期", "督办", "整改时间", "销号时间"}
		for _, h := range hazards {
			if h.Responsible == nil {
				continue
			}
			overdue := strings.Join(h.Overdue, " ")
			if h.IsOverdue(now) && !slices.Contains(h.Overdue, contract.DeadlineRectify) {
				overdue = strings.TrimSpace(overdue + " " + contract.DeadlineRectify)
			}
			t.Rows = append(t.Rows, []string{h.ID, h.CategoryName, place(h), h.Responsible.Kind, h.Responsible.Name, h.Responsible.Phone,
				fmtTime(h.DispatchedAt, loc), fmtTime(h.RectifyBy, loc), string(h.Status), overdue, strings.Join(h.Supervision, " "),
				fmtTime(h.RectifiedAt, loc), fmtTime(h.ClosedAt, loc)})
		}
	}
	if err != nil {
		a.hazardError(w, "make the list", err)
		return
	}
	if t.Rows == nil {
		t.Rows = [][]string{}
	}
	file := fmt.Sprintf("firegrid-%s-%s-%s", name, strings.ReplaceAll(firstNonEmpty(zone, community, "all"), " ", "_"), now.In(loc).Format("20060102"))
	switch format {
	case "", "json":
		writeJSON(w, http.StatusOK, t)
	case "csv":
		w.Header().Set("Content-Type", "text/csv; charset=utf-8")
		w.Header().Set("Content-Disposition", "attachment; filename="+file+".csv")
		w.Write([]byte("\ufeff")) // a byte-order mark: spreadsheets then read the Chinese right
		cw := csv.NewWriter(w)
		cw.Write(t.Columns)
		for _, row := range t.Rows {
			cw.Write(inert(row))
		}
		cw.Flush()
	case "html":
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'")
		if err := printable.Execute(w, map[string]any{"T": t, "At": now.In(loc).Format("2006-01-02 15:04")}); err != nil {
			a.Log.Error("list page", "err", err)
		}
	}
}

func yes(b bool) string {
	if b {
		return "yes"
	}
	return ""
}

// baseline fills the baseline list: every site of the scope with its
// residents, devices, last inspection and open hazards.
func (a *API) baseline(r *http.Request, l *hazard.Ledger, t *Table, community, zone string, hazards []*contract.Hazard) error {
	loc := l.Location()
	t.Columns = []string{"community", "zone", "grid_worker", "site", "name", "type", "address", "residents", "elderly_alone", "bereaved", "disabled",
		"smoke_detectors", "hydrant_monitors", "chargers", "last_inspected", "open_hazards"}
	t.Labels = []string{"社区", "责任片区", "网格员", "编号", "名称", "类型", "地址", "住户人数", "独居老人", "失独老人", "残疾人",
		"烟感", "消火栓监测", "充电桩", "最近检查", "未销号隐患"}
	checks, err := l.CheckIns(r.Context(), hazard.CheckInFilter{Community: community, Zone: zone, From: a.now().AddDate(-1, 0, 0), Limit: -1})
	if err != nil {
		return err
	}
	last := map[string]time.Time{}
	for _, c := range checks {
		if c.At.After(last[c.Object]) {
			last[c.Object] = c.At
		}
	}
	open := map[string]int{}
	for _, h := range hazards {
		if h.Open() && h.Site != "" {
			open[h.Site]++
		}
	}
	for _, s := range a.Registry.Sites() {
		if (community != "" && s.Community != community) || (zone != "" && s.Zone != zone) {
			continue
		}
		count := map[contract.Kind]int{}
		for _, d := range a.Registry.SiteDevices(s.ID) {
			count[d.Kind]++
		}
		gw := ""
		if z, ok := a.Registry.Area(s.Zone); ok {
			gw = strings.TrimSpace(z.GridWorker.Name + " " + z.GridWorker.Phone)
		}
		var inspected string
		if at, ok := last[s.ID]; ok {
			inspected = fmtTime(&at, loc)
		}
		t.Rows = append(t.Rows, []string{s.Community, s.Zone, gw, s.ID, s.Name, string(s.Type), s.Address, strconv.Itoa(s.ResidentCount()),
			yes(s.Flags.ElderlyAlone), yes(s.Flags.Bereaved), yes(s.Flags.Disabled), strconv.Itoa(count[contract.KindSmoke]),
			strconv.Itoa(count[contract.KindHydrant]), strconv.Itoa(count[contract.KindCharger]), inspected, strconv.Itoa(open[s.ID])})
	}
	return nil
}

// printable is a list as a page to print and sign.
var printable = template.Must(template.New("list").Parse(`<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><title>{{.T.Title}} · {{.T.Scope}}</title>
<style>
body { font: 12px/1.4 "Noto Sans CJK SC", "Microsoft YaHei", sans-serif; margin: 1.5cm; color: #000; }
h1 { font-size: 18px; margin: 0 0 .3em; } p.meta { margin: 0 0 1em; color: #333; }
table { border-collapse: collapse; width: 100%; } th, td { border: 1px solid #444; padding: 3px 5px; vertical-align: top; text-align: left; }
th { background: #eee; } tr { page-break-inside: avoid; } thead { display: table-header-group; }
.sign { margin-top: 2em; display: flex; gap: 4em; } .sign span { border-bottom: 1px solid #000; display: inline-block; width: 10em; }
@page { size: A4 landscape; margin: 1cm; } @media print { body { margin: 0; } }
</style></head><body>
<h1>{{.T.Title}}</h1>
<p class="meta">范围 scope: {{.T.Scope}} · 制表时间 made: {{.At}} · 共 {{len .T.Rows}} 条</p>
<table><thead><tr>{{range .T.Labels}}<th>{{.}}</th>{{end}}</tr></thead><tbody>
{{range .T.Rows}}<tr>{{range .}}<td>{{.}}</td>{{end}}</tr>
{{else}}<tr><td colspan="{{len .T.Labels}}">无 none</td></tr>{{end}}
</tbody></table>
<div class="sign"><div>填表人 made by: <span></span></div><div>审核人 checked by: <span></span></div><div>日期 date: <span></span></div></div>
</body></html>
`))

func firstNonEmpty(s ...string) string {
	for _, x := range s {
		if x != "" {
			return x
		}
	}
	return ""
}

// inert keeps what people typed from being taken for a formula by the
// spreadsheet that opens the CSV: a cell that starts with =, +, -, @ or a
// control character gets a ' in front.
func inert(row []string) []string {
	out := make([]string, len(row))
	for i, c := range row {
		if c != "" && strings.ContainsRune("=+-@\t\r", rune(c[0])) {
			c = "'" + c
		}
		out[i] = c
	}
	return out
}
