package code

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzInspectExtract checks, for any input, that Inspect and Extract do not
// panic, that Extract never writes outside its code directory, that it
// succeeds only where Inspect does, and that they reject for the same reason.
func FuzzInspectExtract(f *testing.F) {
	for _, tc := range zipCases(f) {
		f.Add(tc.zip)
	}
	lim := small
	// One cache for all inputs, emptied after each: a fresh directory per
	// input would cost more than the input.
	parent, c := newTestCache(f, lim)
	c.flush = func() {}
	f.Fuzz(func(t *testing.T, z []byte) {
		digest := digestOf(z)
		defer func() {
			if err := c.Remove(digest); err != nil {
				t.Fatal(err)
			}
		}()
		info, ierr := Inspect(z, lim)
		dir, eerr := c.Extract(digest, z)
		if s := strays(t, parent, digest); len(s) > 0 {
			t.Fatalf("written outside the code directory: %q (Extract error %v)", s, eerr)
		}
		if ierr != nil {
			if !errors.Is(ierr, ErrCorrupt) && !errors.Is(ierr, ErrTooLarge) && !errors.Is(ierr, ErrUnsafe) {
				t.Fatalf("Inspect error %v wraps no sentinel", ierr)
			}
			if eerr == nil {
				t.Fatalf("Extract succeeded where Inspect failed with %v", ierr)
			}
			// Extract may stop earlier, on a filesystem error, but where
			// it fails a check it must be the check Inspect failed.
			for _, s := range []error{ErrCorrupt, ErrTooLarge, ErrUnsafe} {
				if errors.Is(eerr, s) && !errors.Is(ierr, s) {
					t.Fatalf("Inspect error %v, Extract error %v", ierr, eerr)
				}
			}
			return
		}
		if eerr != nil {
			// Only the filesystem may refuse what Inspect accepts (a name
			// too long, say), never the checks.
			if errors.Is(eerr, ErrCorrupt) || errors.Is(eerr, ErrTooLarge) || errors.Is(eerr, ErrUnsafe) {
				t.Fatalf("Inspect accepted, Extract: %v", eerr)
			}
			return
		}
		checkExtracted(t, dir, info)
	})
}

// checkExtracted checks an extracted tree: sizes add up to the unzipped size,
// only directories, files and symlinks, every symlink resolving inside.
func checkExtracted(t *testing.T, dir string, info Info) {
	root, err := filepath.EvalSymlinks(dir)
	if err != nil {
		t.Fatal(err)
	}
	var size int64
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		switch mode := fi.Mode(); {
		case mode.IsDir():
			if mode.Perm() != 0o755 {
				t.Errorf("%s: directory mode %v", p, mode)
			}
		case mode.IsRegular():
			size += fi.Size()
			if mode.Perm()&^0o111 != 0o644 {
				t.Errorf("%s: file mode %v", p, mode)
			}
		case mode&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			size += int64(len(target))
			if to, err := filepath.EvalSymlinks(p); err == nil && to != root && !strings.HasPrefix(to, root+string(filepath.Separator)) {
				t.Errorf("%s -> %s resolves to %s, outside %s", p, target, to, root)
			}
		default:
			t.Errorf("%s: unexpected mode %v", p, mode)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if size != info.UnzippedSize {
		t.Errorf("extracted %d bytes, Inspect said %d", size, info.UnzippedSize)
	}
}
