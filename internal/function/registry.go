package function

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"github.com/lambent/lambent/internal/state"
)

// Registry stores functions in a KV bucket and keeps every one in memory, current through a
// watch of the bucket, so that invocations never wait on storage.
type Registry struct {
	bucket *state.Bucket
	log    *slog.Logger

	mu    sync.RWMutex
	cache map[string]*Function
	gone  map[string]uint64 // revision at which a name was deleted, against stale watch events
	subs  []func(old, new *Function)
}

// NewRegistry watches bucket until ctx ends; it returns once the cache holds every function.
func NewRegistry(ctx context.Context, bucket *state.Bucket, log *slog.Logger) (*Registry, error) {
	r := &Registry{bucket: bucket, log: log, cache: map[string]*Function{}, gone: map[string]uint64{}}
	ready := make(chan struct{})
	errc := make(chan error, 1)
	go func() { errc <- bucket.Watch(ctx, r.apply, ready) }()
	select {
	case <-ready:
	case err := <-errc:
		return nil, fmt.Errorf("watch functions: %w", err)
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	go func() {
		if err := <-errc; err != nil && ctx.Err() == nil {
			log.Error("function watch ended", "err", err)
		}
	}()
	return r, nil
}

// OnChange registers fn to be called after a function changes or is deleted (new is nil).
func (r *Registry) OnChange(fn func(old, new *Function)) {
	r.mu.Lock()
	r.subs = append(r.subs, fn)
	r.mu.Unlock()
}

func (r *Registry) apply(e state.Entry) {
	var f *Function
	if e.Value != nil {
		f = &Function{}
		if err := json.Unmarshal(e.Value, f); err != nil {
			r.log.Error("undecodable function record", "key", e.Key, "err", err)
			return
		}
		f.Revision = e.Revision
	}
	r.put(e.Key, f, e.Revision)
}

// put installs f (nil: deleted) unless the cache already holds a newer revision.
func (r *Registry) put(name string, f *Function, rev uint64) {
	if f != nil {
		f.envKey = f.environmentKey()
	}
	r.mu.Lock()
	old := r.cache[name]
	if (old != nil && old.Revision > rev) || r.gone[name] > rev {
		r.mu.Unlock()
		return
	}
	if f == nil {
		delete(r.cache, name)
		r.gone[name] = rev
	} else {
		r.cache[name] = f
		delete(r.gone, name)
	}
	subs := r.subs
	r.mu.Unlock()
	if old != f {
		for _, fn := range subs {
			fn(old, f)
		}
	}
}

// Get returns the current configuration of name from memory. Callers must not modify it.
func (r *Registry) Get(name string) (*Function, error) {
	r.mu.RLock()
	f := r.cache[name]
	r.mu.RUnlock()
	if f == nil {
		return nil, fmt.Errorf("function %q: %w", name, ErrNotFound)
	}
	return f, nil
}

// List returns every function, ordered by name.
func (r *Registry) List() []*Function {
	r.mu.RLock()
	out := make([]*Function, 0, len(r.cache))
	for _, f := range r.cache {
		out = append(out, f)
	}
	r.mu.RUnlock()
	sortFunctions(out)
	return out
}

// Create stores a new function.
func (r *Registry) Create(ctx context.Context, f *Function) (*Function, error) {
	rev, err := r.bucket.Create(ctx, f.Name, f.marshal())
	if errors.Is(err, state.ErrExists) {
		return nil, fmt.Errorf("function %q: %w", f.Name, ErrExists)
	}
	if err != nil {
		return nil, err
	}
	f = f.Clone()
	f.Revision = rev
	r.put(f.Name, f, rev)
	return f, nil
}

// Update applies change to a copy of name's current record and stores it, provided the record
// is still at revisionID (if not empty). It retries when another writer got there first.
func (r *Registry) Update(ctx context.Context, name, revisionID string, change func(*Function) error) (*Function, error) {
	for {
		cur, err := r.Get(name)
		if err != nil {
			return nil, err
		}
		if revisionID != "" && cur.RevisionID() != revisionID {
			return nil, fmt.Errorf("function %q: %w", name, ErrPrecondition)
		}
		next := cur.Clone()
		if err := change(next); err != nil {
			return nil, err
		}
		rev, err := r.bucket.Update(ctx, name, next.marshal(), cur.Revision)
		if errors.Is(err, state.ErrConflict) {
			if revisionID != "" {
				return nil, fmt.Errorf("function %q: %w", name, ErrPrecondition)
			}
			if err := r.refresh(ctx, name); err != nil {
				return nil, err
			}
			continue
		}
		if err != nil {
			return nil, err
		}
		next.Revision = rev
		r.put(name, next, rev)
		return next, nil
	}
}

// Delete removes name.
func (r *Registry) Delete(ctx context.Context, name string) error {
	cur, err := r.Get(name)
	if err != nil {
		return err
	}
	if err := r.bucket.Delete(ctx, name, 0); err != nil {
		return err
	}
	r.put(name, nil, cur.Revision+1)
	return nil
}

// refresh reloads name from the bucket after a lost race.
func (r *Registry) refresh(ctx context.Context, name string) error {
	e, err := r.bucket.Get(ctx, name)
	if errors.Is(err, state.ErrNotFound) {
		return fmt.Errorf("function %q: %w", name, ErrNotFound)
	}
	if err != nil {
		return err
	}
	r.apply(e)
	return nil
}
