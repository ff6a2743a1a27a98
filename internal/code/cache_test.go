package code

import (
	"archive/zip"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

func digestOf(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// tree describes everything under dir by slash path: "dir 0755",
// "file 0644 <content>" or "link <target>".
func tree(t testing.TB, dir string) map[string]string {
	t.Helper()
	got := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		switch rel = filepath.ToSlash(rel); {
		case fi.IsDir():
			got[rel] = fmt.Sprintf("dir %04o", fi.Mode()&fs.ModePerm)
		case fi.Mode()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			got[rel] = "link " + target
		case fi.Mode().IsRegular():
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			got[rel] = fmt.Sprintf("file %04o %s", fi.Mode()&fs.ModePerm, b)
		default:
			got[rel] = "other " + fi.Mode().String()
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// strays lists what is under parent besides the cache directory and the
// code directory for digest: anything is a write where none should be.
func strays(t testing.TB, parent, digest string) []string {
	t.Helper()
	var out []string
	for p := range tree(t, parent) {
		if p != "." && p != "cache" && p != "cache/"+digest && !strings.HasPrefix(p, "cache/"+digest+"/") {
			out = append(out, p)
		}
	}
	slices.Sort(out)
	return out
}

func diffTrees(t testing.TB, got, want map[string]string) {
	t.Helper()
	for _, k := range slices.Sorted(maps.Keys(want)) {
		if got[k] != want[k] {
			t.Errorf("%s: got %q, want %q", k, got[k], want[k])
		}
	}
	for _, k := range slices.Sorted(maps.Keys(got)) {
		if _, ok := want[k]; !ok {
			t.Errorf("%s: got %q, want nothing", k, got[k])
		}
	}
}

func newTestCache(t testing.TB, lim Limits) (parent string, c *Cache) {
	t.Helper()
	parent = t.TempDir()
	c, err := NewCache(filepath.Join(parent, "cache"), lim)
	if err != nil {
		t.Fatal(err)
	}
	return parent, c
}

func TestExtract(t *testing.T) {
	for _, tc := range zipCases(t) {
		t.Run(tc.name, func(t *testing.T) {
			parent, c := newTestCache(t, tc.lim)
			digest := digestOf(tc.zip)
			dir, err := c.Extract(digest, tc.zip)
			if !errors.Is(err, tc.err) || (err != nil) != (tc.err != nil) {
				t.Fatalf("Extract: got error %v, want %v", err, tc.err)
			}
			if s := strays(t, parent, digest); len(s) > 0 {
				t.Errorf("written outside the code directory: %q", s)
			}
			gotDir, ok := c.Dir(digest)
			if err != nil {
				if ok {
					t.Errorf("Dir(%s) is present after a failed Extract", digest)
				}
				return
			}
			if want := filepath.Join(parent, "cache", digest); dir != want || gotDir != dir || !ok {
				t.Errorf("Extract = %q, Dir = %q, %v; want %q, true", dir, gotDir, ok, want)
			}
			diffTrees(t, tree(t, dir), tc.want)

			again, err := c.Extract(digest, tc.zip)
			if err != nil || again != dir {
				t.Errorf("second Extract = %q, %v; want %q, nil", again, err, dir)
			}
		})
	}
}

func TestExtractAbsoluteIntoParent(t *testing.T) {
	parent, c := newTestCache(t, DefaultLimits)
	for _, name := range []string{filepath.Join(parent, "evil"), "../evil", "../../evil"} {
		z := zipOf(t, ent{name, "x", 0o644})
		if _, err := c.Extract(digestOf(z), z); !errors.Is(err, ErrUnsafe) {
			t.Errorf("%q: got error %v, want ErrUnsafe", name, err)
		}
	}
	if s := strays(t, parent, "none"); len(s) > 0 {
		t.Errorf("written outside the code directory: %q", s)
	}
}

func TestExtractConcurrent(t *testing.T) {
	parent := t.TempDir()
	z := zipOf(t, ent{"bootstrap", "#!/bin/sh\n", 0o755}, ent{"a/b/c", "c", 0o644})
	digest := digestOf(z)
	// Two caches on one directory stand for two processes.
	var caches []*Cache
	for range 2 {
		c, err := NewCache(filepath.Join(parent, "cache"), DefaultLimits)
		if err != nil {
			t.Fatal(err)
		}
		caches = append(caches, c)
	}
	var wg sync.WaitGroup
	dirs := make([]string, 8)
	errs := make([]error, 8)
	for i := range dirs {
		wg.Go(func() { dirs[i], errs[i] = caches[i%2].Extract(digest, z) })
	}
	wg.Wait()
	want := filepath.Join(parent, "cache", digest)
	for i := range dirs {
		if dirs[i] != want || errs[i] != nil {
			t.Errorf("Extract %d = %q, %v; want %q, nil", i, dirs[i], errs[i], want)
		}
	}
	if s := strays(t, parent, digest); len(s) > 0 {
		t.Errorf("left behind: %q", s)
	}
	diffTrees(t, tree(t, want), map[string]string{
		".": "dir 0755", "bootstrap": "file 0755 #!/bin/sh\n", "a": "dir 0755", "a/b": "dir 0755", "a/b/c": "file 0644 c",
	})
}

func TestExtractDigest(t *testing.T) {
	parent, c := newTestCache(t, DefaultLimits)
	z := zipOf(t, ent{"f", "x", 0o644})
	other := digestOf([]byte("other"))
	for _, digest := range []string{other, strings.ToUpper(digestOf(z)), "../" + digestOf(z)[3:], "", "abc"} {
		if dir, err := c.Extract(digest, z); err == nil {
			t.Errorf("Extract(%q) = %q, want an error", digest, dir)
		}
		if _, ok := c.Dir(digest); ok {
			t.Errorf("Dir(%q) is present", digest)
		}
	}
	if s := strays(t, parent, "none"); len(s) > 0 {
		t.Errorf("written: %q", s)
	}
	if fi, err := os.Stat(filepath.Join(parent, "cache")); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("cache dir: %v, %v; want mode 0700", fi.Mode(), err)
	}
}

func TestExtractKeepsModTime(t *testing.T) {
	_, c := newTestCache(t, DefaultLimits)
	mtime := time.Date(2020, 5, 17, 10, 30, 42, 0, time.UTC)
	var buf bytes.Buffer
	w := zip.NewWriter(&buf)
	fw, err := w.CreateHeader(&zip.FileHeader{Name: "handler.py", Method: zip.Deflate, Modified: mtime})
	if err != nil {
		t.Fatal(err)
	}
	fw.Write([]byte("pass\n"))
	w.Close()
	dir, err := c.Extract(digestOf(buf.Bytes()), buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(dir, "handler.py"))
	if err != nil {
		t.Fatal(err)
	}
	if got := fi.ModTime(); !got.Equal(mtime) {
		t.Errorf("mtime: got %v, want %v", got, mtime)
	}
}

func TestRemove(t *testing.T) {
	parent, c := newTestCache(t, DefaultLimits)
	z := zipOf(t, ent{"a/b", "x", 0o644}, ent{"l", "a/b", fs.ModeSymlink | 0o777})
	digest := digestOf(z)
	if _, err := c.Extract(digest, z); err != nil {
		t.Fatal(err)
	}
	for i := range 2 { // absent the second time
		if err := c.Remove(digest); err != nil {
			t.Fatalf("Remove %d: %v", i, err)
		}
		if _, ok := c.Dir(digest); ok {
			t.Fatalf("Dir present after Remove %d", i)
		}
		if got := tree(t, parent); len(got) != 2 {
			t.Fatalf("after Remove %d: %v", i, got)
		}
	}
	if _, err := c.Extract(digest, z); err != nil {
		t.Fatalf("Extract after Remove: %v", err)
	}
	if err := c.Remove("../cache"); err == nil {
		t.Errorf("Remove(../cache): no error")
	}
}

func TestSweep(t *testing.T) {
	parent, c := newTestCache(t, DefaultLimits)
	z := zipOf(t, ent{"f", "x", 0o644})
	digest := digestOf(z)
	if _, err := c.Extract(digest, z); err != nil {
		t.Fatal(err)
	}
	// An interrupted extraction and an interrupted removal.
	for _, name := range []string{tmpPrefix + digest[:16] + "-123/sub", tmpPrefix + "rm-" + digest[:16] + "-456"} {
		p := filepath.Join(parent, "cache", name)
		if err := os.MkdirAll(p, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(p, "half"), []byte("x"), 0o444); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Sweep(); err != nil {
		t.Fatal(err)
	}
	if s := strays(t, parent, digest); len(s) > 0 {
		t.Errorf("left after Sweep: %q", s)
	}
	if _, ok := c.Dir(digest); !ok {
		t.Errorf("Sweep removed a finished directory")
	}
}
