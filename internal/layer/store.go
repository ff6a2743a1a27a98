package layer

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/lambent/lambent/internal/state"
)

// Store keeps layer versions in a KV bucket. Each version is one record under "NAME.N"; each
// layer name has a counter record under "NAME" holding the last number given out, which
// outlives the versions so that a number is never given twice (as Lambda's are not). Layer
// names cannot hold a dot, so the two kinds of key never meet.
type Store struct {
	bucket *state.Bucket
}

// NewStore returns a Store over bucket.
func NewStore(bucket *state.Bucket) *Store { return &Store{bucket: bucket} }

type counter struct {
	Last int64 `json:"last"`
}

func versionKey(name string, n int64) string { return name + "." + strconv.FormatInt(n, 10) }

// Publish stores v as the next version of v.Name and returns it with its number.
func (s *Store) Publish(ctx context.Context, v Version) (*Version, error) {
	n, err := s.next(ctx, v.Name)
	if err != nil {
		return nil, fmt.Errorf("layer %q: number the next version: %w", v.Name, err)
	}
	v.Number = n
	data, err := json.Marshal(&v)
	if err != nil {
		return nil, err
	}
	if _, err := s.bucket.Create(ctx, versionKey(v.Name, n), data); err != nil {
		return nil, fmt.Errorf("layer %q version %d: %w", v.Name, n, err)
	}
	return &v, nil
}

// next takes the next version number of name from its counter.
func (s *Store) next(ctx context.Context, name string) (int64, error) {
	for {
		e, err := s.bucket.Get(ctx, name)
		if errors.Is(err, state.ErrNotFound) {
			data, _ := json.Marshal(counter{Last: 1})
			_, err := s.bucket.Create(ctx, name, data)
			if errors.Is(err, state.ErrExists) {
				continue // a concurrent publish made the counter
			}
			return 1, err
		}
		if err != nil {
			return 0, err
		}
		var c counter
		if err := json.Unmarshal(e.Value, &c); err != nil {
			return 0, fmt.Errorf("undecodable counter: %w", err)
		}
		c.Last++
		data, _ := json.Marshal(c)
		_, err = s.bucket.Update(ctx, name, data, e.Revision)
		if errors.Is(err, state.ErrConflict) {
			continue // a concurrent publish took this number
		}
		return c.Last, err
	}
}

// Get returns version n of name, or an error wrapping ErrNotFound.
func (s *Store) Get(ctx context.Context, name string, n int64) (*Version, error) {
	e, err := s.bucket.Get(ctx, versionKey(name, n))
	if errors.Is(err, state.ErrNotFound) {
		return nil, fmt.Errorf("layer %q version %d: %w", name, n, ErrNotFound)
	}
	if err != nil {
		return nil, err
	}
	return decode(e)
}

// Versions returns the versions of name, newest first; none if the layer does not exist.
func (s *Store) Versions(ctx context.Context, name string) ([]*Version, error) {
	return s.list(ctx, name+".*")
}

// List returns every version of every layer, ordered by layer name, newest version first.
func (s *Store) List(ctx context.Context) ([]*Version, error) {
	return s.list(ctx, "*.*")
}

func (s *Store) list(ctx context.Context, filter string) ([]*Version, error) {
	entries, err := s.bucket.List(ctx, filter)
	if err != nil {
		return nil, err
	}
	out := make([]*Version, 0, len(entries))
	for _, e := range entries {
		v, err := decode(e)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	slices.SortFunc(out, func(a, b *Version) int {
		return cmp.Or(strings.Compare(a.Name, b.Name), cmp.Compare(b.Number, a.Number))
	})
	return out, nil
}

// Delete removes version n of name; deleting a version that does not exist is not an error.
// Functions that use it keep their copy of what they need (its digest).
func (s *Store) Delete(ctx context.Context, name string, n int64) error {
	e, err := s.bucket.Get(ctx, versionKey(name, n))
	if errors.Is(err, state.ErrNotFound) {
		return nil // nothing to do, and no deletion marker to leave behind
	}
	if err != nil {
		return err
	}
	return s.bucket.Delete(ctx, e.Key, 0)
}

func decode(e state.Entry) (*Version, error) {
	v := &Version{}
	if err := json.Unmarshal(e.Value, v); err != nil {
		return nil, fmt.Errorf("undecodable layer version %q: %w", e.Key, err)
	}
	return v, nil
}
