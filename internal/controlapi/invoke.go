package controlapi

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	"github.com/lambent/lambent/internal/function"
	"github.com/lambent/lambent/internal/invoke"
	"github.com/lambent/lambent/internal/runtimeapi"
)

// Payload limits of Invoke, as on AWS.
const (
	maxSyncPayload     = 6 * 1024 * 1024
	maxClientContext   = 3583
	pendingGracePeriod = 10 * time.Second
)

func (a *API) invoke(w http.ResponseWriter, r *http.Request, body []byte) error {
	f, err := a.resolve(r)
	if err != nil {
		return err
	}
	typ := r.Header.Get("X-Amz-Invocation-Type")
	switch typ {
	case "", "RequestResponse", "Event", "DryRun":
	default:
		return errorf(400, "InvalidParameterValueException", "1 validation error detected: Value '"+typ+"' at 'invocationType' failed to satisfy constraint: Member must satisfy enum value set: [Event, RequestResponse, DryRun]")
	}
	logType := r.Header.Get("X-Amz-Log-Type")
	if logType != "" && logType != "None" && logType != "Tail" {
		return errorf(400, "InvalidParameterValueException", "1 validation error detected: Value '"+logType+"' at 'logType' failed to satisfy constraint: Member must satisfy enum value set: [None, Tail]")
	}
	limit := maxSyncPayload
	if typ == "Event" {
		limit = invoke.MaxAsyncPayload
	}
	if len(body) > limit {
		return errorf(413, "RequestTooLargeException", "Request must be smaller than "+strconv.Itoa(limit)+" bytes for the InvokeFunction operation")
	}
	if len(body) == 0 {
		body = []byte("{}")
	} else if !json.Valid(body) {
		return errorf(400, "InvalidRequestContentException", "Could not parse request body into json: Could not parse payload into json: Unexpected character: was expecting a JSON value")
	}
	var clientContext string
	if cc := r.Header.Get("X-Amz-Client-Context"); cc != "" {
		dec, err := base64.StdEncoding.DecodeString(cc)
		if err != nil || len(dec) > maxClientContext || !json.Valid(dec) {
			return errorf(400, "InvalidRequestContentException", "Client context must be a valid Base64-encoded JSON object.")
		}
		clientContext = string(dec)
	}
	if f.State == function.StatePending {
		if f, err = a.awaitActive(r, f); err != nil {
			return err
		}
	}
	h := w.Header()
	if typ == "DryRun" {
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
	req := invoke.Request{Function: f, Payload: body, ClientContext: clientContext, Tail: logType == "Tail",
		RequestID: h.Get("X-Amzn-Requestid")}
	if typ == "Event" {
		if f.State != function.StateActive {
			return toAPIError(invoke.ErrNotReady)
		}
		if err := a.Async.Enqueue(r.Context(), req); err != nil {
			return err
		}
		w.WriteHeader(http.StatusAccepted)
		return nil
	}
	resp, err := a.Router.Invoke(r.Context(), req)
	if err != nil {
		return err
	}
	if len(resp.Payload) > runtimeapi.MaxPayloadSize {
		resp.Payload = nil // cannot happen: the Runtime API refuses such responses
	}
	h["Content-Type"] = []string{"application/json"}
	h["X-Amz-Executed-Version"] = []string{resp.Version}
	if resp.FunctionError != "" {
		h["X-Amz-Function-Error"] = []string{resp.FunctionError}
	}
	if req.Tail {
		h["X-Amz-Log-Result"] = []string{base64.StdEncoding.EncodeToString(resp.LogTail)}
	}
	h["Content-Length"] = []string{strconv.Itoa(len(resp.Payload))}
	w.WriteHeader(http.StatusOK)
	w.Write(resp.Payload)
	return nil
}

// awaitActive waits briefly for a function that is being created, so that an invoke sent right
// after CreateFunction runs instead of failing.
func (a *API) awaitActive(r *http.Request, f *function.Function) (*function.Function, error) {
	name, deadline := f.Name, time.Now().Add(pendingGracePeriod)
	for f.State == function.StatePending && time.Now().Before(deadline) {
		select {
		case <-r.Context().Done():
			return nil, r.Context().Err()
		case <-time.After(5 * time.Millisecond):
		}
		var err error
		if f, err = a.Functions.Get(name); err != nil {
			return nil, a.notFound(name)
		}
	}
	if f.State != function.StateActive {
		return nil, errorf(409, "ResourceConflictException", "The operation cannot be performed at this time. The function is currently in the following state: "+f.State)
	}
	return f, nil
}
