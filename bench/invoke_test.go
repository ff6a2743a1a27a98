package bench

import (
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"

	"github.com/lambent/lambent/internal/lambenttest"
	"github.com/lambent/lambent/internal/sandbox/linux"
)

// BenchmarkWarmInvoke is one caller invoking the empty aws-lambda-go handler through the Invoke
// API over a keep-alive connection, signing every request with SigV4, against the floor of two
// process-to-process round trips measured just before and just after. Targets: p50 ≤ 1.5 × the
// floor, p99 ≤ 3 ×.
//
// It also measures the function's side alone (the same bootstrap against a Runtime API that does
// nothing else), which no Runtime API can beat, to show how much of the figure is Lambent's.
func BenchmarkWarmInvoke(b *testing.B) { warmInvoke(b, "process") }

// BenchmarkWarmInvokeLinux is BenchmarkWarmInvoke with the environment in a linux sandbox
// (its own network namespace: the Runtime API connection stays inside it). The function has
// 1,769 MB, one vCPU: with the default 128 MB its CPU share (7 %) throttles it after a few
// dozen back-to-back invokes per 100 ms period, as on Lambda, and the benchmark would measure
// the quota rather than Lambent.
func BenchmarkWarmInvokeLinux(b *testing.B) {
	if _, err := linux.New(linux.Options{StateDir: b.TempDir(), Spares: -1}); err != nil {
		b.Skipf("the linux sandbox driver cannot run here: %v", err)
	}
	warmInvoke(b, "linux")
}

func warmInvoke(b *testing.B, sandbox string) {
	echo := startEcho(b)
	before := echo.roundTrips(b, floorTime/2)
	runtime, runtimeCPU := runtimeFloor(b, writeBootstrap(b, bootstrapOf(b, lambenttest.Function(b, "empty"))))

	t := startTarget(b, sandbox)
	t.createFunction(b, "empty", func(in *lambda.CreateFunctionInput) {
		if sandbox == "linux" {
			in.MemorySize = aws.Int32(1769)
		}
	})
	c := t.invoker("empty")
	sign, err := c.signing(2000)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := sample(times(500), c.invoke); err != nil { // the first one starts the environment
		b.Fatal(err)
	}
	cpu := startCPU(t.pid)
	lat, err := sample(b.Loop, c.invoke)
	if err != nil {
		b.Fatal(err)
	}
	cpuPer := cpu.per(len(lat))
	after := echo.roundTrips(b, floorTime/2)
	floor := append(before, after...)
	floor2 := 2 * floor.p50()

	p50, p99 := lat.p50(), lat.p99()
	r50, r99 := float64(p50)/float64(floor2), float64(p99)/float64(floor2)
	b.ReportMetric(us(p50), "p50-us")
	b.ReportMetric(us(p99), "p99-us")
	b.ReportMetric(us(floor2), "floor-2RT-us")
	b.ReportMetric(r50, "p50/floor")
	b.ReportMetric(r99, "p99/floor")
	b.ReportMetric(us(sign.p50()), "sign-us")
	b.ReportMetric(us(runtime.p50()), "runtime-floor-us")
	report(b, sandbox+" warm invoke p50 %.0fµs p99 %.0fµs | floor 2×RT %.0fµs (RT p50 %.0fµs p99 %.0fµs; p50 before %.0fµs, after %.0fµs) | ratio p50 %.2f× (≤1.5×: %s) p99 %.2f× (≤3×: %s)%s",
		us(p50), us(p99), us(floor2), us(floor.p50()), us(floor.p99()), us(before.p50()), us(after.p50()),
		r50, verdict(r50 <= 1.5), r99, verdict(r99 <= 3), t.where())
	report(b, "  of which: client SigV4 signing p50 %.1fµs; function side alone (same bootstrap ↔ bare Runtime API) p50 %.0fµs p99 %.0fµs, function CPU %.0fµs per invoke; so Lambent adds ≈ %.0fµs at p50 beyond one RT + function side | CPU per invoke %s%s",
		us(sign.p50()), us(runtime.p50()), us(runtime.p99()), us(runtimeCPU), us(p50-floor.p50()-runtime.p50()), cpuPer, load())
}

// BenchmarkWarmThroughput is 8 concurrent callers invoking the empty handler, each on its own
// keep-alive connection, against a plain Go HTTP echo server under the same 8 callers measured
// just before and just after. Targets: ≥ 10,000 invokes/s and ≥ 40 % of the echo throughput.
//
// It also measures the functions' side alone: 8 copies of the bootstrap, each against a Runtime
// API that does nothing else, driven as fast as they answer.
func BenchmarkWarmThroughput(b *testing.B) {
	echo := startEcho(b)
	before, floorCPU := echo.throughput(b, callers, floorTime/2)
	bare, bareCPU, bareAPICPU := runtimeThroughput(b, writeBootstrap(b, bootstrapOf(b, lambenttest.Function(b, "empty"))), callers)

	t := startTarget(b)
	t.createFunction(b, "empty")
	c := t.invoker("empty")
	// Warm up: the first calls start one environment per concurrent caller.
	if _, _, err := parallel(callers, times(2000), c.invoke); err != nil {
		b.Fatal(err)
	}
	cpu := startCPU(t.pid)
	n, perSec, err := parallel(callers, b.Loop, c.invoke)
	if err != nil {
		b.Fatal(err)
	}
	cpuPer := cpu.per(n)
	after, _ := echo.throughput(b, callers, floorTime/2)
	floor := (before + after) / 2

	ratio := perSec / floor
	b.ReportMetric(perSec, "invokes/s")
	b.ReportMetric(floor, "echo-req/s")
	b.ReportMetric(100*ratio, "%-of-echo")
	b.ReportMetric(bare, "bare-runtime-invokes/s")
	report(b, "warm throughput, %d callers: %.0f invokes/s (≥10,000/s: %s) | floor echo %.0f req/s (before %.0f, after %.0f) | ratio %.0f%% (≥40%%: %s)%s",
		callers, perSec, verdict(perSec >= 10000), floor, before, after, 100*ratio, verdict(ratio >= 0.4), t.where()+load())
	report(b, "  function side alone (%d bootstraps ↔ bare Runtime APIs, one caller each) %.0f invokes/s, CPU per invoke functions %.0fµs + bare APIs %.0fµs | CPU per invoke %s | per echo request %s",
		callers, bare, us(bareCPU), us(bareAPICPU), cpuPer, floorCPU)
}

// BenchmarkClientSign is what the benchmarks' client spends building and SigV4-signing one
// Invoke request; the warm figures include it.
func BenchmarkClientSign(b *testing.B) {
	c := (&target{endpoint: "http://127.0.0.1:9"}).invoker("empty")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.request(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkColdStart is the end-to-end latency of an Invoke that finds no warm environment:
// before each one, outside the timer, the server drops the function's environments (what it does
// itself when the function's configuration changes), so each timed invoke starts the bootstrap,
// waits for its first invocation/next and runs the event, and measures nothing else: no API
// update, no code extraction (the code cache is warm, as for every cold start but a function's
// first). The floor is fork+exec of the same bootstrap binary until its first Runtime API request
// reaches a listener that does nothing else. Targets: p50 ≤ 10 ms, p99 ≤ 30 ms.
func BenchmarkColdStart(b *testing.B) { coldStart(b, "process") }

// BenchmarkColdStartLinux is BenchmarkColdStart with every environment in a linux sandbox
// (namespaces, cgroup, pivot_root, seccomp), against the same floor: a plain fork+exec.
func BenchmarkColdStartLinux(b *testing.B) {
	if _, err := linux.New(linux.Options{StateDir: b.TempDir(), Spares: -1}); err != nil {
		b.Skipf("the linux sandbox driver cannot run here: %v", err)
	}
	coldStart(b, "linux")
}

func coldStart(b *testing.B, sandbox string) {
	bootstrap := writeBootstrap(b, bootstrapOf(b, lambenttest.Function(b, "empty")))
	before := execFloor(b, bootstrap, 100)

	t := startTarget(b, sandbox)
	t.createFunction(b, "empty")
	lat := t.coldInvokes(b, "empty")
	after := execFloor(b, bootstrap, 100)
	floor := append(before, after...)

	p50, p99 := lat.p50(), lat.p99()
	r50, r99 := float64(p50)/float64(floor.p50()), float64(p99)/float64(floor.p50())
	b.ReportMetric(ms(p50), "p50-ms")
	b.ReportMetric(ms(p99), "p99-ms")
	b.ReportMetric(ms(floor.p50()), "floor-exec-ms")
	b.ReportMetric(r50, "p50/floor")
	report(b, sandbox+" cold start p50 %.1fms (≤10ms: %s) p99 %.1fms (≤30ms: %s) | floor fork+exec → first invocation/next p50 %.1fms p99 %.1fms (p50 before %.1fms, after %.1fms) | ratio p50 %.1f× p99 %.1f×%s",
		ms(p50), verdict(ms(p50) <= 10), ms(p99), verdict(ms(p99) <= 30), ms(floor.p50()), ms(floor.p99()),
		ms(before.p50()), ms(after.p50()), r50, r99, t.where()+load())
}

// coldInvokes invokes function once per benchmark iteration, each time after dropping its
// environments and a pause (outside the timer), and returns the latencies.
func (t *target) coldInvokes(b *testing.B, function string) latencies {
	c := t.invoker(function)
	if err := c.invoke(); err != nil {
		b.Fatal(err)
	}
	var lat latencies
	for b.Loop() {
		b.StopTimer()
		if err := t.forget(function); err != nil {
			b.Fatal(err)
		}
		// Cold starts that do not come in a burst: the server has time to pre-start its
		// spare sandboxes (linux driver) before the next one, as it has between real ones.
		time.Sleep(50 * time.Millisecond)
		b.StartTimer()
		d, err := sample(times(1), c.invoke)
		if err != nil {
			b.Fatal(err)
		}
		lat = append(lat, d...)
	}
	return lat
}
