package devices

import (
	"strconv"
	"strings"

	"github.com/firegrid/firegrid/contract"
)

// packedResidents holds a site's residents as one string, a resident per
// record and a field per unit: a handful of bytes over the names and phone
// numbers themselves, instead of a struct and five strings each.
type packedResidents struct {
	s string
	n int
}

const (
	recordSep = "\x1e"
	unitSep   = "\x1f"
)

func (p *packedResidents) add(r Resident) {
	var b strings.Builder
	b.Grow(len(p.s) + len(r.Name) + len(r.Phone) + len(r.Guardian.Name) + len(r.Guardian.Phone) + 16)
	b.WriteString(p.s)
	if p.n > 0 {
		b.WriteString(recordSep)
	}
	flags := 0
	if r.Flags.ElderlyAlone {
		flags |= 1
	}
	if r.Flags.Bereaved {
		flags |= 2
	}
	if r.Flags.Disabled {
		flags |= 4
	}
	for i, f := range []string{r.Name, strconv.Itoa(r.Age), r.Phone, strconv.Itoa(flags), r.Guardian.Name, r.Guardian.Phone} {
		if i > 0 {
			b.WriteString(unitSep)
		}
		b.WriteString(f)
	}
	p.s, p.n = b.String(), p.n+1
}

func (p *packedResidents) unpack() []Resident {
	if p.n == 0 {
		return nil
	}
	out := make([]Resident, 0, p.n)
	for _, rec := range strings.Split(p.s, recordSep) {
		f := strings.Split(rec, unitSep)
		if len(f) != 6 {
			continue
		}
		age, _ := strconv.Atoi(f[1])
		flags, _ := strconv.Atoi(f[3])
		out = append(out, Resident{Name: f[0], Age: age, Phone: f[2],
			Flags:    contract.ResidentFlags{ElderlyAlone: flags&1 != 0, Bereaved: flags&2 != 0, Disabled: flags&4 != 0},
			Guardian: contract.Contact{Name: f[4], Phone: f[5]}})
	}
	return out
}
