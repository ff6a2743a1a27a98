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
	"sync/atomic"
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

	done      chan Result
	delivered atomic.Bool
}

// NewInvocation prepares an invocation for Offer.
func NewInvocation() *Invocation { return &Invocation{done: make(chan Result, 1)} }

// Done delivers the runtime's answer, once.
func (inv *Invocation) Done() <-chan Result { return inv.done }

// Delivered reports whether the runtime has received the invocation from invocation/next.
// An invocation that was never delivered can safely run elsewhere.
func (inv *Invocation) Delivered() bool { return inv.delivered.Load() }

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

// state is where the runtime stands in Lambda's runtime state machine; the names are the ones
// the Runtime Interface Emulator puts in its InvalidStateTransition messages.
type state int

const (
	started   state = iota // no invocation/next yet: the runtime is initialising
	initError              // the runtime posted init/error
	ready                  // the runtime asked for an invocation (and may hold current)
	responded              // current has been answered; the runtime has not asked for the next yet
)

func (s state) String() string {
	return [...]string{"Started", "InitError", "Ready", "RuntimeResponseSentState"}[s]
}

// Names of the states a runtime asks to move to, for InvalidStateTransition messages.
const (
	toReady         = "Ready"
	toResponse      = "InvocationResponse"
	toErrorResponse = "InvocationErrorResponse"
	toInitError     = "InitError"
)

// API is the Runtime API of one environment. Its zero value is not usable; call New.
type API struct {
	mux    *http.ServeMux
	offers chan *Invocation
	closed chan struct{}
	ready  chan struct{}
	inits  chan Result

	mu        sync.Mutex
	current   *Invocation // the invocation the runtime holds, nil when it holds none
	state     state
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

// InitErrors delivers the error the runtime posted to init/error. A runtime that posted one
// is never Ready.
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

// toReady moves the runtime to Ready on invocation/next, or renders why it cannot.
func (a *API) toReady(w http.ResponseWriter) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.state == initError {
		renderTransitionError(w, a.state, toReady)
		return false
	}
	if a.state == started {
		a.readyAt = time.Now()
		close(a.ready)
	}
	a.state, a.current = ready, nil
	return true
}

func (a *API) next(w http.ResponseWriter, r *http.Request) {
	if !a.toReady(w) {
		return
	}
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
	a.current = inv
	a.mu.Unlock()
	inv.delivered.Store(true)

	h := w.Header()
	h["Content-Type"] = []string{"application/json"}
	h["Lambda-Runtime-Aws-Request-Id"] = []string{inv.RequestID}
	h["Lambda-Runtime-Deadline-Ms"] = []string{strconv.FormatInt(inv.Deadline.UnixMilli(), 10)}
	setIfNotEmpty(h, "Lambda-Runtime-Invoked-Function-Arn", inv.FunctionARN)
	setIfNotEmpty(h, "Lambda-Runtime-Trace-Id", inv.TraceID)
	setIfNotEmpty(h, "Lambda-Runtime-Client-Context", inv.ClientContext)
	setIfNotEmpty(h, "Lambda-Runtime-Cognito-Identity", inv.CognitoIdentity)
	h["Content-Length"] = []string{strconv.Itoa(len(inv.Payload))}
	w.WriteHeader(http.StatusOK)
	w.Write(inv.Payload)
}

func setIfNotEmpty(h http.Header, key, value string) {
	if value != "" {
		h[key] = []string{value}
	}
}

// claim checks that the runtime may answer invocation id and marks it answered. As in the
// Runtime Interface Emulator, the state is checked first (403 InvalidStateTransition), then
// the id (400 InvalidRequestID); a wrong id leaves the invocation open for the right one.
func (a *API) claim(w http.ResponseWriter, id string, to string) *Invocation {
	a.mu.Lock()
	defer a.mu.Unlock()
	switch {
	case a.state != ready:
		renderTransitionError(w, a.state, to)
		return nil
	case a.current == nil || a.current.RequestID != id:
		renderError(w, http.StatusBadRequest, "InvalidRequestID", "Invalid request ID")
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
	inv := a.claim(w, r.PathValue("id"), toResponse)
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
	renderAccepted(w)
}

func (a *API) invocationError(w http.ResponseWriter, r *http.Request) {
	res, ok := readError(w, r)
	if !ok {
		return
	}
	inv := a.claim(w, r.PathValue("id"), toErrorResponse)
	if inv == nil {
		return
	}
	inv.done <- res
	renderAccepted(w)
}

func (a *API) initError(w http.ResponseWriter, r *http.Request) {
	res, ok := readError(w, r)
	if !ok {
		return
	}
	res.Kind = InitError
	a.mu.Lock()
	if a.state != started {
		st := a.state
		a.mu.Unlock()
		renderTransitionError(w, st, toInitError)
		return
	}
	a.state = initError
	a.mu.Unlock()
	a.inits <- res // buffered, and only one init error is ever accepted
	renderAccepted(w)
}

// readError reads an error a runtime posts. A body that is not a JSON object is replaced by
// one carrying the error type, as Lambda does for runtimes that post plain text.
func readError(w http.ResponseWriter, r *http.Request) (Result, bool) {
	body, tooLarge, err := readBody(r.Body, MaxPayloadSize)
	if err != nil {
		renderError(w, http.StatusBadRequest, "TruncatedHTTPRequest", "HTTP request detected as truncated")
		return Result{}, false
	}
	if tooLarge {
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

func renderAccepted(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusAccepted)
	io.WriteString(w, "{\"status\":\"OK\"}\n")
}

func renderTransitionError(w http.ResponseWriter, from state, to string) {
	renderError(w, http.StatusForbidden, "InvalidStateTransition",
		"State transition from "+from.String()+" to "+to+" failed for runtime. Error: State transition is not allowed")
}

// renderError writes an error as the Runtime Interface Emulator does: a JSON object with
// errorMessage and errorType, newline-terminated.
func renderError(w http.ResponseWriter, status int, typ, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(struct {
		ErrorMessage string `json:"errorMessage"`
		ErrorType    string `json:"errorType"`
	}{msg, typ})
}
