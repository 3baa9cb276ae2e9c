package conf

import (
	"bytes"
	"sort"
	"unicode/utf8"
)

// A LineIndex turns byte offsets in a file into lines and columns, for
// formats whose decoders report offsets (JSON) or byte columns (CSV).
type LineIndex struct {
	data   []byte
	starts []int // byte offset of each line's start
}

// NewLineIndex indexes the lines of data.
func NewLineIndex(data []byte) *LineIndex {
	x := &LineIndex{data: data, starts: []int{0}}
	for i, c := range data {
		if c == '\n' {
			x.starts = append(x.starts, i+1)
		}
	}
	return x
}

// Pos returns the 1-based line and column, counted in characters, of byte
// offset off; an offset past the end is taken as the end.
func (x *LineIndex) Pos(off int) (line, col int) {
	off = max(0, min(off, len(x.data)))
	i := sort.SearchInts(x.starts, off+1) - 1
	return i + 1, utf8.RuneCount(x.data[x.starts[i]:off]) + 1
}

// LinePos returns the column, counted in characters, of the byteCol'th
// byte (1-based) of line (1-based); byteCol itself when the line is not in
// the file.
func (x *LineIndex) LinePos(line, byteCol int) int {
	if line < 1 || line > len(x.starts) || byteCol < 1 {
		return byteCol
	}
	start := x.starts[line-1]
	end := min(start+byteCol-1, len(x.data))
	return utf8.RuneCount(x.data[start:end]) + 1
}

// Position is NewLineIndex(data).Pos(off), for one look-up.
func Position(data []byte, off int) (line, col int) {
	off = max(0, min(off, len(data)))
	start := bytes.LastIndexByte(data[:off], '\n') + 1
	return bytes.Count(data[:off], []byte("\n")) + 1, utf8.RuneCount(data[start:off]) + 1
}
