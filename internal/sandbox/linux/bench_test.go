//go:build linux

package linux

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/lambent/lambent/internal/runtimeapi"
	"github.com/lambent/lambent/internal/sandbox"
)

// BenchmarkStartKill measures starting a sandbox up to the exec of its entrypoint and killing it.
func BenchmarkStartKill(b *testing.B) {
	d, err := New(Options{StateDir: b.TempDir()})
	if err != nil {
		b.Skipf("linux sandbox driver unavailable here: %v", err)
	}
	code := scriptCode(b, "sleep 100\n")
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

// BenchmarkColdStart measures an aws-lambda-go function from Start to its first
// invocation/next, with spare sandboxes ready, beside the floor of exec'ing the same binary
// as a plain child process until its first invocation/next.
func BenchmarkColdStart(b *testing.B) {
	d, err := New(Options{StateDir: b.TempDir(), Spares: 4})
	if err != nil {
		b.Skipf("linux sandbox driver unavailable here: %v", err)
	}
	defer d.Close()
	code := b.TempDir()
	os.Chmod(code, 0o755)
	build := exec.Command("go", "build", "-tags", "lambda.norpc", "-o", filepath.Join(code, "bootstrap"),
		"github.com/lambent/lambent/internal/testfunctions/probe")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		b.Fatalf("build: %v\n%s", err, out)
	}
	out := devNull(b)
	var cold, floor []time.Duration
	for i := 0; b.Loop(); i++ {
		// Let the spares refill as they would between cold starts.
		for len(d.spares) < cap(d.spares) {
			time.Sleep(time.Millisecond)
		}
		api := runtimeapi.New()
		t0 := time.Now()
		sb, err := d.Start(context.Background(), sandbox.Spec{ID: fmt.Sprintf("c%d", i), CodeDir: code,
			Entrypoint: "bootstrap", MemoryMB: 1769, EphemeralStorageMB: 512, RuntimeAPI: api, Output: out})
		if err != nil {
			b.Fatal(err)
		}
		select {
		case <-api.Ready():
		case <-sb.Done():
			b.Fatalf("function exited: %v", sb.Err())
		}
		cold = append(cold, time.Since(t0))
		sb.Kill()
		floor = append(floor, execFloor(b, filepath.Join(code, "bootstrap")))
	}
	p := func(ds []time.Duration, q float64) float64 {
		sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
		return float64(ds[int(q*float64(len(ds)-1))].Microseconds()) / 1000
	}
	b.ReportMetric(p(cold, 0.5), "cold-p50-ms")
	b.ReportMetric(p(cold, 0.99), "cold-p99-ms")
	b.ReportMetric(p(floor, 0.5), "floor-exec-p50-ms")
	b.Logf("linux sandbox cold start p50 %.2fms p99 %.2fms | floor (exec to first /next, no sandbox) p50 %.2fms | ratio %.1f×",
		p(cold, 0.5), p(cold, 0.99), p(floor, 0.5), p(cold, 0.5)/p(floor, 0.5))
}

// execFloor runs bin as a plain child with a Runtime API on loopback and returns the time to
// its first invocation/next.
func execFloor(b *testing.B, bin string) time.Duration {
	api := runtimeapi.New()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	srv := &http.Server{Handler: api}
	go srv.Serve(ln)
	defer srv.Close()
	cmd := exec.Command(bin)
	cmd.Env = []string{"AWS_LAMBDA_RUNTIME_API=" + ln.Addr().String()}
	t0 := time.Now()
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	<-api.Ready()
	d := time.Since(t0)
	cmd.Process.Kill()
	cmd.Wait()
	return d
}
