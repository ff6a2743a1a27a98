package code

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// memBlobs is a Blobs in memory.
type memBlobs struct {
	mu sync.Mutex
	m  map[string][]byte
}

func (b *memBlobs) Put(_ context.Context, digest string, data []byte) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.m == nil {
		b.m = map[string][]byte{}
	}
	b.m[digest] = data
	return nil
}

func (b *memBlobs) Get(_ context.Context, digest string) ([]byte, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if data, ok := b.m[digest]; ok {
		return data, nil
	}
	return nil, fmt.Errorf("code %s: %w", digest, fs.ErrNotExist)
}

// newTestStore returns a Store over a fresh cache and the cache's parent directory.
func newTestStore(t testing.TB) (string, *Store) {
	t.Helper()
	parent, c := newTestCache(t, DefaultLimits)
	return parent, &Store{Blobs: &memBlobs{}, Cache: c, Limits: DefaultLimits}
}

// addZips stores zips and returns their digests. Each is added through a fresh Store on the
// same blobs and cache, so that Layers must read it back from Blobs, as on another host.
func addZips(t testing.TB, s *Store, zips ...[]byte) []string {
	t.Helper()
	var out []string
	for _, z := range zips {
		info, err := (&Store{Blobs: s.Blobs, Cache: s.Cache}).Add(context.Background(), z)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, info.Digest)
	}
	return out
}

// layerA and layerB overlap in every way an entry can: file over file, file over directory,
// directory over file, directory over symlink, directory into directory.
func layerA(t testing.TB) []byte {
	return zipOf(t,
		ent{"python/a.py", "A", 0o644},
		ent{"shared", "from a", 0o644},
		ent{"dir/x", "ax", 0o644},
		ent{"file_then_dir", "a file", 0o644},
		ent{"dir_then_file/inner", "in a dir", 0o644},
		ent{"link", "python", fs.ModeSymlink | 0o777},
		ent{"bin/tool", "#!/bin/sh\n", 0o755},
	)
}

func layerB(t testing.TB) []byte {
	return zipOf(t,
		ent{"shared", "from b", 0o644},
		ent{"dir/y", "by", 0o644},
		ent{"file_then_dir/inner", "i", 0o644},
		ent{"dir_then_file", "now a file", 0o644},
		ent{"link/z", "under a real directory", 0o644},
		ent{"blink", "dir/y", fs.ModeSymlink | 0o777},
	)
}

func TestLayersMerge(t *testing.T) {
	parent, s := newTestStore(t)
	ctx := context.Background()
	digests := addZips(t, s, layerA(t), layerB(t))

	dir, err := s.Layers(ctx, digests)
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(parent, "cache", layersSubdir, layersKey(digests)); dir != want {
		t.Errorf("Layers = %q, want %q", dir, want)
	}
	diffTrees(t, tree(t, dir), map[string]string{
		".":                   "dir 0755",
		"python":              "dir 0755",
		"python/a.py":         "file 0644 A",
		"shared":              "file 0644 from b",
		"dir":                 "dir 0755",
		"dir/x":               "file 0644 ax",
		"dir/y":               "file 0644 by",
		"file_then_dir":       "dir 0755",
		"file_then_dir/inner": "file 0644 i",
		"dir_then_file":       "file 0644 now a file",
		"link":                "dir 0755",
		"link/z":              "file 0644 under a real directory",
		"blink":               "link dir/y",
		"bin":                 "dir 0755",
		"bin/tool":            "file 0755 #!/bin/sh\n",
	})
	// The directory B's link/z went into replaced A's symlink: nothing went through it.
	if _, err := os.Stat(filepath.Join(dir, "python", "z")); err == nil {
		t.Errorf("a file was written through a symlink")
	}
	// Files are shared with the extracted layer, not copied.
	if fi, err := os.Stat(filepath.Join(dir, "python", "a.py")); err != nil || fi.Sys().(*syscall.Stat_t).Nlink < 2 {
		t.Errorf("python/a.py should be a hard link to the extracted layer's file: %v", err)
	}
	// The extracted layers are untouched.
	for i, d := range digests {
		src, _ := s.Cache.Dir(d)
		want := map[string]string{"shared": "file 0644 from a"}
		if i == 1 {
			want["shared"] = "file 0644 from b"
		}
		if got := tree(t, src)["shared"]; got != want["shared"] {
			t.Errorf("layer %d's own shared is now %q", i, got)
		}
	}

	// The other order is another directory, where A wins.
	rev, err := s.Layers(ctx, []string{digests[1], digests[0]})
	if err != nil {
		t.Fatal(err)
	}
	got := tree(t, rev)
	if rev == dir || got["shared"] != "file 0644 from a" || got["link"] != "link python" || got["dir_then_file"] != "dir 0755" {
		t.Errorf("B then A = %q: shared %q, link %q, dir_then_file %q; want A's", rev, got["shared"], got["link"], got["dir_then_file"])
	}

	// Asking again gives the same directory, unchanged.
	before := tree(t, dir)
	again, err := s.Layers(ctx, digests)
	if err != nil || again != dir {
		t.Fatalf("second Layers = %q, %v; want %q", again, err, dir)
	}
	diffTrees(t, tree(t, dir), before)
	leftovers(t, parent)
}

func TestLayersFewerThanTwo(t *testing.T) {
	_, s := newTestStore(t)
	ctx := context.Background()
	if dir, err := s.Layers(ctx, nil); dir != "" || err != nil {
		t.Errorf("Layers(nil) = %q, %v; want \"\", nil", dir, err)
	}
	d := addZips(t, s, layerA(t))
	dir, err := s.Layers(ctx, d)
	if want, _ := s.Cache.Dir(d[0]); err != nil || dir != want {
		t.Errorf("Layers of one layer = %q, %v; want its extracted directory %q", dir, err, want)
	}
}

func TestLayersConcurrent(t *testing.T) {
	parent, s := newTestStore(t)
	digests := addZips(t, s, layerA(t), layerB(t), zipOf(t, ent{"shared", "from c", 0o644}))
	// Two stores on one cache directory stand for two processes.
	c2, err := NewCache(filepath.Join(parent, "cache"), DefaultLimits)
	if err != nil {
		t.Fatal(err)
	}
	stores := []*Store{s, {Blobs: s.Blobs, Cache: c2}}
	const n = 8
	dirs, errs := make([]string, n), make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { dirs[i], errs[i] = stores[i%2].Layers(context.Background(), digests) })
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil || dirs[i] != dirs[0] {
			t.Errorf("Layers %d = %q, %v; want %q, nil", i, dirs[i], errs[i], dirs[0])
		}
	}
	if got := tree(t, dirs[0])["shared"]; got != "file 0644 from c" {
		t.Errorf("shared = %q, want the last layer's", got)
	}
	leftovers(t, parent)
}

func TestLayersMissing(t *testing.T) {
	parent, s := newTestStore(t)
	d := addZips(t, s, layerA(t))
	missing := digestOf([]byte("never stored"))
	if dir, err := s.Layers(context.Background(), []string{d[0], missing}); err == nil {
		t.Errorf("Layers with a missing blob = %q, want an error", dir)
	}
	if dir, err := s.Layers(context.Background(), []string{d[0], "../../etc"}); err == nil {
		t.Errorf("Layers with a bad digest = %q, want an error", dir)
	}
	leftovers(t, parent)
}

func TestSweepLayers(t *testing.T) {
	parent, s := newTestStore(t)
	digests := addZips(t, s, layerA(t), layerB(t))
	dir, err := s.Layers(context.Background(), digests)
	if err != nil {
		t.Fatal(err)
	}
	half := filepath.Join(parent, "cache", layersSubdir, tmpPrefix+"0123456789abcdef-1", "python")
	if err := os.MkdirAll(half, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := s.Cache.Sweep(); err != nil {
		t.Fatal(err)
	}
	leftovers(t, parent)
	if !isDir(dir) {
		t.Errorf("Sweep removed a finished merged directory")
	}
}

// leftovers fails the test if a temporary directory is left in the cache.
func leftovers(t testing.TB, parent string) {
	t.Helper()
	for p := range tree(t, parent) {
		if strings.Contains(p, tmpPrefix) {
			t.Errorf("left behind: %s", p)
		}
	}
}

// TestCopyFile covers the fallback for when a hard link cannot be made.
func TestCopyFile(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	if err := os.WriteFile(src, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	mtime := time.Date(2020, 5, 17, 10, 30, 42, 0, time.UTC)
	if err := os.Chtimes(src, mtime, mtime); err != nil {
		t.Fatal(err)
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	if err := copyFile(root, "src", "dst"); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(dir, "dst"))
	if err != nil || fi.Mode().Perm() != 0o755 || !fi.ModTime().Equal(mtime) || fi.Sys().(*syscall.Stat_t).Nlink != 1 {
		t.Errorf("copy: %v, %v; want a separate 0755 file with the source's mtime", fi, err)
	}
	if err := copyFile(root, "src", "dst"); err == nil {
		t.Errorf("copy over an existing file: no error")
	}
	if err := os.Symlink("src", filepath.Join(dir, "link")); err != nil {
		t.Fatal(err)
	}
	if err := copyFile(root, "link", "dst2"); err == nil {
		t.Errorf("copy from a symlink: no error")
	}
}
