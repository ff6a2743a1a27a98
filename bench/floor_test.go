package bench

import (
	"archive/zip"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"
)

// payload is the event of every warm invoke and the body of every echo: the smallest JSON object.
var payload = []byte(`{}`)

// floorTime is how long each floor is measured for. The benchmarks measure half of it before
// their figure and half after, so that a floor and its figure see the same machine: other work
// on it inflates both.
const floorTime = time.Second

// echoFloor is a plain Go HTTP/1.1 echo server in a process of its own, and a keep-alive client.
type echoFloor struct {
	url    string
	pid    int
	client *http.Client
}

func startEcho(tb testing.TB) *echoFloor {
	tb.Helper()
	addr, pid := startChild(tb, nil, build(tb, "./bench/echoserver"))
	return &echoFloor{url: "http://" + addr + "/", pid: pid, client: newHTTPClient()}
}

// newHTTPClient is the keep-alive client of the floors and of the invokes: one connection per
// caller, kept open.
func newHTTPClient() *http.Client {
	return &http.Client{Transport: &http.Transport{
		MaxIdleConns: 64, MaxIdleConnsPerHost: 64, DisableCompression: true, IdleConnTimeout: time.Minute,
	}}
}

// roundTrip posts payload and reads the echo.
func (e *echoFloor) roundTrip() error {
	resp, err := e.client.Post(e.url, "application/json", bytes.NewReader(payload))
	if err != nil {
		return err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK || !bytes.Equal(body, payload) {
		return fmt.Errorf("echo: %s %q", resp.Status, body)
	}
	return nil
}

// roundTrips measures one caller's round trips for d, after a warm-up.
func (e *echoFloor) roundTrips(tb testing.TB, d time.Duration) latencies {
	tb.Helper()
	if _, err := sample(times(200), e.roundTrip); err != nil {
		tb.Fatal(err)
	}
	lat, err := sample(forDuration(d), e.roundTrip)
	if err != nil {
		tb.Fatal(err)
	}
	return lat
}

// throughput measures callers concurrent callers for d, after a warm-up, and the CPU time
// client and server spent per request.
func (e *echoFloor) throughput(tb testing.TB, callers int, d time.Duration) (float64, cpuPerOp) {
	tb.Helper()
	if _, _, err := parallel(callers, forDuration(floorTime/5), e.roundTrip); err != nil {
		tb.Fatal(err)
	}
	cpu := startCPU(e.pid)
	n, perSec, err := parallel(callers, forDuration(d), e.roundTrip)
	if err != nil {
		tb.Fatal(err)
	}
	return perSec, cpu.per(n)
}

// callers is the number of concurrent callers of the throughput benchmarks.
const callers = 8

// BenchmarkFloorRoundTrip is the floor of the warm invoke: one HTTP/1.1 keep-alive round trip
// between two processes on loopback. A warm invoke costs at least two of them (caller → server,
// server → function).
func BenchmarkFloorRoundTrip(b *testing.B) {
	e := startEcho(b)
	if _, err := sample(times(200), e.roundTrip); err != nil {
		b.Fatal(err)
	}
	lat, err := sample(b.Loop, e.roundTrip)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(us(lat.p50()), "p50-us")
	b.ReportMetric(us(lat.p99()), "p99-us")
	report(b, "floor: HTTP/1.1 keep-alive round trip between two processes p50 %.0fµs p99 %.0fµs | two round trips %.0fµs%s",
		us(lat.p50()), us(lat.p99()), 2*us(lat.p50()), load())
}

// BenchmarkFloorEchoThroughput is the floor of the warm throughput: a plain Go HTTP echo server
// in its own process answering 8 concurrent keep-alive callers.
func BenchmarkFloorEchoThroughput(b *testing.B) {
	e := startEcho(b)
	if _, _, err := parallel(callers, forDuration(floorTime/5), e.roundTrip); err != nil {
		b.Fatal(err)
	}
	cpu := startCPU(e.pid)
	n, perSec, err := parallel(callers, b.Loop, e.roundTrip)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(perSec, "req/s")
	report(b, "floor: plain Go HTTP echo, %d callers: %.0f req/s | CPU per request %s%s", callers, perSec, cpu.per(n), load())
}

// execFloor measures the floor of a cold start: from fork+exec of bootstrap to the arrival of
// its first Runtime API request (invocation/next) at a listener that does nothing else.
func execFloor(tb testing.TB, bootstrap string, n int) latencies {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	arrived := make(chan time.Time, 1)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived <- time.Now()
		<-r.Context().Done() // hold invocation/next, as a Runtime API with no event does
	})}
	go srv.Serve(ln)
	defer srv.Close()
	dir := bootstrap[:len(bootstrap)-len("/bootstrap")]
	once := func() (time.Duration, error) {
		cmd := exec.Command(bootstrap)
		cmd.Dir = dir
		cmd.Env = []string{"AWS_LAMBDA_RUNTIME_API=" + ln.Addr().String(), "LAMBDA_TASK_ROOT=" + dir,
			"AWS_LAMBDA_FUNCTION_NAME=floor", "_HANDLER=bootstrap"}
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
		t0 := time.Now()
		if err := cmd.Start(); err != nil {
			return 0, err
		}
		defer func() {
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			cmd.Wait()
		}()
		select {
		case t := <-arrived:
			return t.Sub(t0), nil
		case <-time.After(10 * time.Second):
			return 0, errors.New("no invocation/next within 10s")
		}
	}
	lat := make(latencies, 0, n)
	for range n {
		d, err := once()
		if err != nil {
			tb.Fatalf("exec floor: %v", err)
		}
		lat = append(lat, d)
	}
	return lat
}

// bareRuntime runs a bootstrap against a Runtime API that does nothing but hand it events and
// take its answers: the function's side of a warm invoke with nothing of Lambent in it. It costs
// a round trip plus whatever the runtime library (aws-lambda-go) and the function's scheduler add.
type bareRuntime struct {
	pid     int
	waiting chan struct{} // the runtime is in invocation/next
	events  chan string
	answers chan []byte
}

func startBareRuntime(tb testing.TB, bootstrap string) *bareRuntime {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	r := &bareRuntime{waiting: make(chan struct{}, 1), events: make(chan string), answers: make(chan []byte)}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /2018-06-01/runtime/invocation/next", func(w http.ResponseWriter, req *http.Request) {
		r.waiting <- struct{}{}
		var id string
		select {
		case id = <-r.events:
		case <-req.Context().Done():
			return
		}
		h := w.Header()
		h["Content-Type"] = []string{"application/json"}
		h["Lambda-Runtime-Aws-Request-Id"] = []string{id}
		h["Lambda-Runtime-Deadline-Ms"] = []string{strconv.FormatInt(time.Now().Add(time.Minute).UnixMilli(), 10)}
		h["Lambda-Runtime-Invoked-Function-Arn"] = []string{"arn:aws:lambda:us-east-1:000000000000:function:floor"}
		h["Lambda-Runtime-Trace-Id"] = []string{"Root=1-00000000-000000000000000000000000;Parent=0000000000000000;Sampled=0"}
		h["Content-Length"] = []string{strconv.Itoa(len(payload))}
		w.Write(payload)
	})
	mux.HandleFunc("POST /2018-06-01/runtime/invocation/{id}/response", func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		w.WriteHeader(http.StatusAccepted)
		io.WriteString(w, `{"status":"OK"}`)
		r.answers <- body
	})
	srv := &http.Server{Handler: mux}
	go srv.Serve(ln)
	cmd := exec.Command(bootstrap)
	cmd.Env = []string{"AWS_LAMBDA_RUNTIME_API=" + ln.Addr().String()}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		srv.Close()
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		cmd.Wait()
		srv.Close()
	})
	r.pid = cmd.Process.Pid
	return r
}

// invoke waits until the runtime is in invocation/next, as a warm environment is when an
// invoke arrives, and returns the time from handing it an event to receiving its response.
func (r *bareRuntime) invoke() time.Duration {
	<-r.waiting
	t0 := time.Now()
	r.events <- "8f2a6c1e-0000-4000-8000-000000000000"
	<-r.answers
	return time.Since(t0)
}

// runtimeFloor measures one bareRuntime for floorTime, after a warm-up, and the function's CPU
// time per invoke.
func runtimeFloor(tb testing.TB, bootstrap string) (lat latencies, cpu time.Duration) {
	tb.Helper()
	r := startBareRuntime(tb, bootstrap)
	for range 500 {
		r.invoke()
	}
	lat = make(latencies, 0, 1<<14)
	cpu0, _ := procCPU(r.pid)
	for more := forDuration(floorTime); more(); {
		lat = append(lat, r.invoke())
	}
	cpu1, _ := procCPU(r.pid)
	return lat, (cpu1 - cpu0) / time.Duration(len(lat))
}

// runtimeThroughput runs n bareRuntimes, one caller each, for floorTime after a warm-up and
// returns the invokes per second and the CPU time per invoke of the functions and of the bare
// Runtime APIs (this process): roughly the ceiling of a warm throughput benchmark of the same
// functions on this machine.
func runtimeThroughput(tb testing.TB, bootstrap string, n int) (perSec float64, functions, api time.Duration) {
	tb.Helper()
	rs := make([]*bareRuntime, n)
	for i := range rs {
		rs[i] = startBareRuntime(tb, bootstrap)
	}
	run := func(d time.Duration) int {
		var wg sync.WaitGroup
		counts := make([]int, n)
		end := time.Now().Add(d)
		for i, r := range rs {
			wg.Go(func() {
				for time.Now().Before(end) {
					r.invoke()
					counts[i]++
				}
			})
		}
		wg.Wait()
		total := 0
		for _, c := range counts {
			total += c
		}
		return total
	}
	run(floorTime / 5)
	cpu := func() (sum time.Duration) {
		for _, r := range rs {
			c, _ := procCPU(r.pid)
			sum += c
		}
		return sum
	}
	self0, cpu0, t0 := readCPU(-1).client, cpu(), time.Now()
	ops := run(floorTime)
	elapsed, cpu1, self1 := time.Since(t0), cpu(), readCPU(-1).client
	per := func(d time.Duration) time.Duration { return d / time.Duration(max(ops, 1)) }
	return float64(ops) / elapsed.Seconds(), per(cpu1 - cpu0), per(self1 - self0)
}

// writeBootstrap writes a bootstrap binary into a directory of its own and returns its path.
func writeBootstrap(tb testing.TB, bin []byte) string {
	tb.Helper()
	path := tb.TempDir() + "/bootstrap"
	if err := os.WriteFile(path, bin, 0o755); err != nil {
		tb.Fatal(err)
	}
	return path
}

// bootstrapOf returns the bootstrap binary inside a function zip.
func bootstrapOf(tb testing.TB, z []byte) []byte {
	tb.Helper()
	zr, err := zip.NewReader(bytes.NewReader(z), int64(len(z)))
	if err != nil {
		tb.Fatal(err)
	}
	f, err := zr.Open("bootstrap")
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	bin, err := io.ReadAll(f)
	if err != nil {
		tb.Fatal(err)
	}
	return bin
}
