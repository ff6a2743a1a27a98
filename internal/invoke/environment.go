package invoke

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/lambent/lambent/internal/function"
	"github.com/lambent/lambent/internal/logs"
	"github.com/lambent/lambent/internal/metering"
	"github.com/lambent/lambent/internal/runtimeapi"
	"github.com/lambent/lambent/internal/sandbox"
)

// environment is one execution environment: a sandbox, its Runtime API and its log capture.
type environment struct {
	id       string
	fn       *function.Function
	arn      string
	sb       sandbox.Sandbox
	api      *runtimeapi.API
	capture  *logs.Capture
	started  time.Time
	init     time.Duration // set after the first invocation found the runtime ready
	ready    bool
	lastUsed time.Time
	initWait time.Duration
	// invocations counts the invocations given to this environment.
	invocations int
	freezer     *freezer
}

// functionError is a failure reported to the caller as the function's error.
type functionError struct {
	Type    string
	Message string
	// prefixed errors show as "RequestId: <id> Error: <message>", as Lambda reports the
	// platform's own errors (exits, timeouts).
	prefixed bool
	// body is the error as the runtime posted it, if it did.
	body []byte
}

func (e *functionError) Error() string { return e.Type + ": " + e.Message }

func (e *functionError) payload(requestID string) []byte {
	if e.body != nil {
		return e.body
	}
	if e.prefixed {
		return errorPayload(e.Type, "RequestId: "+requestID+" Error: "+e.Message)
	}
	return errorPayload(e.Type, e.Message)
}

func (e *functionError) response(req Request) Response {
	return Response{Payload: e.payload(req.RequestID), FunctionError: "Unhandled", Version: function.LatestVersion}
}

func errorPayload(typ, msg string) []byte {
	b, _ := json.Marshal(struct {
		ErrorType    string `json:"errorType"`
		ErrorMessage string `json:"errorMessage"`
	}{typ, msg})
	return b
}

func (r *Router) start(ctx context.Context, f *function.Function) (*environment, error) {
	dir, err := r.cfg.Code.Dir(ctx, f.CodeDigest)
	if err != nil {
		return nil, fmt.Errorf("function %q code: %w", f.Name, err)
	}
	opt, err := r.cfg.Code.Layers(ctx, f.LayerDigests())
	if err != nil {
		return nil, fmt.Errorf("function %q layers: %w", f.Name, err)
	}
	var b [16]byte
	rand.Read(b[:])
	id := hex.EncodeToString(b[:])
	now := time.Now().UTC()
	stream := now.Format("2006/01/02") + "/[" + function.LatestVersion + "]" + id
	capture, err := logs.NewCapture(r.cfg.Logs, f.Name, id, stream)
	if err != nil {
		return nil, err
	}
	api := runtimeapi.New()
	spec := sandbox.Spec{
		ID:                 id,
		CodeDir:            dir,
		OptDir:             opt,
		Entrypoint:         "bootstrap", // the provided runtimes
		Env:                r.environ(f, stream, nil),
		MemoryMB:           f.MemorySize,
		EphemeralStorageMB: f.EphemeralStorage,
		RuntimeAPI:         api,
		Output:             capture.Output(),
	}
	if rt, ok := r.cfg.Runtimes[f.Runtime]; ok {
		spec.Entrypoint, spec.Args, spec.RuntimeDir = rt.Entrypoint, rt.Args, rt.Dir
		spec.Env = r.environ(f, stream, rt.Env)
	} else if !exists(filepath.Join(dir, "bootstrap")) && opt != "" && exists(filepath.Join(opt, "bootstrap")) {
		spec.Entrypoint = sandbox.OptDir + "/bootstrap" // a custom runtime brought by a layer
	}
	sb, err := r.cfg.Driver.Start(ctx, spec)
	if err != nil {
		capture.Close()
		api.Close()
		if errors.Is(err, fs.ErrNotExist) {
			return nil, &functionError{Type: "Runtime.InvalidEntrypoint", prefixed: true,
				Message: "Couldn't find valid bootstrap(s): [/var/task/bootstrap /opt/bootstrap]"}
		}
		if errors.Is(err, fs.ErrPermission) { // said as on Lambda, without the host's paths
			return nil, &functionError{Type: "Runtime.InvalidEntrypoint", prefixed: true,
				Message: "fork/exec " + path.Join(sandbox.TaskRoot, spec.Entrypoint) + ": permission denied"}
		}
		return nil, err
	}
	capture.SetMemory(sb.MaxMemoryBytes)
	return &environment{
		id: id, fn: f, arn: r.cfg.ARNs.Function(f.Name), sb: sb, api: api, capture: capture,
		started: now, initWait: r.cfg.InitTimeout, freezer: newFreezer(sb),
	}, nil
}

// environ is what AWS sets in a function's environment, then the runtime's (extra), then the
// function's own variables; a function's variable replaces a runtime's of the same name.
func (r *Router) environ(f *function.Function, stream string, extra []string) []string {
	env := []string{
		"AWS_LAMBDA_FUNCTION_NAME=" + f.Name,
		"AWS_LAMBDA_FUNCTION_VERSION=" + function.LatestVersion,
		"AWS_LAMBDA_FUNCTION_MEMORY_SIZE=" + strconv.Itoa(f.MemorySize),
		"AWS_LAMBDA_LOG_GROUP_NAME=/aws/lambda/" + f.Name,
		"AWS_LAMBDA_LOG_STREAM_NAME=" + stream,
		"AWS_LAMBDA_INITIALIZATION_TYPE=on-demand",
		"AWS_REGION=" + r.cfg.ARNs.Region,
		"AWS_DEFAULT_REGION=" + r.cfg.ARNs.Region,
		"_HANDLER=" + f.Handler,
		"TZ=:UTC",
		"LANG=en_US.UTF-8",
		"PATH=/usr/local/bin:/usr/bin/:/bin:/opt/bin",
		"LD_LIBRARY_PATH=/lib64:/usr/lib64:/var/runtime:/var/runtime/lib:/var/task:/var/task/lib:/opt/lib",
	}
	for _, kv := range extra {
		if k, _, _ := strings.Cut(kv, "="); !hasKey(f.Environment, k) {
			env = append(env, kv)
		}
	}
	for k, v := range f.Environment {
		env = append(env, k+"="+v)
	}
	return env
}

// outcome says what becomes of an environment after an invocation.
type outcome int

const (
	reuse       outcome = iota // the environment can serve another invocation
	discard                    // the environment is broken, or gone
	undelivered                // gone before the runtime took the invocation: run it elsewhere
)

// invoke runs one invocation on e.
func (e *environment) invoke(req Request) (resp Response, out outcome) {
	resp.Version = function.LatestVersion
	e.invocations++
	if !e.ready {
		if ferr := e.awaitInit(req.RequestID); ferr != nil {
			e.capture.Start(req.RequestID, function.LatestVersion)
			e.capture.Line(ferr.logLine(req.RequestID))
			resp = ferr.response(req)
			resp.LogTail = e.end(req, 0)
			return resp, discard
		}
	} else if e.exited() {
		return resp, undelivered // died while idle, as aws-lambda-go does after a 413
	}
	timeout := time.Duration(e.fn.Timeout) * time.Second
	inv := runtimeapi.NewInvocation()
	inv.RequestID = req.RequestID
	inv.FunctionARN = e.arn
	inv.TraceID = traceID()
	inv.ClientContext = req.ClientContext
	inv.Payload = req.Payload
	e.capture.Start(req.RequestID, function.LatestVersion)
	start := time.Now()
	inv.Deadline = start.Add(timeout)
	if err := e.api.Offer(inv); err != nil {
		resp.Payload, resp.FunctionError = errorPayload("Runtime.Unknown", err.Error()), "Unhandled"
		return resp, discard
	}
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	var res runtimeapi.Result
	select {
	case res = <-inv.Done():
	case <-e.sb.Done():
		select {
		case res = <-inv.Done(): // answered, then exited: the answer counts
		default:
			if !inv.Delivered() && e.invocations > 1 {
				return resp, undelivered
			}
			ferr := exitError(e.sb.Err())
			e.capture.Line(ferr.logLine(req.RequestID))
			resp.Payload, resp.FunctionError = ferr.payload(req.RequestID), "Unhandled"
			resp.LogTail = e.end(req, time.Since(start))
			return resp, discard
		}
	case <-timer.C:
		e.sb.Kill()
		msg := fmt.Sprintf("Task timed out after %.2f seconds", timeout.Seconds())
		e.capture.Line(time.Now().UTC().Format("2006-01-02T15:04:05.000Z") + " " + req.RequestID + " " + msg)
		resp.Payload, resp.FunctionError = errorPayload("Sandbox.Timedout", "RequestId: "+req.RequestID+" Error: "+msg), "Unhandled"
		resp.LogTail = e.end(req, time.Since(start))
		return resp, discard
	}
	d := time.Since(start)
	switch res.Kind {
	case runtimeapi.Response:
		resp.Payload = res.Payload
	case runtimeapi.ResponseTooLarge:
		resp.Payload, resp.FunctionError = errorPayload("Function.ResponseSizeTooLarge",
			"Response payload size exceeded maximum allowed payload size ("+strconv.Itoa(runtimeapi.MaxPayloadSize)+" bytes)."), "Unhandled"
	default:
		resp.Payload, resp.FunctionError = res.Payload, "Unhandled"
	}
	resp.LogTail = e.end(req, d)
	return resp, reuse
}

// exited reports whether the sandbox has ended.
func (e *environment) exited() bool {
	select {
	case <-e.sb.Done():
		return true
	default:
		return false
	}
}

// awaitInit waits for the runtime's first invocation/next.
func (e *environment) awaitInit(requestID string) *functionError {
	t := time.NewTimer(e.initWait)
	defer t.Stop()
	select {
	case <-e.api.Ready():
		e.ready = true
		e.init = e.api.ReadyAt().Sub(e.started)
		if ie, ok := e.sb.(sandbox.InitEnder); ok {
			if err := ie.InitDone(); err != nil {
				return &functionError{Type: "Runtime.Unknown", Message: "applying the function's CPU share: " + err.Error(), prefixed: true}
			}
		}
		return nil
	case res := <-e.api.InitErrors():
		return initError(res)
	case <-e.sb.Done():
		select {
		case res := <-e.api.InitErrors(): // posted init/error, then exited, as runtimes do
			return initError(res)
		default:
		}
		return exitError(e.sb.Err())
	case <-t.C:
		return &functionError{Type: "Sandbox.Timedout", prefixed: true,
			Message: fmt.Sprintf("Task timed out after %.2f seconds", e.initWait.Seconds())}
	}
}

// initError is the runtime's own init/error: the caller gets the error as the runtime posted it.
func initError(res runtimeapi.Result) *functionError {
	var body struct {
		ErrorType    string `json:"errorType"`
		ErrorMessage string `json:"errorMessage"`
	}
	json.Unmarshal(res.Payload, &body)
	typ := cmp.Or(res.ErrorType, body.ErrorType, "Runtime.InitError")
	return &functionError{Type: typ, Message: body.ErrorMessage, body: res.Payload}
}

func exitError(err error) *functionError {
	typ, msg := "Runtime.ExitError", "Runtime exited without providing a reason"
	if err != nil {
		text := err.Error()
		if errors.Is(err, sandbox.ErrOutOfMemory) {
			typ, text = "Runtime.OutOfMemory", strings.TrimPrefix(text, sandbox.ErrOutOfMemory.Error()+": ")
		}
		msg = "Runtime exited with error: " + text
	}
	return &functionError{Type: typ, Message: msg, prefixed: true}
}

func (e *functionError) logLine(requestID string) string {
	return "RequestId: " + requestID + " Error: " + e.Message + "\n" + e.Type
}

// end writes END and REPORT, and waits for the log tail if the caller asked for it.
func (e *environment) end(req Request, d time.Duration) []byte {
	billed := d
	if metering.BillsInit(e.fn.Runtime) {
		billed += e.init
	}
	rep := logs.Report{
		RequestID: req.RequestID, Duration: d, BilledMs: metering.BilledMs(billed),
		MemoryMB: e.fn.MemorySize, InitDuration: e.init, WantTail: req.Tail,
	}
	e.init = 0
	tail := e.capture.End(rep)
	if tail == nil {
		return nil
	}
	return <-tail
}

func (e *environment) destroy() {
	e.freezer.stop()
	e.sb.Kill()
	e.api.Close()
	e.capture.Close()
}

// traceID makes an X-Ray trace header for a new trace: Root=1-<epoch seconds, 8 hex>-<96 random
// bits, 24 hex>;Parent=<64 random bits>;Sampled=0.
func traceID() string {
	var b [20]byte
	rand.Read(b[:])
	h := hex.EncodeToString(b[:])
	return fmt.Sprintf("Root=1-%08x-%s;Parent=%s;Sampled=0", time.Now().Unix(), h[:24], h[24:])
}

func hasKey(m map[string]string, k string) bool {
	_, ok := m[k]
	return ok
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
