package integration

import (
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"

	"github.com/lambent/lambent/internal/lambenttest"
)

// TestInvokeSemantics drives one server through Lambda's invocation semantics with real
// functions: aws-lambda-go's probe, and raw, a runtime that misbehaves on purpose. Each subtest
// has functions of its own and runs in parallel with the others.
func TestInvokeSemantics(t *testing.T) {
	s := lambenttest.Start(t)
	c := s.Client()
	probe, raw := lambenttest.Function(t, "probe"), lambenttest.Function(t, "raw")

	t.Run("HandlerError", func(t *testing.T) {
		t.Parallel()
		s.CreateFunction(t, "handler-error", probe)
		pid := fnPid(t, fnOK(t, c, "handler-error", `{"cmd":"env"}`))
		out := fnInvoke(t, c, "handler-error", `{"cmd":"error"}`)
		if aws.ToString(out.FunctionError) != "Unhandled" || string(out.Payload) != `{"errorMessage":"probe failed on purpose","errorType":"errorString"}` {
			t.Errorf("got %s %s", aws.ToString(out.FunctionError), out.Payload)
		}
		// A handled error leaves the environment as it was.
		if again := fnPid(t, fnOK(t, c, "handler-error", `{"cmd":"env"}`)); again != pid {
			t.Errorf("pid %d after a handler error, want the same environment (%d)", again, pid)
		}
	})

	t.Run("Panic", func(t *testing.T) {
		t.Parallel()
		s.CreateFunction(t, "panics", probe)
		out := fnInvoke(t, c, "panics", `{"cmd":"panic"}`)
		got := fnJSON(t, out.Payload)
		if aws.ToString(out.FunctionError) != "Unhandled" || got["errorMessage"] != "probe panicked on purpose" ||
			got["errorType"] != "string" || got["stackTrace"] == nil {
			t.Errorf("got %s %s", aws.ToString(out.FunctionError), out.Payload)
		}
		// aws-lambda-go exits after reporting a panic; the next invocation still runs.
		if got := fnOK(t, c, "panics", `{"cmd":"echo","x":1}`); got["x"] != float64(1) {
			t.Errorf("invoke after the panic: %v", got)
		}
	})

	t.Run("Timeout", func(t *testing.T) {
		t.Parallel()
		s.CreateFunction(t, "times-out", probe, func(in *lambda.CreateFunctionInput) { in.Timeout = aws.Int32(1) })
		start := time.Now()
		out := fnInvoke(t, c, "times-out", `{"cmd":"spawn","ms":5000}`, withTail)
		if d := time.Since(start); d > 4*time.Second {
			t.Errorf("a 1 s timeout answered after %v", d)
		}
		id := requestID(t, out)
		want := `{"errorType":"Sandbox.Timedout","errorMessage":"RequestId: ` + id + ` Error: Task timed out after 1.00 seconds"}`
		if aws.ToString(out.FunctionError) != "Unhandled" || string(out.Payload) != want {
			t.Errorf("got %s %s\nwant Unhandled %s", aws.ToString(out.FunctionError), out.Payload, want)
		}
		tail := logTail(t, out)
		if !regexp.MustCompile(`(?m)^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z ` + id + ` Task timed out after 1\.00 seconds$`).MatchString(tail) {
			t.Errorf("log tail lacks the timeout line:\n%s", tail)
		}
		var pid, child int
		if _, err := fmt.Sscanf(tail[strings.Index(tail, "probe pid="):], "probe pid=%d child=%d", &pid, &child); err != nil {
			t.Fatalf("no pids in the log tail: %v\n%s", err, tail)
		}
		// The whole process tree is gone by the time Invoke answers.
		for _, p := range []int{pid, child} {
			if running(p) {
				t.Errorf("process %d still running after the timeout (runtime %d, its child %d)", p, pid, child)
			}
		}
		if again := fnPid(t, fnOK(t, c, "times-out", `{"cmd":"env"}`)); again == pid {
			t.Errorf("the invocation after a timeout ran in the killed environment (pid %d)", pid)
		}
	})

	t.Run("Exit", func(t *testing.T) {
		t.Parallel()
		s.CreateFunction(t, "exits", probe)
		pid := fnPid(t, fnOK(t, c, "exits", `{"cmd":"env"}`))
		out := fnInvoke(t, c, "exits", `{"cmd":"exit"}`, withTail)
		id := requestID(t, out)
		want := `{"errorType":"Runtime.ExitError","errorMessage":"RequestId: ` + id + ` Error: Runtime exited with error: exit status 3"}`
		if aws.ToString(out.FunctionError) != "Unhandled" || string(out.Payload) != want {
			t.Errorf("got %s %s\nwant Unhandled %s", aws.ToString(out.FunctionError), out.Payload, want)
		}
		if tail := logTail(t, out); !strings.Contains(tail, "probe exiting\nRequestId: "+id+" Error: Runtime exited with error: exit status 3\nRuntime.ExitError\nEND RequestId: "+id+"\n") {
			t.Errorf("log tail:\n%s", tail)
		}
		if again := fnPid(t, fnOK(t, c, "exits", `{"cmd":"env"}`)); again == pid {
			t.Errorf("the invocation after an exit reports the exited pid %d", pid)
		}
	})

	t.Run("InitError", func(t *testing.T) {
		t.Parallel()
		s.CreateFunction(t, "init-fails", raw, func(in *lambda.CreateFunctionInput) {
			in.Environment = &types.Environment{Variables: map[string]string{"RAW_MODE": "init-error"}}
		})
		for range 2 {
			out := fnInvoke(t, c, "init-fails", `{}`)
			if aws.ToString(out.FunctionError) != "Unhandled" || string(out.Payload) != `{"errorMessage":"raw init failed","errorType":"Raw.InitFailure"}` {
				t.Errorf("got %s %s, want the error the runtime posted", aws.ToString(out.FunctionError), out.Payload)
			}
		}
		// Each invocation tried a new environment: two log streams, two processes.
		recs, err := s.Store.Logs.Read(context.Background(), "init-fails")
		if err != nil {
			t.Fatal(err)
		}
		streams, pids := map[string]bool{}, map[string]bool{}
		for _, r := range recs {
			for _, m := range regexp.MustCompile(`raw init failed pid=(\d+)`).FindAllStringSubmatch(string(r.Text), -1) {
				streams[r.Stream], pids[m[1]] = true, true
			}
		}
		if len(streams) != 2 || len(pids) != 2 {
			t.Errorf("init failures logged in streams %v by pids %v, want two of each", streams, pids)
		}
	})

	t.Run("WrongRequestID", func(t *testing.T) {
		t.Parallel()
		s.CreateFunction(t, "wrong-id", raw)
		got := fnOK(t, c, "wrong-id", `{"do":"wrong-id"}`)
		seen, _ := got["seen"].([]any)
		if len(seen) != 1 || !strings.Contains(fmt.Sprint(seen[0]), "status:400") || !strings.Contains(fmt.Sprint(seen[0]), "InvalidRequestID") {
			t.Errorf("the runtime's post with a wrong request id got %v, want 400 InvalidRequestID", seen)
		}
	})

	t.Run("SecondResponse", func(t *testing.T) {
		t.Parallel()
		s.CreateFunction(t, "twice", raw)
		pid := fnPid(t, fnOK(t, c, "twice", `{"do":"twice"}`))
		got := fnOK(t, c, "twice", `{"do":"report"}`)
		prev, _ := got["previous"].([]any)
		if fnPid(t, got) != pid || len(prev) != 2 || !strings.Contains(fmt.Sprint(prev[0]), "status:202") ||
			!strings.Contains(fmt.Sprint(prev[1]), "status:403") || !strings.Contains(fmt.Sprint(prev[1]), "InvalidStateTransition") {
			t.Errorf("after answering twice, the runtime saw %v (pid %d, first %d); want 202 then 403 InvalidStateTransition in the same environment", prev, fnPid(t, got), pid)
		}
	})

	t.Run("ResponseTooLarge", func(t *testing.T) {
		t.Parallel()
		const want = `{"errorType":"Function.ResponseSizeTooLarge","errorMessage":"Response payload size exceeded maximum allowed payload size (6291556 bytes)."}`
		s.CreateFunction(t, "too-large", probe)
		out := fnInvoke(t, c, "too-large", `{"cmd":"big","n":7000000}`)
		if aws.ToString(out.FunctionError) != "Unhandled" || string(out.Payload) != want {
			t.Errorf("got %s %.300s", aws.ToString(out.FunctionError), out.Payload)
		}
		// aws-lambda-go exits when its response is refused; the function still serves.
		if got := fnOK(t, c, "too-large", `{"cmd":"echo","after":"big"}`); got["after"] != "big" {
			t.Errorf("invoke after the oversized response: %v", got)
		}
		// A runtime that carries on keeps its environment, and saw 413 RequestEntityTooLarge.
		s.CreateFunction(t, "too-large-raw", raw)
		pid := fnPid(t, fnOK(t, c, "too-large-raw", `{"do":"report"}`))
		out = fnInvoke(t, c, "too-large-raw", `{"do":"big"}`)
		if aws.ToString(out.FunctionError) != "Unhandled" || string(out.Payload) != want {
			t.Errorf("raw: got %s %.300s", aws.ToString(out.FunctionError), out.Payload)
		}
		got := fnOK(t, c, "too-large-raw", `{"do":"report"}`)
		prev, _ := got["previous"].([]any)
		if fnPid(t, got) != pid || len(prev) != 1 || !strings.Contains(fmt.Sprint(prev[0]), "status:413") ||
			!strings.Contains(fmt.Sprint(prev[0]), "RequestEntityTooLarge") {
			t.Errorf("after the oversized response: pid %d (was %d), the runtime saw %v", fnPid(t, got), pid, prev)
		}
	})

	t.Run("LogTail", func(t *testing.T) {
		t.Parallel()
		s.CreateFunction(t, "tail", probe)
		for i, cold := range []bool{true, false} {
			out := fnInvoke(t, c, "tail", `{"cmd":"print","text":"line from the function","n":3}`, withTail)
			id, tail := requestID(t, out), logTail(t, out)
			want := "START RequestId: " + id + " Version: $LATEST\n" + strings.Repeat("line from the function\n", 3) + "END RequestId: " + id + "\n"
			if !strings.HasPrefix(tail, want) && !strings.Contains(tail, "\n"+want) {
				t.Errorf("invoke %d: log tail\n%s\nwant it to hold\n%s", i, tail, want)
			}
			r := parseReport(t, tail)
			if r.requestID != id || r.memorySize != 128 || r.maxMemoryUsed <= 0 || r.maxMemoryUsed == r.memorySize {
				t.Errorf("invoke %d: REPORT %+v: want request id %s, Memory Size 128, a measured Max Memory Used", i, r, id)
			}
			if r.billed < r.duration || r.billed != float64(int(r.billed)) {
				t.Errorf("invoke %d: Billed Duration %v ms for Duration %v ms", i, r.billed, r.duration)
			}
			if r.hasInit != cold {
				t.Errorf("invoke %d: Init Duration present=%v on a cold=%v start", i, r.hasInit, cold)
			}
			if cold && r.billed < r.duration+r.init-0.02 {
				t.Errorf("Billed Duration %v ms leaves out the Init Duration %v ms of a provided runtime", r.billed, r.init)
			}
			if !strings.HasSuffix(tail, "\t\n") {
				t.Errorf("log tail does not end with the REPORT line: %q", tail[max(len(tail)-100, 0):])
			}
		}
		out := fnInvoke(t, c, "tail", `{"cmd":"print","text":"`+strings.Repeat("z", 99)+`","n":100}`, withTail)
		if tail := logTail(t, out); len(tail) != 4096 || !strings.Contains(tail, "\nREPORT RequestId: "+requestID(t, out)+"\t") {
			t.Errorf("log tail of a long invocation: %d bytes, want the last 4096 with the REPORT line", len(tail))
		}
		if out := fnInvoke(t, c, "tail", `{}`); out.LogResult != nil {
			t.Errorf("X-Amz-Log-Result %q without LogType Tail", aws.ToString(out.LogResult))
		}
	})

	t.Run("StoredLogs", func(t *testing.T) {
		t.Parallel()
		s.CreateFunction(t, "stored-logs", probe)
		env := fnOK(t, c, "stored-logs", `{"cmd":"env"}`)["env"].(map[string]any)
		out := fnInvoke(t, c, "stored-logs", `{"cmd":"print","text":"kept","n":1}`, withTail)
		id := requestID(t, out)
		recs, err := s.Store.Logs.Read(context.Background(), "stored-logs")
		if err != nil {
			t.Fatal(err)
		}
		var all strings.Builder
		for _, r := range recs {
			if r.Stream != env["AWS_LAMBDA_LOG_STREAM_NAME"] {
				t.Errorf("record in stream %q, want the environment's %q", r.Stream, env["AWS_LAMBDA_LOG_STREAM_NAME"])
			}
			all.Write(r.Text)
		}
		for _, want := range []string{"START RequestId: " + id + " Version: $LATEST\n", "kept\n", "END RequestId: " + id + "\n", "REPORT RequestId: " + id + "\t"} {
			if !strings.Contains(all.String(), want) {
				t.Errorf("stored logs lack %q:\n%s", want, all.String())
			}
		}
		if n := strings.Count(all.String(), "REPORT RequestId: "); n != 2 {
			t.Errorf("%d REPORT lines stored for 2 invocations", n)
		}
	})

	t.Run("ClientContext", func(t *testing.T) {
		t.Parallel()
		s.CreateFunction(t, "client-context", probe)
		cc := `{"client":{"installation_id":"inst-1","app_title":"app"},"custom":{"k":"v"},"env":{"platform":"test"}}`
		got := fnOK(t, c, "client-context", `{"cmd":"env"}`, func(in *lambda.InvokeInput) {
			in.ClientContext = aws.String(base64.StdEncoding.EncodeToString([]byte(cc)))
		})
		ctx := fmt.Sprint(got["clientContext"])
		for _, want := range []string{"installation_id:inst-1", "app_title:app", "custom:map[k:v]", "env:map[platform:test]"} {
			if !strings.Contains(ctx, want) {
				t.Errorf("the function's client context %s lacks %s", ctx, want)
			}
		}
	})

	t.Run("Environment", func(t *testing.T) {
		t.Parallel()
		s.CreateFunction(t, "environ", probe, func(in *lambda.CreateFunctionInput) {
			in.MemorySize = aws.Int32(256)
			in.Environment = &types.Environment{Variables: map[string]string{"MY_VAR": "hello", "OTHER": "a=b"}}
		})
		got := fnOK(t, c, "environ", `{"cmd":"env"}`)
		env := map[string]string{}
		for k, v := range got["env"].(map[string]any) {
			env[k] = v.(string)
		}
		want := map[string]string{
			"AWS_LAMBDA_FUNCTION_NAME": "environ", "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
			"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256", "AWS_REGION": "us-east-1", "AWS_DEFAULT_REGION": "us-east-1",
			"_HANDLER": "bootstrap", "LAMBDA_RUNTIME_DIR": "/var/runtime", "AWS_LAMBDA_LOG_GROUP_NAME": "/aws/lambda/environ",
			"TZ": ":UTC", "LAMBDA_TASK_ROOT": got["cwd"].(string), "MY_VAR": "hello", "OTHER": "a=b",
		}
		for k, v := range want {
			if env[k] != v {
				t.Errorf("%s=%q, want %q", k, env[k], v)
			}
		}
		if !regexp.MustCompile(`^\d{4}/\d\d/\d\d/\[\$LATEST\][0-9a-f]{32}$`).MatchString(env["AWS_LAMBDA_LOG_STREAM_NAME"]) {
			t.Errorf("AWS_LAMBDA_LOG_STREAM_NAME=%q", env["AWS_LAMBDA_LOG_STREAM_NAME"])
		}
		if !regexp.MustCompile(`^[\w.-]+:\d+$`).MatchString(env["AWS_LAMBDA_RUNTIME_API"]) {
			t.Errorf("AWS_LAMBDA_RUNTIME_API=%q", env["AWS_LAMBDA_RUNTIME_API"])
		}
		if got["functionArn"] != "arn:aws:lambda:us-east-1:000000000000:function:environ" {
			t.Errorf("invoked function ARN %v", got["functionArn"])
		}
		if d := time.Until(time.UnixMilli(int64(got["deadlineMs"].(float64)))); d <= 0 || d > 3*time.Second {
			t.Errorf("deadline %v away, want within the 3 s timeout", d)
		}
		// Nothing of the server: neither its credentials nor (beyond the code directory the
		// process driver runs in, and the path lists it maps to it) its data directory.
		for k, v := range env {
			mapped := k == "LAMBDA_TASK_ROOT" || k == "LD_LIBRARY_PATH" || k == "LAMBDA_RUNTIME_DIR"
			if strings.HasPrefix(k, "LAMBENT") || strings.Contains(v, lambenttest.SecretAccessKey) ||
				(!mapped && strings.Contains(v, s.DataDir)) {
				t.Errorf("the function sees the server's %s=%s", k, v)
			}
		}
	})

	t.Run("WarmReuse", func(t *testing.T) {
		t.Parallel()
		s.CreateFunction(t, "warm", probe)
		first := fnOK(t, c, "warm", `{"cmd":"env"}`)
		second := fnOK(t, c, "warm", `{"cmd":"env"}`)
		if fnPid(t, first) != fnPid(t, second) {
			t.Errorf("sequential invokes ran in pids %d and %d, want one warm environment", fnPid(t, first), fnPid(t, second))
		}
		if first["requestId"] == second["requestId"] {
			t.Errorf("two invocations with request id %v", first["requestId"])
		}
	})

	t.Run("Concurrent", func(t *testing.T) {
		t.Parallel()
		s.CreateFunction(t, "concurrent", probe)
		const n = 5
		pids := make(chan int, n)
		var wg sync.WaitGroup
		for range n {
			wg.Go(func() { pids <- fnPid(t, fnOK(t, c, "concurrent", `{"cmd":"sleep","ms":300}`)) })
		}
		wg.Wait()
		close(pids)
		seen := map[int]bool{}
		for pid := range pids {
			seen[pid] = true
		}
		if len(seen) != n {
			t.Errorf("%d concurrent invokes ran in %d environments (%v), want %d", n, len(seen), seen, n)
		}
	})

	t.Run("Event", func(t *testing.T) {
		t.Parallel()
		s.CreateFunction(t, "async", probe)
		// The function writes into a FIFO: the test waits for the write itself.
		fifo := filepath.Join(t.TempDir(), "fifo")
		if err := syscall.Mkfifo(fifo, 0o600); err != nil {
			t.Fatal(err)
		}
		got := make(chan string, 1)
		go func() {
			f, err := os.Open(fifo) // blocks until the function opens it for writing
			if err != nil {
				got <- err.Error()
				return
			}
			defer f.Close()
			b, _ := io.ReadAll(f)
			got <- string(b)
		}()
		out := fnInvoke(t, c, "async", `{"cmd":"write","path":"`+fifo+`","text":"written in the background"}`,
			func(in *lambda.InvokeInput) { in.InvocationType = types.InvocationTypeEvent })
		if out.StatusCode != 202 || len(out.Payload) != 0 || out.FunctionError != nil {
			t.Errorf("Event invoke: status %d, payload %q", out.StatusCode, out.Payload)
		}
		select {
		case text := <-got:
			if text != "written in the background" {
				t.Errorf("the function wrote %q", text)
			}
		case <-time.After(30 * time.Second):
			t.Fatal("the Event invocation never ran")
		}
	})

	t.Run("DryRun", func(t *testing.T) {
		t.Parallel()
		s.CreateFunction(t, "dry", probe)
		out := fnInvoke(t, c, "dry", `{"cmd":"exit"}`, func(in *lambda.InvokeInput) { in.InvocationType = types.InvocationTypeDryRun })
		if out.StatusCode != 204 || len(out.Payload) != 0 || out.FunctionError != nil {
			t.Errorf("DryRun: status %d, payload %q, function error %v", out.StatusCode, out.Payload, aws.ToString(out.FunctionError))
		}
		if recs, _ := s.Store.Logs.Read(context.Background(), "dry"); len(recs) != 0 {
			t.Errorf("DryRun ran the function: %d log records", len(recs))
		}
	})
}
