package gb26875

import (
	"bufio"
	"bytes"
	"errors"
	"path/filepath"
	"strings"
	"testing"
)

func seedGolden(f *testing.F) {
	names, _ := filepath.Glob(filepath.Join("testdata", "*.hex"))
	for _, n := range names {
		f.Add(golden(f, strings.TrimSuffix(filepath.Base(n), ".hex")))
	}
}

// FuzzParse: no input panics Parse or ParseData; a frame Parse takes is
// written back byte for byte, and so is application data of a type read
// object by object.
func FuzzParse(f *testing.F) {
	seedGolden(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		fr, n, err := Parse(b)
		if err != nil {
			var fe *Error
			if !errors.Is(err, ErrShort) && !errors.As(err, &fe) {
				t.Fatalf("an error of its own kind: %v", err)
			}
			return
		}
		if back := fr.Bytes(); !bytes.Equal(back, b[:n]) {
			t.Fatalf("written back\n% X\nread\n% X", back, b[:n])
		}
		d, err := ParseData(fr.Data)
		if err != nil || d == nil {
			return
		}
		if back := d.Append(nil); !bytes.Equal(back, fr.Data) {
			t.Fatalf("data written back\n% X\nread\n% X", back, fr.Data)
		}
		for _, o := range d.Objects {
			if c, ok := o.(*ComponentState); ok {
				_ = c.Text()
			}
		}
	})
}

// FuzzReadFrame: a stream of anything ends, every frame read is one Parse
// takes or refuses with an *Error, and no read returns more than a frame.
func FuzzReadFrame(f *testing.F) {
	seedGolden(f)
	var all []byte
	names, _ := filepath.Glob(filepath.Join("testdata", "*.hex"))
	for _, n := range names {
		all = append(all, golden(f, strings.TrimSuffix(filepath.Base(n), ".hex"))...)
		all = append(all, '@')
	}
	f.Add(all)
	f.Fuzz(func(t *testing.T, b []byte) {
		r := bufio.NewReaderSize(bytes.NewReader(b), MaxFrame)
		for i := 0; ; i++ {
			if i > len(b) {
				t.Fatal("more frames than bytes")
			}
			fr, _, err := ReadFrame(r)
			if len(fr) > MaxFrame {
				t.Fatalf("a frame of %d bytes", len(fr))
			}
			var fe *Error
			if err != nil && !errors.As(err, &fe) {
				return // the stream ended
			}
			if err == nil {
				if _, _, perr := Parse(fr); perr != nil {
					t.Fatalf("ReadFrame returned a frame Parse refuses: %v", perr)
				}
			}
		}
	})
}
