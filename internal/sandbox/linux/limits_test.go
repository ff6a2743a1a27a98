//go:build linux

package linux

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lambent/lambent/internal/sandbox"
)

func TestLimitsFor(t *testing.T) {
	cores := int64(runtime.NumCPU()) * cpuPeriod
	tests := []struct {
		memoryMB  int
		wantQuota int64
	}{
		{128, 128 * cpuPeriod / mbPerCPU},
		{1769, cpuPeriod}, // one vCPU
		{3538, min(2*cpuPeriod, cores)},
		{10240, cores}, // capped at the host's cores
	}
	for _, tt := range tests {
		l := limitsFor(tt.memoryMB)
		if l.CPUQuota != tt.wantQuota || l.MemoryBytes != int64(tt.memoryMB)<<20 || l.Pids != maxPids {
			t.Errorf("limitsFor(%d) = %+v, want quota %d, memory %d, pids %d", tt.memoryMB, l, tt.wantQuota, int64(tt.memoryMB)<<20, maxPids)
		}
	}
}

// TestFreezeThaw checks that a frozen sandbox makes no progress and resumes after Thaw.
func TestFreezeThaw(t *testing.T) {
	d := newDriver(t)
	// The function counts in /tmp; the test reads the count through /proc/PID/root.
	code := scriptCode(t, "i=0\nwhile :; do i=$((i+1)); echo $i > /tmp/n; done\n")
	sb, err := d.Start(context.Background(), sandbox.Spec{ID: "fz", CodeDir: code, Entrypoint: "bootstrap",
		MemoryMB: 1769, EphemeralStorageMB: 512, RuntimeAPI: http.NotFoundHandler(), Output: devNull(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer sb.Kill()
	count := filepath.Join("/proc", strconv.Itoa(sb.(*box).cmd.Process.Pid), "root/tmp/n")
	read := func() string {
		b, _ := os.ReadFile(count)
		return strings.TrimSpace(string(b))
	}
	waitChange := func(what string) {
		t.Helper()
		first := read()
		for deadline := time.Now().Add(5 * time.Second); read() == first; {
			if time.Now().After(deadline) {
				t.Fatalf("%s: the count stays at %q", what, first)
			}
			time.Sleep(10 * time.Millisecond) // sampling a counter; no event to wait on
		}
	}
	waitChange("running")
	fz := sb.(sandbox.Freezer)
	if err := fz.Freeze(); err != nil {
		t.Fatal(err)
	}
	frozen := read()
	time.Sleep(200 * time.Millisecond) // a frozen sandbox must not move during this
	if now := read(); now != frozen {
		t.Errorf("frozen sandbox counted from %s to %s", frozen, now)
	}
	if err := fz.Thaw(); err != nil {
		t.Fatal(err)
	}
	waitChange("thawed")
}
