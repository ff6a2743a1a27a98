// Package code owns Lambda deployment packages on the local disk: it validates
// uploaded zips (size limits, zip bombs, unsafe paths and file types, CRCs) and
// extracts them into a content-addressed cache of read-only code directories
// keyed by the zip's SHA-256, and merges a function's layers, in order, into
// one cached directory for /opt.
//
// It must not trust anything inside a zip: header sizes, names and symlink
// targets are all checked, and nothing is ever written outside the cache
// directory. It does not store the zips themselves (that is the state
// package's object store), know about functions or versions, or mount code
// into sandboxes.
package code

import (
	"archive/zip"
	"bytes"
	"compress/flate"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
)

// Limits bound a deployment package (AWS defaults: 50 MB zipped, 250 MB unzipped).
// A zero or negative field means the DefaultLimits value.
type Limits struct {
	MaxZipped, MaxUnzipped int64
}

// DefaultLimits are Lambda's limits for a zip deployment package.
var DefaultLimits = Limits{MaxZipped: 50 << 20, MaxUnzipped: 250 << 20}

func (l Limits) orDefault() Limits {
	if l.MaxZipped <= 0 {
		l.MaxZipped = DefaultLimits.MaxZipped
	}
	if l.MaxUnzipped <= 0 {
		l.MaxUnzipped = DefaultLimits.MaxUnzipped
	}
	return l
}

// Sentinel errors; returned errors wrap one of them with detail.
var (
	// ErrCorrupt: not a zip, bad CRC, truncated, sizes that do not match the data.
	ErrCorrupt = errors.New("could not unzip uploaded file")
	// ErrTooLarge: the zipped or unzipped size is over the limit.
	ErrTooLarge = errors.New("deployment package too large")
	// ErrUnsafe: a path escaping the code directory, an absolute path, a symlink
	// escaping it, a device/fifo/socket, or two entries for the same path.
	ErrUnsafe = errors.New("unsafe entry in deployment package")
)

// Info describes a valid deployment package.
type Info struct {
	Sha256       string // base64 std encoding of the SHA-256 of the zip bytes, as Lambda's CodeSha256
	Digest       string // lowercase hex SHA-256 of the zip bytes (cache key, object name)
	Size         int64  // zip size in bytes (Lambda's CodeSize)
	UnzippedSize int64  // sum of uncompressed file sizes
}

// Inspect checks a zip completely without writing anything: it must open as a
// zip, every entry must have a safe name and type, the declared and the actual
// uncompressed sizes must be within lim, and every entry must decompress with
// a matching size and CRC-32.
func Inspect(zipBytes []byte, lim Limits) (Info, error) {
	p, err := openZip(zipBytes, lim)
	if err != nil {
		return Info{}, err
	}
	n, err := p.unpack(nil)
	if err != nil {
		return Info{}, err
	}
	sum := sha256.Sum256(zipBytes)
	return Info{
		Sha256:       base64.StdEncoding.EncodeToString(sum[:]),
		Digest:       hex.EncodeToString(sum[:]),
		Size:         int64(len(zipBytes)),
		UnzippedSize: n,
	}, nil
}

// maxLinkTarget bounds a symlink entry's content (Linux PATH_MAX less the NUL).
const maxLinkTarget = 4095

// pkg is a zip whose table of contents, declared sizes and symlink targets
// have been checked. Its file data is checked as it is unpacked.
//
// openZip and unpack are the only readers of zip contents, for Inspect and
// Extract alike, so Extract can succeed only where Inspect does: extracting
// adds filesystem work, never a check.
type pkg struct {
	*layout
	d decompressor
}

// openZip checks everything that can be checked before writing anything, so
// that most bad packages are refused without touching the disk: the sizes,
// the names, types and collisions of entries, and symlink targets.
func openZip(zipBytes []byte, lim Limits) (*pkg, error) {
	lim = lim.orDefault()
	if int64(len(zipBytes)) > lim.MaxZipped {
		return nil, fmt.Errorf("%w: zipped size %d bytes exceeds %d", ErrTooLarge, len(zipBytes), lim.MaxZipped)
	}
	zr, err := zip.NewReader(bytes.NewReader(zipBytes), int64(len(zipBytes)))
	if err != nil && !errors.Is(err, zip.ErrInsecurePath) { // names are checked below
		return nil, fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	l, err := plan(zr.File)
	if err != nil {
		return nil, err
	}
	var declared uint64
	for _, e := range l.entries {
		if e.f.UncompressedSize64 > uint64(lim.MaxUnzipped)-declared {
			return nil, fmt.Errorf("%w: declared unzipped size exceeds %d bytes", ErrTooLarge, lim.MaxUnzipped)
		}
		declared += e.f.UncompressedSize64
	}
	p := &pkg{layout: l, d: decompressor{budget: lim.MaxUnzipped}}
	for i := range p.entries {
		e := &p.entries[i]
		if e.kind != kindSymlink {
			continue
		}
		var buf linkBuffer
		if err := p.d.copy(e, &buf); err != nil {
			return nil, err
		}
		if e.target, err = checkTarget(e.name, buf.String(), p.kinds); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// unpack decompresses every file, counting actual bytes against the limit
// and checking sizes and CRCs. With an extractor it writes directories, then
// files, then symlinks, last, so that no write ever goes through one;
// without one it discards the data. It returns the total uncompressed size.
func (p *pkg) unpack(x *extractor) (int64, error) {
	if x != nil {
		for _, dir := range p.dirs {
			if err := x.mkdir(dir); err != nil {
				return 0, err
			}
		}
	}
	for i := range p.entries {
		e := &p.entries[i]
		if e.kind != kindFile {
			continue
		}
		var err error
		if x == nil {
			err = p.d.copy(e, io.Discard)
		} else {
			err = x.writeFile(e, &p.d)
		}
		if err != nil {
			return 0, err
		}
	}
	if x != nil {
		for _, e := range p.entries {
			if e.kind == kindSymlink {
				if err := x.symlink(e.target, e.name); err != nil {
					return 0, err
				}
			}
		}
	}
	return p.d.total, nil
}

// decompressor reads entry data itself rather than through zip.File.Open so
// that a header that lies about the size cannot hide how much an entry really
// inflates to: it counts actual bytes against the budget, then checks them
// against the header's size and CRC-32.
type decompressor struct {
	budget int64 // MaxUnzipped
	total  int64 // actual bytes produced so far
	fr     io.ReadCloser
	buf    []byte
}

// copy decompresses e into w. Errors from w are returned unwrapped.
func (d *decompressor) copy(e *entry, w io.Writer) error {
	raw, err := e.f.OpenRaw()
	if err != nil {
		return fmt.Errorf("%w: %q: %v", ErrCorrupt, e.f.Name, err)
	}
	var r io.Reader
	switch e.f.Method {
	case zip.Store:
		r = raw
	case zip.Deflate:
		if d.fr == nil {
			d.fr = flate.NewReader(raw)
		} else if err := d.fr.(flate.Resetter).Reset(raw, nil); err != nil {
			return fmt.Errorf("%w: %q: %v", ErrCorrupt, e.f.Name, err)
		}
		r = d.fr
	default:
		return fmt.Errorf("%w: %q: unsupported compression method %d", ErrCorrupt, e.f.Name, e.f.Method)
	}
	if d.buf == nil {
		d.buf = make([]byte, 32<<10)
	}
	crc := crc32.NewIEEE()
	var n int64
	for {
		k, rerr := r.Read(d.buf)
		if k > 0 {
			n += int64(k)
			if d.total+n > d.budget {
				return fmt.Errorf("%w: unzipped size exceeds %d bytes (at %q)", ErrTooLarge, d.budget, e.f.Name)
			}
			crc.Write(d.buf[:k])
			if _, err := w.Write(d.buf[:k]); err != nil {
				return err
			}
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			return fmt.Errorf("%w: %q: %v", ErrCorrupt, e.f.Name, rerr)
		}
	}
	d.total += n
	if uint64(n) != e.f.UncompressedSize64 {
		return fmt.Errorf("%w: %q: %d bytes, header says %d", ErrCorrupt, e.f.Name, n, e.f.UncompressedSize64)
	}
	if got := crc.Sum32(); got != e.f.CRC32 {
		return fmt.Errorf("%w: %q: %v", ErrCorrupt, e.f.Name, zip.ErrChecksum)
	}
	return nil
}

// linkBuffer collects a symlink target, refusing absurd lengths without
// buffering them.
type linkBuffer struct{ bytes.Buffer }

func (b *linkBuffer) Write(p []byte) (int, error) {
	if b.Len()+len(p) > maxLinkTarget {
		return 0, fmt.Errorf("%w: symlink target longer than %d bytes", ErrUnsafe, maxLinkTarget)
	}
	return b.Buffer.Write(p)
}

// IsInvalid reports whether err says a zip itself is bad (corrupt, too large, unsafe), as
// opposed to a failure to read or write it.
func IsInvalid(err error) bool {
	return errors.Is(err, ErrCorrupt) || errors.Is(err, ErrTooLarge) || errors.Is(err, ErrUnsafe)
}
