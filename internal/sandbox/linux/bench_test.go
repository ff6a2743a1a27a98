//go:build linux

package linux

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/lambent/lambent/internal/sandbox"
)

// BenchmarkStartKill measures starting a sandbox up to the exec of its entrypoint and killing it.
func BenchmarkStartKill(b *testing.B) {
	d, err := New(Options{StateDir: b.TempDir()})
	if err != nil {
		b.Skipf("linux sandbox driver unavailable here: %v", err)
	}
	code := b.TempDir()
	os.Chmod(code, 0o755)
	os.WriteFile(filepath.Join(code, "bootstrap"), []byte("#!/bin/sh\nsleep 100\n"), 0o755)
	out, _ := os.Create(os.DevNull)
	var starts, kills []time.Duration
	for i := 0; b.Loop(); i++ {
		t0 := time.Now()
		sb, err := d.Start(context.Background(), sandbox.Spec{ID: fmt.Sprintf("b%d", i), CodeDir: code, Entrypoint: "bootstrap",
			MemoryMB: 128, EphemeralStorageMB: 512, Output: out})
		if err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		sb.Kill()
		starts, kills = append(starts, t1.Sub(t0)), append(kills, time.Since(t1))
	}
	sort.Slice(starts, func(i, j int) bool { return starts[i] < starts[j] })
	sort.Slice(kills, func(i, j int) bool { return kills[i] < kills[j] })
	b.ReportMetric(float64(starts[len(starts)/2].Microseconds())/1000, "start-p50-ms")
	b.ReportMetric(float64(kills[len(kills)/2].Microseconds())/1000, "kill-p50-ms")
}
