// Package state owns Lambent's durable state in NATS JetStream: function and layer metadata in
// KV buckets, code artifacts in an Object Store, asynchronous invocations and logs in streams.
// By default it embeds a NATS server that accepts only in-process connections; given a URL it
// uses an external NATS cluster instead, so the same code serves cluster mode.
//
// Durability: JetStream acknowledges a write once it is in the file store's files (written in
// place, not buffered in the process), so whatever Open's callers were told is stored survives
// the server being killed; it is fsynced every two minutes (NATS's default), so a power loss
// can lose the last moments.
//
// It stores bytes and knows nothing of Lambda's shapes: encoding functions, invocations and log
// lines is the business of the packages that use it.
package state

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Sentinel errors.
var (
	ErrNotFound = errors.New("not found")
	ErrExists   = errors.New("already exists")
	ErrConflict = errors.New("revision conflict")
)

// Options configure Open.
type Options struct {
	// DataDir holds JetStream's files when the server is embedded.
	DataDir string
	// URL of an external NATS cluster; empty embeds a server.
	URL string
	// Replicas for streams and buckets in cluster mode (1 when embedded).
	Replicas int
	// AsyncAckWait is how long an async invocation may go unacknowledged before JetStream
	// redelivers it (its worker sends progress acks meanwhile). Default 30 s.
	AsyncAckWait time.Duration
	// LogMaxAge and LogMaxBytes bound the log stream. Defaults 7 days and 1 GiB.
	LogMaxAge   time.Duration
	LogMaxBytes int64
	Logger      *slog.Logger
}

// Store is an open connection to JetStream with Lambent's buckets and streams.
type Store struct {
	srv       *server.Server
	nc        *nats.Conn
	js        jetstream.JetStream
	closeOnce sync.Once

	Functions *Bucket
	Layers    *Bucket // layer versions and each layer name's version counter
	Code      *Blobs
	Async     *Queue
	Logs      *Logs
}

// Open starts (or connects to) NATS and makes sure every bucket and stream exists.
func Open(ctx context.Context, o Options) (*Store, error) {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Replicas == 0 {
		o.Replicas = 1
	}
	if o.AsyncAckWait == 0 {
		o.AsyncAckWait = 30 * time.Second
	}
	if o.LogMaxAge == 0 {
		o.LogMaxAge = 7 * 24 * time.Hour
	}
	if o.LogMaxBytes == 0 {
		o.LogMaxBytes = 1 << 30
	}
	s := &Store{}
	var err error
	if o.URL == "" {
		s.srv, err = server.NewServer(&server.Options{
			ServerName: "lambent",
			DontListen: true, // in-process connections only: nothing on the network
			JetStream:  true,
			StoreDir:   filepath.Join(o.DataDir, "jetstream"),
			NoSigs:     true,
			NoLog:      true,
		})
		if err != nil {
			return nil, fmt.Errorf("embedded nats: %w", err)
		}
		s.srv.Start()
		if !s.srv.ReadyForConnections(30 * time.Second) {
			s.srv.Shutdown()
			return nil, errors.New("embedded nats: not ready after 30s")
		}
		s.nc, err = nats.Connect("", nats.InProcessServer(s.srv), nats.Name("lambent"))
	} else {
		s.nc, err = nats.Connect(o.URL, nats.Name("lambent"), nats.MaxReconnects(-1))
	}
	if err != nil {
		s.Close()
		return nil, fmt.Errorf("connect nats: %w", err)
	}
	if s.js, err = jetstream.New(s.nc); err != nil {
		s.Close()
		return nil, err
	}
	if err := s.setup(ctx, o); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

func (s *Store) setup(ctx context.Context, o Options) error {
	fns, err := s.js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket: "lambent_functions", History: 1, Replicas: o.Replicas,
		Storage: jetstream.FileStorage,
	})
	if err != nil {
		return fmt.Errorf("functions bucket: %w", err)
	}
	s.Functions = &Bucket{kv: fns}
	layers, err := s.js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket: "lambent_layers", History: 1, Replicas: o.Replicas,
		Storage: jetstream.FileStorage,
	})
	if err != nil {
		return fmt.Errorf("layers bucket: %w", err)
	}
	s.Layers = &Bucket{kv: layers}
	obs, err := s.js.CreateOrUpdateObjectStore(ctx, jetstream.ObjectStoreConfig{
		Bucket: "lambent_code", Replicas: o.Replicas, Storage: jetstream.FileStorage,
	})
	if err != nil {
		return fmt.Errorf("code store: %w", err)
	}
	s.Code = &Blobs{os: obs}
	if s.Async, err = openQueue(ctx, s.js, o); err != nil {
		return err
	}
	if s.Logs, err = openLogs(ctx, s.js, o); err != nil {
		return err
	}
	return nil
}

// Close flushes pending log records, closes the connection and stops the embedded server, if
// any. It is safe to call more than once.
func (s *Store) Close() {
	s.closeOnce.Do(func() {
		if s.Logs != nil {
			s.Logs.flush()
		}
		if s.nc != nil {
			s.nc.Close()
		}
		if s.srv != nil {
			s.srv.Shutdown()
			s.srv.WaitForShutdown()
		}
	})
}
