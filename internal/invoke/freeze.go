package invoke

import (
	"sync"
	"time"

	"github.com/lambent/lambent/internal/sandbox"
)

// freezer stops an idle environment's processes shortly after its invocation ends, as Lambda
// freezes environments between invocations, so that an idle environment costs no CPU.
// Environments whose sandbox cannot be frozen are left running.
type freezer struct {
	fz sandbox.Freezer // nil when the driver cannot freeze

	mu     sync.Mutex
	parked bool // idle in its pool
	frozen bool
	timer  *time.Timer
}

func newFreezer(sb sandbox.Sandbox) *freezer {
	fz, _ := sb.(sandbox.Freezer)
	return &freezer{fz: fz}
}

// park marks the environment idle and freezes it after delay unless it is taken before.
func (f *freezer) park(delay time.Duration) {
	if f.fz == nil || delay < 0 {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.parked = true
	if f.timer == nil {
		f.timer = time.AfterFunc(delay, f.freezeIfParked)
	} else {
		f.timer.Reset(delay)
	}
}

func (f *freezer) freezeIfParked() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.parked && !f.frozen && f.fz.Freeze() == nil {
		f.frozen = true
	}
}

// unpark marks the environment busy, thawing it if it was frozen.
func (f *freezer) unpark() error {
	if f.fz == nil {
		return nil
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.parked = false
	if f.timer != nil {
		f.timer.Stop()
	}
	if !f.frozen {
		return nil
	}
	f.frozen = false
	return f.fz.Thaw()
}

// stop cancels a pending freeze for good.
func (f *freezer) stop() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.parked = false
	if f.timer != nil {
		f.timer.Stop()
	}
}
