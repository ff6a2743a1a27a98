package code

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
)

// tmpPrefix starts the names of directories being extracted or removed. A
// digest never starts with it, so Sweep cannot mistake a finished directory
// for a leftover.
const tmpPrefix = ".tmp-"

// Cache holds extracted code directories keyed by Digest, under dir. Each
// directory appears under its final name whole or not at all.
type Cache struct {
	dir   string
	lim   Limits
	flush func() // syscall.Sync; the fuzz test, extracting thousands of zips, skips it

	mu    sync.Mutex
	locks map[string]*digestLock // digests being extracted or removed
}

type digestLock struct {
	sync.Mutex
	refs int
}

// NewCache returns a cache in dir, creating it (0700) if needed. Code
// directories under it are 0755 so that a sandbox user can read them once
// they are mounted; dir itself stays private.
func NewCache(dir string, lim Limits) (*Cache, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(abs, 0o700); err != nil {
		return nil, fmt.Errorf("code cache: %w", err)
	}
	return &Cache{dir: abs, lim: lim.orDefault(), flush: flushAll, locks: make(map[string]*digestLock)}, nil
}

// Dir returns the directory for digest and whether it is present.
func (c *Cache) Dir(digest string) (string, bool) {
	if checkDigest(digest) != nil {
		return "", false
	}
	p := filepath.Join(c.dir, digest)
	return p, isDir(p)
}

// Extract makes the code directory for zipBytes present and returns it. It
// checks that zipBytes hashes to digest and validates it as Inspect does.
// Concurrent calls for one digest extract it once; the extraction happens in
// a temporary sibling directory renamed into place when complete.
func (c *Cache) Extract(digest string, zipBytes []byte) (string, error) {
	if err := checkDigest(digest); err != nil {
		return "", err
	}
	if sum := sha256.Sum256(zipBytes); hex.EncodeToString(sum[:]) != digest {
		return "", fmt.Errorf("code %s: zip bytes hash to %x", digest, sum)
	}
	final := filepath.Join(c.dir, digest)
	if isDir(final) {
		return final, nil
	}
	defer c.lock(digest)()
	if isDir(final) { // a concurrent call finished it
		return final, nil
	}

	p, err := openZip(zipBytes, c.lim)
	if err != nil {
		return "", fmt.Errorf("code %s: %w", digest, err)
	}
	tmp, err := os.MkdirTemp(c.dir, tmpPrefix+digest[:16]+"-")
	if err != nil {
		return "", fmt.Errorf("code %s: %w", digest, err)
	}
	if err := c.fill(tmp, p); err != nil {
		return "", errors.Join(fmt.Errorf("code %s: %w", digest, err), os.RemoveAll(tmp))
	}
	if err := os.Rename(tmp, final); err != nil {
		rmErr := os.RemoveAll(tmp)
		if isDir(final) { // another process won the race
			return final, nil
		}
		return "", errors.Join(fmt.Errorf("code %s: %w", digest, err), rmErr)
	}
	if err := syncPath(c.dir); err != nil {
		return "", fmt.Errorf("code %s: %w", digest, err)
	}
	return final, nil
}

// fill extracts p into the empty directory tmp, opens it to others
// and makes it durable, so that the rename that publishes it cannot outlive
// its contents in a power loss. One sync(2) does that for the whole tree:
// an fsync per file costs seconds for a node_modules of ten thousand files,
// and syncfs(2) is not in the standard library.
func (c *Cache) fill(tmp string, p *pkg) error {
	if err := extractInto(tmp, p); err != nil {
		return err
	}
	if err := os.Chmod(tmp, 0o755); err != nil {
		return err
	}
	c.flush()
	return nil
}

func flushAll() { syscall.Sync() }

// Remove deletes a digest's directory (no error if absent). The caller must
// make sure no sandbox still uses it. The directory is first moved into a
// temporary one, so it is never seen half-deleted under its name.
func (c *Cache) Remove(digest string) error {
	if err := checkDigest(digest); err != nil {
		return err
	}
	defer c.lock(digest)()
	final := filepath.Join(c.dir, digest)
	if _, err := os.Lstat(final); errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	aside, err := os.MkdirTemp(c.dir, tmpPrefix+"rm-"+digest[:16]+"-")
	if err != nil {
		return err
	}
	if err := os.Rename(final, filepath.Join(aside, digest)); err != nil {
		rmErr := os.Remove(aside)
		if errors.Is(err, fs.ErrNotExist) {
			return rmErr
		}
		return errors.Join(fmt.Errorf("code %s: %w", digest, err), rmErr)
	}
	return os.RemoveAll(aside)
}

// Sweep removes leftover temporary directories from interrupted extractions,
// removals and layer merges. Call it at start, before any other use.
func (c *Cache) Sweep() error {
	var errs []error
	for _, dir := range []string{c.dir, filepath.Join(c.dir, layersSubdir)} {
		ents, err := os.ReadDir(dir)
		if errors.Is(err, fs.ErrNotExist) && dir != c.dir {
			continue
		}
		if err != nil {
			return err
		}
		for _, e := range ents {
			if strings.HasPrefix(e.Name(), tmpPrefix) {
				errs = append(errs, os.RemoveAll(filepath.Join(dir, e.Name())))
			}
		}
	}
	return errors.Join(errs...)
}

// lock serializes work on one digest and returns the unlock function.
func (c *Cache) lock(digest string) func() {
	c.mu.Lock()
	l := c.locks[digest]
	if l == nil {
		l = &digestLock{}
		c.locks[digest] = l
	}
	l.refs++
	c.mu.Unlock()

	l.Lock()
	return func() {
		l.Unlock()
		c.mu.Lock()
		if l.refs--; l.refs == 0 {
			delete(c.locks, digest)
		}
		c.mu.Unlock()
	}
}

// checkDigest accepts only lowercase hex SHA-256 digests, which also makes
// them safe as file names.
func checkDigest(d string) error {
	if len(d) != 2*sha256.Size || strings.Trim(d, "0123456789abcdef") != "" {
		return fmt.Errorf("code: invalid digest %q", d)
	}
	return nil
}

func isDir(p string) bool {
	fi, err := os.Lstat(p)
	return err == nil && fi.IsDir()
}

func syncPath(p string) error {
	d, err := os.Open(p)
	if err != nil {
		return err
	}
	err = d.Sync()
	return errors.Join(err, d.Close())
}
