package layer

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/lambent/lambent/internal/state"
)

func newStore(t *testing.T) *Store {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	st, err := state.Open(ctx, state.Options{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(st.Close)
	return NewStore(st.Layers)
}

func numbers(vs []*Version) []int64 {
	var out []int64
	for _, v := range vs {
		out = append(out, v.Number)
	}
	return out
}

func TestStore(t *testing.T) {
	s, ctx := newStore(t), t.Context()
	if vs, err := s.Versions(ctx, "lib"); err != nil || len(vs) != 0 {
		t.Fatalf("Versions of a missing layer = %v, %v; want none", vs, err)
	}
	for want := int64(1); want <= 3; want++ {
		v, err := s.Publish(ctx, Version{Name: "lib", Description: "d", Digest: "x"})
		if err != nil || v.Number != want {
			t.Fatalf("Publish = %+v, %v; want version %d", v, err, want)
		}
	}
	if _, err := s.Publish(ctx, Version{Name: "other"}); err != nil {
		t.Fatal(err)
	}
	got, err := s.Get(ctx, "lib", 2)
	if err != nil || got.Name != "lib" || got.Number != 2 || got.Description != "d" || got.Digest != "x" {
		t.Fatalf("Get(lib, 2) = %+v, %v", got, err)
	}
	if _, err := s.Get(ctx, "lib", 4); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get(lib, 4) = %v, want ErrNotFound", err)
	}
	if vs, err := s.Versions(ctx, "lib"); err != nil || !slices.Equal(numbers(vs), []int64{3, 2, 1}) {
		t.Fatalf("Versions(lib) = %v, %v; want 3, 2, 1", numbers(vs), err)
	}

	// Deleting is idempotent and never frees a number.
	for range 2 {
		if err := s.Delete(ctx, "lib", 3); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Delete(ctx, "nothing", 1); err != nil {
		t.Fatalf("Delete of a missing layer: %v", err)
	}
	if _, err := s.Get(ctx, "lib", 3); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get after Delete = %v, want ErrNotFound", err)
	}
	if v, err := s.Publish(ctx, Version{Name: "lib"}); err != nil || v.Number != 4 {
		t.Fatalf("Publish after Delete = %+v, %v; want version 4", v, err)
	}
	for _, n := range []int64{1, 2, 4} {
		if err := s.Delete(ctx, "lib", n); err != nil {
			t.Fatal(err)
		}
	}
	if v, err := s.Publish(ctx, Version{Name: "lib"}); err != nil || v.Number != 5 {
		t.Fatalf("Publish after deleting every version = %+v, %v; want version 5", v, err)
	}

	all, err := s.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, v := range all {
		names = append(names, fmt.Sprintf("%s:%d", v.Name, v.Number))
	}
	if want := []string{"lib:5", "other:1"}; !slices.Equal(names, want) {
		t.Errorf("List = %v, want %v", names, want)
	}
}

func TestStoreConcurrentPublish(t *testing.T) {
	s, ctx := newStore(t), t.Context()
	const n = 20
	got := make([]int64, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			v, err := s.Publish(ctx, Version{Name: "busy"})
			if err != nil {
				t.Error(err)
				return
			}
			got[i] = v.Number
		})
	}
	wg.Wait()
	slices.Sort(got)
	for i, v := range got {
		if v != int64(i+1) {
			t.Fatalf("concurrent publishes got numbers %v, want 1..%d each once", got, n)
		}
	}
}

func TestStoreKeepsNilLists(t *testing.T) {
	s, ctx := newStore(t), t.Context()
	a, _ := s.Publish(ctx, Version{Name: "a"})
	b, _ := s.Publish(ctx, Version{Name: "b", CompatibleRuntimes: []string{}, CompatibleArchitectures: []string{}})
	ga, err := s.Get(ctx, "a", a.Number)
	if err != nil || ga.CompatibleRuntimes != nil || ga.CompatibleArchitectures != nil {
		t.Errorf("a version published without lists reads back %+v, %v; want nil lists", ga, err)
	}
	gb, err := s.Get(ctx, "b", b.Number)
	if err != nil || gb.CompatibleRuntimes == nil || gb.CompatibleArchitectures == nil {
		t.Errorf("a version published with empty lists reads back %+v, %v; want empty, not nil", gb, err)
	}
}
