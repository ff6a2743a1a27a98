package code

import (
	"archive/zip"
	"bytes"
	"compress/flate"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"hash/crc32"
	"io/fs"
	"strings"
	"testing"
)

// ent is an entry for zipOf. A zero mode writes no Unix mode, as Windows
// tools do; otherwise the header carries mode and says it was made on Unix.
type ent struct {
	name string
	body string
	mode fs.FileMode
}

func zipOf(t testing.TB, ents ...ent) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := zip.NewWriter(&buf)
	for _, e := range ents {
		h := &zip.FileHeader{Name: e.name, Method: zip.Deflate}
		if e.mode != 0 {
			h.SetMode(e.mode)
		}
		fw, err := w.CreateHeader(h)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := fw.Write([]byte(e.body)); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// rawZip writes one entry whose header is taken as given: sizes and CRC may lie.
func rawZip(t testing.TB, h zip.FileHeader, data []byte) []byte {
	t.Helper()
	body := data
	if h.Method == zip.Deflate {
		var comp bytes.Buffer
		fw, err := flate.NewWriter(&comp, flate.BestCompression)
		if err != nil {
			t.Fatal(err)
		}
		fw.Write(data)
		fw.Close()
		body = comp.Bytes()
	}
	h.CompressedSize64 = uint64(len(body))
	var buf bytes.Buffer
	w := zip.NewWriter(&buf)
	rw, err := w.CreateRaw(&h)
	if err != nil {
		t.Fatal(err)
	}
	rw.Write(body)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// zipCase is a deployment package and what should become of it. want is the
// extracted tree (see tree) when err is nil.
type zipCase struct {
	name string
	zip  []byte
	lim  Limits
	err  error
	want map[string]string
}

// small keeps the bombs, and so the fuzzer's seeds, small.
var small = Limits{MaxZipped: 64 << 10, MaxUnzipped: 64 << 10}

func zipCases(t testing.TB) []zipCase {
	zeros := make([]byte, 256<<10) // deflates to a few hundred bytes
	valid := zipOf(t, ent{"bootstrap", "#!/bin/sh\n", 0o755}, ent{"a/b/c.txt", "c", 0o644})
	return []zipCase{
		{name: "normal", zip: zipOf(t,
			ent{"bootstrap", "#!/bin/sh\necho hi\n", 0o755},
			ent{"lib/", "", fs.ModeDir | 0o700},
			ent{"lib/handler.py", "def h(e, c): pass\n", 0o600},
			ent{"lib/deep/er/x.so", "ELF", 0o777},
			ent{"owner-only", "", 0o700},
			ent{"setuid", "", fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky | 0o775},
		), want: map[string]string{
			".":                "dir 0755",
			"bootstrap":        "file 0755 #!/bin/sh\necho hi\n",
			"lib":              "dir 0755",
			"lib/handler.py":   "file 0644 def h(e, c): pass\n",
			"lib/deep":         "dir 0755",
			"lib/deep/er":      "dir 0755",
			"lib/deep/er/x.so": "file 0755 ELF",
			"owner-only":       "file 0744 ",
			"setuid":           "file 0755 ",
		}},
		{name: "windows", zip: zipOf(t,
			ent{"index.js", "exports.handler = 1", 0},
			ent{"lib\\util.js", "u", 0},
			ent{"empty/", "", 0},
		), want: map[string]string{
			".":           "dir 0755",
			"index.js":    "file 0644 exports.handler = 1",
			"lib":         "dir 0755",
			"lib/util.js": "file 0644 u",
			"empty":       "dir 0755",
		}},
		{name: "odd but inside", zip: zipOf(t,
			ent{"a/../b", "b", 0o644}, ent{"./c", "c", 0o644}, ent{"x//y", "y", 0o644}, ent{"./", "", fs.ModeDir | 0o755},
		), want: map[string]string{
			".": "dir 0755", "b": "file 0644 b", "c": "file 0644 c", "x": "dir 0755", "x/y": "file 0644 y",
		}},
		{name: "symlinks inside", zip: zipOf(t,
			ent{"lib/libfoo.so.1", "so", 0o755},
			ent{"lib/libfoo.so", "libfoo.so.1", fs.ModeSymlink | 0o777},
			ent{"lib/up", "../lib/./libfoo.so.1", fs.ModeSymlink | 0o777},
			ent{"current", "lib", fs.ModeSymlink | 0o777},
			ent{"again", "current", fs.ModeSymlink | 0o777},
			ent{"self", ".", fs.ModeSymlink | 0o777},
		), want: map[string]string{
			".":               "dir 0755",
			"lib":             "dir 0755",
			"lib/libfoo.so.1": "file 0755 so",
			"lib/libfoo.so":   "link libfoo.so.1",
			"lib/up":          "link ../lib/./libfoo.so.1",
			"current":         "link lib",
			"again":           "link current",
			"self":            "link .",
		}},
		{name: "empty zip", zip: zipOf(t), want: map[string]string{".": "dir 0755"}},

		{name: "dotdot", zip: zipOf(t, ent{"../evil", "x", 0o644}), err: ErrUnsafe},
		{name: "dotdot deep", zip: zipOf(t, ent{"a/../../evil", "x", 0o644}), err: ErrUnsafe},
		{name: "absolute", zip: zipOf(t, ent{"/abs", "x", 0o644}), err: ErrUnsafe},
		{name: "backslash dotdot", zip: zipOf(t, ent{"..\\evil", "x", 0}), err: ErrUnsafe},
		{name: "backslash absolute", zip: zipOf(t, ent{"\\abs", "x", 0}), err: ErrUnsafe},
		{name: "nul", zip: zipOf(t, ent{"a\x00b", "x", 0o644}), err: ErrUnsafe},
		{name: "empty name", zip: zipOf(t, ent{"", "x", 0o644}), err: ErrUnsafe},
		{name: "dot file", zip: zipOf(t, ent{".", "x", 0o644}), err: ErrUnsafe},
		{name: "symlink escaping", zip: zipOf(t, ent{"link", "../../etc/passwd", fs.ModeSymlink | 0o777}), err: ErrUnsafe},
		{name: "symlink absolute", zip: zipOf(t, ent{"link", "/etc/passwd", fs.ModeSymlink | 0o777}), err: ErrUnsafe},
		{name: "symlink up from subdir", zip: zipOf(t, ent{"a/link", "../..", fs.ModeSymlink | 0o777}), err: ErrUnsafe},
		{name: "symlink through symlink", zip: zipOf(t,
			ent{"s", ".", fs.ModeSymlink | 0o777}, ent{"e", "s/..", fs.ModeSymlink | 0o777}), err: ErrUnsafe},
		{name: "symlink empty target", zip: zipOf(t, ent{"link", "", fs.ModeSymlink | 0o777}), err: ErrUnsafe},
		{name: "symlink huge target", zip: zipOf(t, ent{"link", strings.Repeat("a/", 3000), fs.ModeSymlink | 0o777}), err: ErrUnsafe},
		{name: "write through inside symlink", zip: zipOf(t,
			ent{"sub/", "", fs.ModeDir | 0o755}, ent{"l", "sub", fs.ModeSymlink | 0o777}, ent{"l/x", "x", 0o644}), err: ErrUnsafe},
		{name: "write through escaping symlink", zip: zipOf(t,
			ent{"l", "..", fs.ModeSymlink | 0o777}, ent{"l/evil", "x", 0o644}), err: ErrUnsafe},
		{name: "block device", zip: zipOf(t, ent{"dev", "", fs.ModeDevice | 0o644}), err: ErrUnsafe},
		{name: "char device", zip: zipOf(t, ent{"dev", "", fs.ModeDevice | fs.ModeCharDevice | 0o644}), err: ErrUnsafe},
		{name: "fifo", zip: zipOf(t, ent{"fifo", "", fs.ModeNamedPipe | 0o644}), err: ErrUnsafe},
		{name: "socket", zip: zipOf(t, ent{"sock", "", fs.ModeSocket | 0o644}), err: ErrUnsafe},
		{name: "duplicate", zip: zipOf(t, ent{"a", "1", 0o644}, ent{"a", "2", 0o644}), err: ErrUnsafe},
		{name: "duplicate after cleaning", zip: zipOf(t, ent{"a", "1", 0o644}, ent{"./a", "2", 0o644}), err: ErrUnsafe},
		{name: "file and dir", zip: zipOf(t, ent{"d/", "", 0}, ent{"d", "x", 0}), err: ErrUnsafe},
		{name: "file as parent", zip: zipOf(t, ent{"f", "x", 0o644}, ent{"f/g", "y", 0o644}), err: ErrUnsafe},

		{name: "zipped too large", zip: valid, lim: Limits{MaxZipped: int64(len(valid)) - 1}, err: ErrTooLarge},
		{name: "unzipped too large", zip: zipOf(t, ent{"big", string(zeros), 0o644}), lim: small, err: ErrTooLarge},
		{name: "many files too large", zip: zipOf(t,
			ent{"1", string(zeros[:40<<10]), 0o644}, ent{"2", string(zeros[:40<<10]), 0o644}), lim: small, err: ErrTooLarge},
		{name: "bomb with lying header", zip: rawZip(t, zip.FileHeader{Name: "bomb", Method: zip.Deflate,
			CRC32: crc32.ChecksumIEEE(zeros), UncompressedSize64: 10}, zeros), lim: small, err: ErrTooLarge},
		{name: "declared size overflows", zip: rawZip(t, zip.FileHeader{Name: "x", Method: zip.Store,
			UncompressedSize64: 1<<64 - 1}, []byte("x")), err: ErrTooLarge},
		{name: "header size too small", zip: rawZip(t, zip.FileHeader{Name: "x", Method: zip.Deflate,
			CRC32: crc32.ChecksumIEEE(zeros[:1000]), UncompressedSize64: 10}, zeros[:1000]), err: ErrCorrupt},
		{name: "header size too large", zip: rawZip(t, zip.FileHeader{Name: "x", Method: zip.Deflate,
			CRC32: crc32.ChecksumIEEE(zeros[:1000]), UncompressedSize64: 5000}, zeros[:1000]), err: ErrCorrupt},
		{name: "bad crc", zip: rawZip(t, zip.FileHeader{Name: "x", Method: zip.Store,
			CRC32: 12345, UncompressedSize64: 5}, []byte("hello")), err: ErrCorrupt},
		{name: "unsupported method", zip: rawZip(t, zip.FileHeader{Name: "x", Method: 12,
			UncompressedSize64: 5}, []byte("hello")), err: ErrCorrupt},
		{name: "directory with data", zip: rawZip(t, zip.FileHeader{Name: "d/", Method: zip.Store,
			CRC32: crc32.ChecksumIEEE([]byte("hello")), UncompressedSize64: 5}, []byte("hello")), err: ErrCorrupt},
		{name: "not a zip", zip: []byte("this is not a zip file"), err: ErrCorrupt},
		{name: "no bytes", zip: nil, err: ErrCorrupt},
		{name: "truncated end", zip: valid[:len(valid)-10], err: ErrCorrupt},
		{name: "truncated half", zip: valid[:len(valid)/2], err: ErrCorrupt},
		{name: "corrupt deflate", zip: corruptData(valid), err: ErrCorrupt},
	}
}

// corruptData returns z with the first bytes of its first entry's data
// flipped, leaving the headers intact.
func corruptData(z []byte) []byte {
	c := bytes.Clone(z)
	// The data starts after the 30-byte local header, the name and the extra field.
	nameLen := int(c[26]) | int(c[27])<<8
	extraLen := int(c[28]) | int(c[29])<<8
	start := 30 + nameLen + extraLen
	for i := start; i < start+4 && i < len(c); i++ {
		c[i] ^= 0xff
	}
	return c
}

func TestInspect(t *testing.T) {
	for _, tc := range zipCases(t) {
		t.Run(tc.name, func(t *testing.T) {
			info, err := Inspect(tc.zip, tc.lim)
			if !errors.Is(err, tc.err) || (err != nil) != (tc.err != nil) {
				t.Fatalf("Inspect: got error %v, want %v", err, tc.err)
			}
			if err != nil {
				if info != (Info{}) {
					t.Errorf("Inspect failed but returned %+v", info)
				}
				return
			}
			sum := sha256.Sum256(tc.zip)
			want := Info{
				Sha256:       base64.StdEncoding.EncodeToString(sum[:]),
				Digest:       hex.EncodeToString(sum[:]),
				Size:         int64(len(tc.zip)),
				UnzippedSize: treeSize(tc.want),
			}
			if info != want {
				t.Errorf("Inspect: got %+v, want %+v", info, want)
			}
		})
	}
}

// treeSize is the unzipped size of a tree as written by tree: file contents
// and link targets.
func treeSize(tree map[string]string) int64 {
	var n int64
	for _, v := range tree {
		switch kind, rest, _ := strings.Cut(v, " "); kind {
		case "file":
			n += int64(len(rest) - len("0644 "))
		case "link":
			n += int64(len(rest))
		}
	}
	return n
}
