package code

import (
	"context"
	"fmt"
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
	return info, nil
}

// Zip returns the stored zip of digest.
func (s *Store) Zip(ctx context.Context, digest string) ([]byte, error) {
	return s.Blobs.Get(ctx, digest)
}

// Dir returns digest's extracted directory, extracting it from Blobs when this host lacks it.
func (s *Store) Dir(ctx context.Context, digest string) (string, error) {
	if dir, ok := s.Cache.Dir(digest); ok {
		return dir, nil
	}
	data, err := s.Blobs.Get(ctx, digest)
	if err != nil {
		return "", err
	}
	return s.Cache.Extract(digest, data)
}
