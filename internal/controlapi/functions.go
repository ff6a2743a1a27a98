package controlapi

import (
	"encoding/base64"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/lambent/lambent/internal/code"
	"github.com/lambent/lambent/internal/function"
)

type codeInput struct {
	ZipFile         []byte  `json:"ZipFile"`
	S3Bucket        *string `json:"S3Bucket"`
	S3Key           *string `json:"S3Key"`
	S3ObjectVersion *string `json:"S3ObjectVersion"`
	ImageUri        *string `json:"ImageUri"`
}

type createInput struct {
	FunctionName     string            `json:"FunctionName"`
	Runtime          string            `json:"Runtime"`
	Role             string            `json:"Role"`
	Handler          string            `json:"Handler"`
	Code             *codeInput        `json:"Code"`
	Description      string            `json:"Description"`
	Timeout          *int              `json:"Timeout"`
	MemorySize       *int              `json:"MemorySize"`
	Publish          bool              `json:"Publish"`
	PackageType      string            `json:"PackageType"`
	Environment      *environment      `json:"Environment"`
	Tags             map[string]string `json:"Tags"`
	Architectures    []string          `json:"Architectures"`
	EphemeralStorage *ephemeralStorage `json:"EphemeralStorage"`
	Layers           []string          `json:"Layers"`
}

func (a *API) createFunction(w http.ResponseWriter, r *http.Request, body []byte) error {
	var in createInput
	if err := decode(body, &in); err != nil {
		return err
	}
	if in.PackageType != "" && in.PackageType != "Zip" {
		return errorf(400, "InvalidParameterValueException", "PackageType "+in.PackageType+" is not supported by Lambent yet; use Zip.")
	}
	if in.FunctionName == "" {
		return errorf(400, "ValidationException", "1 validation error detected: Value null at 'functionName' failed to satisfy constraint: Member must not be null")
	}
	name, qualifier, err := a.ARNs.ParseName(in.FunctionName)
	if err != nil {
		return err
	}
	if qualifier != "" {
		return errorf(400, "InvalidParameterValueException", "Unsupported function name: qualified names cannot be created: "+in.FunctionName)
	}
	if in.Code == nil {
		return errorf(400, "ValidationException", "1 validation error detected: Value null at 'code' failed to satisfy constraint: Member must not be null")
	}
	zip, err := a.zipFile(in.Code)
	if err != nil {
		return err
	}
	f := &function.Function{
		Name: name, Runtime: in.Runtime, Role: in.Role, Handler: in.Handler,
		Description: in.Description, MemorySize: function.DefaultMemory, Timeout: function.DefaultTimeout,
		EphemeralStorage: function.DefaultStorage, Architectures: in.Architectures, Tags: in.Tags,
		State: function.StatePending, StateReason: "The function is being created.", StateReasonCode: "Creating",
		LastModified: time.Now().UTC(),
	}
	if in.Timeout != nil {
		f.Timeout = *in.Timeout
	}
	if in.MemorySize != nil {
		f.MemorySize = *in.MemorySize
	}
	if in.EphemeralStorage != nil {
		f.EphemeralStorage = in.EphemeralStorage.Size
	}
	if len(f.Architectures) == 0 {
		f.Architectures = []string{"x86_64"}
	}
	if in.Environment != nil {
		f.Environment = in.Environment.Variables
	}
	if err := f.Validate(); err != nil {
		return err
	}
	if err := a.servable(f.Runtime); err != nil {
		return err
	}
	if f.Layers, err = a.functionLayers(r.Context(), in.Layers); err != nil {
		return err
	}
	if _, err := a.Functions.Get(f.Name); err == nil {
		return errorf(409, "ResourceConflictException", "Function already exist: "+f.Name)
	}
	info, err := a.Code.Add(r.Context(), zip)
	if err != nil {
		return err
	}
	f.CodeSha256, f.CodeDigest, f.CodeSize, f.UnzippedSize = info.Sha256, info.Digest, info.Size, info.UnzippedSize
	if err := f.CheckCodeSize(a.maxUnzipped()); err != nil {
		return err
	}
	if in.Publish {
		a.Log.Warn("CreateFunction: Publish is not supported yet; only $LATEST exists", "function", f.Name)
	}
	if f, err = a.Functions.Create(r.Context(), f); err != nil {
		if errors.Is(err, function.ErrExists) {
			return errorf(409, "ResourceConflictException", "Function already exist: "+name)
		}
		return err
	}
	go a.Prepare(f.Name, f.CodeDigest)
	return writeJSON(w, http.StatusCreated, a.toConfiguration(f, false))
}

// Prepare extracts a function's code and merges its layers on this host, then records the
// function Active and its last update Successful (or Failed), as Lambda moves Pending to Active.
// Storage hiccups are retried; only a zip that cannot be extracted fails the function.
func (a *API) Prepare(name, digest string) {
	var layers []string
	if f, err := a.Functions.Get(name); err == nil {
		layers = f.LayerDigests()
	}
	ready := func() error {
		if _, err := a.Code.Dir(a.Background, digest); err != nil {
			return err
		}
		_, err := a.Code.Layers(a.Background, layers)
		return err
	}
	err := ready()
	for delay := 50 * time.Millisecond; err != nil && !code.IsInvalid(err) && delay < 10*time.Second; delay *= 2 {
		a.Log.Warn("preparing function code; retrying", "function", name, "err", err)
		select {
		case <-a.Background.Done():
			return
		case <-time.After(delay):
		}
		err = ready()
	}
	_, uerr := a.Functions.Update(a.Background, name, "", func(f *function.Function) error {
		if f.CodeDigest != digest {
			return nil // a newer update owns the state
		}
		if err != nil {
			f.State, f.StateReason, f.StateReasonCode = function.StateFailed, "Lambda could not unzip the deployment package: "+err.Error(), "InvalidZipFileException"
			f.LastUpdateStatus, f.LastUpdateStatusReason, f.LastUpdateStatusReasonCode = function.UpdateFailed, f.StateReason, f.StateReasonCode
			return nil
		}
		f.State, f.StateReason, f.StateReasonCode = function.StateActive, "", ""
		f.LastUpdateStatus, f.LastUpdateStatusReason, f.LastUpdateStatusReasonCode = function.UpdateOK, "", ""
		return nil
	})
	if uerr != nil && a.Background.Err() == nil {
		a.Log.Error("could not record function state", "function", name, "err", uerr)
	}
}

// zipFile returns the zip c uploads, refusing what Lambent cannot take before it is inspected.
func (a *API) zipFile(c *codeInput) ([]byte, error) {
	switch {
	case c == nil:
		return nil, errorf(400, "InvalidParameterValueException", "Please provide a source for function code.")
	case c.ImageUri != nil:
		return nil, errorf(400, "InvalidParameterValueException", "Container images are not supported by Lambent yet; upload a ZipFile.")
	case c.S3Bucket != nil || c.S3Key != nil:
		return nil, errorf(400, "InvalidParameterValueException", "Lambent has no S3: upload the code as ZipFile.")
	case c.ZipFile == nil:
		return nil, errorf(400, "InvalidParameterValueException", "Please provide a source for function code.")
	}
	if max := a.Code.Limits.MaxZipped; max > 0 && int64(len(c.ZipFile)) > max {
		return nil, errorf(413, "RequestEntityTooLargeException", "Zipped size must be smaller than "+strconv.FormatInt(max, 10)+" bytes")
	}
	return c.ZipFile, nil
}

func (a *API) getFunction(w http.ResponseWriter, r *http.Request, _ []byte) error {
	f, err := a.resolve(r)
	if err != nil {
		return err
	}
	out := struct {
		Configuration configuration     `json:"Configuration"`
		Code          map[string]string `json:"Code"`
		Tags          map[string]string `json:"Tags,omitempty"`
	}{
		Configuration: a.toConfiguration(f, false),
		Code:          map[string]string{"RepositoryType": "S3", "Location": a.codeURL(r, f.CodeDigest)},
		Tags:          f.Tags,
	}
	return writeJSON(w, http.StatusOK, out)
}

func (a *API) getFunctionConfiguration(w http.ResponseWriter, r *http.Request, _ []byte) error {
	f, err := a.resolve(r)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, a.toConfiguration(f, false))
}

func (a *API) listFunctions(w http.ResponseWriter, r *http.Request, _ []byte) error {
	q := r.URL.Query()
	if v := q.Get("FunctionVersion"); v != "" && v != "ALL" {
		return errorf(400, "ValidationException", "1 validation error detected: Value '"+v+"' at 'functionVersion' failed to satisfy constraint: Member must satisfy enum value set: [ALL]")
	}
	max := 50
	if s := q.Get("MaxItems"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 10000 {
			return errorf(400, "ValidationException", "1 validation error detected: Value '"+s+"' at 'maxItems' failed to satisfy constraint: Member must have value between 1 and 10000")
		}
		max = n
	}
	after := ""
	if m := q.Get("Marker"); m != "" {
		b, err := base64.RawURLEncoding.DecodeString(m)
		if err != nil {
			return errorf(400, "InvalidParameterValueException", "Invalid marker: "+m)
		}
		after = string(b)
	}
	out := struct {
		Functions  []configuration `json:"Functions"`
		NextMarker string          `json:"NextMarker,omitempty"`
	}{Functions: []configuration{}}
	for _, f := range a.Functions.List() {
		if f.Name <= after {
			continue
		}
		if len(out.Functions) == max {
			out.NextMarker = base64.RawURLEncoding.EncodeToString([]byte(out.Functions[max-1].FunctionName))
			break
		}
		out.Functions = append(out.Functions, a.toConfiguration(f, true))
	}
	return writeJSON(w, http.StatusOK, out)
}

type updateConfigInput struct {
	Role             *string           `json:"Role"`
	Handler          *string           `json:"Handler"`
	Description      *string           `json:"Description"`
	Timeout          *int              `json:"Timeout"`
	MemorySize       *int              `json:"MemorySize"`
	Environment      *environment      `json:"Environment"`
	Runtime          *string           `json:"Runtime"`
	EphemeralStorage *ephemeralStorage `json:"EphemeralStorage"`
	Layers           *[]string         `json:"Layers"` // nil: unchanged; empty: none
	RevisionId       string            `json:"RevisionId"`
}

func (a *API) updateFunctionConfiguration(w http.ResponseWriter, r *http.Request, body []byte) error {
	cur, err := a.resolve(r)
	if err != nil {
		return err
	}
	var in updateConfigInput
	if err := decode(body, &in); err != nil {
		return err
	}
	var layers []function.LayerRef
	if in.Layers != nil {
		if layers, err = a.functionLayers(r.Context(), *in.Layers); err != nil {
			return err
		}
	}
	f, err := a.Functions.Update(r.Context(), cur.Name, in.RevisionId, func(f *function.Function) error {
		if f.LastUpdateStatus == function.UpdateRunning {
			return errorf(409, "ResourceConflictException", "The operation cannot be performed at this time. An update is in progress for resource: "+a.ARNs.Function(f.Name))
		}
		set(&f.Role, in.Role)
		set(&f.Handler, in.Handler)
		set(&f.Description, in.Description)
		set(&f.Timeout, in.Timeout)
		set(&f.MemorySize, in.MemorySize)
		set(&f.Runtime, in.Runtime)
		if in.EphemeralStorage != nil {
			f.EphemeralStorage = in.EphemeralStorage.Size
		}
		if in.Environment != nil {
			f.Environment = in.Environment.Variables
		}
		if in.Layers != nil {
			f.Layers = layers
		}
		if err := f.CheckCodeSize(a.maxUnzipped()); err != nil {
			return err
		}
		f.LastModified = time.Now().UTC()
		f.LastUpdateStatus, f.LastUpdateStatusReason, f.LastUpdateStatusReasonCode = function.UpdateRunning, "The function is being created.", "Creating"
		if err := f.Validate(); err != nil {
			return err
		}
		return a.servable(f.Runtime)
	})
	if err != nil {
		return err
	}
	go a.Prepare(f.Name, f.CodeDigest)
	return writeJSON(w, http.StatusOK, a.toConfiguration(f, false))
}

func set[T any](dst *T, v *T) {
	if v != nil {
		*dst = *v
	}
}

type updateCodeInput struct {
	codeInput
	Publish       bool     `json:"Publish"`
	DryRun        bool     `json:"DryRun"`
	RevisionId    string   `json:"RevisionId"`
	Architectures []string `json:"Architectures"`
}

func (a *API) updateFunctionCode(w http.ResponseWriter, r *http.Request, body []byte) error {
	cur, err := a.resolve(r)
	if err != nil {
		return err
	}
	var in updateCodeInput
	if err := decode(body, &in); err != nil {
		return err
	}
	zip, err := a.zipFile(&in.codeInput)
	if err != nil {
		return err
	}
	if in.RevisionId != "" && in.RevisionId != cur.RevisionID() {
		return toAPIError(function.ErrPrecondition)
	}
	info, err := a.Code.Add(r.Context(), zip)
	if err != nil {
		return err
	}
	if in.DryRun {
		next := cur.Clone()
		next.UnzippedSize = info.UnzippedSize
		if err := next.CheckCodeSize(a.maxUnzipped()); err != nil {
			return err
		}
		c := a.toConfiguration(cur, false)
		c.CodeSha256, c.CodeSize = info.Sha256, info.Size
		return writeJSON(w, http.StatusOK, c)
	}
	f, err := a.Functions.Update(r.Context(), cur.Name, in.RevisionId, func(f *function.Function) error {
		if f.LastUpdateStatus == function.UpdateRunning {
			return errorf(409, "ResourceConflictException", "The operation cannot be performed at this time. An update is in progress for resource: "+a.ARNs.Function(f.Name))
		}
		f.CodeSha256, f.CodeDigest, f.CodeSize, f.UnzippedSize = info.Sha256, info.Digest, info.Size, info.UnzippedSize
		if err := f.CheckCodeSize(a.maxUnzipped()); err != nil {
			return err
		}
		if len(in.Architectures) > 0 {
			f.Architectures = in.Architectures
		}
		f.LastModified = time.Now().UTC()
		f.LastUpdateStatus, f.LastUpdateStatusReason, f.LastUpdateStatusReasonCode = function.UpdateRunning, "The function is being created.", "Creating"
		return f.Validate()
	})
	if err != nil {
		return err
	}
	go a.Prepare(f.Name, f.CodeDigest)
	return writeJSON(w, http.StatusOK, a.toConfiguration(f, false))
}

func (a *API) deleteFunction(w http.ResponseWriter, r *http.Request, _ []byte) error {
	f, qualifier, err := a.lookup(r)
	if err != nil {
		return err
	}
	if qualifier == function.LatestVersion {
		return errorf(400, "InvalidParameterValueException", "$LATEST version cannot be deleted without deleting the function.")
	}
	if err := a.Functions.Delete(r.Context(), f.Name); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (a *API) accountSettings(w http.ResponseWriter, r *http.Request, _ []byte) error {
	var total int64
	fns := a.Functions.List()
	for _, f := range fns {
		total += f.CodeSize
	}
	layers, err := a.Layers.List(r.Context())
	if err != nil {
		return err
	}
	for _, v := range layers {
		total += v.CodeSize
	}
	return writeJSON(w, http.StatusOK, map[string]any{
		"AccountLimit": map[string]int64{
			"TotalCodeSize": 80530636800, "CodeSizeUnzipped": a.Code.Limits.MaxUnzipped,
			"CodeSizeZipped": a.Code.Limits.MaxZipped, "ConcurrentExecutions": int64(a.Router.MaxConcurrency()),
			"UnreservedConcurrentExecutions": int64(a.Router.MaxConcurrency()),
		},
		"AccountUsage": map[string]int64{"TotalCodeSize": total, "FunctionCount": int64(len(fns))},
	})
}

// servable refuses a runtime Lambda knows but this server cannot run, naming those it can.
func (a *API) servable(runtime string) error {
	names := a.Router.Runtimes()
	if slices.Contains(names, runtime) {
		return nil
	}
	return errorf(400, "InvalidParameterValueException", "The runtime parameter of "+runtime+
		" is not supported by this Lambent server. The runtimes it can run are: "+strings.Join(names, ", ")+".")
}
