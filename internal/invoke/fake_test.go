package invoke

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lambent/lambent/internal/function"
	"github.com/lambent/lambent/internal/sandbox"
)

// guard bounds every wait of these tests, so that a bug fails a test instead of hanging it.
const guard = 20 * time.Second

// fakeDriver runs each sandbox as a goroutine that plays the runtime: behave talks to the
// sandbox's Runtime API in process, and the sandbox exits when behave returns.
type fakeDriver struct {
	behave   func(rt *fakeRuntime) error
	startErr error

	mu      sync.Mutex
	started []*fakeSandbox
}

func (*fakeDriver) Name() string { return "fake" }

func (d *fakeDriver) Start(ctx context.Context, spec sandbox.Spec) (sandbox.Sandbox, error) {
	if d.startErr != nil {
		return nil, d.startErr
	}
	rctx, cancel := context.WithCancel(context.Background())
	d.mu.Lock()
	sb := &fakeSandbox{n: len(d.started) + 1, done: make(chan struct{}), killed: make(chan struct{}), cancel: cancel}
	d.started = append(d.started, sb)
	d.mu.Unlock()
	rt := &fakeRuntime{ctx: rctx, spec: spec, sb: sb}
	go func() {
		err := d.behave(rt)
		sb.mu.Lock()
		sb.err = err
		sb.mu.Unlock()
		close(sb.done)
	}()
	return sb, nil
}

// sandboxes returns how many sandboxes have been started.
func (d *fakeDriver) sandboxes() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.started)
}

func (d *fakeDriver) sandbox(i int) *fakeSandbox {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.started[i]
}

type fakeSandbox struct {
	n      int // 1 for the first sandbox started
	done   chan struct{}
	killed chan struct{}
	cancel context.CancelFunc
	once   sync.Once

	mu  sync.Mutex
	err error
}

func (s *fakeSandbox) Done() <-chan struct{} { return s.done }

func (s *fakeSandbox) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

func (s *fakeSandbox) Kill() error {
	s.once.Do(func() {
		s.cancel()
		<-s.done
		close(s.killed)
	})
	return nil
}

func (s *fakeSandbox) MaxMemoryBytes() int64 { return 9<<20 + 1 }

// exitStatus is what a fake runtime returns to exit like a process with that status.
type exitStatus int

func (e exitStatus) Error() string { return fmt.Sprintf("exit status %d", int(e)) }

// fakeRuntime is the runtime side of one fake sandbox.
type fakeRuntime struct {
	ctx  context.Context
	spec sandbox.Spec
	sb   *fakeSandbox
}

// invocation is what invocation/next handed out.
type invocation struct {
	id      string
	payload []byte
	header  http.Header
}

// next long-polls invocation/next; ok is false once the sandbox is killed.
func (rt *fakeRuntime) next() (inv invocation, ok bool) {
	w := rt.call("GET", "invocation/next", nil)
	if w.Code != http.StatusOK || w.Header().Get("Lambda-Runtime-Aws-Request-Id") == "" {
		return inv, false // refused, or killed while waiting
	}
	return invocation{w.Header().Get("Lambda-Runtime-Aws-Request-Id"), w.Body.Bytes(), w.Header()}, true
}

func (rt *fakeRuntime) respond(id string, body []byte) int {
	return rt.call("POST", "invocation/"+id+"/response", body).Code
}

func (rt *fakeRuntime) call(method, path string, body []byte) *httptest.ResponseRecorder {
	r := httptest.NewRequestWithContext(rt.ctx, method, "/2018-06-01/runtime/"+path, bytes.NewReader(body))
	w := httptest.NewRecorder()
	rt.spec.RuntimeAPI.ServeHTTP(w, r)
	return w
}

// print writes to the sandbox's output, as the function's stdout.
func (rt *fakeRuntime) print(s string) { rt.spec.Output.WriteString(s + "\n") }

// echo serves every invocation with its payload until killed.
func echo(rt *fakeRuntime) error {
	for {
		inv, ok := rt.next()
		if !ok {
			return errors.New("signal: killed")
		}
		rt.respond(inv.id, inv.payload)
	}
}

// memSink keeps stored logs.
type memSink struct {
	mu   sync.Mutex
	text strings.Builder
}

func (s *memSink) Append(function, env, stream string, text []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.text.Write(text)
	return nil
}

type fakeCode struct{ dir string }

func (c fakeCode) Dir(ctx context.Context, digest string) (string, error) { return c.dir, nil }

func (c fakeCode) Layers(ctx context.Context, digests []string) (string, error) {
	if len(digests) == 0 {
		return "", nil
	}
	return c.dir + "/opt-" + strings.Join(digests, "-"), nil
}

// newRouter returns a Router over a fake driver whose sandboxes run behave.
func newRouter(t *testing.T, behave func(rt *fakeRuntime) error, opts ...func(*Config)) (*Router, *fakeDriver) {
	t.Helper()
	d := &fakeDriver{behave: behave}
	cfg := Config{
		Driver: d, Code: fakeCode{t.TempDir()}, Logs: &memSink{},
		ARNs: function.ARNs{Region: "us-east-1", AccountID: "000000000000"},
	}
	for _, o := range opts {
		o(&cfg)
	}
	r := New(cfg)
	t.Cleanup(r.Close)
	return r, d
}

func testFunction() *function.Function {
	return &function.Function{
		Name: "f", Runtime: "provided.al2023", Handler: "bootstrap", MemorySize: 128, Timeout: 3,
		EphemeralStorage: 512, Architectures: []string{"x86_64"}, CodeDigest: "abc", State: function.StateActive,
	}
}

// await receives from ch, or fails the test after guard.
func await[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(guard):
		t.Fatalf("timed out waiting for %s", what)
	}
	panic("unreachable")
}
