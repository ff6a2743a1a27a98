package runtimes

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/lambent/lambent/internal/runtimeapi"
)

// root is where TestMain installed the runtime clients.
var root string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "lambent-runtimes-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	root, err = Install(dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// wait bounds every wait on a runtime; the machines that run these tests are often loaded.
const wait = 60 * time.Second

// function describes a function to start: its runtime, handler, code and layer files.
type function struct {
	runtime string
	handler string
	files   map[string]string // task root files, by slash-separated path
	opt     map[string]string // files of the /opt stand-in (_LAMBENT_OPT_DIR)
	env     []string          // more variables
	noEnv   bool              // leave out Managed[runtime].Env (NODE_PATH, AWS_EXECUTION_ENV)
}

// env is one running execution environment: a runtime client process and its Runtime API.
type env struct {
	t       testing.TB
	api     *runtimeapi.API
	cmd     *exec.Cmd
	task    string
	opt     string
	stdout  string // file the process writes stdout to
	stderr  string
	exited  chan struct{}
	waitErr error
}

// requireRuntime skips the test when the host lacks the runtime's interpreter.
func requireRuntime(t testing.TB, name string) Runtime {
	t.Helper()
	rt, ok := Managed[name]
	if !ok {
		t.Fatalf("runtime %q is not in Managed", name)
	}
	if _, err := exec.LookPath(rt.Interpreter); err != nil {
		t.Skipf("runtime %s needs %s, not found on this host: %v", name, rt.Interpreter, err)
	}
	return rt
}

func writeFiles(t testing.TB, dir string, files map[string]string) {
	t.Helper()
	for name, text := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// start runs fn's runtime client against a real Runtime API served over loopback HTTP, with the
// variables Lambent gives a function.
func start(t testing.TB, fn function) *env {
	t.Helper()
	rt := requireRuntime(t, fn.runtime)
	e := &env{t: t, api: runtimeapi.New(), task: t.TempDir(), opt: t.TempDir(), exited: make(chan struct{})}
	writeFiles(t, e.task, fn.files)
	writeFiles(t, e.opt, fn.opt)
	srv := httptest.NewServer(e.api)
	logs := t.TempDir()
	e.stdout, e.stderr = filepath.Join(logs, "stdout"), filepath.Join(logs, "stderr")
	stdout, err := os.Create(e.stdout)
	if err != nil {
		t.Fatal(err)
	}
	defer stdout.Close()
	stderr, err := os.Create(e.stderr)
	if err != nil {
		t.Fatal(err)
	}
	defer stderr.Close()

	argv := rt.Command(root)
	e.cmd = exec.Command(argv[0], argv[1:]...)
	e.cmd.Dir = e.task
	e.cmd.Stdout, e.cmd.Stderr = stdout, stderr
	e.cmd.Env = []string{
		"PATH=/usr/local/bin:/usr/bin:/bin",
		"LANG=C.UTF-8",
		"TZ=:UTC",
		"AWS_LAMBDA_RUNTIME_API=" + srv.Listener.Addr().String(),
		"_HANDLER=" + fn.handler,
		"LAMBDA_TASK_ROOT=" + e.task,
		"LAMBDA_RUNTIME_DIR=" + root,
		"AWS_LAMBDA_FUNCTION_NAME=fn-under-test",
		"AWS_LAMBDA_FUNCTION_VERSION=$LATEST",
		"AWS_LAMBDA_FUNCTION_MEMORY_SIZE=256",
		"AWS_LAMBDA_LOG_GROUP_NAME=/aws/lambda/fn-under-test",
		"AWS_LAMBDA_LOG_STREAM_NAME=2024/01/02/[$LATEST]0123456789abcdef",
		"AWS_REGION=us-east-1",
		"_LAMBENT_OPT_DIR=" + e.opt,
	}
	if !fn.noEnv {
		for _, kv := range rt.Env {
			// Managed's NODE_PATH names /opt and /var/task; point it at this test's stand-ins.
			if v, ok := strings.CutPrefix(kv, "NODE_PATH="); ok {
				v = strings.ReplaceAll(v, "/opt/", e.opt+"/")
				v = strings.ReplaceAll(v, "/var/task", e.task)
				kv = "NODE_PATH=" + v
			}
			e.cmd.Env = append(e.cmd.Env, kv)
		}
	}
	e.cmd.Env = append(e.cmd.Env, fn.env...)
	if err := e.cmd.Start(); err != nil {
		srv.Close()
		t.Fatal(err)
	}
	go func() {
		e.waitErr = e.cmd.Wait()
		close(e.exited)
	}()
	t.Cleanup(func() {
		e.api.Close()
		e.cmd.Process.Kill()
		<-e.exited
		srv.Close()
		if t.Failed() {
			t.Logf("stdout:\n%s\nstderr:\n%s", e.output(e.stdout), e.output(e.stderr))
		}
	})
	return e
}

func (e *env) output(file string) string {
	data, err := os.ReadFile(file)
	if err != nil {
		e.t.Fatal(err)
	}
	return string(data)
}

// Stdout is what the function has written to stdout so far. The runtime writes it to a file
// directly, so what it wrote before answering an invocation is there when the answer arrives.
func (e *env) Stdout() string { return e.output(e.stdout) }
func (e *env) Stderr() string { return e.output(e.stderr) }

func newID() string {
	var b [16]byte
	rand.Read(b[:])
	h := hex.EncodeToString(b[:])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// event returns an invocation of payload with a fresh request id, a deadline 30 s away and the
// function's ARN.
func event(payload string) *runtimeapi.Invocation {
	inv := runtimeapi.NewInvocation()
	inv.RequestID = newID()
	inv.Deadline = time.Now().Add(30 * time.Second)
	inv.FunctionARN = "arn:aws:lambda:us-east-1:000000000000:function:fn-under-test"
	inv.Payload = []byte(payload)
	return inv
}

// invoke offers inv and returns the runtime's answer.
func (e *env) invoke(inv *runtimeapi.Invocation) runtimeapi.Result {
	e.t.Helper()
	if err := e.api.Offer(inv); err != nil {
		e.t.Fatal(err)
	}
	select {
	case res := <-inv.Done():
		return res
	case res := <-e.api.InitErrors():
		e.t.Fatalf("init error %s: %s", res.ErrorType, res.Payload)
	case <-e.exited:
		select {
		case res := <-inv.Done():
			return res
		default:
		}
		e.t.Fatalf("runtime exited (%v) without answering", e.waitErr)
	case <-time.After(wait):
		e.t.Fatalf("no answer in %v", wait)
	}
	return runtimeapi.Result{}
}

// initError returns the error the runtime posts to init/error and waits for it to exit.
func (e *env) initError() (runtimeapi.Result, int) {
	e.t.Helper()
	var res runtimeapi.Result
	select {
	case res = <-e.api.InitErrors():
	case <-e.api.Ready():
		e.t.Fatal("runtime asked for an invocation: init succeeded")
	case <-e.exited:
		e.t.Fatalf("runtime exited (%v) without posting an init error", e.waitErr)
	case <-time.After(wait):
		e.t.Fatalf("no init error in %v", wait)
	}
	return res, e.exitCode()
}

// exitCode waits for the runtime to exit and returns its exit status.
func (e *env) exitCode() int {
	e.t.Helper()
	select {
	case <-e.exited:
	case <-time.After(wait):
		e.t.Fatalf("runtime still running %v later", wait)
	}
	var exit *exec.ExitError
	if errors.As(e.waitErr, &exit) {
		return exit.ExitCode()
	}
	if e.waitErr != nil {
		e.t.Fatal(e.waitErr)
	}
	return 0
}

// ready waits for the runtime's first invocation/next.
func (e *env) ready() {
	e.t.Helper()
	select {
	case <-e.api.Ready():
	case res := <-e.api.InitErrors():
		e.t.Fatalf("init error %s: %s", res.ErrorType, res.Payload)
	case <-e.exited:
		e.t.Fatalf("runtime exited (%v) during init", e.waitErr)
	case <-time.After(wait):
		e.t.Fatalf("not ready in %v", wait)
	}
}

// decode unmarshals a JSON payload into a generic value.
func decode(t testing.TB, payload []byte) any {
	t.Helper()
	var v any
	if err := json.Unmarshal(payload, &v); err != nil {
		t.Fatalf("payload %q: %v", payload, err)
	}
	return v
}

// wantJSON checks that got and want are the same JSON value.
func wantJSON(t testing.TB, got []byte, want string) {
	t.Helper()
	if !reflect.DeepEqual(decode(t, got), decode(t, []byte(want))) {
		t.Errorf("payload = %s, want %s", got, want)
	}
}

// wantResponse checks that res is a response with the JSON value want.
func wantResponse(t testing.TB, res runtimeapi.Result, want string) {
	t.Helper()
	if res.Kind != runtimeapi.Response {
		t.Fatalf("result kind %d (%s: %s), want a response", res.Kind, res.ErrorType, res.Payload)
	}
	wantJSON(t, res.Payload, want)
}

// errorBody is an error payload of either runtime.
type errorBody struct {
	ErrorType    string   `json:"errorType"`
	ErrorMessage string   `json:"errorMessage"`
	RequestID    *string  `json:"requestId"`  // Python
	StackTrace   []string `json:"stackTrace"` // Python
	Trace        []string `json:"trace"`      // Node
}

// wantError checks that res is an error of kind and type typ, and returns its body.
func wantError(t testing.TB, res runtimeapi.Result, kind runtimeapi.Kind, typ string) errorBody {
	t.Helper()
	if res.Kind != kind {
		t.Fatalf("result kind %d (%s), want %d", res.Kind, res.Payload, kind)
	}
	var body errorBody
	dec := json.NewDecoder(bytes.NewReader(res.Payload))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&body); err != nil {
		t.Fatalf("error payload %s: %v", res.Payload, err)
	}
	if res.ErrorType != typ || body.ErrorType != typ {
		t.Errorf("error type: header %q, body %q; want %q", res.ErrorType, body.ErrorType, typ)
	}
	return body
}
