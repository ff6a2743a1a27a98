package code

import (
	"errors"
	"os"
	"syscall"
)

// extractor writes checked entries under a directory. It goes through an
// os.Root, so even a bug in the checks cannot make it write outside that
// directory, and it creates files with O_EXCL|O_NOFOLLOW, so it never writes
// through a link or over an earlier entry.
type extractor struct {
	root *os.Root
}

// extractInto unpacks p into the existing empty directory dir.
func extractInto(dir string, p *pkg) error {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return err
	}
	_, err = p.unpack(&extractor{root: root})
	return errors.Join(err, root.Close())
}

func (x *extractor) mkdir(name string) error {
	if err := x.root.Mkdir(name, 0o755); err != nil {
		return err
	}
	return x.root.Chmod(name, 0o755) // whatever the umask
}

// writeFile creates e's file and decompresses into it through d, keeping the
// entry's modification time (so that, for example, Python's .pyc files still
// match their sources).
func (x *extractor) writeFile(e *entry, d *decompressor) error {
	f, err := x.root.OpenFile(e.name, os.O_WRONLY|os.O_CREATE|os.O_EXCL|syscall.O_NOFOLLOW, e.perm)
	if err != nil {
		return err
	}
	err = d.copy(e, f)
	if err == nil {
		err = f.Chmod(e.perm) // whatever the umask
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil && !e.f.Modified.IsZero() {
		err = x.root.Chtimes(e.name, e.f.Modified, e.f.Modified)
	}
	return err
}

func (x *extractor) symlink(target, name string) error {
	return x.root.Symlink(target, name)
}
