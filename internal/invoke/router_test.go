package invoke

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lambent/lambent/internal/function"
)

func invokeOK(t *testing.T, r *Router, f *function.Function, payload string) Response {
	t.Helper()
	resp, err := r.Invoke(context.Background(), Request{Function: f, Payload: []byte(payload), Tail: true})
	if err != nil {
		t.Fatalf("Invoke: %v", err)
	}
	return resp
}

func TestWarmReuse(t *testing.T) {
	r, d := newRouter(t, echo)
	f := testFunction()
	for i := range 3 {
		resp := invokeOK(t, r, f, fmt.Sprintf(`{"i":%d}`, i))
		if want := fmt.Sprintf(`{"i":%d}`, i); string(resp.Payload) != want || resp.FunctionError != "" {
			t.Errorf("invoke %d: %s %q, want %s", i, resp.FunctionError, resp.Payload, want)
		}
	}
	if n := d.sandboxes(); n != 1 {
		t.Errorf("%d sandboxes for 3 sequential invokes, want 1", n)
	}
}

// hold is a runtime that takes invocations and answers each only when released.
type hold struct {
	got     chan string   // request ids taken
	release chan struct{} // one receive answers one invocation
}

func newHold() *hold { return &hold{got: make(chan string, 16), release: make(chan struct{})} }

func (h *hold) behave(rt *fakeRuntime) error {
	for {
		inv, ok := rt.next()
		if !ok {
			return errors.New("signal: killed")
		}
		h.got <- inv.id
		select {
		case <-h.release:
		case <-rt.ctx.Done():
			return errors.New("signal: killed")
		}
		rt.respond(inv.id, []byte(`"released"`))
	}
}

func TestConcurrentInvokesGetSeparateEnvironments(t *testing.T) {
	h := newHold()
	r, d := newRouter(t, h.behave)
	f := testFunction()
	const n = 4
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() { invokeOK(t, r, f, `{}`) })
	}
	for range n {
		await(t, h.got, "an invocation")
	}
	if got := d.sandboxes(); got != n {
		t.Errorf("%d sandboxes for %d concurrent invokes, want %d", got, n, n)
	}
	close(h.release)
	wg.Wait()
}

func TestThrottle(t *testing.T) {
	h := newHold()
	r, _ := newRouter(t, h.behave, func(c *Config) { c.MaxConcurrency = 2 })
	f := testFunction()
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() { invokeOK(t, r, f, `{}`) })
	}
	await(t, h.got, "the first invocation")
	await(t, h.got, "the second invocation")
	if _, err := r.Invoke(context.Background(), Request{Function: f, Payload: []byte(`{}`)}); !errors.Is(err, ErrThrottled) {
		t.Errorf("third concurrent invoke: %v, want ErrThrottled", err)
	}
	close(h.release)
	wg.Wait()
	if resp := invokeOK(t, r, f, `{}`); string(resp.Payload) != `"released"` {
		t.Errorf("invoke after the others ended: %q", resp.Payload)
	}
}

func TestNotActive(t *testing.T) {
	r, d := newRouter(t, echo)
	f := testFunction()
	f.State = function.StatePending
	if _, err := r.Invoke(context.Background(), Request{Function: f}); !errors.Is(err, ErrNotReady) {
		t.Errorf("Invoke of a Pending function: %v, want ErrNotReady", err)
	}
	if d.sandboxes() != 0 {
		t.Error("a sandbox was started for a Pending function")
	}
}

// failures are runtimes that fail on their first invocation, and what the caller must get.
func TestFunctionFailures(t *testing.T) {
	tests := []struct {
		name    string
		behave  func(rt *fakeRuntime) error
		want    string // payload; %s is the request id
		fresh   bool   // the next invocation needs a new environment
		logLine string // in the log tail
	}{
		{
			name: "init error, then exit",
			behave: func(rt *fakeRuntime) error {
				rt.call("POST", "init/error", []byte(`{"errorMessage":"bad config","errorType":"Init.Bad","stackTrace":[]}`))
				return exitStatus(1)
			},
			want:  `{"errorMessage":"bad config","errorType":"Init.Bad","stackTrace":[]}`,
			fresh: true, logLine: "RequestId: %s Error: bad config\nInit.Bad",
		},
		{
			name:   "exit during init",
			behave: func(rt *fakeRuntime) error { return exitStatus(2) },
			want:   `{"errorType":"Runtime.ExitError","errorMessage":"RequestId: %s Error: Runtime exited with error: exit status 2"}`,
			fresh:  true, logLine: "RequestId: %s Error: Runtime exited with error: exit status 2\nRuntime.ExitError",
		},
		{
			name:   "clean exit during init",
			behave: func(rt *fakeRuntime) error { return nil },
			want:   `{"errorType":"Runtime.ExitError","errorMessage":"RequestId: %s Error: Runtime exited without providing a reason"}`,
			fresh:  true,
		},
		{
			name: "exit during the invocation",
			behave: func(rt *fakeRuntime) error {
				rt.next()
				rt.print("about to crash")
				return exitStatus(3)
			},
			want:  `{"errorType":"Runtime.ExitError","errorMessage":"RequestId: %s Error: Runtime exited with error: exit status 3"}`,
			fresh: true, logLine: "about to crash\nRequestId: %s Error: Runtime exited with error: exit status 3\nRuntime.ExitError",
		},
		{
			name: "handler error",
			behave: func(rt *fakeRuntime) error {
				for {
					inv, ok := rt.next()
					if !ok {
						return nil
					}
					rt.call("POST", "invocation/"+inv.id+"/error", []byte(`{"errorMessage":"boom","errorType":"errorString"}`))
				}
			},
			want: `{"errorMessage":"boom","errorType":"errorString"}`,
		},
		{
			name: "answer, then exit",
			behave: func(rt *fakeRuntime) error {
				inv, _ := rt.next()
				rt.respond(inv.id, []byte(`"last words"`))
				return exitStatus(1)
			},
			want: `"last words"`, fresh: true,
		},
		{
			name: "oversized response",
			behave: func(rt *fakeRuntime) error {
				for {
					inv, ok := rt.next()
					if !ok {
						return nil
					}
					rt.respond(inv.id, make([]byte, 6*1024*1024+101))
				}
			},
			want: `{"errorType":"Function.ResponseSizeTooLarge","errorMessage":"Response payload size exceeded maximum allowed payload size (6291556 bytes)."}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r, d := newRouter(t, tt.behave)
			f := testFunction()
			for i := range 2 { // the same outcome each time
				resp, err := r.Invoke(context.Background(), Request{Function: f, Payload: []byte(`{}`), Tail: true, RequestID: NewRequestID()})
				if err != nil {
					t.Fatal(err)
				}
				id := regexp.MustCompile(`START RequestId: (\S+)`).FindSubmatch(resp.LogTail)
				if id == nil {
					t.Fatalf("no START in the log tail %q", resp.LogTail)
				}
				want := tt.want
				if regexp.MustCompile(`%s`).MatchString(want) {
					want = fmt.Sprintf(want, id[1])
				}
				if string(resp.Payload) != want || (resp.FunctionError == "Unhandled") != (want[0] == '{') {
					t.Errorf("invoke %d: %s %s\nwant Unhandled %s", i, resp.FunctionError, resp.Payload, want)
				}
				if tt.logLine != "" {
					if line := fmt.Sprintf(tt.logLine, id[1]); !regexp.MustCompile(regexp.QuoteMeta(line)).Match(resp.LogTail) {
						t.Errorf("log tail lacks %q:\n%s", line, resp.LogTail)
					}
				}
			}
			if want := map[bool]int{true: 2, false: 1}[tt.fresh]; d.sandboxes() != want {
				t.Errorf("%d sandboxes for 2 invokes, want %d", d.sandboxes(), want)
			}
		})
	}
}

// A runtime that exits after answering (aws-lambda-go after a 413, a panic) leaves a dead
// environment in the pool; the next invocation must run on a new one, not fail.
func TestEnvironmentDiesWhileIdle(t *testing.T) {
	exited := make(chan struct{})
	r, d := newRouter(t, func(rt *fakeRuntime) error {
		if rt.sb.n == 1 {
			inv, _ := rt.next()
			rt.respond(inv.id, []byte(`"first"`))
			defer close(exited)
			return exitStatus(1)
		}
		return echo(rt)
	})
	f := testFunction()
	invokeOK(t, r, f, `{}`)
	await(t, exited, "the first runtime to exit")
	if resp := invokeOK(t, r, f, `"second"`); string(resp.Payload) != `"second"` || resp.FunctionError != "" {
		t.Errorf("invoke after the environment died: %s %s", resp.FunctionError, resp.Payload)
	}
	if d.sandboxes() != 2 {
		t.Errorf("%d sandboxes, want 2", d.sandboxes())
	}
}

// The runtime may die between being handed back to the pool and taking the next invocation:
// an invocation it never took is undelivered, and the router runs it elsewhere.
func TestEnvironmentDiesBeforeTakingInvocation(t *testing.T) {
	exit := make(chan struct{})
	r, _ := newRouter(t, func(rt *fakeRuntime) error {
		<-exit // never asks for an invocation
		return exitStatus(1)
	})
	f := testFunction()
	env, err := r.start(context.Background(), f)
	if err != nil {
		t.Fatal(err)
	}
	defer env.destroy()
	env.ready, env.invocations = true, 1 // as after a first invocation
	type result struct {
		resp Response
		out  outcome
	}
	done := make(chan result, 1)
	go func() {
		resp, out := env.invoke(Request{Function: f, RequestID: NewRequestID(), Payload: []byte(`{}`)})
		done <- result{resp, out}
	}()
	close(exit)
	if res := await(t, done, "the invocation"); res.out != undelivered {
		t.Errorf("outcome %v (%s %s), want undelivered", res.out, res.resp.FunctionError, res.resp.Payload)
	}
}

func TestInvalidEntrypoint(t *testing.T) {
	r, d := newRouter(t, echo)
	d.startErr = fmt.Errorf("sandbox x: start bootstrap: %w", fs.ErrNotExist)
	resp := invokeOK(t, r, testFunction(), `{}`)
	want := `{"errorType":"Runtime.InvalidEntrypoint","errorMessage":"RequestId: ` // then the id
	if string(resp.Payload[:len(want)]) != want || resp.FunctionError != "Unhandled" {
		t.Errorf("got %s %s", resp.FunctionError, resp.Payload)
	}
}

var reportRE = regexp.MustCompile(`REPORT RequestId: \S+\tDuration: ([\d.]+) ms\tBilled Duration: (\d+) ms\tMemory Size: 128 MB\tMax Memory Used: 10 MB\t(?:Init Duration: ([\d.]+) ms\t)?\n`)

func TestReport(t *testing.T) {
	r, _ := newRouter(t, func(rt *fakeRuntime) error {
		time.Sleep(5 * time.Millisecond) // an init phase that takes measurable time
		return echo(rt)
	})
	f := testFunction()
	for i, cold := range []bool{true, false} {
		resp := invokeOK(t, r, f, `{}`)
		m := reportRE.FindSubmatch(resp.LogTail)
		if m == nil {
			t.Fatalf("invoke %d: no REPORT like %v in\n%s", i, reportRE, resp.LogTail)
		}
		dur, _ := strconv.ParseFloat(string(m[1]), 64)
		billed, _ := strconv.ParseFloat(string(m[2]), 64)
		init, _ := strconv.ParseFloat(string(m[3]), 64)
		if cold != (m[3] != nil) {
			t.Errorf("invoke %d: Init Duration %q on a cold=%v start", i, m[3], cold)
		}
		if cold && init < 5 {
			t.Errorf("Init Duration %v ms for an init of at least 5 ms", init)
		}
		// provided.* runtimes are billed for their init phase too.
		if billed < dur+init-0.02 || billed > dur+init+1 { // the printed figures are rounded

			t.Errorf("invoke %d: Billed Duration %v ms for Duration %v ms and Init Duration %v ms", i, billed, dur, init)
		}
	}
}

func TestIdleEnvironmentsAreReaped(t *testing.T) {
	r, d := newRouter(t, echo, func(c *Config) { c.IdleTimeout = 20 * time.Millisecond })
	f := testFunction()
	invokeOK(t, r, f, `{}`)
	await(t, d.sandbox(0).killed, "the idle environment to be reaped")
	resp := invokeOK(t, r, f, `{}`)
	if d.sandboxes() != 2 || !regexp.MustCompile(`Init Duration`).Match(resp.LogTail) {
		t.Errorf("invoke after reaping: %d sandboxes, tail:\n%s", d.sandboxes(), resp.LogTail)
	}
}

func TestForget(t *testing.T) {
	r, d := newRouter(t, echo)
	f := testFunction()
	invokeOK(t, r, f, `{}`)
	r.Forget(f.Name)
	await(t, d.sandbox(0).killed, "the forgotten environment to be killed")
	invokeOK(t, r, f, `{}`)
	if d.sandboxes() != 2 {
		t.Errorf("%d sandboxes, want 2", d.sandboxes())
	}
}

// An environment made for one configuration never serves another.
func TestConfigurationChange(t *testing.T) {
	r, d := newRouter(t, echo)
	f := testFunction()
	invokeOK(t, r, f, `{}`)
	g := f.Clone()
	g.Environment = map[string]string{"NEW": "1"}
	invokeOK(t, r, g, `{}`)
	await(t, d.sandbox(0).killed, "the environment of the old configuration to be killed")
	if d.sandboxes() != 2 {
		t.Errorf("%d sandboxes, want 2", d.sandboxes())
	}
}

func TestEnvironmentVariables(t *testing.T) {
	envs := make(chan []string, 1)
	r, _ := newRouter(t, func(rt *fakeRuntime) error {
		envs <- rt.spec.Env
		return echo(rt)
	})
	f := testFunction()
	f.Environment = map[string]string{"MINE": "x=y"}
	invokeOK(t, r, f, `{}`)
	got := map[string]string{}
	for _, kv := range <-envs {
		k, v, _ := strings.Cut(kv, "=")
		got[k] = v
	}
	want := map[string]string{
		"AWS_LAMBDA_FUNCTION_NAME": "f", "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
		"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "128", "AWS_REGION": "us-east-1", "AWS_DEFAULT_REGION": "us-east-1",
		"_HANDLER": "bootstrap", "AWS_LAMBDA_LOG_GROUP_NAME": "/aws/lambda/f",
		"TZ": ":UTC", "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand", "MINE": "x=y",
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s=%q, want %q", k, got[k], v)
		}
	}
	if !regexp.MustCompile(`^\d{4}/\d\d/\d\d/\[\$LATEST\][0-9a-f]{32}$`).MatchString(got["AWS_LAMBDA_LOG_STREAM_NAME"]) {
		t.Errorf("AWS_LAMBDA_LOG_STREAM_NAME=%q", got["AWS_LAMBDA_LOG_STREAM_NAME"])
	}
}

func TestNextHeaders(t *testing.T) {
	got := make(chan invocation, 1)
	r, _ := newRouter(t, func(rt *fakeRuntime) error {
		inv, _ := rt.next()
		got <- inv
		rt.respond(inv.id, nil)
		return echo(rt)
	})
	before := time.Now()
	resp, err := r.Invoke(context.Background(), Request{Function: testFunction(), Payload: []byte(`{"k":"v"}`),
		RequestID: "c6af9ac6-7b61-11e6-9a41-93e812345678", ClientContext: `{"custom":{"a":"b"}}`})
	if err != nil || resp.FunctionError != "" {
		t.Fatal(err, resp.FunctionError)
	}
	inv := <-got
	h := inv.header
	if inv.id != "c6af9ac6-7b61-11e6-9a41-93e812345678" || string(inv.payload) != `{"k":"v"}` {
		t.Errorf("invocation %s %s", inv.id, inv.payload)
	}
	if h.Get("Lambda-Runtime-Invoked-Function-Arn") != "arn:aws:lambda:us-east-1:000000000000:function:f" {
		t.Errorf("function arn %q", h.Get("Lambda-Runtime-Invoked-Function-Arn"))
	}
	if h.Get("Lambda-Runtime-Client-Context") != `{"custom":{"a":"b"}}` {
		t.Errorf("client context %q", h.Get("Lambda-Runtime-Client-Context"))
	}
	if !regexp.MustCompile(`^Root=1-[0-9a-f]{8}-[0-9a-f]{24};Parent=[0-9a-f]{16};Sampled=0$`).MatchString(h.Get("Lambda-Runtime-Trace-Id")) {
		t.Errorf("trace id %q", h.Get("Lambda-Runtime-Trace-Id"))
	}
	ms, err := strconv.ParseInt(h.Get("Lambda-Runtime-Deadline-Ms"), 10, 64)
	if d := time.UnixMilli(ms).Sub(before); err != nil || d < 2*time.Second || d > 4*time.Second {
		t.Errorf("deadline %q is %v after the invoke, want about the 3 s timeout", h.Get("Lambda-Runtime-Deadline-Ms"), d)
	}
}

func TestCloseTwice(t *testing.T) {
	r, d := newRouter(t, echo, func(c *Config) { c.IdleTimeout = time.Nanosecond })
	invokeOK(t, r, testFunction(), `{}`)
	r.Close()
	r.Close()
	await(t, d.sandbox(0).killed, "the environment to be killed by Close")
}
