package state

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"
)

// Blobs is an object store of code artifacts named by their hex SHA-256 digest.
type Blobs struct {
	os jetstream.ObjectStore
}

// Put stores data under digest; storing the same digest again is a no-op.
func (b *Blobs) Put(ctx context.Context, digest string, data []byte) error {
	if _, err := b.os.GetInfo(ctx, digest); err == nil {
		return nil
	}
	_, err := b.os.Put(ctx, jetstream.ObjectMeta{Name: digest}, bytes.NewReader(data))
	return err
}

// Get returns the bytes stored under digest or ErrNotFound.
func (b *Blobs) Get(ctx context.Context, digest string) ([]byte, error) {
	data, err := b.os.GetBytes(ctx, digest)
	if errors.Is(err, jetstream.ErrObjectNotFound) {
		return nil, fmt.Errorf("code %s: %w", digest, ErrNotFound)
	}
	return data, err
}

// Delete removes digest; a missing one is not an error.
func (b *Blobs) Delete(ctx context.Context, digest string) error {
	err := b.os.Delete(ctx, digest)
	if errors.Is(err, jetstream.ErrObjectNotFound) {
		return nil
	}
	return err
}
