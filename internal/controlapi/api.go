// Package controlapi serves Lambda's REST API (2015-03-31, the 2018-10-31 layers and the
// account settings route):
// it authenticates every request with SigV4, decodes AWS's JSON shapes, calls the registry,
// the code store and the invocation router, and renders results and errors exactly as Lambda
// does. It owns no state; the mapping from domain errors to AWS error types lives only here.
package controlapi

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/lambent/lambent/internal/auth"
	"github.com/lambent/lambent/internal/code"
	"github.com/lambent/lambent/internal/function"
	"github.com/lambent/lambent/internal/invoke"
	"github.com/lambent/lambent/internal/layer"
)

// maxRequestBody bounds any API request: a 50 MB zip, base64 in JSON (AWS: 70,167,211 bytes).
const maxRequestBody = 70167211

// API is the Lambda control and invoke API.
type API struct {
	Functions *function.Registry
	Layers    *layer.Store
	Code      *code.Store
	Router    *invoke.Router
	Async     *invoke.Async
	Verifier  *auth.Verifier
	ARNs      function.ARNs
	// URLKey signs the Code.Location download URLs GetFunction returns.
	URLKey []byte
	Log    *slog.Logger
	// Background is the context of work that outlives a request (making code ready).
	Background context.Context
}

// handler is one API operation; body is the request body, read and authenticated.
type handler func(w http.ResponseWriter, r *http.Request, body []byte) error

// Handler returns the HTTP handler of every route.
func (a *API) Handler() http.Handler {
	mux := http.NewServeMux()
	route := func(pattern, op string, h handler) { mux.Handle(pattern, a.authenticated(op, h)) }
	route("POST /2015-03-31/functions", "CreateFunction", a.createFunction)
	route("POST /2015-03-31/functions/{$}", "CreateFunction", a.createFunction)
	route("GET /2015-03-31/functions", "ListFunctions", a.listFunctions)
	route("GET /2015-03-31/functions/{$}", "ListFunctions", a.listFunctions)
	route("GET /2015-03-31/functions/{name}", "GetFunction", a.getFunction)
	route("DELETE /2015-03-31/functions/{name}", "DeleteFunction", a.deleteFunction)
	route("GET /2015-03-31/functions/{name}/configuration", "GetFunctionConfiguration", a.getFunctionConfiguration)
	route("PUT /2015-03-31/functions/{name}/configuration", "UpdateFunctionConfiguration", a.updateFunctionConfiguration)
	route("PUT /2015-03-31/functions/{name}/code", "UpdateFunctionCode", a.updateFunctionCode)
	route("POST /2015-03-31/functions/{name}/invocations", "Invoke", a.invoke)
	route("POST /2018-10-31/layers/{LayerName}/versions", "PublishLayerVersion", a.publishLayerVersion)
	route("GET /2018-10-31/layers/{LayerName}/versions", "ListLayerVersions", a.listLayerVersions)
	route("GET /2018-10-31/layers/{LayerName}/versions/{VersionNumber}", "GetLayerVersion", a.getLayerVersion)
	route("DELETE /2018-10-31/layers/{LayerName}/versions/{VersionNumber}", "DeleteLayerVersion", a.deleteLayerVersion)
	route("GET /2018-10-31/layers", "ListLayers", a.layers) // and GetLayerVersionByArn: ?find=LayerVersion
	route("GET /2018-10-31/layers/{$}", "ListLayers", a.layers)
	route("GET /2016-08-19/account-settings", "GetAccountSettings", a.accountSettings)
	route("GET /2016-08-19/account-settings/{$}", "GetAccountSettings", a.accountSettings)
	mux.HandleFunc("GET /_lambent/code/{digest}", a.downloadCode)
	mux.Handle("/", a.authenticated("", func(w http.ResponseWriter, r *http.Request, _ []byte) error {
		return errorf(404, "UnknownOperationException", "Unknown operation "+r.Method+" "+r.URL.Path)
	}))
	return mux
}

// authenticated reads the body, verifies the request's signature and runs h, the operation op,
// rendering its error.
func (a *API) authenticated(op string, h handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Amzn-Requestid", invoke.NewRequestID())
		body, err := readBody(r, op)
		if err == nil {
			err = a.Verifier.Verify(r, body)
		}
		if err == nil {
			err = h(w, r, body)
		}
		if err != nil {
			writeError(w, err)
		}
	})
}

// readBody reads the body of a request for op, refusing one larger than any operation takes
// with the error AWS gives for op.
func readBody(r *http.Request, op string) ([]byte, error) {
	tooLarge := errorf(413, "RequestEntityTooLargeException", "Request must be smaller than "+strconv.Itoa(maxRequestBody)+" bytes for the "+op+" operation")
	if op == "Invoke" {
		tooLarge = errorf(413, "RequestTooLargeException", "Request must be smaller than "+strconv.Itoa(maxSyncPayload)+" bytes for the InvokeFunction operation")
	}
	if r.ContentLength > maxRequestBody {
		return nil, tooLarge
	}
	var buf bytes.Buffer
	if r.ContentLength > 0 {
		buf.Grow(int(r.ContentLength))
	}
	n, err := buf.ReadFrom(io.LimitReader(r.Body, maxRequestBody+1))
	if err != nil {
		return nil, errorf(400, "InvalidRequestContentException", "could not read request body: "+err.Error())
	}
	if n > maxRequestBody {
		return nil, tooLarge
	}
	return buf.Bytes(), nil
}

func writeJSON(w http.ResponseWriter, status int, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(data)))
	w.WriteHeader(status)
	_, err = w.Write(data)
	return err
}

// decode reads a JSON request body into v.
func decode(body []byte, v any) error {
	if len(bytes.TrimSpace(body)) == 0 {
		return nil
	}
	if err := json.Unmarshal(body, v); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return errorf(400, "InvalidParameterValueException", "Value for field '"+te.Field+"' has the wrong type: "+err.Error())
		}
		return errorf(400, "InvalidRequestContentException", "Could not parse request body into json: "+err.Error())
	}
	return nil
}

// lookup resolves the {name} path value and the Qualifier parameter to a function and the
// qualifier asked for; only $LATEST exists.
func (a *API) lookup(r *http.Request) (*function.Function, string, error) {
	name, qualifier, err := a.ARNs.ParseName(r.PathValue("name"))
	if err != nil {
		return nil, "", err
	}
	if q := r.URL.Query().Get("Qualifier"); q != "" {
		if qualifier != "" && q != qualifier {
			return nil, "", errorf(400, "InvalidParameterValueException", "The derived qualifier from the function name does not match the specified qualifier.")
		}
		qualifier = q
	}
	f, err := a.Functions.Get(name)
	if err != nil && qualifier != "" {
		return nil, "", errorf(404, "ResourceNotFoundException", "Function not found: "+a.ARNs.Function(name)+":"+qualifier)
	}
	if err != nil {
		return nil, "", a.notFound(name)
	}
	if qualifier != "" && qualifier != function.LatestVersion {
		return nil, "", errorf(404, "ResourceNotFoundException", "Function not found: "+a.ARNs.Function(name)+":"+qualifier)
	}
	return f, qualifier, nil
}

// resolve is lookup for the operations that ignore the qualifier once resolved.
func (a *API) resolve(r *http.Request) (*function.Function, error) {
	f, _, err := a.lookup(r)
	return f, err
}

func (a *API) notFound(name string) error {
	return errorf(404, "ResourceNotFoundException", "Function not found: "+a.ARNs.Function(name))
}

// codeURL is a time-limited download URL for digest, signed with URLKey.
func (a *API) codeURL(r *http.Request, digest string) string {
	exp := strconv.FormatInt(time.Now().Add(10*time.Minute).Unix(), 10)
	return "http://" + r.Host + "/_lambent/code/" + digest + "?expires=" + exp + "&signature=" + a.sign(digest, exp)
}

func (a *API) sign(digest, exp string) string {
	m := hmac.New(sha256.New, a.URLKey)
	io.WriteString(m, digest+"\n"+exp)
	return hex.EncodeToString(m.Sum(nil))
}

// downloadCode serves a zip to holders of a URL from codeURL, as S3 serves presigned URLs.
func (a *API) downloadCode(w http.ResponseWriter, r *http.Request) {
	digest, q := r.PathValue("digest"), r.URL.Query()
	exp, err := strconv.ParseInt(q.Get("expires"), 10, 64)
	if err != nil || time.Now().Unix() > exp ||
		!hmac.Equal([]byte(q.Get("signature")), []byte(a.sign(digest, q.Get("expires")))) {
		w.Header().Set("Content-Type", "application/xml")
		w.WriteHeader(http.StatusForbidden)
		io.WriteString(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>AccessDenied</Code><Message>Request has expired or its signature is invalid</Message></Error>`)
		return
	}
	data, err := a.Code.Zip(r.Context(), digest)
	if err != nil {
		http.Error(w, "not found", http.StatusNotFound)
		return
	}
	w.Header().Set("Content-Type", "application/zip")
	w.Header().Set("Content-Length", strconv.Itoa(len(data)))
	w.Write(data)
}
