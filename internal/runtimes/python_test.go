package runtimes

import (
	"encoding/json"
	"fmt"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/lambent/lambent/internal/runtimeapi"
)

const pyRuntime = "python3.12"

func TestPythonResponses(t *testing.T) {
	tests := []struct {
		name    string
		handler string
		files   map[string]string
		opt     map[string]string
		event   string
		want    string
	}{
		{
			name:    "echo",
			handler: "app.handler",
			files:   map[string]string{"app.py": "def handler(event, context):\n    return event\n"},
			event:   `{"a":[1,"x",null,{"b":true}],"n":1.5}`,
			want:    `{"a":[1,"x",null,{"b":true}],"n":1.5}`,
		},
		{
			name:    "None is null",
			handler: "app.handler",
			files:   map[string]string{"app.py": "def handler(event, context):\n    pass\n"},
			event:   `{}`,
			want:    `null`,
		},
		{
			name:    "string and unicode",
			handler: "app.handler",
			files:   map[string]string{"app.py": "def handler(event, context):\n    return 'h\u00e9llo ' + event\n"},
			event:   `"w\u00f6rld"`,
			want:    `"h\u00e9llo w\u00f6rld"`,
		},
		{
			name:    "Decimal",
			handler: "app.handler",
			files: map[string]string{"app.py": "from decimal import Decimal\n" +
				"def handler(event, context):\n    return {'d': Decimal('1.5')}\n"},
			event: `{}`,
			want:  `{"d":1.5}`,
		},
		{
			name:    "dotted package",
			handler: "pkg.sub.mod.fn",
			files: map[string]string{
				"pkg/__init__.py":     "",
				"pkg/sub/__init__.py": "",
				"pkg/sub/mod.py":      "def fn(event, context):\n    return __name__\n",
			},
			event: `{}`,
			want:  `"pkg.sub.mod"`,
		},
		{
			name:    "path form",
			handler: "src/app.handler",
			files:   map[string]string{"src/app.py": "def handler(event, context):\n    return __name__\n"},
			event:   `{}`,
			want:    `"src.app"`,
		},
		{
			name:    "module named bootstrap",
			handler: "bootstrap.handler",
			files:   map[string]string{"bootstrap.py": "def handler(event, context):\n    return 'user bootstrap'\n"},
			event:   `{}`,
			want:    `"user bootstrap"`,
		},
		{
			name:    "modules from layers",
			handler: "app.handler",
			files: map[string]string{"app.py": "import layerlib, sitelib\n" +
				"def handler(event, context):\n    return [layerlib.NAME, sitelib.NAME]\n"},
			opt: map[string]string{
				"python/layerlib.py": "NAME = 'from /opt/python'\n",
				"python/lib/" + pyRuntime + "/site-packages/sitelib.py": "NAME = 'from site-packages'\n",
			},
			event: `{}`,
			want:  `["from /opt/python","from site-packages"]`,
		},
		{
			name:    "task root before layers",
			handler: "app.handler",
			files: map[string]string{
				"app.py":    "import shadow\ndef handler(event, context):\n    return shadow.WHERE\n",
				"shadow.py": "WHERE = 'task'\n",
			},
			opt:   map[string]string{"python/shadow.py": "WHERE = 'layer'\n"},
			event: `{}`,
			want:  `"task"`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := start(t, function{runtime: pyRuntime, handler: tt.handler, files: tt.files, opt: tt.opt})
			wantResponse(t, e.invoke(event(tt.event)), tt.want)
		})
	}
}

func TestPythonSysPath(t *testing.T) {
	t.Parallel()
	e := start(t, function{runtime: pyRuntime, handler: "app.handler", files: map[string]string{
		"app.py": "import sys\ndef handler(event, context):\n" +
			"    return {'path': sys.path[:3], 'version': 'python%d.%d' % sys.version_info[:2]}\n",
	}})
	var got struct {
		Path    []string
		Version string
	}
	res := e.invoke(event(`{}`))
	if err := json.Unmarshal(res.Payload, &got); err != nil {
		t.Fatalf("%s: %v", res.Payload, err)
	}
	want := []string{e.task, e.opt + "/python", e.opt + "/python/lib/" + got.Version + "/site-packages"}
	if !reflect.DeepEqual(got.Path, want) {
		t.Errorf("sys.path[:3] = %q, want %q", got.Path, want)
	}
}

func TestPythonContext(t *testing.T) {
	t.Parallel()
	e := start(t, function{runtime: pyRuntime, handler: "app.handler", files: map[string]string{"app.py": `
import os

def handler(event, context):
    cc = context.client_context
    return {
        "aws_request_id": context.aws_request_id,
        "function_name": context.function_name,
        "function_version": context.function_version,
        "invoked_function_arn": context.invoked_function_arn,
        "memory_limit_in_mb": context.memory_limit_in_mb,
        "log_group_name": context.log_group_name,
        "log_stream_name": context.log_stream_name,
        "remaining": context.get_remaining_time_in_millis(),
        "client": cc and cc.client and {
            "installation_id": cc.client.installation_id,
            "app_title": cc.client.app_title,
            "app_version_name": cc.client.app_version_name,
            "app_version_code": cc.client.app_version_code,
            "app_package_name": cc.client.app_package_name,
        },
        "custom": cc and cc.custom,
        "env": cc and cc.env,
        "identity": [context.identity.cognito_identity_id, context.identity.cognito_identity_pool_id],
        "trace": os.environ.get("_X_AMZN_TRACE_ID"),
    }
`}})
	type result struct {
		AwsRequestID       string         `json:"aws_request_id"`
		FunctionName       string         `json:"function_name"`
		FunctionVersion    string         `json:"function_version"`
		InvokedFunctionArn string         `json:"invoked_function_arn"`
		MemoryLimitInMB    string         `json:"memory_limit_in_mb"`
		LogGroupName       string         `json:"log_group_name"`
		LogStreamName      string         `json:"log_stream_name"`
		Remaining          int64          `json:"remaining"`
		Client             map[string]any `json:"client"`
		Custom             map[string]any `json:"custom"`
		Env                map[string]any `json:"env"`
		Identity           []*string      `json:"identity"`
		Trace              *string        `json:"trace"`
	}
	str := func(s string) *string { return &s }

	full := event(`{}`)
	full.FunctionARN += ":$LATEST"
	full.TraceID = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"
	full.ClientContext = `{"client":{"installation_id":"inst-1","app_title":"title","app_version_name":"1.0",` +
		`"app_version_code":"100","app_package_name":"com.example"},"custom":{"k":"v"},"env":{"platform":"linux"}}`
	full.CognitoIdentity = `{"cognitoIdentityId":"us-east-1:id","cognitoIdentityPoolId":"us-east-1:pool"}`
	bare := event(`{}`)

	tests := []struct {
		name string
		inv  *runtimeapi.Invocation
		want result
	}{
		{"every header", full, result{
			AwsRequestID: full.RequestID, FunctionName: "fn-under-test", FunctionVersion: "$LATEST",
			InvokedFunctionArn: full.FunctionARN, MemoryLimitInMB: "256",
			LogGroupName: "/aws/lambda/fn-under-test", LogStreamName: "2024/01/02/[$LATEST]0123456789abcdef",
			Client: map[string]any{"installation_id": "inst-1", "app_title": "title", "app_version_name": "1.0",
				"app_version_code": "100", "app_package_name": "com.example"},
			Custom:   map[string]any{"k": "v"},
			Env:      map[string]any{"platform": "linux"},
			Identity: []*string{str("us-east-1:id"), str("us-east-1:pool")},
			Trace:    str(full.TraceID),
		}},
		// The next invocation carries none of the optional headers: nothing of the previous
		// one's may leak into it.
		{"no optional header", bare, result{
			AwsRequestID: bare.RequestID, FunctionName: "fn-under-test", FunctionVersion: "$LATEST",
			InvokedFunctionArn: bare.FunctionARN, MemoryLimitInMB: "256",
			LogGroupName: "/aws/lambda/fn-under-test", LogStreamName: "2024/01/02/[$LATEST]0123456789abcdef",
			Identity: []*string{nil, nil},
		}},
	}
	for _, tt := range tests { // in order, on one environment
		res := e.invoke(tt.inv)
		var got result
		if err := json.Unmarshal(res.Payload, &got); err != nil {
			t.Fatalf("%s: %s: %v", tt.name, res.Payload, err)
		}
		if got.Remaining <= 0 || got.Remaining > 30000 {
			t.Errorf("%s: get_remaining_time_in_millis() = %d, want in (0, 30000]", tt.name, got.Remaining)
		}
		got.Remaining = 0
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s: context\n got %+v\nwant %+v", tt.name, got, tt.want)
		}
	}
}

func TestPythonModuleLoadedOnce(t *testing.T) {
	t.Parallel()
	e := start(t, function{runtime: pyRuntime, handler: "app.handler", files: map[string]string{"app.py": `
imports = 0
imports += 1
calls = 0

def handler(event, context):
    global calls
    calls += 1
    return [imports, calls]
`}})
	for i := 1; i <= 3; i++ {
		wantResponse(t, e.invoke(event(`{}`)), fmt.Sprintf("[1,%d]", i))
	}
}

func TestPythonHandlerErrors(t *testing.T) {
	t.Parallel()
	e := start(t, function{runtime: pyRuntime, handler: "app.handler", files: map[string]string{"app.py": `class MyError(Exception):
    pass

def inner(kind):
    if kind == "value":
        raise ValueError("bad value")
    raise MyError("custom " + kind)

def handler(event, context):
    if event == "set":
        return {1, 2}
    if event == "ok":
        return "fine"
    inner(event)
`}})
	file := e.task + "/app.py"
	tests := []struct {
		event   string
		typ     string
		message string
		trace   []string
		stderr  string
	}{
		{
			event:   `"value"`,
			typ:     "ValueError",
			message: "bad value",
			trace: []string{
				`  File "` + file + `", line 14, in handler` + "\n    inner(event)\n",
				`  File "` + file + `", line 6, in inner` + "\n    raise ValueError(\"bad value\")\n",
			},
			stderr: "[ERROR] ValueError: bad value\nTraceback (most recent call last):\n" +
				`  File "` + file + `", line 14, in handler` + "\n    inner(event)\n" +
				`  File "` + file + `", line 6, in inner` + "\n    raise ValueError(\"bad value\")\n",
		},
		{
			event:   `"mine"`,
			typ:     "MyError",
			message: "custom mine",
			trace: []string{
				`  File "` + file + `", line 14, in handler` + "\n    inner(event)\n",
				`  File "` + file + `", line 7, in inner` + "\n    raise MyError(\"custom \" + kind)\n",
			},
			stderr: "[ERROR] MyError: custom mine\n",
		},
		{
			event:   `"set"`,
			typ:     "Runtime.MarshalError",
			message: "Unable to marshal response: Object of type set is not JSON serializable",
			trace:   []string{},
			stderr:  "[ERROR] Runtime.MarshalError: Unable to marshal response: Object of type set is not JSON serializable\n",
		},
	}
	for _, tt := range tests {
		inv := event(tt.event)
		body := wantError(t, e.invoke(inv), runtimeapi.FunctionError, tt.typ)
		if body.ErrorMessage != tt.message {
			t.Errorf("%s: errorMessage = %q, want %q", tt.event, body.ErrorMessage, tt.message)
		}
		if body.RequestID == nil || *body.RequestID != inv.RequestID {
			t.Errorf("%s: requestId = %v, want %q", tt.event, body.RequestID, inv.RequestID)
		}
		if !reflect.DeepEqual(body.StackTrace, tt.trace) {
			t.Errorf("%s: stackTrace\n got %q\nwant %q", tt.event, body.StackTrace, tt.trace)
		}
		if !strings.Contains(e.Stderr(), tt.stderr) {
			t.Errorf("%s: stderr lacks %q", tt.event, tt.stderr)
		}
	}
	wantResponse(t, e.invoke(event(`"ok"`)), `"fine"`) // the environment still serves after errors
}

func TestPythonInitErrors(t *testing.T) {
	tests := []struct {
		name    string
		handler string
		files   map[string]string
		typ     string
		message string
		trace   string // a substring of the first stack trace entry; "" for no stack trace
	}{
		{
			name:    "missing module",
			handler: "nope.handler",
			typ:     "Runtime.ImportModuleError",
			message: "Unable to import module 'nope': No module named 'nope'",
		},
		{
			name:    "missing dependency",
			handler: "app.handler",
			files:   map[string]string{"app.py": "import notinstalled\n"},
			typ:     "Runtime.ImportModuleError",
			message: "Unable to import module 'app': No module named 'notinstalled'",
		},
		{
			name:    "handler not found",
			handler: "app.nothere",
			files:   map[string]string{"app.py": "def handler(event, context):\n    pass\n"},
			typ:     "Runtime.HandlerNotFound",
			message: "Handler 'nothere' missing on module 'app'",
		},
		{
			name:    "handler not found, path form",
			handler: "src/app.nothere",
			files:   map[string]string{"src/app.py": "x = 1\n"},
			typ:     "Runtime.HandlerNotFound",
			message: "Handler 'nothere' missing on module 'src/app'",
		},
		{
			name:    "syntax error",
			handler: "app.handler",
			files:   map[string]string{"app.py": "def handler(event, context):\n    return (\n"},
			typ:     "Runtime.UserCodeSyntaxError",
			message: "Syntax error in module 'app': '(' was never closed (app.py, line 2)",
			trace:   `app.py" Line 2`,
		},
		{
			name:    "malformed handler name",
			handler: "app",
			files:   map[string]string{"app.py": "def handler(event, context):\n    pass\n"},
			typ:     "Runtime.MalformedHandlerName",
			message: "Bad handler 'app': not enough values to unpack (expected 2, got 1)",
		},
		{
			name:    "built-in module",
			handler: "sys.exit",
			typ:     "Runtime.BuiltInModuleConflict",
			message: "Cannot use built-in module sys as a handler module",
		},
		{
			name:    "exception at import",
			handler: "app.handler",
			files:   map[string]string{"app.py": "def boom():\n    raise RuntimeError('init boom')\nboom()\n"},
			typ:     "RuntimeError",
			message: "init boom",
			trace:   `app.py", line 3, in <module>`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := start(t, function{runtime: pyRuntime, handler: tt.handler, files: tt.files})
			res, code := e.initError()
			body := wantError(t, res, runtimeapi.InitError, tt.typ)
			if body.ErrorMessage != tt.message {
				t.Errorf("errorMessage = %q, want %q", body.ErrorMessage, tt.message)
			}
			if body.RequestID == nil || *body.RequestID != "" {
				t.Errorf("requestId = %v, want \"\"", body.RequestID)
			}
			switch {
			case body.StackTrace == nil:
				t.Errorf("stackTrace missing or null, want a list")
			case tt.trace == "" && len(body.StackTrace) != 0:
				t.Errorf("stackTrace = %q, want []", body.StackTrace)
			case tt.trace != "" && (len(body.StackTrace) == 0 || !strings.Contains(body.StackTrace[0], tt.trace)):
				t.Errorf("stackTrace = %q, want a first entry with %q", body.StackTrace, tt.trace)
			}
			if code != 1 {
				t.Errorf("exit status %d, want 1", code)
			}
			if want := "[ERROR] " + tt.typ + ": " + tt.message + "\nTraceback (most recent call last):"; !strings.Contains(e.Stderr(), want) {
				t.Errorf("stderr lacks %q", want)
			}
		})
	}
}

func TestPythonLogs(t *testing.T) {
	t.Parallel()
	e := start(t, function{runtime: pyRuntime, handler: "app.handler", files: map[string]string{"app.py": `import logging
logger = logging.getLogger()
logger.setLevel(logging.INFO)
print("init print")

def handler(event, context):
    print("hello from print", event)
    print("multi\nline")
    logger.info("via logging %d", 42)
    context.log("via context.log\n")
    print("no newline", end="")
    return "ok"
`}})
	inv := event(`1`)
	wantResponse(t, e.invoke(inv), `"ok"`)
	out := e.Stdout()
	for _, want := range []string{"init print\n", "hello from print 1\n", "multi\nline\n", "via context.log\n", "no newline"} {
		if !strings.Contains(out, want) {
			t.Errorf("stdout lacks %q:\n%s", want, out)
		}
	}
	line := regexp.MustCompile(`(?m)^\[INFO\]\t\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z\t` + inv.RequestID + `\tvia logging 42$`)
	if !line.MatchString(out) {
		t.Errorf("stdout lacks the logging line [INFO]\\t<time>\\t%s\\tvia logging 42:\n%s", inv.RequestID, out)
	}
}
