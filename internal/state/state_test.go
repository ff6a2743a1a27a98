package state

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// backend opens a Store; every backend passes the same tests.
type backend struct {
	name string
	// open returns a Store whose data survives Close: opening again gives the same state.
	open func(t *testing.T, o Options) *Store
}

// backends are the embedded server (the default) and an external NATS server reached by
// URL (the seam cluster mode uses), both holding their data in a per-test directory.
func backends(t *testing.T) []backend {
	return []backend{
		{"embedded", openEmbedded(t.TempDir())},
		{"external", openExternal(t, t.TempDir())},
	}
}

func openEmbedded(dir string) func(*testing.T, Options) *Store {
	return func(t *testing.T, o Options) *Store {
		t.Helper()
		o.DataDir = dir
		return mustOpen(t, o)
	}
}

// openExternal runs a NATS server with JetStream on a loopback port for the test and points
// Open at it with Options.URL.
func openExternal(t *testing.T, dir string) func(*testing.T, Options) *Store {
	srv, err := server.NewServer(&server.Options{
		Host: "127.0.0.1", Port: server.RANDOM_PORT, JetStream: true, StoreDir: dir,
		NoSigs: true, NoLog: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	srv.Start()
	if !srv.ReadyForConnections(10 * time.Second) {
		t.Fatal("external nats not ready")
	}
	t.Cleanup(srv.Shutdown)
	return func(t *testing.T, o Options) *Store {
		t.Helper()
		o.URL = srv.ClientURL()
		return mustOpen(t, o)
	}
}

func mustOpen(t *testing.T, o Options) *Store {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := Open(ctx, o)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(s.Close) // Close is idempotent: tests may close first
	return s
}

// forEachBackend runs fn as a subtest against every backend.
func forEachBackend(t *testing.T, fn func(t *testing.T, open func(*testing.T, Options) *Store)) {
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) { fn(t, b.open) })
	}
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestBucket(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(*testing.T, Options) *Store) {
		ctx := ctxT(t)
		b := open(t, Options{}).Functions

		if got, err := b.List(ctx); err != nil || len(got) != 0 {
			t.Fatalf("List of an empty bucket = %v, %v; want none", got, err)
		}
		if _, err := b.Get(ctx, "hello"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("Get missing = %v, want ErrNotFound", err)
		}
		rev1, err := b.Create(ctx, "hello", []byte("v1"))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := b.Create(ctx, "hello", []byte("again")); !errors.Is(err, ErrExists) {
			t.Fatalf("second Create = %v, want ErrExists", err)
		}
		rev2, err := b.Update(ctx, "hello", []byte("v2"), rev1)
		if err != nil {
			t.Fatal(err)
		}
		if rev2 <= rev1 {
			t.Errorf("revision went from %d to %d; want it to grow", rev1, rev2)
		}
		if _, err := b.Update(ctx, "hello", []byte("stale"), rev1); !errors.Is(err, ErrConflict) {
			t.Fatalf("Update at a stale revision = %v, want ErrConflict", err)
		}
		got, err := b.Get(ctx, "hello")
		if err != nil || string(got.Value) != "v2" || got.Revision != rev2 {
			t.Fatalf("Get = %+v, %v; want v2 at %d", got, err, rev2)
		}
		if _, err := b.Create(ctx, "abc", []byte("a")); err != nil {
			t.Fatal(err)
		}
		list, err := b.List(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if keys := entryKeys(list); keys != "abc,hello" {
			t.Errorf("List keys = %s, want abc,hello (ordered)", keys)
		}
		if err := b.Delete(ctx, "hello", rev1); !errors.Is(err, ErrConflict) {
			t.Fatalf("Delete at a stale revision = %v, want ErrConflict", err)
		}
		if err := b.Delete(ctx, "hello", rev2); err != nil {
			t.Fatal(err)
		}
		if _, err := b.Get(ctx, "hello"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("Get after Delete = %v, want ErrNotFound", err)
		}
		if err := b.Delete(ctx, "abc", 0); err != nil {
			t.Fatalf("unconditional Delete: %v", err)
		}
		if got, err := b.List(ctx); err != nil || len(got) != 0 {
			t.Fatalf("List after deleting everything = %v, %v; want none", got, err)
		}
		// A deleted key can be created again.
		if _, err := b.Create(ctx, "hello", []byte("v3")); err != nil {
			t.Fatalf("Create after Delete: %v", err)
		}
	})
}

func TestBucketListFiltered(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(*testing.T, Options) *Store) {
		ctx := ctxT(t)
		b := open(t, Options{}).Layers
		if got, err := b.List(ctx, "a.*"); err != nil || len(got) != 0 {
			t.Fatalf("filtered List of an empty bucket = %v, %v; want none", got, err)
		}
		for _, k := range []string{"a", "a.1", "a.2", "ab.1", "b.1"} {
			if _, err := b.Create(ctx, k, []byte(k)); err != nil {
				t.Fatal(err)
			}
		}
		for _, tt := range []struct {
			filters []string
			want    string
		}{
			{[]string{"a.*"}, "a.1,a.2"},
			{[]string{"*.*"}, "a.1,a.2,ab.1,b.1"},
			{[]string{"a.*", "b.*"}, "a.1,a.2,b.1"},
			{[]string{"c.*"}, ""},
			{nil, "a,a.1,a.2,ab.1,b.1"},
		} {
			got, err := b.List(ctx, tt.filters...)
			if err != nil || entryKeys(got) != tt.want {
				t.Errorf("List(%q) = %s, %v; want %s", tt.filters, entryKeys(got), err, tt.want)
			}
		}
	})
}

func entryKeys(es []Entry) string {
	var keys []string
	for _, e := range es {
		keys = append(keys, e.Key)
	}
	return strings.Join(keys, ",")
}

func TestBucketWatch(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(*testing.T, Options) *Store) {
		ctx := ctxT(t)
		b := open(t, Options{}).Functions
		if _, err := b.Create(ctx, "before", []byte("1")); err != nil {
			t.Fatal(err)
		}
		events := make(chan Entry, 16)
		ready := make(chan struct{})
		wctx, stop := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- b.Watch(wctx, func(e Entry) { events <- e }, ready) }()
		select {
		case <-ready:
		case <-ctx.Done():
			t.Fatal("Watch never became ready")
		}
		next := func() Entry {
			t.Helper()
			select {
			case e := <-events:
				return e
			case <-ctx.Done():
				t.Fatal("no watch event")
			}
			return Entry{}
		}
		if e := next(); e.Key != "before" || string(e.Value) != "1" {
			t.Errorf("first event = %+v, want the current entry", e)
		}
		rev, err := b.Create(ctx, "after", []byte("2"))
		if err != nil {
			t.Fatal(err)
		}
		if e := next(); e.Key != "after" || string(e.Value) != "2" || e.Revision != rev {
			t.Errorf("event = %+v, want after=2 at %d", e, rev)
		}
		if err := b.Delete(ctx, "after", 0); err != nil {
			t.Fatal(err)
		}
		if e := next(); e.Key != "after" || e.Value != nil {
			t.Errorf("event = %+v, want a deletion of after (nil Value)", e)
		}
		stop()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Errorf("Watch returned %v, want context.Canceled", err)
		}
	})
}

func TestBlobs(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(*testing.T, Options) *Store) {
		ctx := ctxT(t)
		blobs := open(t, Options{}).Code
		big := make([]byte, 3<<20+17) // several object store chunks
		rand.Read(big)
		for _, data := range [][]byte{[]byte("small"), big} {
			digest := fmt.Sprintf("blob%d", len(data))
			if err := blobs.Put(ctx, digest, data); err != nil {
				t.Fatal(err)
			}
			if err := blobs.Put(ctx, digest, data); err != nil {
				t.Fatalf("Put of an existing digest: %v", err)
			}
			got, err := blobs.Get(ctx, digest)
			if err != nil || !bytes.Equal(got, data) {
				t.Fatalf("Get %s: %d bytes, %v; want the %d bytes put", digest, len(got), err, len(data))
			}
			if err := blobs.Delete(ctx, digest); err != nil {
				t.Fatal(err)
			}
			if _, err := blobs.Get(ctx, digest); !errors.Is(err, ErrNotFound) {
				t.Fatalf("Get after Delete = %v, want ErrNotFound", err)
			}
			if err := blobs.Delete(ctx, digest); err != nil {
				t.Fatalf("Delete of a missing digest = %v, want nil", err)
			}
			// A deleted digest can be stored again (code re-uploaded after a delete).
			if err := blobs.Put(ctx, digest, data); err != nil {
				t.Fatalf("Put after Delete: %v", err)
			}
			if got, err := blobs.Get(ctx, digest); err != nil || !bytes.Equal(got, data) {
				t.Fatalf("Get after re-Put: %d bytes, %v", len(got), err)
			}
		}
	})
}

// consume runs q.Consume in the background and hands deliveries to the test.
func consume(t *testing.T, q *Queue) <-chan Delivery {
	ctx, cancel := context.WithCancel(t.Context())
	out := make(chan Delivery, 64)
	done := make(chan error, 1)
	go func() {
		done <- q.Consume(ctx, 4, func(_ context.Context, d Delivery) { out <- d })
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Errorf("Consume returned %v, want context.Canceled", err)
		}
	})
	return out
}

func next(t *testing.T, ds <-chan Delivery) Delivery {
	t.Helper()
	select {
	case d := <-ds:
		return d
	case <-time.After(20 * time.Second):
		t.Fatal("no delivery within 20s")
	}
	return Delivery{}
}

func TestQueue(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(*testing.T, Options) *Store) {
		ctx := ctxT(t)
		q := open(t, Options{AsyncAckWait: 500 * time.Millisecond}).Async
		if q.AckWait() != 500*time.Millisecond {
			t.Errorf("AckWait = %v", q.AckWait())
		}
		for _, id := range []string{"ack", "retry", "ack"} { // the second "ack" is a duplicate
			if err := q.Publish(ctx, "fn", id, []byte(id)); err != nil {
				t.Fatal(err)
			}
		}
		ds := consume(t, q)
		seen := map[string]Delivery{}
		for range 2 {
			d := next(t, ds)
			if d.Attempt != 1 {
				t.Errorf("%s: first delivery has Attempt %d", d.Data, d.Attempt)
			}
			seen[string(d.Data)] = d
		}
		if len(seen) != 2 {
			t.Fatalf("deliveries %v, want ack and retry once each", seen)
		}
		if err := seen["ack"].Ack(); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		if err := seen["retry"].Retry(100 * time.Millisecond); err != nil {
			t.Fatal(err)
		}
		d := next(t, ds)
		if string(d.Data) != "retry" || d.Attempt != 2 {
			t.Fatalf("redelivery %q attempt %d, want retry attempt 2", d.Data, d.Attempt)
		}
		if waited := time.Since(start); waited < 100*time.Millisecond {
			t.Errorf("redelivered after %v, before the 100ms delay", waited)
		}
		// Not acknowledged within AckWait: delivered again. InProgress first holds it.
		if err := d.InProgress(); err != nil {
			t.Fatal(err)
		}
		d = next(t, ds)
		if string(d.Data) != "retry" || d.Attempt != 3 {
			t.Fatalf("after ack wait: %q attempt %d, want retry attempt 3", d.Data, d.Attempt)
		}
		if err := d.Ack(); err != nil {
			t.Fatal(err)
		}
		select {
		case d := <-ds:
			t.Fatalf("unexpected delivery %q attempt %d after everything was acknowledged", d.Data, d.Attempt)
		case <-time.After(2 * q.AckWait()):
		}
	})
}

// TestQueueBusyHandlers checks that a message waiting for a free handler is not delivered twice
// when the wait is longer than AckWait.
func TestQueueBusyHandlers(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(*testing.T, Options) *Store) {
		ctx, cancel := context.WithCancel(ctxT(t))
		q := open(t, Options{AsyncAckWait: 200 * time.Millisecond}).Async
		for _, id := range []string{"first", "second"} {
			if err := q.Publish(ctx, "fn", id, []byte(id)); err != nil {
				t.Fatal(err)
			}
		}
		got := make(chan Delivery, 8)
		done := make(chan error, 1)
		go func() {
			done <- q.Consume(ctx, 1, func(_ context.Context, d Delivery) {
				if string(d.Data) == "first" {
					// Busy for several AckWaits, holding this delivery with progress acks.
					for range 6 {
						d.InProgress()
						time.Sleep(q.AckWait() / 2)
					}
				}
				d.Ack()
				got <- d
			})
		}()
		for _, want := range []string{"first", "second"} {
			d := next(t, got)
			if string(d.Data) != want || d.Attempt != 1 {
				t.Errorf("delivery %q attempt %d, want %q attempt 1", d.Data, d.Attempt, want)
			}
		}
		select {
		case d := <-got:
			t.Errorf("delivered again: %q attempt %d", d.Data, d.Attempt)
		case <-time.After(3 * q.AckWait()):
		}
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Errorf("Consume returned %v", err)
		}
	})
}

func TestLogs(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(*testing.T, Options) *Store) {
		ctx := ctxT(t)
		logs := open(t, Options{}).Logs
		if got, err := logs.Read(ctx, "nothing"); err != nil || len(got) != 0 {
			t.Fatalf("Read of a function without logs = %d records, %v", len(got), err)
		}
		var want []string
		for i := range 300 { // more than one fetch
			env := []string{"env1", "env2"}[i%2]
			text := fmt.Sprintf("line %d\n", i)
			if err := logs.Append("fn", env, "stream-"+env, []byte(text)); err != nil {
				t.Fatal(err)
			}
			logs.flush() // one record per append: Read must page through them
			want = append(want, "stream-"+env+" "+text)
		}
		if err := logs.Append("fn2", "env1", "other", []byte("not fn's\n")); err != nil {
			t.Fatal(err)
		}
		got, err := logs.Read(ctx, "fn")
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(want) {
			t.Fatalf("Read returned %d records, want %d", len(got), len(want))
		}
		for i, r := range got {
			if s := r.Stream + " " + string(r.Text); s != want[i] {
				t.Fatalf("record %d = %q, want %q", i, s, want[i])
			}
			if r.Time.IsZero() || time.Since(r.Time) > time.Minute {
				t.Fatalf("record %d has time %v", i, r.Time)
			}
		}
	})
}

// TestLogsBatch checks that appends close together are stored as one record per environment,
// in order, and that Read sees them without waiting for the batch delay.
func TestLogsBatch(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(*testing.T, Options) *Store) {
		logs := open(t, Options{}).Logs
		want := map[string]string{}
		for i := range 50 {
			env := []string{"a", "b"}[i%2]
			text := fmt.Sprintf("line %d\n", i)
			if err := logs.Append("fn", env, "stream-"+env, []byte(text)); err != nil {
				t.Fatal(err)
			}
			want["stream-"+env] += text
		}
		got, err := logs.Read(ctxT(t), "fn")
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 2 {
			t.Fatalf("%d records for two environments' batches, want 2", len(got))
		}
		for _, r := range got {
			if string(r.Text) != want[r.Stream] {
				t.Errorf("stream %s = %q, want %q", r.Stream, r.Text, want[r.Stream])
			}
		}
	})
}

// TestReopen stores one of everything, closes the store and checks a new one sees it all.
func TestReopen(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(*testing.T, Options) *Store) {
		ctx := ctxT(t)
		s := open(t, Options{AsyncAckWait: time.Second})
		rev, err := s.Functions.Create(ctx, "fn", []byte("config"))
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Code.Put(ctx, "digest", []byte("zip")); err != nil {
			t.Fatal(err)
		}
		if err := s.Async.Publish(ctx, "fn", "queued", []byte("queued")); err != nil {
			t.Fatal(err)
		}
		if err := s.Async.Publish(ctx, "fn", "inflight", []byte("inflight")); err != nil {
			t.Fatal(err)
		}
		if err := s.Logs.Append("fn", "env", "stream", []byte("log line\n")); err != nil {
			t.Fatal(err)
		}
		// Take one invocation without acknowledging it, as a server killed mid-invoke would.
		cctx, cancel := context.WithCancel(ctx)
		got := make(chan Delivery, 2)
		go s.Async.Consume(cctx, 1, func(_ context.Context, d Delivery) { got <- d })
		first := next(t, got)
		cancel()
		s.Close()

		s = open(t, Options{AsyncAckWait: time.Second})
		if e, err := s.Functions.Get(ctx, "fn"); err != nil || string(e.Value) != "config" || e.Revision != rev {
			t.Errorf("after reopen Get = %+v, %v", e, err)
		}
		if data, err := s.Code.Get(ctx, "digest"); err != nil || string(data) != "zip" {
			t.Errorf("after reopen code = %q, %v", data, err)
		}
		if recs, err := s.Logs.Read(ctx, "fn"); err != nil || len(recs) != 1 || string(recs[0].Text) != "log line\n" {
			t.Errorf("after reopen logs = %+v, %v", recs, err)
		}
		ds := consume(t, s.Async)
		left := map[string]bool{"queued": true, "inflight": true}
		for len(left) > 0 {
			d := next(t, ds)
			if string(d.Data) == string(first.Data) && d.Attempt < 2 {
				t.Errorf("%s redelivered with Attempt %d, want at least 2", d.Data, d.Attempt)
			}
			delete(left, string(d.Data))
			if err := d.Ack(); err != nil {
				t.Fatal(err)
			}
		}
	})
}

// TestEmbeddedListensNowhere checks that the embedded NATS server opens no TCP port: its only
// clients are in this process.
func TestEmbeddedListensNowhere(t *testing.T) {
	before := listeningSockets(t)
	s := mustOpen(t, Options{DataDir: t.TempDir()})
	if s.srv == nil {
		t.Fatal("no embedded server")
	}
	if addr := s.srv.Addr(); addr != nil {
		t.Errorf("embedded NATS listens for clients at %v", addr)
	}
	if after := listeningSockets(t); len(after) != len(before) {
		t.Errorf("listening TCP sockets of this process: %d before Open, %d after", len(before), len(after))
	}
	if _, err := s.Functions.Create(ctxT(t), "works", []byte("1")); err != nil {
		t.Fatalf("in-process connection: %v", err)
	}
	// The check itself sees a listener when there is one.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if got := listeningSockets(t); len(got) != len(before)+1 {
		t.Errorf("listeningSockets missed a listener: %d sockets with one open, %d before", len(got), len(before))
	}
}

// listeningSockets returns the inodes of this process's TCP sockets in the LISTEN state.
func listeningSockets(t *testing.T) []string {
	t.Helper()
	listening := map[string]bool{}
	for _, f := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		file, err := os.Open(f)
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				continue
			}
			t.Fatal(err)
		}
		sc := bufio.NewScanner(file)
		for sc.Scan() {
			fields := strings.Fields(sc.Text())
			if len(fields) > 9 && fields[3] == "0A" { // TCP_LISTEN
				listening[fields[9]] = true
			}
		}
		file.Close()
	}
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("no /proc/self/fd: %v", err)
	}
	var out []string
	for _, fd := range fds {
		target, err := os.Readlink(filepath.Join("/proc/self/fd", fd.Name()))
		if err != nil {
			continue
		}
		if inode, ok := strings.CutPrefix(target, "socket:["); ok && listening[strings.TrimSuffix(inode, "]")] {
			out = append(out, inode)
		}
	}
	return out
}
