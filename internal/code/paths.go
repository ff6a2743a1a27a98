package code

import (
	"archive/zip"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"
)

type kind int

const (
	kindDir kind = iota + 1
	kindFile
	kindSymlink
)

// entry is a zip entry whose name and type have been checked.
type entry struct {
	f      *zip.File
	name   string      // clean, slash-separated, relative to the code directory, never "."
	kind   kind        //
	perm   fs.FileMode // files: permission bits to create with
	target string      // symlinks: checked target, once read
}

// layout is a zip's checked table of contents.
type layout struct {
	entries []entry
	dirs    []string        // every directory to create, explicit or implied, parents first
	kinds   map[string]kind // every path in the code directory
}

// Zip "version made by" hosts whose external attributes carry a Unix mode.
const (
	creatorUnix  = 3
	creatorMacOS = 19
)

// plan checks every entry's name and type and that no two entries claim the
// same path or use a file or symlink as a directory. It reads no data.
func plan(files []*zip.File) (*layout, error) {
	p := &layout{kinds: make(map[string]kind, len(files))}
	for _, f := range files {
		name, slash, err := cleanName(f.Name)
		if err != nil {
			return nil, err
		}
		mode := f.Mode()
		e := entry{f: f, name: name}
		switch {
		case mode&(fs.ModeDevice|fs.ModeCharDevice|fs.ModeNamedPipe|fs.ModeSocket|fs.ModeIrregular) != 0:
			return nil, fmt.Errorf("%w: %q is a device, fifo or socket (%v)", ErrUnsafe, f.Name, mode.Type())
		case slash || mode.IsDir():
			if f.UncompressedSize64 != 0 {
				return nil, fmt.Errorf("%w: directory %q has data", ErrCorrupt, f.Name)
			}
			e.kind = kindDir
		case mode&fs.ModeSymlink != 0:
			if f.UncompressedSize64 > maxLinkTarget {
				return nil, fmt.Errorf("%w: symlink %q: target longer than %d bytes", ErrUnsafe, f.Name, maxLinkTarget)
			}
			e.kind = kindSymlink
		default:
			e.kind = kindFile
			e.perm = 0o644
			if c := f.CreatorVersion >> 8; c == creatorUnix || c == creatorMacOS {
				e.perm |= mode.Perm() & 0o111
			}
		}
		if name == "." {
			if e.kind != kindDir {
				return nil, fmt.Errorf("%w: %q names the code directory itself", ErrUnsafe, f.Name)
			}
			continue // the code directory always exists
		}
		if _, dup := p.kinds[name]; dup {
			return nil, fmt.Errorf("%w: %q: more than one entry for %q", ErrUnsafe, f.Name, name)
		}
		p.kinds[name] = e.kind
		p.entries = append(p.entries, e)
	}

	// Parents must be directories: never a file, never a symlink (so no
	// write goes through a link). Implied parents are created too.
	for _, e := range p.entries {
		for dir := path.Dir(e.name); dir != "."; dir = path.Dir(dir) {
			k, ok := p.kinds[dir]
			if ok && k != kindDir {
				return nil, fmt.Errorf("%w: %q is inside %q, which is not a directory", ErrUnsafe, e.f.Name, dir)
			}
			if ok {
				break // an entry or an implied parent already seen: checked from there
			}
			p.kinds[dir] = kindDir
		}
	}
	for name, k := range p.kinds {
		if k == kindDir {
			p.dirs = append(p.dirs, name)
		}
	}
	sort.Strings(p.dirs) // a path sorts after its prefixes, so parents come first
	return p, nil
}

// cleanName turns a zip entry name into a clean relative slash path, and
// reports whether it ends with a separator. Backslashes count as separators.
func cleanName(raw string) (name string, slash bool, err error) {
	if raw == "" {
		return "", false, fmt.Errorf("%w: empty name", ErrUnsafe)
	}
	if strings.IndexByte(raw, 0) >= 0 {
		return "", false, fmt.Errorf("%w: %q contains NUL", ErrUnsafe, raw)
	}
	n := strings.ReplaceAll(raw, `\`, "/")
	if strings.HasPrefix(n, "/") {
		return "", false, fmt.Errorf("%w: %q is absolute", ErrUnsafe, raw)
	}
	c := path.Clean(n)
	if c == ".." || strings.HasPrefix(c, "../") {
		return "", false, fmt.Errorf("%w: %q escapes the code directory", ErrUnsafe, raw)
	}
	return c, strings.HasSuffix(n, "/"), nil
}

// checkTarget checks that the symlink at link, pointing at target, resolves
// inside the code directory, and returns the target to create (backslashes
// turned into slashes, as in names). Resolution is lexical, which matches the
// filesystem only if the walk never steps through another symlink, so that
// is refused too: a link may point at a link, not through one.
func checkTarget(link, target string, kinds map[string]kind) (string, error) {
	if target == "" || strings.IndexByte(target, 0) >= 0 {
		return "", fmt.Errorf("%w: symlink %q has an invalid target %q", ErrUnsafe, link, target)
	}
	t := strings.ReplaceAll(target, `\`, "/")
	if strings.HasPrefix(t, "/") {
		return "", fmt.Errorf("%w: symlink %q points to absolute path %q", ErrUnsafe, link, target)
	}
	var at []string // the resolved location, as path elements under the code directory
	if dir := path.Dir(link); dir != "." {
		at = strings.Split(dir, "/")
	}
	var elems []string
	for _, el := range strings.Split(t, "/") {
		if el != "" && el != "." {
			elems = append(elems, el)
		}
	}
	for i, el := range elems {
		if el == ".." {
			if len(at) == 0 {
				return "", fmt.Errorf("%w: symlink %q points outside the code directory (%q)", ErrUnsafe, link, target)
			}
			at = at[:len(at)-1]
			continue
		}
		at = append(at, el)
		if i < len(elems)-1 && kinds[strings.Join(at, "/")] == kindSymlink {
			return "", fmt.Errorf("%w: symlink %q resolves through symlink %q", ErrUnsafe, link, strings.Join(at, "/"))
		}
	}
	return t, nil
}
