package integration

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"

	"github.com/lambent/lambent/internal/lambenttest"
	"github.com/lambent/lambent/internal/sandbox/linux"
	"github.com/lambent/lambent/internal/server"
)

// TestManagedRuntimes deploys Python and Node.js handlers as zips and invokes them through the
// API, under the process driver and, where it can run, the linux one.
func TestManagedRuntimes(t *testing.T) { eachDriver(t, runtimeCases) }

// eachDriver runs cases against a server with the process driver and, where it can run, one
// with the linux driver.
func eachDriver(t *testing.T, cases func(*testing.T, *lambenttest.Server)) {
	drivers := []string{"process"}
	if canRunLinux(t) {
		drivers = append(drivers, "linux")
	}
	for _, driver := range drivers {
		t.Run(driver, func(t *testing.T) {
			cases(t, lambenttest.Start(t, func(c *server.Config) { c.Sandbox = driver }))
		})
	}
}

// sourceZip zips files given as name → content.
func sourceZip(t testing.TB, files map[string]string) []byte {
	zf := map[string]lambenttest.File{}
	for n, body := range files {
		zf[n] = lambenttest.File{Data: []byte(body)}
	}
	return lambenttest.Zip(t, zf)
}

func runtimeCases(t *testing.T, s *lambenttest.Server) {
	c := s.Client()
	create := func(t *testing.T, name, runtime, handler string, files map[string]string) {
		t.Helper()
		s.CreateFunction(t, name, sourceZip(t, files), func(in *lambda.CreateFunctionInput) {
			in.Runtime = types.Runtime(runtime)
			in.Handler = aws.String(handler)
		})
	}
	t.Run("python", func(t *testing.T) {
		create(t, "py", "python3.12", "app.handler", map[string]string{"app.py": `
import os
print("loaded")
def handler(event, context):
    print("handling", context.aws_request_id)
    if event.get("fail"):
        raise ValueError("asked to fail")
    return {"event": event, "fn": context.function_name, "mem": context.memory_limit_in_mb,
            "left": context.get_remaining_time_in_millis(), "exec": os.environ.get("AWS_EXECUTION_ENV")}
`})
		out := fnInvoke(t, c, "py", `{"a":1}`, withTail)
		got := fnJSON(t, out.Payload)
		if out.FunctionError != nil || got["fn"] != "py" || got["mem"] != "128" && got["mem"] != float64(128) ||
			got["exec"] != "AWS_Lambda_python3.12" || got["event"].(map[string]any)["a"] != float64(1) {
			t.Errorf("python invoke: %s %s", aws.ToString(out.FunctionError), out.Payload)
		}
		tail := logTail(t, out)
		if !strings.Contains(tail, "handling "+requestID(t, out)) || !strings.Contains(tail, "Init Duration") {
			t.Errorf("python log tail lacks the handler's print or Init Duration:\n%s", tail)
		}
		out = fnInvoke(t, c, "py", `{"fail":true}`)
		var e struct {
			ErrorType, ErrorMessage string
			StackTrace              []string
		}
		json.Unmarshal(out.Payload, &e)
		if aws.ToString(out.FunctionError) != "Unhandled" || e.ErrorType != "ValueError" || e.ErrorMessage != "asked to fail" || len(e.StackTrace) == 0 {
			t.Errorf("python error: %s %s", aws.ToString(out.FunctionError), out.Payload)
		}
	})
	t.Run("python import error", func(t *testing.T) {
		create(t, "py-missing", "python3.12", "nothere.handler", map[string]string{"app.py": "x = 1\n"})
		out := fnInvoke(t, c, "py-missing", `{}`)
		if !strings.Contains(string(out.Payload), "Runtime.ImportModuleError") {
			t.Errorf("missing module: %s", out.Payload)
		}
	})
	t.Run("node esm", func(t *testing.T) {
		create(t, "node-esm", "nodejs20.x", "index.handler", map[string]string{"index.mjs": `
export const handler = async (event, context) => {
  console.log("handling", context.awsRequestId);
  return { event, fn: context.functionName, arn: context.invokedFunctionArn };
};
`})
		out := fnInvoke(t, c, "node-esm", `{"b":2}`, withTail)
		got := fnJSON(t, out.Payload)
		if out.FunctionError != nil || got["fn"] != "node-esm" || got["event"].(map[string]any)["b"] != float64(2) {
			t.Errorf("node invoke: %s %s", aws.ToString(out.FunctionError), out.Payload)
		}
		if tail := logTail(t, out); !strings.Contains(tail, "\tINFO\thandling "+requestID(t, out)) {
			t.Errorf("node log tail lacks the prefixed console.log line:\n%s", tail)
		}
	})
	t.Run("node commonjs callback", func(t *testing.T) {
		create(t, "node-cjs", "nodejs20.x", "index.handler", map[string]string{"index.js": `
exports.handler = (event, context, callback) => { callback(null, { ok: true, n: event.n + 1 }); };
`})
		got := fnOK(t, c, "node-cjs", `{"n":41}`)
		if got["n"] != float64(42) {
			t.Errorf("node callback: %v", got)
		}
	})
	t.Run("unservable runtime", func(t *testing.T) {
		_, err := c.CreateFunction(t.Context(), &lambda.CreateFunctionInput{
			FunctionName: aws.String("java"), Runtime: types.RuntimeJava21, Handler: aws.String("a::b"),
			Role: aws.String(lambenttest.Role), Code: &types.FunctionCode{ZipFile: lambenttest.Zip(t, map[string]lambenttest.File{"a": {Data: []byte("x")}})},
		})
		var ipv *types.InvalidParameterValueException
		if !errors.As(err, &ipv) || !strings.Contains(aws.ToString(ipv.Message), "python3.12") {
			t.Errorf("java21: %v; want InvalidParameterValueException naming the runtimes it can run", err)
		}
	})
}

// canRunLinux reports whether the linux sandbox driver can run here.
func canRunLinux(t *testing.T) bool {
	_, err := linux.New(linux.Options{StateDir: t.TempDir(), Spares: -1})
	return err == nil
}
