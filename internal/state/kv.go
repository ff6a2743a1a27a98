package state

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/nats-io/nats.go/jetstream"
)

// Entry is one key's value at a revision.
type Entry struct {
	Key      string
	Value    []byte // nil for a deletion seen by Watch
	Revision uint64
}

// Bucket is a KV bucket of records keyed by name; its revisions back Lambda's RevisionId.
type Bucket struct {
	kv jetstream.KeyValue
}

// Get returns key's current entry or ErrNotFound.
func (f *Bucket) Get(ctx context.Context, key string) (Entry, error) {
	e, err := f.kv.Get(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return Entry{}, fmt.Errorf("%q: %w", key, ErrNotFound)
	}
	if err != nil {
		return Entry{}, err
	}
	return Entry{Key: key, Value: e.Value(), Revision: e.Revision()}, nil
}

// Create stores key only if it does not exist.
func (f *Bucket) Create(ctx context.Context, key string, value []byte) (uint64, error) {
	rev, err := f.kv.Create(ctx, key, value)
	if errors.Is(err, jetstream.ErrKeyExists) {
		return 0, fmt.Errorf("%q: %w", key, ErrExists)
	}
	return rev, err
}

// Update stores key only if its revision is still last.
func (f *Bucket) Update(ctx context.Context, key string, value []byte, last uint64) (uint64, error) {
	rev, err := f.kv.Update(ctx, key, value, last)
	if isWrongSequence(err) {
		return 0, fmt.Errorf("%q at revision %d: %w", key, last, ErrConflict)
	}
	return rev, err
}

// Delete removes key if its revision is still last (0: whatever it is).
func (f *Bucket) Delete(ctx context.Context, key string, last uint64) error {
	var opts []jetstream.KVDeleteOpt
	if last != 0 {
		opts = append(opts, jetstream.LastRevision(last))
	}
	err := f.kv.Purge(ctx, key, opts...)
	if isWrongSequence(err) {
		return fmt.Errorf("%q at revision %d: %w", key, last, ErrConflict)
	}
	return err
}

// List returns every current entry, ordered by key; with filters, only the entries whose key
// matches one of them (NATS subject wildcards over the key's dot-separated tokens: "a.*").
func (f *Bucket) List(ctx context.Context, filters ...string) ([]Entry, error) {
	var lister jetstream.KeyLister
	var err error
	if len(filters) > 0 {
		lister, err = f.kv.ListKeysFiltered(ctx, filters...)
	} else {
		lister, err = f.kv.ListKeys(ctx)
	}
	if err != nil {
		return nil, err
	}
	var keys []string
	for k := range lister.Keys() {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var out []Entry
	for _, k := range keys {
		e, err := f.Get(ctx, k)
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, nil
}

// Watch calls fn for every current entry, then for every change until ctx ends. ready is
// closed once the current entries have been delivered.
func (f *Bucket) Watch(ctx context.Context, fn func(Entry), ready chan<- struct{}) error {
	w, err := f.kv.WatchAll(ctx)
	if err != nil {
		return err
	}
	defer w.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case e, ok := <-w.Updates():
			if !ok {
				return errors.New("kv watch closed")
			}
			if e == nil {
				if ready != nil {
					close(ready)
					ready = nil
				}
				continue
			}
			ent := Entry{Key: e.Key(), Revision: e.Revision()}
			if e.Operation() == jetstream.KeyValuePut {
				ent.Value = e.Value()
			}
			fn(ent)
		}
	}
}

func isWrongSequence(err error) bool {
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && (apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence ||
		apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant)
}
