package invoke

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/lambent/lambent/internal/sandbox"
)

// freezingDriver wraps fake sandboxes so that they can be frozen, and records the order of
// freezes, thaws and invocations.
type freezingDriver struct {
	*fakeDriver
	mu     sync.Mutex
	events []string
	frozen chan struct{}
}

func (d *freezingDriver) record(e string) {
	d.mu.Lock()
	d.events = append(d.events, e)
	d.mu.Unlock()
}

func (d *freezingDriver) Start(ctx context.Context, spec sandbox.Spec) (sandbox.Sandbox, error) {
	sb, err := d.fakeDriver.Start(ctx, spec)
	if err != nil {
		return nil, err
	}
	return &freezable{Sandbox: sb, d: d}, nil
}

type freezable struct {
	sandbox.Sandbox
	d *freezingDriver
}

func (s *freezable) Freeze() error {
	s.d.record("freeze")
	s.d.frozen <- struct{}{}
	return nil
}

func (s *freezable) Thaw() error { s.d.record("thaw"); return nil }

func TestIdleEnvironmentsAreFrozenAndThawedBeforeUse(t *testing.T) {
	var d *freezingDriver
	r, _ := newRouter(t, func(rt *fakeRuntime) error {
		for {
			inv, ok := rt.next()
			if !ok {
				return nil
			}
			d.record("invoke")
			rt.respond(inv.id, inv.payload)
		}
	}, func(c *Config) {
		d = &freezingDriver{fakeDriver: c.Driver.(*fakeDriver), frozen: make(chan struct{}, 4)}
		c.Driver = d
		c.FreezeAfter = time.Millisecond
	})
	f := testFunction()
	invokeOK(t, r, f, `{}`)
	await(t, d.frozen, "the idle environment to be frozen")
	invokeOK(t, r, f, `{}`)
	await(t, d.frozen, "the idle environment to be frozen again")

	d.mu.Lock()
	got := d.events
	d.mu.Unlock()
	want := []string{"invoke", "freeze", "thaw", "invoke", "freeze"}
	if len(got) != len(want) {
		t.Fatalf("events %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("events %v, want %v", got, want)
		}
	}
}

func TestBusyEnvironmentsAreNotFrozen(t *testing.T) {
	var d *freezingDriver
	r, _ := newRouter(t, echo, func(c *Config) {
		d = &freezingDriver{fakeDriver: c.Driver.(*fakeDriver), frozen: make(chan struct{}, 100)}
		c.Driver = d
		c.FreezeAfter = time.Hour
	})
	f := testFunction()
	for range 20 {
		invokeOK(t, r, f, `{}`)
	}
	if len(d.frozen) != 0 {
		t.Errorf("%d freezes of an environment never idle for FreezeAfter", len(d.frozen))
	}
}
