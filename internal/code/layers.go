package code

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"syscall"
)

// layersSubdir holds, under the cache directory, the merged directories of layer lists, each
// named by layersKey. It is made when first needed.
const layersSubdir = "layers"

// layersKey names the merged directory of digests: it depends on the digests and their order.
func layersKey(digests []string) string {
	sum := sha256.Sum256([]byte(strings.Join(digests, "\n")))
	return hex.EncodeToString(sum[:])
}

// Layers returns the directory to mount at /opt for a function's layers, given their digests
// in order: the layers' contents merged, a later layer's entry replacing an earlier one's at
// the same path. It is content-addressed by the ordered digest list and made once per host,
// like the code directories: extracted layers are hard-linked (copied where that fails) into
// a temporary directory renamed into place when complete, so concurrent callers get the same
// whole directory. Directories are 0755 and files keep their extracted modes (0644 or 0755),
// so a sandbox user can read them. With one layer it is that layer's extracted directory;
// with none it is "".
func (s *Store) Layers(ctx context.Context, digests []string) (string, error) {
	switch len(digests) {
	case 0:
		return "", nil
	case 1:
		return s.Dir(ctx, digests[0])
	}
	for _, d := range digests {
		if err := checkDigest(d); err != nil {
			return "", err
		}
	}
	key := layersKey(digests)
	if dir := filepath.Join(s.Cache.dir, layersSubdir, key); isDir(dir) {
		return dir, nil
	}
	for _, d := range digests {
		if _, err := s.Dir(ctx, d); err != nil {
			return "", fmt.Errorf("layer %s: %w", d, err)
		}
	}
	return s.Cache.merge(key, digests)
}

// merge makes the merged directory key of the extracted directories of digests, in order.
func (c *Cache) merge(key string, digests []string) (string, error) {
	final := filepath.Join(c.dir, layersSubdir, key)
	if isDir(final) {
		return final, nil
	}
	defer c.lock(layersSubdir + "/" + key)()
	if isDir(final) { // a concurrent call finished it
		return final, nil
	}
	parent := filepath.Dir(final)
	if err := os.MkdirAll(parent, 0o700); err != nil {
		return "", fmt.Errorf("layers %s: %w", key, err)
	}
	tmp, err := os.MkdirTemp(parent, tmpPrefix+key[:16]+"-")
	if err != nil {
		return "", fmt.Errorf("layers %s: %w", key, err)
	}
	fail := func(err error) (string, error) {
		return "", errors.Join(fmt.Errorf("layers %s: %w", key, err), os.RemoveAll(tmp))
	}
	// Every operation goes through a root at the cache directory, which holds both the
	// extracted layers and tmp: nothing is read or written outside it, whatever the trees hold.
	root, err := os.OpenRoot(c.dir)
	if err != nil {
		return fail(err)
	}
	dst := path.Join(layersSubdir, filepath.Base(tmp))
	for _, d := range digests {
		if err = overlay(root, d, dst); err != nil {
			break
		}
	}
	if cerr := root.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(tmp, 0o755)
	}
	if err != nil {
		return fail(err)
	}
	c.flush()
	if err := os.Rename(tmp, final); err != nil {
		rmErr := os.RemoveAll(tmp)
		if isDir(final) { // another process won the race
			return final, nil
		}
		return "", errors.Join(fmt.Errorf("layers %s: %w", key, err), rmErr)
	}
	if err := syncPath(parent); err != nil {
		return "", fmt.Errorf("layers %s: %w", key, err)
	}
	return final, nil
}

// overlay puts the tree src into the tree dst (both names under root), replacing whatever dst
// has at the same paths. It never follows a symlink: the walk does not descend into them, and
// a directory of src replaces a symlink (or a file) of dst before anything is put inside it.
func overlay(root *os.Root, src, dst string) error {
	return fs.WalkDir(root.FS(), src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel := strings.TrimPrefix(strings.TrimPrefix(p, src), "/")
		if rel == "" {
			return nil
		}
		to := path.Join(dst, rel)
		switch typ := d.Type(); {
		case typ.IsDir():
			if fi, err := root.Lstat(to); err == nil && fi.IsDir() {
				return nil // merge into the directory an earlier layer made
			}
			if err := removeAny(root, to); err != nil {
				return err
			}
			if err := root.Mkdir(to, 0o755); err != nil {
				return err
			}
			return root.Chmod(to, 0o755) // whatever the umask
		case typ.IsRegular():
			if err := removeAny(root, to); err != nil {
				return err
			}
			if err := root.Link(p, to); err == nil {
				return nil
			}
			return copyFile(root, p, to)
		case typ&fs.ModeSymlink != 0:
			target, err := root.Readlink(p)
			if err != nil {
				return err
			}
			if err := removeAny(root, to); err != nil {
				return err
			}
			return root.Symlink(target, to)
		}
		return fmt.Errorf("%w: %s is not a file, directory or symlink", ErrUnsafe, p)
	})
}

// removeAny removes whatever is at name (a file, a symlink, a whole directory), if anything.
func removeAny(root *os.Root, name string) error {
	fi, err := root.Lstat(name)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil
	case err != nil:
		return err
	case fi.IsDir():
		return root.RemoveAll(name)
	}
	return root.Remove(name)
}

// copyFile copies the regular file from to the new file to, with its mode and modification
// time, for when a hard link cannot be made (another filesystem, too many links).
func copyFile(root *os.Root, from, to string) error {
	// A root follows symlinks that stay inside it, whatever the flags: check the type first.
	if fi, err := root.Lstat(from); err != nil || !fi.Mode().IsRegular() {
		return errors.Join(fmt.Errorf("%w: %s is not a regular file", ErrUnsafe, from), err)
	}
	in, err := root.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	fi, err := in.Stat()
	if err != nil {
		return err
	}
	out, err := root.OpenFile(to, os.O_WRONLY|os.O_CREATE|os.O_EXCL|syscall.O_NOFOLLOW, fi.Mode().Perm())
	if err != nil {
		return err
	}
	_, err = io.Copy(out, in)
	if err == nil {
		err = out.Chmod(fi.Mode().Perm())
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = root.Chtimes(to, fi.ModTime(), fi.ModTime())
	}
	return err
}
