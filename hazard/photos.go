package hazard

import (
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"slices"
	"time"

	"github.com/firegrid/firegrid/contract"
)

// Upload is a photo as a report or a step brings it: its bytes (base64 in
// JSON) and, for the record, the name it had.
type Upload struct {
	Name string `json:"name,omitempty"`
	Data []byte `json:"data"`
}

// SniffPhoto returns the content type of a photo as its bytes say
// (http.DetectContentType: the magic numbers, not the name nor any
// header).
func SniffPhoto(data []byte) string {
	return http.DetectContentType(data[:min(len(data), 512)])
}

// photos checks uploads against the limits and returns them as photos of
// h for the step: too many is 400, too large 413, not an image of an
// accepted type 415. Each becomes a HazardPhoto on h.
func (l *Ledger) photos(h *contract.Hazard, ups []Upload, step, by string, now time.Time) ([]Photo, error) {
	lim := l.cfg.Photos
	if len(ups) > lim.MaxPerStep {
		return nil, refuse(400, "photos: %d given, at most %d a step", len(ups), lim.MaxPerStep)
	}
	var out []Photo
	for i, u := range ups {
		if len(u.Data) == 0 {
			return nil, refuse(400, "photos.%d: empty", i)
		}
		if len(u.Data) > lim.MaxBytes {
			l.m.photosRefused.WithLabelValues("too_large").Inc()
			return nil, refuse(413, "photos.%d (%s): %d bytes, at most %d", i, u.Name, len(u.Data), lim.MaxBytes)
		}
		ct := SniffPhoto(u.Data)
		if !slices.Contains(lim.Types, ct) {
			l.m.photosRefused.WithLabelValues("type").Inc()
			return nil, refuse(415, "photos.%d (%s): its bytes are %s, not a photo firegrid keeps (%v)", i, u.Name, ct, lim.Types)
		}
		sum := sha256.Sum256(append([]byte(h.ID+"\x00"), u.Data...))
		p := Photo{ID: "PH-" + hex.EncodeToString(sum[:10]), Hazard: h.ID, ContentType: ct, Data: u.Data, At: now, By: by, Step: step}
		if slices.ContainsFunc(h.Photos, func(x contract.HazardPhoto) bool { return x.ID == p.ID }) {
			continue // the same photo again
		}
		out = append(out, p)
		h.Photos = append(h.Photos, contract.HazardPhoto{ID: p.ID, ContentType: ct, Size: len(u.Data), At: now, By: by, Step: step})
	}
	return out, nil
}

func photoIDs(ps []Photo) []string {
	var ids []string
	for _, p := range ps {
		ids = append(ids, p.ID)
	}
	return ids
}
