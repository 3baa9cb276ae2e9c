package devices

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/firegrid/firegrid/internal/conf"
)

// FileNames returns the names of a registry's files in the order they
// load: grid.geojson, stations.geojson, sites.csv, residents.csv (optional)
// and devices.csv.
func FileNames() []string {
	return []string{GridFile, StationsFile, SitesFile, ResidentsFile, DevicesFile}
}

// ReadFiles reads the registry files present in directory dir, keyed by
// file name, without validating them: a missing file is left out (LoadFiles
// then says which are required). Other files in dir are ignored.
func ReadFiles(dir string) (map[string][]byte, error) {
	files, err := ReadFilesFS(os.DirFS(dir), ".")
	if err != nil {
		return nil, fmt.Errorf("registry %s: %w", dir, err)
	}
	return files, nil
}

// ReadFilesFS is ReadFiles reading directory name of fsys.
func ReadFilesFS(fsys fs.FS, name string) (map[string][]byte, error) {
	st, err := fs.Stat(fsys, name)
	if err != nil {
		return nil, err
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("%s: not a directory", name)
	}
	files := map[string][]byte{}
	for _, f := range FileNames() {
		b, err := fs.ReadFile(fsys, path.Join(name, f))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		files[f] = b
	}
	return files, nil
}

// LoadFiles validates and loads a registry held in memory: files maps a
// file name (grid.geojson, …) to its content, as ReadFiles returns it or a
// database holds it. It runs the loader Load runs, so the same content is
// accepted or refused the same way; errors name the files by their bare
// names. A name that is not a registry file is an error too, so that
// nothing is kept that the loader would never read.
func LoadFiles(files map[string][]byte) (*Registry, error) {
	var unknown []*conf.Error
	for name := range files {
		if !slices.Contains(FileNames(), name) {
			unknown = append(unknown, &conf.Error{File: name,
				Msg: "not a registry file (want " + strings.Join(FileNames(), ", ") + ")"})
		}
	}
	if len(unknown) > 0 {
		slices.SortFunc(unknown, func(a, b *conf.Error) int { return strings.Compare(a.File, b.File) })
		return nil, conf.Join(unknown...)
	}
	return LoadFS(memFS(files), ".")
}

// memFS is a read-only fs.FS of one directory, the root, holding files.
type memFS map[string][]byte

// Open opens the root or one of its files.
func (m memFS) Open(name string) (fs.File, error) {
	if !fs.ValidPath(name) {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrInvalid}
	}
	if name == "." {
		return &memDir{fsys: m}, nil
	}
	b, ok := m[name]
	if !ok {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
	}
	return &memFile{info: memInfo{name: name, size: int64(len(b))}, r: bytes.NewReader(b)}, nil
}

// ReadFile returns a copy of a file's content.
func (m memFS) ReadFile(name string) ([]byte, error) {
	if !fs.ValidPath(name) {
		return nil, &fs.PathError{Op: "read", Path: name, Err: fs.ErrInvalid}
	}
	b, ok := m[name]
	if !ok {
		return nil, &fs.PathError{Op: "read", Path: name, Err: fs.ErrNotExist}
	}
	return bytes.Clone(b), nil
}

type memInfo struct {
	name string
	size int64
	dir  bool
}

func (i memInfo) Name() string { return i.name }
func (i memInfo) Size() int64  { return i.size }
func (i memInfo) Mode() fs.FileMode {
	if i.dir {
		return fs.ModeDir | 0o555
	}
	return 0o444
}
func (i memInfo) ModTime() time.Time         { return time.Time{} }
func (i memInfo) IsDir() bool                { return i.dir }
func (i memInfo) Sys() any                   { return nil }
func (i memInfo) Type() fs.FileMode          { return i.Mode().Type() }
func (i memInfo) Info() (fs.FileInfo, error) { return i, nil }

type memFile struct {
	info memInfo
	r    *bytes.Reader
}

func (f *memFile) Stat() (fs.FileInfo, error) { return f.info, nil }
func (f *memFile) Read(b []byte) (int, error) { return f.r.Read(b) }
func (f *memFile) Close() error               { return nil }

// memDir is the root directory; ReadDir lists the files by name.
type memDir struct {
	fsys memFS
	next int
}

func (d *memDir) Stat() (fs.FileInfo, error) { return memInfo{name: ".", dir: true}, nil }
func (d *memDir) Read([]byte) (int, error) {
	return 0, &fs.PathError{Op: "read", Path: ".", Err: errors.New("is a directory")}
}
func (d *memDir) Close() error { return nil }

func (d *memDir) ReadDir(n int) ([]fs.DirEntry, error) {
	names := make([]string, 0, len(d.fsys))
	for name := range d.fsys {
		names = append(names, name)
	}
	slices.Sort(names)
	rest := names[d.next:]
	if n > 0 {
		if len(rest) == 0 {
			return nil, io.EOF
		}
		rest = rest[:min(n, len(rest))]
	}
	d.next += len(rest)
	out := make([]fs.DirEntry, len(rest))
	for i, name := range rest {
		out[i] = memInfo{name: name, size: int64(len(d.fsys[name]))}
	}
	return out, nil
}
