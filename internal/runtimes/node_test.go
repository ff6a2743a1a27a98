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

const nodeRuntime = "nodejs20.x"

func TestNodeResponses(t *testing.T) {
	tests := []struct {
		name    string
		handler string
		files   map[string]string
		opt     map[string]string
		noEnv   bool // no NODE_PATH from Managed: the client derives it from _LAMBENT_OPT_DIR
		event   string
		want    string
	}{
		{
			name:    "CommonJS async echo",
			handler: "index.handler",
			files:   map[string]string{"index.js": "exports.handler = async (event) => event;\n"},
			event:   `{"a":[1,"x",null,{"b":true}],"n":1.5}`,
			want:    `{"a":[1,"x",null,{"b":true}],"n":1.5}`,
		},
		{
			name:    "ES module .mjs",
			handler: "index.handler",
			files:   map[string]string{"index.mjs": "export const handler = async (event) => ({ esm: import.meta.url.endsWith('/index.mjs'), event });\n"},
			event:   `"e"`,
			want:    `{"esm":true,"event":"e"}`,
		},
		{
			name:    `"type":"module"`,
			handler: "index.handler",
			files: map[string]string{
				"package.json": `{"type":"module"}`,
				"index.js":     "export const handler = async () => typeof require;\n",
			},
			event: `{}`,
			want:  `"undefined"`,
		},
		{
			name:    "CommonJS .cjs",
			handler: "index.handler",
			files:   map[string]string{"index.cjs": "module.exports.handler = async () => typeof require;\n"},
			event:   `{}`,
			want:    `"function"`,
		},
		{
			name:    "module in a subdirectory",
			handler: "src/handlers/api.handler",
			files:   map[string]string{"src/handlers/api.js": "exports.handler = async () => __filename.endsWith('src/handlers/api.js');\n"},
			event:   `{}`,
			want:    `true`,
		},
		{
			name:    "nested function path",
			handler: "index.nested.fn",
			files:   map[string]string{"index.js": "exports.nested = { fn: async () => 'nested' };\n"},
			event:   `{}`,
			want:    `"nested"`,
		},
		{
			name:    "callback",
			handler: "index.handler",
			files:   map[string]string{"index.js": "exports.handler = (event, context, callback) => { setTimeout(() => callback(null, { cb: event }), 5); };\n"},
			event:   `1`,
			want:    `{"cb":1}`,
		},
		{
			name:    "context.succeed",
			handler: "index.handler",
			files:   map[string]string{"index.js": "exports.handler = (event, context) => { context.succeed('succeeded'); };\n"},
			event:   `{}`,
			want:    `"succeeded"`,
		},
		{
			name:    "context.done",
			handler: "index.handler",
			files:   map[string]string{"index.js": "exports.handler = (event, context) => { context.done(null, [1, 2]); };\n"},
			event:   `{}`,
			want:    `[1,2]`,
		},
		{
			name:    "sync return value ignored",
			handler: "index.handler",
			files:   map[string]string{"index.js": "exports.handler = (event) => 42;\n"},
			event:   `{}`,
			want:    `null`,
		},
		{
			name:    "async undefined is null",
			handler: "index.handler",
			files:   map[string]string{"index.js": "exports.handler = async () => {};\n"},
			event:   `{}`,
			want:    `null`,
		},
		{
			name:    "unicode",
			handler: "index.handler",
			files:   map[string]string{"index.js": "exports.handler = async (e) => 'h\u00e9llo ' + e;\n"},
			event:   `"w\u00f6rld"`,
			want:    `"h\u00e9llo w\u00f6rld"`,
		},
		{
			name:    "layers through NODE_PATH",
			handler: "index.handler",
			files:   map[string]string{"index.js": "exports.handler = async () => [require('layerpkg'), require('versioned')];\n"},
			opt: map[string]string{
				"nodejs/node_modules/layerpkg/index.js":             "module.exports = 'from nodejs/node_modules';\n",
				"nodejs/node20/node_modules/versioned/index.js":     "module.exports = 'from nodejs/node20/node_modules';\n",
				"nodejs/node_modules/versioned/index.js":            "module.exports = 'shadowed';\n",
				"nodejs/node_modules/versioned/package.json":        `{"name":"versioned"}`,
				"nodejs/node20/node_modules/versioned/package.json": `{"name":"versioned"}`,
			},
			event: `{}`,
			want:  `["from nodejs/node_modules","from nodejs/node20/node_modules"]`,
		},
		{
			name:    "layers without NODE_PATH",
			handler: "index.handler",
			noEnv:   true,
			files:   map[string]string{"index.js": "exports.handler = async () => [require('layerpkg'), process.env.NODE_PATH.split(':').length];\n"},
			opt:     map[string]string{"nodejs/node_modules/layerpkg/index.js": "module.exports = 'from nodejs/node_modules';\n"},
			event:   `{}`,
			want:    `["from nodejs/node_modules",5]`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := start(t, function{runtime: nodeRuntime, handler: tt.handler, files: tt.files, opt: tt.opt, noEnv: tt.noEnv})
			wantResponse(t, e.invoke(event(tt.event)), tt.want)
		})
	}
}

func TestNodeContext(t *testing.T) {
	t.Parallel()
	e := start(t, function{runtime: nodeRuntime, handler: "index.handler", files: map[string]string{"index.js": `
exports.handler = async (event, context) => ({
  awsRequestId: context.awsRequestId,
  functionName: context.functionName,
  functionVersion: context.functionVersion,
  invokedFunctionArn: context.invokedFunctionArn,
  memoryLimitInMB: context.memoryLimitInMB,
  logGroupName: context.logGroupName,
  logStreamName: context.logStreamName,
  remaining: context.getRemainingTimeInMillis(),
  clientContext: context.clientContext ?? null,
  identity: context.identity ?? null,
  callbackWaitsForEmptyEventLoop: context.callbackWaitsForEmptyEventLoop,
  methods: [typeof context.done, typeof context.succeed, typeof context.fail],
  trace: process.env._X_AMZN_TRACE_ID ?? null,
  globalRequestId: global[Symbol.for('aws.lambda.runtime.requestId')],
});
`}})
	type result struct {
		AwsRequestID                   string
		FunctionName                   string
		FunctionVersion                string
		InvokedFunctionArn             string
		MemoryLimitInMB                string
		LogGroupName                   string
		LogStreamName                  string
		Remaining                      int64
		ClientContext                  map[string]any
		Identity                       map[string]any
		CallbackWaitsForEmptyEventLoop bool
		Methods                        []string
		Trace                          *string
		GlobalRequestID                string
	}
	str := func(s string) *string { return &s }
	fns := []string{"function", "function", "function"}

	full := event(`{}`)
	full.FunctionARN += ":prod"
	full.TraceID = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"
	full.ClientContext = `{"client":{"installation_id":"inst-1"},"custom":{"k":"v"},"env":{"platform":"linux"}}`
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
			ClientContext: map[string]any{"client": map[string]any{"installation_id": "inst-1"},
				"custom": map[string]any{"k": "v"}, "env": map[string]any{"platform": "linux"}},
			Identity:                       map[string]any{"cognitoIdentityId": "us-east-1:id", "cognitoIdentityPoolId": "us-east-1:pool"},
			CallbackWaitsForEmptyEventLoop: true, Methods: fns, Trace: str(full.TraceID), GlobalRequestID: full.RequestID,
		}},
		{"no optional header", bare, result{
			AwsRequestID: bare.RequestID, FunctionName: "fn-under-test", FunctionVersion: "$LATEST",
			InvokedFunctionArn: bare.FunctionARN, MemoryLimitInMB: "256",
			LogGroupName: "/aws/lambda/fn-under-test", LogStreamName: "2024/01/02/[$LATEST]0123456789abcdef",
			CallbackWaitsForEmptyEventLoop: true, Methods: fns, GlobalRequestID: bare.RequestID,
		}},
	}
	for _, tt := range tests {
		res := e.invoke(tt.inv)
		var got result
		if err := json.Unmarshal(res.Payload, &got); err != nil {
			t.Fatalf("%s: %s: %v", tt.name, res.Payload, err)
		}
		if got.Remaining <= 0 || got.Remaining > 30000 {
			t.Errorf("%s: getRemainingTimeInMillis() = %d, want in (0, 30000]", tt.name, got.Remaining)
		}
		got.Remaining = 0
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s: context\n got %+v\nwant %+v", tt.name, got, tt.want)
		}
	}
}

func TestNodeModuleLoadedOnce(t *testing.T) {
	t.Parallel()
	e := start(t, function{runtime: nodeRuntime, handler: "index.handler", files: map[string]string{"index.mjs": `
let imports = 0;
imports++;
let calls = 0;
export const handler = async () => [imports, ++calls];
`}})
	for i := 1; i <= 3; i++ {
		wantResponse(t, e.invoke(event(`{}`)), fmt.Sprintf("[1,%d]", i))
	}
}

// With callbackWaitsForEmptyEventLoop (the default), a callback's answer waits for the work
// the handler left behind; without it, it goes at once.
func TestNodeCallbackWaitsForEmptyEventLoop(t *testing.T) {
	t.Parallel()
	e := start(t, function{runtime: nodeRuntime, handler: "index.handler", files: map[string]string{"index.js": `
exports.handler = (event, context, callback) => {
  context.callbackWaitsForEmptyEventLoop = event.wait;
  setTimeout(() => console.log('timer ' + event.id + ' fired'), event.delay);
  callback(null, 'answered ' + event.id);
};
`}})
	wantResponse(t, e.invoke(event(`{"wait":true,"id":1,"delay":100}`)), `"answered 1"`)
	if !strings.Contains(e.Stdout(), "timer 1 fired") {
		t.Errorf("waiting for the event loop: the answer came before the timer fired")
	}
	// The timer of this one is far beyond any delay the answer may see.
	wantResponse(t, e.invoke(event(`{"wait":false,"id":2,"delay":600000}`)), `"answered 2"`)
	if strings.Contains(e.Stdout(), "timer 2 fired") {
		t.Errorf("not waiting for the event loop: the answer waited for the timer")
	}
}

func TestNodeHandlerErrors(t *testing.T) {
	t.Parallel()
	e := start(t, function{runtime: nodeRuntime, handler: "index.handler", files: map[string]string{"index.js": `class MyError extends Error {}
exports.handler = async (event, context) => {
  switch (event) {
    case 'async': throw new Error('boom');
    case 'custom': throw new MyError('custom');
    case 'string': return new Promise((_, reject) => reject('rejected string'));
    case 'circular': { const o = {}; o.o = o; return o; }
    case 'callback': return context.done(new TypeError('bad type'));
    case 'callback string': return context.done('plain string');
    case 'fail': return context.fail();
    case 'ok': return 'fine';
  }
};
`}})
	file := e.task + "/index.js"
	tests := []struct {
		event   string
		typ     string
		message string
		trace0  string // the first trace line; "" when the trace is empty
		traceIn string // a later trace line holds this
	}{
		{`"async"`, "Error", "boom", "Error: boom", file + ":4:"},
		{`"custom"`, "Error", "custom", "Error: custom", file + ":5:"},
		{`"string"`, "string", "rejected string", "", ""},
		{`"circular"`, "Error", "Unable to stringify response body: Converting circular structure to JSON\n    --> starting at object with constructor 'Object'\n    --- property 'o' closes the circle", "Error: Unable to stringify response body: Converting circular structure to JSON", ""},
		{`"callback"`, "TypeError", "bad type", "TypeError: bad type", file + ":8:"},
		{`"callback string"`, "string", "plain string", "", ""},
		{`"fail"`, "string", "handled", "", ""},
	}
	for _, tt := range tests {
		body := wantError(t, e.invoke(event(tt.event)), runtimeapi.FunctionError, tt.typ)
		if body.ErrorMessage != tt.message {
			t.Errorf("%s: errorMessage = %q, want %q", tt.event, body.ErrorMessage, tt.message)
		}
		if body.Trace == nil {
			t.Errorf("%s: trace missing or null, want a list", tt.event)
			continue
		}
		if tt.trace0 == "" {
			if len(body.Trace) != 0 {
				t.Errorf("%s: trace = %q, want []", tt.event, body.Trace)
			}
			continue
		}
		if body.Trace[0] != tt.trace0 {
			t.Errorf("%s: trace[0] = %q, want %q", tt.event, body.Trace[0], tt.trace0)
		}
		if tt.traceIn != "" && !strings.Contains(strings.Join(body.Trace, "\n"), tt.traceIn) {
			t.Errorf("%s: trace %q lacks %q", tt.event, body.Trace, tt.traceIn)
		}
	}
	wantResponse(t, e.invoke(event(`"ok"`)), `"fine"`) // the environment still serves after errors
	line := regexp.MustCompile(`(?m)^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z\t[0-9a-f-]{36}\tERROR\tInvoke Error \t\{"errorType":"Error","errorMessage":"boom","stack":\["Error: boom",`)
	if !line.MatchString(e.Stdout()) {
		t.Errorf("stdout lacks the Invoke Error line for boom")
	}
}

// Errors nothing catches fail the invocation in progress and end the environment (exit 129).
func TestNodeUncaughtErrors(t *testing.T) {
	tests := []struct {
		name    string
		code    string
		typ     string
		message string
	}{
		{
			name:    "uncaught exception",
			code:    "exports.handler = () => { setTimeout(() => { throw new RangeError('late'); }, 1); };\n",
			typ:     "RangeError",
			message: "late",
		},
		{
			name:    "unhandled rejection",
			code:    "exports.handler = () => { Promise.reject(new Error('nobody waits')); };\n",
			typ:     "Runtime.UnhandledPromiseRejection",
			message: "Error: nobody waits",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := start(t, function{runtime: nodeRuntime, handler: "index.handler", files: map[string]string{"index.js": tt.code}})
			body := wantError(t, e.invoke(event(`{}`)), runtimeapi.FunctionError, tt.typ)
			if body.ErrorMessage != tt.message {
				t.Errorf("errorMessage = %q, want %q", body.ErrorMessage, tt.message)
			}
			if code := e.exitCode(); code != 129 {
				t.Errorf("exit status %d, want 129", code)
			}
		})
	}
}

func TestNodeInitErrors(t *testing.T) {
	tests := []struct {
		name    string
		handler string
		files   map[string]string
		typ     string
		message string // a prefix of the errorMessage
	}{
		{
			name:    "missing module",
			handler: "index.handler",
			typ:     "Runtime.ImportModuleError",
			message: "Error: Cannot find module 'index'\nRequire stack:\n- " + root + "/node/bootstrap.cjs",
		},
		{
			name:    "missing dependency, CommonJS",
			handler: "index.handler",
			files:   map[string]string{"index.js": "require('not-installed');\n"},
			typ:     "Runtime.ImportModuleError",
			message: "Error: Cannot find module 'not-installed'\nRequire stack:\n- ",
		},
		{
			name:    "missing dependency, ES module",
			handler: "index.handler",
			files:   map[string]string{"index.mjs": "import 'not-installed';\nexport const handler = async () => 1;\n"},
			typ:     "Runtime.ImportModuleError",
			message: "Error [ERR_MODULE_NOT_FOUND]: Cannot find package 'not-installed' imported from ",
		},
		{
			name:    "handler not found",
			handler: "index.handler",
			files:   map[string]string{"index.js": "exports.other = async () => 1;\n"},
			typ:     "Runtime.HandlerNotFound",
			message: "index.handler is undefined or not exported",
		},
		{
			name:    "handler not a function",
			handler: "index.handler",
			files:   map[string]string{"index.mjs": "export const handler = 42;\n"},
			typ:     "Runtime.HandlerNotFound",
			message: "index.handler is undefined or not exported",
		},
		{
			name:    "syntax error, CommonJS",
			handler: "index.handler",
			files:   map[string]string{"index.js": "exports.handler = async (event) => {\n"},
			typ:     "Runtime.UserCodeSyntaxError",
			message: "SyntaxError: Unexpected end of input",
		},
		{
			name:    "syntax error, ES module",
			handler: "index.handler",
			files:   map[string]string{"index.mjs": "export const handler = ;\n"},
			typ:     "Runtime.UserCodeSyntaxError",
			message: "SyntaxError: Unexpected token ';'",
		},
		{
			name:    "malformed handler name",
			handler: "index",
			files:   map[string]string{"index.js": "exports.handler = async () => 1;\n"},
			typ:     "Runtime.MalformedHandlerName",
			message: "Bad handler index",
		},
		{
			name:    "relative path in handler",
			handler: "../index.handler",
			typ:     "Runtime.MalformedHandlerName",
			message: "'../' not allowed in handler name",
		},
		{
			name:    "exception at import",
			handler: "index.handler",
			files:   map[string]string{"index.js": "throw new Error('init boom');\n"},
			typ:     "Error",
			message: "init boom",
		},
		{
			name:    "rejection at top-level await",
			handler: "index.handler",
			files:   map[string]string{"index.mjs": "await Promise.reject(new TypeError('tla'));\nexport const handler = async () => 1;\n"},
			typ:     "TypeError",
			message: "tla",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := start(t, function{runtime: nodeRuntime, handler: tt.handler, files: tt.files})
			res, code := e.initError()
			body := wantError(t, res, runtimeapi.InitError, tt.typ)
			if !strings.HasPrefix(body.ErrorMessage, tt.message) {
				t.Errorf("errorMessage = %q, want it to start with %q", body.ErrorMessage, tt.message)
			}
			if len(body.Trace) == 0 || !strings.HasPrefix(body.Trace[0], tt.typ+": ") {
				t.Errorf("trace = %q, want a first line starting %q", body.Trace, tt.typ+": ")
			}
			if code != 129 {
				t.Errorf("exit status %d, want 129", code)
			}
			if want := "\tundefined\tERROR\tUncaught Exception \t{\"errorType\":\"" + tt.typ + "\""; !strings.Contains(e.Stdout(), want) {
				t.Errorf("stdout lacks %q", want)
			}
		})
	}
}

func TestNodeLogs(t *testing.T) {
	t.Parallel()
	e := start(t, function{runtime: nodeRuntime, handler: "index.handler", files: map[string]string{"index.js": `
console.log('loading');
exports.handler = async (event) => {
  console.log('hello %d', event, { a: 1 });
  console.info('info');
  console.warn('warn');
  console.error('error', new Error('shown'));
  console.debug('debug');
  console.trace('trace');
  process.stdout.write('raw write\n');
  return 'ok';
};
`}})
	inv := event(`42`)
	wantResponse(t, e.invoke(inv), `"ok"`)
	out := e.Stdout()
	const ts = `\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z`
	id := regexp.QuoteMeta(inv.RequestID)
	for _, want := range []string{
		`^` + ts + `\tundefined\tINFO\tloading$`,
		`^` + ts + `\t` + id + `\tINFO\thello 42 \{ a: 1 \}$`,
		`^` + ts + `\t` + id + `\tINFO\tinfo$`,
		`^` + ts + `\t` + id + `\tWARN\twarn$`,
		`^` + ts + `\t` + id + `\tERROR\terror Error: shown$`,
		`^    at ` + `.*index\.js:7:`,
		`^` + ts + `\t` + id + `\tDEBUG\tdebug$`,
		`^` + ts + `\t` + id + `\tTRACE\ttrace$`,
		`^raw write$`,
	} {
		if !regexp.MustCompile(`(?m)` + want).MatchString(out) {
			t.Errorf("stdout lacks a line matching %s", want)
		}
	}
}
