// Package runtimeapi serves the Lambda Runtime API (2018-06-01) for one execution environment:
// the runtime inside the sandbox long-polls invocation/next, then posts a response or an error.
// An API hands invocations to the runtime and returns what the runtime answers; it owns no
// process, no timer and no log: the environment that holds it decides what a timeout or a crash
// means.
package runtimeapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// MaxPayloadSize is the largest response a runtime may post, as on AWS (6 MiB + 100 bytes).
const MaxPayloadSize = 6*1024*1024 + 100

// Errors of Offer.
var (
	ErrClosed = errors.New("runtime api closed")
	ErrBusy   = errors.New("an invocation is already queued")
)

// Invocation is one event handed to the runtime.
type Invocation struct {
	RequestID       string
	FunctionARN     string
	TraceID         string
	ClientContext   string
	CognitoIdentity string
	Deadline        time.Time
	Payload         []byte

	done chan Result
}

// NewInvocation prepares an invocation for Offer.
func NewInvocation() *Invocation { return &Invocation{done: make(chan Result, 1)} }

// Done delivers the runtime's answer, once.
func (inv *Invocation) Done() <-chan Result { return inv.done }

// Kind says what the runtime answered.
type Kind int

// What a runtime can answer.
const (
	Response         Kind = iota // invocation/{id}/response
	FunctionError                // invocation/{id}/error
	ResponseTooLarge             // a response over MaxPayloadSize
	InitError                    // init/error
)

// Result is the runtime's answer to an invocation, or its init error.
type Result struct {
	Kind      Kind
	Payload   []byte // response body, or the error JSON
	ErrorType string // Lambda-Runtime-Function-Error-Type, for errors
}

type state int

const (
	idle      state = iota // no invocation handed out
	invoking               // the runtime holds current
	responded              // current has been answered
)

// API is the Runtime API of one environment. Its zero value is not usable; call New.
type API struct {
	mux    *http.ServeMux
	offers chan *Invocation
	closed chan struct{}
	ready  chan struct{}
	inits  chan Result

	mu        sync.Mutex
	current   *Invocation
	state     state
	readyOnce sync.Once
	closeOnce sync.Once
	readyAt   time.Time
}

// New returns an API with its routes.
func New() *API {
	a := &API{
		mux:    http.NewServeMux(),
		offers: make(chan *Invocation, 1),
		closed: make(chan struct{}),
		ready:  make(chan struct{}),
		inits:  make(chan Result, 1),
	}
	a.mux.HandleFunc("GET /2018-06-01/runtime/invocation/next", a.next)
	a.mux.HandleFunc("POST /2018-06-01/runtime/invocation/{id}/response", a.response)
	a.mux.HandleFunc("POST /2018-06-01/runtime/invocation/{id}/error", a.invocationError)
	a.mux.HandleFunc("POST /2018-06-01/runtime/init/error", a.initError)
	return a
}

// ServeHTTP routes a Runtime API request.
func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) { a.mux.ServeHTTP(w, r) }

// Ready is closed when the runtime first asks for an invocation: its init phase is over.
func (a *API) Ready() <-chan struct{} { return a.ready }

// ReadyAt is when Ready was closed.
func (a *API) ReadyAt() time.Time {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.readyAt
}

// InitErrors delivers an error the runtime posted to init/error.
func (a *API) InitErrors() <-chan Result { return a.inits }

// Offer queues inv for the runtime's next invocation/next. An environment runs one invocation
// at a time: Offer fails with ErrBusy if one is still queued, and ErrClosed after Close.
func (a *API) Offer(inv *Invocation) error {
	select {
	case <-a.closed:
		return ErrClosed
	default:
	}
	select {
	case a.offers <- inv:
		return nil
	default:
		return ErrBusy
	}
}

// Close ends pending and future invocation/next calls.
func (a *API) Close() { a.closeOnce.Do(func() { close(a.closed) }) }

func (a *API) next(w http.ResponseWriter, r *http.Request) {
	a.readyOnce.Do(func() {
		a.mu.Lock()
		a.readyAt = time.Now()
		a.mu.Unlock()
		close(a.ready)
	})
	var inv *Invocation
	select {
	case inv = <-a.offers:
	case <-a.closed:
		renderError(w, http.StatusForbidden, "InvalidStateTransition", "the execution environment is shutting down")
		return
	case <-r.Context().Done():
		return
	}
	a.mu.Lock()
	a.current, a.state = inv, invoking
	a.mu.Unlock()

	h := w.Header()
	h["Content-Type"] = []string{"application/json"}
	h["Lambda-Runtime-Aws-Request-Id"] = []string{inv.RequestID}
	h["Lambda-Runtime-Deadline-Ms"] = []string{strconv.FormatInt(inv.Deadline.UnixMilli(), 10)}
	h["Lambda-Runtime-Invoked-Function-Arn"] = []string{inv.FunctionARN}
	h["Lambda-Runtime-Trace-Id"] = []string{inv.TraceID}
	if inv.ClientContext != "" {
		h["Lambda-Runtime-Client-Context"] = []string{inv.ClientContext}
	}
	if inv.CognitoIdentity != "" {
		h["Lambda-Runtime-Cognito-Identity"] = []string{inv.CognitoIdentity}
	}
	h["Content-Length"] = []string{strconv.Itoa(len(inv.Payload))}
	w.WriteHeader(http.StatusOK)
	w.Write(inv.Payload)
}

// claim checks that id names the invocation the runtime holds and marks it answered.
func (a *API) claim(w http.ResponseWriter, id string, to string) *Invocation {
	a.mu.Lock()
	defer a.mu.Unlock()
	switch {
	case a.current == nil || a.current.RequestID != id:
		renderError(w, http.StatusBadRequest, "InvalidRequestID", "Invalid request ID")
		return nil
	case a.state != invoking:
		renderError(w, http.StatusForbidden, "InvalidStateTransition",
			"State transition from RuntimeResponseSentState to "+to+" failed for runtime. Error: State transition is not allowed")
		return nil
	}
	a.state = responded
	return a.current
}

func (a *API) response(w http.ResponseWriter, r *http.Request) {
	body, tooLarge, err := readBody(r.Body, MaxPayloadSize)
	if err != nil {
		renderError(w, http.StatusBadRequest, "TruncatedHTTPRequest", "HTTP request detected as truncated")
		return
	}
	inv := a.claim(w, r.PathValue("id"), "RuntimeInvocationResponseState")
	if inv == nil {
		return
	}
	if tooLarge {
		inv.done <- Result{Kind: ResponseTooLarge}
		renderError(w, http.StatusRequestEntityTooLarge, "RequestEntityTooLarge",
			"Exceeded maximum allowed payload size ("+strconv.Itoa(MaxPayloadSize)+" bytes).")
		return
	}
	inv.done <- Result{Kind: Response, Payload: body}
	w.WriteHeader(http.StatusAccepted)
	io.WriteString(w, `{"status":"OK"}`)
}

func (a *API) invocationError(w http.ResponseWriter, r *http.Request) {
	res, ok := readError(w, r)
	if !ok {
		return
	}
	inv := a.claim(w, r.PathValue("id"), "RuntimeInvocationErrorResponseState")
	if inv == nil {
		return
	}
	inv.done <- res
	w.WriteHeader(http.StatusAccepted)
	io.WriteString(w, `{"status":"OK"}`)
}

func (a *API) initError(w http.ResponseWriter, r *http.Request) {
	res, ok := readError(w, r)
	if !ok {
		return
	}
	res.Kind = InitError
	select {
	case a.inits <- res:
	default:
		renderError(w, http.StatusForbidden, "InvalidStateTransition",
			"State transition from RuntimeInitErrorState to RuntimeInitErrorState failed for runtime. Error: State transition is not allowed")
		return
	}
	w.WriteHeader(http.StatusAccepted)
	io.WriteString(w, `{"status":"OK"}`)
}

// readError reads an error a runtime posts. A body that is not a JSON object is replaced by
// one carrying the error type, as Lambda does for runtimes that post plain text.
func readError(w http.ResponseWriter, r *http.Request) (Result, bool) {
	body, tooLarge, err := readBody(r.Body, MaxPayloadSize)
	if err != nil || tooLarge {
		renderError(w, http.StatusRequestEntityTooLarge, "RequestEntityTooLarge",
			"Exceeded maximum allowed payload size ("+strconv.Itoa(MaxPayloadSize)+" bytes).")
		return Result{}, false
	}
	typ := r.Header.Get("Lambda-Runtime-Function-Error-Type")
	var obj map[string]json.RawMessage
	if json.Unmarshal(body, &obj) != nil {
		if typ == "" {
			typ = "Runtime.Unknown"
		}
		body, _ = json.Marshal(map[string]string{"errorType": typ, "errorMessage": string(body)})
	} else if typ == "" {
		var t struct {
			ErrorType string `json:"errorType"`
		}
		json.Unmarshal(body, &t)
		typ = t.ErrorType
	}
	return Result{Kind: FunctionError, Payload: body, ErrorType: typ}, true
}

// readBody reads at most limit bytes; tooLarge reports a longer body (which is discarded).
func readBody(r io.Reader, limit int64) (body []byte, tooLarge bool, err error) {
	var buf bytes.Buffer
	n, err := buf.ReadFrom(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, false, err
	}
	if n > limit {
		io.Copy(io.Discard, r)
		return nil, true, nil
	}
	return buf.Bytes(), false, nil
}

func renderError(w http.ResponseWriter, status int, typ, msg string) {
	body, _ := json.Marshal(struct {
		ErrorMessage string `json:"errorMessage"`
		ErrorType    string `json:"errorType"`
	}{msg, typ})
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(body)
}
