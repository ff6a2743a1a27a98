// Package server wires Lambent's subsystems into one System: state, code, functions, the
// invocation router, the async worker and the HTTP API. It is the only place that knows how
// the pieces fit; it holds no logic of its own.
package server

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/lambent/lambent/internal/auth"
	"github.com/lambent/lambent/internal/code"
	"github.com/lambent/lambent/internal/controlapi"
	"github.com/lambent/lambent/internal/function"
	"github.com/lambent/lambent/internal/invoke"
	"github.com/lambent/lambent/internal/layer"
	"github.com/lambent/lambent/internal/sandbox"
	"github.com/lambent/lambent/internal/sandbox/linux"
	"github.com/lambent/lambent/internal/sandbox/process"
	"github.com/lambent/lambent/internal/state"
)

// Config is everything `lambent server` can be told.
type Config struct {
	Listen    string
	DataDir   string
	Region    string
	AccountID string
	Sandbox   string
	// Network is the linux sandboxes' outbound access: "none" (or empty) or "egress".
	Network string
	// NATSURL points at an external NATS cluster; empty embeds one.
	NATSURL string
	// IdleTimeout, AsyncAckWait and AsyncRetryDelays: see invoke and state; zero means default.
	IdleTimeout time.Duration
	// Interpreters overrides, by runtime name (python3.12, nodejs20.x), the interpreter a
	// managed runtime runs; by default Debian's /usr/bin/python3 and /usr/bin/node.
	Interpreters map[string]string
	// MaxConcurrency is the account's concurrent executions (default 1000, as on AWS).
	MaxConcurrency   int
	AsyncAckWait     time.Duration
	AsyncRetryDelays []time.Duration
	AsyncParallel    int
	Getenv           func(string) string
	Logger           *slog.Logger
}

// System is a running Lambent server.
type System struct {
	Credentials        auth.Credentials
	CreatedCredentials bool
	Store              *state.Store
	Functions          *function.Registry
	Router             *invoke.Router

	lock   *os.File
	driver sandbox.Driver
	ln     net.Listener
	http   *http.Server
	cancel context.CancelFunc
	async  chan error

	closeOnce sync.Once
	closeErr  error
}

// Drivers is what --sandbox may name.
const Drivers = "process, linux"

// driver builds the --sandbox driver, which Start has checked; its state lives under the
// data dir.
func driver(cfg Config) (sandbox.Driver, error) {
	if cfg.Sandbox != "linux" {
		return process.New(), nil
	}
	d, err := linux.New(linux.Options{StateDir: filepath.Join(cfg.DataDir, "sandboxes"), Network: cfg.Network, Logger: cfg.Logger})
	if err != nil {
		return nil, err // not a typed nil in the interface
	}
	return d, nil
}

// Start opens state, binds the listener and serves until Close.
func Start(ctx context.Context, cfg Config) (*System, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Getenv == nil {
		cfg.Getenv = os.Getenv
	}
	if cfg.AsyncRetryDelays == nil {
		cfg.AsyncRetryDelays = []time.Duration{time.Minute, 2 * time.Minute}
	}
	if cfg.AsyncParallel == 0 {
		cfg.AsyncParallel = 64
	}
	switch cfg.Sandbox { // fail before touching the data dir
	case "", "process", "linux":
	default:
		return nil, fmt.Errorf("unknown --sandbox %q: the drivers are: %s", cfg.Sandbox, Drivers)
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("data dir: %w", err)
	}
	lock, err := lockDataDir(cfg.DataDir)
	if err != nil {
		return nil, err
	}
	creds, created, err := auth.LoadOrCreate(cfg.DataDir, cfg.Getenv)
	if err != nil {
		lock.Close()
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	s := &System{Credentials: creds, CreatedCredentials: created, lock: lock, cancel: cancel, async: make(chan error, 1)}
	ok := false
	defer func() {
		if !ok {
			s.Close()
		}
	}()
	if s.driver, err = driver(cfg); err != nil {
		return nil, err
	}
	if s.Store, err = state.Open(ctx, state.Options{
		DataDir: cfg.DataDir, URL: cfg.NATSURL, AsyncAckWait: cfg.AsyncAckWait, Logger: cfg.Logger,
	}); err != nil {
		return nil, err
	}
	cache, err := code.NewCache(filepath.Join(cfg.DataDir, "code"), code.DefaultLimits)
	if err != nil {
		return nil, err
	}
	if err := cache.Sweep(); err != nil {
		return nil, err
	}
	codeStore := &code.Store{Blobs: s.Store.Code, Cache: cache, Limits: code.DefaultLimits}
	if s.Functions, err = function.NewRegistry(ctx, s.Store.Functions, cfg.Logger); err != nil {
		return nil, err
	}
	arns := function.ARNs{Region: cfg.Region, AccountID: cfg.AccountID}
	managed, err := managedRuntimes(cfg.DataDir, cfg.Interpreters, cfg.Logger)
	if err != nil {
		return nil, err
	}
	s.Router = invoke.New(invoke.Config{
		Runtimes: managed,
		Driver:   s.driver, Code: codeStore, Logs: s.Store.Logs, ARNs: arns,
		IdleTimeout: cfg.IdleTimeout, MaxConcurrency: cfg.MaxConcurrency, Logger: cfg.Logger,
	})
	s.Functions.OnChange(func(old, new *function.Function) {
		if old != nil && (new == nil || old.EnvironmentKey() != new.EnvironmentKey()) {
			s.Router.Forget(old.Name)
		}
	})
	async := &invoke.Async{Queue: s.Store.Async, Router: s.Router, Functions: s.Functions,
		RetryDelays: cfg.AsyncRetryDelays}
	api := &controlapi.API{
		Functions: s.Functions, Layers: layer.NewStore(s.Store.Layers), Code: codeStore, Router: s.Router, Async: async,
		Verifier: auth.NewVerifier(creds), ARNs: arns, URLKey: urlKey(creds), Log: cfg.Logger,
		Background: ctx,
	}
	// Functions left Pending or InProgress by a crash get their code ready again.
	for _, f := range s.Functions.List() {
		if f.State == function.StatePending || f.LastUpdateStatus == function.UpdateRunning {
			go api.Prepare(f.Name, f.CodeDigest)
		}
	}
	if s.ln, err = net.Listen("tcp", cfg.Listen); err != nil {
		return nil, fmt.Errorf("listen: %w", err)
	}
	s.http = &http.Server{Handler: api.Handler(), ReadHeaderTimeout: 30 * time.Second,
		ErrorLog: slog.NewLogLogger(cfg.Logger.Handler(), slog.LevelWarn)}
	go s.http.Serve(s.ln)
	go func() { s.async <- async.Run(ctx, cfg.AsyncParallel) }()
	ok = true
	return s, nil
}

// urlKey derives the key that signs code download URLs from the server's secret.
func urlKey(c auth.Credentials) []byte {
	m := hmac.New(sha256.New, []byte(c.SecretAccessKey))
	m.Write([]byte("lambent code url"))
	return m.Sum(nil)
}

// Addr is the address the API listens on.
func (s *System) Addr() string { return s.ln.Addr().String() }

// Close stops serving, ends every environment and releases the data directory. Calls after
// the first return the first one's result.
func (s *System) Close() error {
	s.closeOnce.Do(func() { s.closeErr = s.close() })
	return s.closeErr
}

func (s *System) close() error {
	var errs []error
	if s.http != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		errs = append(errs, s.http.Shutdown(ctx))
		cancel()
	}
	s.cancel()
	if s.Router != nil {
		s.Router.Close()
	}
	if c, ok := s.driver.(interface{ Close() }); ok {
		c.Close() // spare sandboxes
	}
	if s.http != nil {
		if err := <-s.async; err != nil && !errors.Is(err, context.Canceled) {
			errs = append(errs, err)
		}
	}
	if s.Store != nil {
		s.Store.Close()
	}
	if s.lock != nil {
		s.lock.Close() // releases the flock
	}
	return errors.Join(errs...)
}
