package devices

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
)

// csvTable is a CSV file read with its header checked.
type csvTable struct {
	file string
	cols map[string]int
	rows []csvRow
}

// csvRow is one data row, the line it starts on (1-based, header = 1)
// and the offset where its reading starts.
type csvRow struct {
	line int
	off  int64
	rec  []string
}

// get returns the trimmed value of column col in row, or "" when the
// column is absent from the file.
func (t *csvTable) get(row csvRow, col string) string {
	i, ok := t.cols[col]
	if !ok || i >= len(row.rec) {
		return ""
	}
	return strings.TrimSpace(row.rec[i])
}

// readCSV parses data as a CSV file with a header row. required columns
// must be present, optional ones may be, anything else is an error. It
// returns nil when the file cannot be used at all (no header, a required
// column missing, a syntax error before any row).
func readCSV(p *problems, file string, data []byte, required, optional []string) *csvTable {
	data = bytes.TrimPrefix(data, []byte("\ufeff")) // spreadsheets write a BOM
	src := p.read(file, data)
	r := csv.NewReader(bytes.NewReader(data))
	r.Comment = '#'
	header, err := r.Read()
	if err == io.EOF {
		p.line(file, 1, "", "empty file (want a header row: %s)", strings.Join(append(required, optional...), ","))
		return nil
	}
	if err != nil {
		addCSVError(p, file, err)
		return nil
	}
	headerLine, _ := r.FieldPos(0)
	headerCol := make([]int, len(header))
	for i := range header {
		_, headerCol[i] = r.FieldPos(i)
	}
	t := &csvTable{file: file, cols: make(map[string]int, len(header))}
	src.csv = t
	known := make(map[string]bool)
	for _, c := range required {
		known[c] = true
	}
	for _, c := range optional {
		known[c] = true
	}
	want := strings.Join(append(append([]string(nil), required...), optional...), ", ")
	usable := true
	for i, h := range header {
		h = strings.TrimSpace(h)
		switch {
		case h == "":
			p.at(file, headerLine, headerCol[i], "", "column %d has no name (want one of %s)", i+1, want)
		case !known[h]:
			p.at(file, headerLine, headerCol[i], h, "unknown column (want one of %s)", want)
		default:
			if _, dup := t.cols[h]; dup {
				p.at(file, headerLine, headerCol[i], h, "column appears twice")
				continue
			}
			t.cols[h] = i
		}
	}
	for _, c := range required {
		if _, ok := t.cols[c]; !ok {
			p.line(file, headerLine, c, "missing column (the header must name %s)", strings.Join(required, ", "))
			usable = false
		}
	}
	for {
		off := r.InputOffset()
		rec, err := r.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			addCSVError(p, file, err)
			var pe *csv.ParseError
			if errors.As(err, &pe) && errors.Is(pe.Err, csv.ErrFieldCount) {
				continue // the row is skipped, the rest still reads
			}
			break
		}
		line, _ := r.FieldPos(0)
		t.rows = append(t.rows, csvRow{line: line, off: off, rec: rec})
	}
	if !usable {
		return nil
	}
	return t
}

func addCSVError(p *problems, file string, err error) {
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		msg := pe.Err.Error()
		if errors.Is(pe.Err, csv.ErrFieldCount) {
			msg = "wrong number of fields (want one per header column)"
		} else if pe.StartLine != pe.Line {
			msg += fmt.Sprintf(" (in the record that starts on line %d)", pe.StartLine)
		}
		p.at(file, pe.Line, pe.Column, "", "%s", msg)
		return
	}
	p.file(file, "%v", err)
}

// parseBool reads a CSV boolean: true/false, yes/no, 1/0, 是/否, or empty
// for false.
func parseBool(s string) (bool, bool) {
	switch strings.ToLower(s) {
	case "", "false", "no", "0", "n", "否":
		return false, true
	case "true", "yes", "1", "y", "是":
		return true, true
	}
	return false, false
}

// parseCoord reads a longitude or latitude in degrees within ±limit.
func parseCoord(s string, limit float64) (float64, string) {
	if s == "" {
		return 0, "missing value"
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
		return 0, "not a number"
	}
	if v < -limit || v > limit {
		return 0, "out of range"
	}
	return v, ""
}
