// Package invoke routes invocations to execution environments: it keeps a pool of warm
// environments per function, starts new ones on demand, enforces timeouts and the account's
// concurrency, and works off the durable queue of asynchronous invocations. It does not parse
// API requests (controlapi does) nor run processes itself (a sandbox.Driver does).
package invoke

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lambent/lambent/internal/function"
	"github.com/lambent/lambent/internal/logs"
	"github.com/lambent/lambent/internal/sandbox"
)

// Errors of Invoke; the API edge maps them to AWS error types.
var (
	//lint:ignore ST1005 AWS's message, which clients show verbatim
	ErrThrottled = errors.New("Rate Exceeded.")
	ErrNotReady  = errors.New("function is not active")
)

// Code makes a function's code present on this host and returns its directory.
type Code interface {
	Dir(ctx context.Context, digest string) (string, error)
	// Layers returns the directory of the layers merged in order ("" for none).
	Layers(ctx context.Context, digests []string) (string, error)
}

// Runtime is how a managed runtime starts: its program and arguments as the sandbox sees
// them, the variables it adds, and the host directory shown at sandbox.RuntimeDir.
type Runtime struct {
	Entrypoint string
	Args       []string
	Env        []string
	Dir        string
}

// Config wires a Router.
type Config struct {
	// Runtimes are the managed runtimes this server runs, by name; any other runtime is a
	// provided one, whose code brings its bootstrap.
	Runtimes map[string]Runtime
	Driver   sandbox.Driver
	Code     Code
	Logs     logs.Sink
	ARNs     function.ARNs
	// IdleTimeout is how long an unused environment stays warm. Default 10 minutes.
	IdleTimeout time.Duration
	// InitTimeout bounds a runtime's init phase. Default 10 s, as on AWS.
	InitTimeout time.Duration
	// FreezeAfter is how long an environment stays idle before its processes are frozen,
	// where the sandbox driver can freeze. Default 100 ms; negative: never.
	FreezeAfter time.Duration
	// MaxConcurrency is the account's limit of concurrent executions. Default 1000.
	MaxConcurrency int
	Logger         *slog.Logger
}

// Request is one invocation.
type Request struct {
	Function      *function.Function
	Payload       []byte
	RequestID     string
	ClientContext string // decoded JSON, passed to the runtime as is
	Tail          bool
}

// Response is what Invoke returns to the caller.
type Response struct {
	Payload       []byte
	FunctionError string // "Unhandled" when the function failed
	LogTail       []byte // with Request.Tail
	Version       string
}

// Router owns every execution environment of this server.
type Router struct {
	cfg      Config
	inflight atomic.Int64

	mu    sync.Mutex
	pools map[string]*pool
	stop  chan struct{}
	once  sync.Once
}

// New returns a Router and starts its reaper of idle environments.
func New(cfg Config) *Router {
	if cfg.IdleTimeout == 0 {
		cfg.IdleTimeout = 10 * time.Minute
	}
	if cfg.FreezeAfter == 0 {
		cfg.FreezeAfter = 100 * time.Millisecond
	}
	if cfg.InitTimeout == 0 {
		cfg.InitTimeout = 10 * time.Second
	}
	if cfg.MaxConcurrency == 0 {
		cfg.MaxConcurrency = 1000
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	r := &Router{cfg: cfg, pools: map[string]*pool{}, stop: make(chan struct{})}
	go r.reap()
	return r
}

// NewRequestID returns a random UUID, as Lambda's request ids are.
func NewRequestID() string {
	var b [16]byte
	rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

// Invoke runs req on a warm environment, or a new one, and waits for its outcome. Function
// failures (errors, timeouts, crashes) are a Response with FunctionError, not an error.
func (r *Router) Invoke(ctx context.Context, req Request) (Response, error) {
	if req.Function.State != function.StateActive {
		return Response{}, fmt.Errorf("function %q is %s: %w", req.Function.Name, req.Function.State, ErrNotReady)
	}
	if r.inflight.Add(1) > int64(r.cfg.MaxConcurrency) {
		r.inflight.Add(-1)
		return Response{}, ErrThrottled
	}
	defer r.inflight.Add(-1)
	if req.RequestID == "" {
		req.RequestID = NewRequestID()
	}
	p := r.pool(req.Function)
	for {
		env := p.take()
		if env == nil {
			var err error
			if env, err = r.start(ctx, req.Function); err != nil {
				var fe *functionError
				if errors.As(err, &fe) {
					return fe.response(req), nil
				}
				return Response{}, err
			}
		}
		if err := env.freezer.unpark(); err != nil {
			r.cfg.Logger.Warn("thawing an environment", "function", req.Function.Name, "err", err)
			env.destroy()
			continue
		}
		resp, out := env.invoke(req)
		if out == reuse {
			env.freezer.park(r.cfg.FreezeAfter)
			p.give(env)
		} else {
			env.destroy()
		}
		// A warm environment that died before its runtime took the invocation never ran it:
		// run it on another.
		if out != undelivered {
			return resp, nil
		}
	}
}

// Forget drops every environment of name, as after its deletion or a change of its code or
// configuration. Environments busy now end when they finish.
func (r *Router) Forget(name string) {
	r.mu.Lock()
	p := r.pools[name]
	delete(r.pools, name)
	r.mu.Unlock()
	if p != nil {
		p.close()
	}
}

// Close ends every environment. It is idempotent.
func (r *Router) Close() {
	r.once.Do(func() { close(r.stop) })
	r.mu.Lock()
	pools := r.pools
	r.pools = map[string]*pool{}
	r.mu.Unlock()
	for _, p := range pools {
		p.close()
	}
}

// pool returns the pool for f's current configuration, replacing one made for another.
func (r *Router) pool(f *function.Function) *pool {
	key := f.EnvironmentKey()
	r.mu.Lock()
	p := r.pools[f.Name]
	if p != nil && p.key == key {
		r.mu.Unlock()
		return p
	}
	old := p
	p = &pool{key: key}
	r.pools[f.Name] = p
	r.mu.Unlock()
	if old != nil {
		old.close()
	}
	return p
}

func (r *Router) reap() {
	t := time.NewTicker(max(min(r.cfg.IdleTimeout/2, 30*time.Second), time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-r.stop:
			return
		case now := <-t.C:
			r.mu.Lock()
			pools := make([]*pool, 0, len(r.pools))
			for _, p := range r.pools {
				pools = append(pools, p)
			}
			r.mu.Unlock()
			for _, p := range pools {
				for _, env := range p.idleSince(now.Add(-r.cfg.IdleTimeout)) {
					env.destroy()
				}
			}
		}
	}
}

// pool holds the idle environments of one function configuration.
type pool struct {
	key string

	mu     sync.Mutex
	idle   []*environment // most recently used last
	closed bool
}

// take returns the most recently used idle environment, if any is alive.
func (p *pool) take() *environment {
	for {
		p.mu.Lock()
		n := len(p.idle)
		if n == 0 {
			p.mu.Unlock()
			return nil
		}
		env := p.idle[n-1]
		p.idle = p.idle[:n-1]
		p.mu.Unlock()
		if !env.exited() {
			return env
		}
		env.destroy() // its runtime exited while idle
	}
}

func (p *pool) give(env *environment) {
	env.lastUsed = time.Now()
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		env.destroy()
		return
	}
	p.idle = append(p.idle, env)
	p.mu.Unlock()
}

func (p *pool) idleSince(cutoff time.Time) []*environment {
	p.mu.Lock()
	defer p.mu.Unlock()
	var old []*environment
	keep := p.idle[:0]
	for _, env := range p.idle {
		if env.lastUsed.Before(cutoff) {
			old = append(old, env)
		} else {
			keep = append(keep, env)
		}
	}
	p.idle = keep
	return old
}

func (p *pool) close() {
	p.mu.Lock()
	idle := p.idle
	p.idle, p.closed = nil, true
	p.mu.Unlock()
	for _, env := range idle {
		env.destroy()
	}
}

// MaxConcurrency is the account's limit of concurrent executions.
func (r *Router) MaxConcurrency() int { return r.cfg.MaxConcurrency }

// Runtimes lists the runtime names this router can run, sorted: the provided ones and the
// managed ones it was given.
func (r *Router) Runtimes() []string {
	names := slices.Clone(function.ProvidedRuntimes)
	for name := range r.cfg.Runtimes {
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}
