package runtimeapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"testing/synctest"
	"time"
)

const (
	base = "/2018-06-01/runtime/"
	id   = "8476a536-e9f4-11e8-9739-2dfe598c3fcd"
)

// call serves one request on api and returns the recorded answer.
func call(api *API, method, path string, header http.Header, body []byte) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, path, bytes.NewReader(body))
	for k, v := range header {
		r.Header[k] = v
	}
	w := httptest.NewRecorder()
	api.ServeHTTP(w, r)
	return w
}

// deliver offers an invocation and has the runtime fetch it with invocation/next.
func deliver(t *testing.T, api *API, inv *Invocation) *httptest.ResponseRecorder {
	t.Helper()
	if err := api.Offer(inv); err != nil {
		t.Fatalf("Offer: %v", err)
	}
	w := call(api, "GET", base+"invocation/next", nil, nil)
	if w.Code != http.StatusOK {
		t.Fatalf("invocation/next: %d %s", w.Code, w.Body)
	}
	return w
}

func newInvocation(requestID string) *Invocation {
	inv := NewInvocation()
	inv.RequestID = requestID
	inv.FunctionARN = "arn:aws:lambda:us-east-1:000000000000:function:f"
	inv.TraceID = "Root=1-5bef4de7-ad49b0e87f6ef6c87fc2e700;Parent=9a9197af755a6419;Sampled=1"
	inv.Deadline = time.UnixMilli(1542409706888)
	inv.Payload = []byte(`{"a":1}`)
	return inv
}

// errorBody decodes a Runtime API error answer.
func errorBody(t *testing.T, w *httptest.ResponseRecorder) (typ, msg string) {
	t.Helper()
	var e struct{ ErrorType, ErrorMessage string }
	if err := json.Unmarshal(w.Body.Bytes(), &e); err != nil {
		t.Fatalf("error body %q: %v", w.Body, err)
	}
	return e.ErrorType, e.ErrorMessage
}

func TestNextBlocksUntilOffer(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		api := New()
		got := make(chan *httptest.ResponseRecorder, 1)
		go func() { got <- call(api, "GET", base+"invocation/next", nil, nil) }()
		synctest.Wait()
		select {
		case w := <-got:
			t.Fatalf("invocation/next answered %d before any Offer", w.Code)
		case <-api.Ready():
		default:
			t.Fatal("Ready not closed by the first invocation/next")
		}
		if err := api.Offer(newInvocation(id)); err != nil {
			t.Fatal(err)
		}
		w := <-got
		if w.Code != http.StatusOK || w.Header().Get("Lambda-Runtime-Aws-Request-Id") != id {
			t.Fatalf("got %d, request id %q", w.Code, w.Header().Get("Lambda-Runtime-Aws-Request-Id"))
		}
	})
}

func TestNextEndsOnClose(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		api := New()
		got := make(chan *httptest.ResponseRecorder, 1)
		go func() { got <- call(api, "GET", base+"invocation/next", nil, nil) }()
		synctest.Wait()
		api.Close()
		if w := <-got; w.Code != http.StatusForbidden {
			t.Errorf("invocation/next after Close: %d, want 403", w.Code)
		}
		if err := api.Offer(newInvocation(id)); !errors.Is(err, ErrClosed) {
			t.Errorf("Offer after Close: %v, want ErrClosed", err)
		}
	})
}

func TestOfferBusy(t *testing.T) {
	api := New()
	if err := api.Offer(newInvocation(id)); err != nil {
		t.Fatal(err)
	}
	if err := api.Offer(newInvocation(id)); !errors.Is(err, ErrBusy) {
		t.Errorf("second Offer: %v, want ErrBusy", err)
	}
}

func TestNextHeaders(t *testing.T) {
	tests := []struct {
		name            string
		clientContext   string
		cognitoIdentity string
	}{
		{name: "plain"},
		{name: "client context", clientContext: `{"custom":{"k":"v"},"env":{},"client":{}}`},
		{name: "cognito identity", cognitoIdentity: `{"cognitoIdentityId":"i","cognitoIdentityPoolId":"p"}`},
		{name: "both", clientContext: `{"custom":{}}`, cognitoIdentity: `{"cognitoIdentityId":"i"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			api := New()
			inv := newInvocation(id)
			inv.ClientContext, inv.CognitoIdentity = tt.clientContext, tt.cognitoIdentity
			w := deliver(t, api, inv)
			h := w.Header()
			want := map[string]string{
				"Content-Type":                        "application/json",
				"Lambda-Runtime-Aws-Request-Id":       id,
				"Lambda-Runtime-Deadline-Ms":          "1542409706888",
				"Lambda-Runtime-Invoked-Function-Arn": inv.FunctionARN,
				"Lambda-Runtime-Trace-Id":             inv.TraceID,
				"Lambda-Runtime-Client-Context":       tt.clientContext,
				"Lambda-Runtime-Cognito-Identity":     tt.cognitoIdentity,
			}
			for k, v := range want {
				if got := h.Get(k); got != v {
					t.Errorf("%s = %q, want %q", k, got, v)
				}
				if _, present := h[k]; v == "" && present {
					t.Errorf("%s present though not set", k)
				}
			}
			if ms, err := strconv.ParseInt(h.Get("Lambda-Runtime-Deadline-Ms"), 10, 64); err != nil || ms != inv.Deadline.UnixMilli() {
				t.Errorf("Deadline-Ms %q is not the integer epoch ms %d", h.Get("Lambda-Runtime-Deadline-Ms"), inv.Deadline.UnixMilli())
			}
			if w.Body.String() != string(inv.Payload) {
				t.Errorf("body %q, want %q", w.Body, inv.Payload)
			}
			if !inv.Delivered() {
				t.Error("Delivered() false after invocation/next")
			}
		})
	}
}

// step is one request a runtime makes, and the answer it must get.
type step struct {
	method, path string
	header       http.Header
	body         []byte
	status       int
	errorType    string // for error answers
	message      string // for error answers; empty: not checked
}

func post(path string, body string, header ...string) step {
	s := step{method: "POST", path: base + path, body: []byte(body), status: http.StatusAccepted}
	if len(header) > 0 {
		s.header = http.Header{"Lambda-Runtime-Function-Error-Type": header}
	}
	return s
}

func (s step) fails(status int, typ, msg string) step {
	s.status, s.errorType, s.message = status, typ, msg
	return s
}

// next is a runtime's invocation/next, made after the step's invocation was offered.
var next = step{method: "GET", path: base + "invocation/next", status: http.StatusOK}

const notAllowed = " failed for runtime. Error: State transition is not allowed"

func TestRuntimeAnswers(t *testing.T) {
	big := strings.Repeat("x", MaxPayloadSize+1)
	limit := `"` + strings.Repeat("x", MaxPayloadSize-2) + `"`
	tooLarge := "Exceeded maximum allowed payload size (6291556 bytes)."
	tests := []struct {
		name    string
		deliver bool // offer an invocation and have the runtime fetch it first
		steps   []step
		want    []Result // what the invocation delivers, in order
		init    []Result // what InitErrors delivers
	}{
		{
			name: "response", deliver: true,
			steps: []step{post("invocation/"+id+"/response", `{"ok":true}`)},
			want:  []Result{{Kind: Response, Payload: []byte(`{"ok":true}`)}},
		},
		{
			name: "empty response", deliver: true,
			steps: []step{post("invocation/"+id+"/response", ``)},
			want:  []Result{{Kind: Response, Payload: []byte{}}},
		},
		{
			name: "response at the size limit", deliver: true,
			steps: []step{post("invocation/"+id+"/response", limit)},
			want:  []Result{{Kind: Response, Payload: []byte(limit)}},
		},
		{
			name: "error with type header", deliver: true,
			steps: []step{post("invocation/"+id+"/error", `{"errorMessage":"boom","errorType":"errorString"}`, "Function.Boom")},
			want:  []Result{{Kind: FunctionError, Payload: []byte(`{"errorMessage":"boom","errorType":"errorString"}`), ErrorType: "Function.Boom"}},
		},
		{
			name: "error typed by its body", deliver: true,
			steps: []step{post("invocation/"+id+"/error", `{"errorMessage":"boom","errorType":"errorString"}`)},
			want:  []Result{{Kind: FunctionError, Payload: []byte(`{"errorMessage":"boom","errorType":"errorString"}`), ErrorType: "errorString"}},
		},
		{
			name: "non-JSON error body is wrapped", deliver: true,
			steps: []step{post("invocation/"+id+"/error", `it broke`)},
			want:  []Result{{Kind: FunctionError, Payload: []byte(`{"errorMessage":"it broke","errorType":"Runtime.Unknown"}`), ErrorType: "Runtime.Unknown"}},
		},
		{
			name: "non-JSON error body is wrapped with its type", deliver: true,
			steps: []step{post("invocation/"+id+"/error", `it broke`, "Runtime.Custom")},
			want:  []Result{{Kind: FunctionError, Payload: []byte(`{"errorMessage":"it broke","errorType":"Runtime.Custom"}`), ErrorType: "Runtime.Custom"}},
		},
		{
			name: "wrong request id, then the right one", deliver: true,
			steps: []step{
				post("invocation/00000000-0000-0000-0000-000000000000/response", `"wrong"`).fails(400, "InvalidRequestID", "Invalid request ID"),
				post("invocation/00000000-0000-0000-0000-000000000000/error", `{}`).fails(400, "InvalidRequestID", "Invalid request ID"),
				post("invocation/"+id+"/response", `"right"`),
			},
			want: []Result{{Kind: Response, Payload: []byte(`"right"`)}},
		},
		{
			name: "second response", deliver: true,
			steps: []step{
				post("invocation/"+id+"/response", `"first"`),
				post("invocation/"+id+"/response", `"second"`).fails(403, "InvalidStateTransition",
					"State transition from RuntimeResponseSentState to InvocationResponse"+notAllowed),
				post("invocation/"+id+"/error", `{}`).fails(403, "InvalidStateTransition",
					"State transition from RuntimeResponseSentState to InvocationErrorResponse"+notAllowed),
			},
			want: []Result{{Kind: Response, Payload: []byte(`"first"`)}},
		},
		{
			name: "response after error", deliver: true,
			steps: []step{
				post("invocation/"+id+"/error", `{"errorType":"E"}`),
				post("invocation/"+id+"/response", `"late"`).fails(403, "InvalidStateTransition", ""),
			},
			want: []Result{{Kind: FunctionError, Payload: []byte(`{"errorType":"E"}`), ErrorType: "E"}},
		},
		{
			name: "oversized response", deliver: true,
			steps: []step{
				post("invocation/"+id+"/response", big).fails(413, "RequestEntityTooLarge", tooLarge),
				post("invocation/"+id+"/response", `"small"`).fails(403, "InvalidStateTransition", ""),
			},
			want: []Result{{Kind: ResponseTooLarge}},
		},
		{
			name: "oversized error", deliver: true,
			steps: []step{
				post("invocation/"+id+"/error", big).fails(413, "RequestEntityTooLarge", tooLarge),
				post("invocation/"+id+"/error", `{"errorType":"E"}`),
			},
			want: []Result{{Kind: FunctionError, Payload: []byte(`{"errorType":"E"}`), ErrorType: "E"}},
		},
		{
			name: "response before invocation/next",
			steps: []step{
				post("invocation/"+id+"/response", `"early"`).fails(403, "InvalidStateTransition",
					"State transition from Started to InvocationResponse"+notAllowed),
			},
		},
		{
			name: "answer for an invocation already done", deliver: true,
			steps: []step{
				post("invocation/"+id+"/response", `"first"`),
				next,
				post("invocation/"+id+"/response", `"stale"`).fails(400, "InvalidRequestID", "Invalid request ID"),
			},
			want: []Result{{Kind: Response, Payload: []byte(`"first"`)}},
		},
		{
			name: "init error",
			steps: []step{
				post("init/error", `{"errorMessage":"no config","errorType":"Init.Bad"}`, "Init.Bad"),
				next.fails(403, "InvalidStateTransition", "State transition from InitError to Ready"+notAllowed),
				post("init/error", `{}`).fails(403, "InvalidStateTransition", "State transition from InitError to InitError"+notAllowed),
				post("invocation/"+id+"/response", `"x"`).fails(403, "InvalidStateTransition", ""),
			},
			init: []Result{{Kind: InitError, Payload: []byte(`{"errorMessage":"no config","errorType":"Init.Bad"}`), ErrorType: "Init.Bad"}},
		},
		{
			name:  "non-JSON init error is wrapped",
			steps: []step{post("init/error", `plain`)},
			init:  []Result{{Kind: InitError, Payload: []byte(`{"errorMessage":"plain","errorType":"Runtime.Unknown"}`), ErrorType: "Runtime.Unknown"}},
		},
		{
			name: "init error after init", deliver: true,
			steps: []step{
				post("init/error", `{}`).fails(403, "InvalidStateTransition", "State transition from Ready to InitError"+notAllowed),
				post("invocation/"+id+"/response", `"ok"`),
			},
			want: []Result{{Kind: Response, Payload: []byte(`"ok"`)}},
		},
		{
			name: "unknown routes", deliver: true,
			steps: []step{
				{method: "GET", path: base + "invocation/" + id + "/response", status: 405},
				{method: "POST", path: base + "invocation/next", status: 405},
				{method: "POST", path: "/2018-06-01/runtime/invocation/" + id + "/response/extra", status: 404},
				{method: "POST", path: "/2020-01-01/extension/register", status: 404},
				{method: "POST", path: "/", status: 404},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			api := New()
			inv := newInvocation(id)
			if tt.deliver {
				deliver(t, api, inv)
			}
			for i, s := range tt.steps {
				if s.path == next.path && s.status == http.StatusOK {
					deliver(t, api, newInvocation("11111111-2222-3333-4444-555555555555"))
					continue
				}
				w := call(api, s.method, s.path, s.header, s.body)
				if w.Code != s.status {
					t.Fatalf("step %d %s %s: status %d, want %d; body %s", i, s.method, s.path, w.Code, s.status, w.Body)
				}
				if s.status == http.StatusAccepted {
					if w.Body.String() != "{\"status\":\"OK\"}\n" || w.Header().Get("Content-Type") != "application/json" {
						t.Errorf("step %d: accepted with %q (%s)", i, w.Body, w.Header().Get("Content-Type"))
					}
				}
				if s.errorType != "" {
					typ, msg := errorBody(t, w)
					if typ != s.errorType || (s.message != "" && msg != s.message) {
						t.Errorf("step %d: error %s %q, want %s %q", i, typ, msg, s.errorType, s.message)
					}
				}
			}
			checkResults(t, "invocation", inv.Done(), tt.want)
			checkResults(t, "init/error", api.InitErrors(), tt.init)
		})
	}
}

// checkResults drains ch, which must hold exactly want.
func checkResults(t *testing.T, what string, ch <-chan Result, want []Result) {
	t.Helper()
	var got []Result
	for {
		select {
		case r := <-ch:
			got = append(got, r)
			continue
		default:
		}
		break
	}
	if len(got) != len(want) {
		t.Fatalf("%s delivered %d results, want %d: %+v", what, len(got), len(want), got)
	}
	for i := range want {
		g, w := got[i], want[i]
		if g.Kind != w.Kind || g.ErrorType != w.ErrorType || !jsonEqual(g.Payload, w.Payload) {
			t.Errorf("%s result %d = {%d %q %.80q}, want {%d %q %.80q}", what, i, g.Kind, g.ErrorType, g.Payload, w.Kind, w.ErrorType, w.Payload)
		}
	}
}

func jsonEqual(a, b []byte) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return bytes.Equal(a, b)
	}
	ja, _ := json.Marshal(x)
	jb, _ := json.Marshal(y)
	return bytes.Equal(ja, jb)
}

func TestReadyAtInitErrorNeverReady(t *testing.T) {
	api := New()
	call(api, "POST", base+"init/error", nil, []byte(`{}`))
	call(api, "GET", base+"invocation/next", nil, nil)
	select {
	case <-api.Ready():
		t.Fatal("Ready after init/error")
	default:
	}
	if !api.ReadyAt().IsZero() {
		t.Errorf("ReadyAt = %v after init/error", api.ReadyAt())
	}
}
