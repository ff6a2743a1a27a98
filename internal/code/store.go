package code

import (
	"context"
	"fmt"
	"sync"
)

// Blobs is where code artifacts are kept durably (state.Blobs).
type Blobs interface {
	Put(ctx context.Context, digest string, data []byte) error
	Get(ctx context.Context, digest string) ([]byte, error)
}

// Store keeps code durably in Blobs and extracted in a Cache on this host.
type Store struct {
	Blobs  Blobs
	Cache  *Cache
	Limits Limits

	mu      sync.Mutex
	fresh   map[string][]byte // zips added here and not yet extracted: no need to read them back
	flights map[string]*flight
}

type flight struct {
	done chan struct{}
	dir  string
	err  error
}

// Add checks zipBytes, stores it durably and returns what it is.
func (s *Store) Add(ctx context.Context, zipBytes []byte) (Info, error) {
	info, err := Inspect(zipBytes, s.Limits)
	if err != nil {
		return Info{}, err
	}
	if err := s.Blobs.Put(ctx, info.Digest, zipBytes); err != nil {
		return Info{}, fmt.Errorf("store code %s: %w", info.Digest, err)
	}
	s.mu.Lock()
	if s.fresh == nil {
		s.fresh = map[string][]byte{}
	}
	s.fresh[info.Digest] = zipBytes
	s.mu.Unlock()
	return info, nil
}

// Zip returns the stored zip of digest.
func (s *Store) Zip(ctx context.Context, digest string) ([]byte, error) {
	return s.Blobs.Get(ctx, digest)
}

// Dir returns digest's extracted directory, extracting it when this host lacks it: from the
// bytes Add was given, or else from Blobs. Concurrent callers for one digest share the work.
func (s *Store) Dir(ctx context.Context, digest string) (string, error) {
	if dir, ok := s.Cache.Dir(digest); ok {
		return dir, nil
	}
	s.mu.Lock()
	if f, ok := s.flights[digest]; ok {
		s.mu.Unlock()
		select {
		case <-f.done:
			return f.dir, f.err
		case <-ctx.Done():
			return "", ctx.Err()
		}
	}
	if s.flights == nil {
		s.flights = map[string]*flight{}
	}
	f := &flight{done: make(chan struct{})}
	s.flights[digest] = f
	data := s.fresh[digest]
	s.mu.Unlock()

	f.dir, f.err = s.extract(ctx, digest, data)
	s.mu.Lock()
	delete(s.flights, digest)
	if f.err == nil {
		delete(s.fresh, digest)
	}
	s.mu.Unlock()
	close(f.done)
	return f.dir, f.err
}

func (s *Store) extract(ctx context.Context, digest string, data []byte) (string, error) {
	if data == nil {
		var err error
		if data, err = s.Blobs.Get(ctx, digest); err != nil {
			return "", err
		}
	}
	return s.Cache.Extract(digest, data)
}
