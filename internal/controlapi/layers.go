package controlapi

import (
	"context"
	"encoding/base64"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/lambent/lambent/internal/code"
	"github.com/lambent/lambent/internal/function"
	"github.com/lambent/lambent/internal/layer"
)

// This file serves the layer operations (/2018-10-31/layers) and resolves the layers
// functions reference.

// layerVersionItem is Lambda's LayerVersionsListItem.
type layerVersionItem struct {
	LayerVersionArn string `json:"LayerVersionArn"`
	Version         int64  `json:"Version"`
	Description     string `json:"Description"`
	CreatedDate     string `json:"CreatedDate"`
	// Left out when the publisher gave none, present (maybe empty) when it gave a list.
	CompatibleRuntimes      []string `json:"CompatibleRuntimes,omitzero"`
	LicenseInfo             string   `json:"LicenseInfo,omitempty"`
	CompatibleArchitectures []string `json:"CompatibleArchitectures,omitzero"`
}

// layerVersionOutput is Lambda's GetLayerVersionResponse and PublishLayerVersionResponse.
type layerVersionOutput struct {
	Content  layerContent `json:"Content"`
	LayerArn string       `json:"LayerArn"`
	layerVersionItem
}

type layerContent struct {
	Location   string `json:"Location"`
	CodeSha256 string `json:"CodeSha256"`
	CodeSize   int64  `json:"CodeSize"`
}

// layerReference is Lambda's Layer, as FunctionConfiguration lists them.
type layerReference struct {
	Arn      string `json:"Arn"`
	CodeSize int64  `json:"CodeSize"`
}

func (a *API) layerARNs() layer.ARNs { return layer.ARNs(a.ARNs) }

func (a *API) toLayerItem(v *layer.Version) layerVersionItem {
	return layerVersionItem{
		LayerVersionArn: a.layerARNs().Version(v.Name, v.Number), Version: v.Number,
		Description: v.Description, CreatedDate: v.Created.UTC().Format(lambdaTime),
		CompatibleRuntimes: v.CompatibleRuntimes, LicenseInfo: v.LicenseInfo,
		CompatibleArchitectures: v.CompatibleArchitectures,
	}
}

func (a *API) toLayerVersion(r *http.Request, v *layer.Version) layerVersionOutput {
	return layerVersionOutput{
		Content:          layerContent{Location: a.codeURL(r, v.Digest), CodeSha256: v.CodeSha256, CodeSize: v.CodeSize},
		LayerArn:         a.layerARNs().Layer(v.Name),
		layerVersionItem: a.toLayerItem(v),
	}
}

type publishLayerInput struct {
	Content                 *codeInput `json:"Content"`
	Description             string     `json:"Description"`
	CompatibleRuntimes      []string   `json:"CompatibleRuntimes"`
	CompatibleArchitectures []string   `json:"CompatibleArchitectures"`
	LicenseInfo             string     `json:"LicenseInfo"`
}

func (a *API) publishLayerVersion(w http.ResponseWriter, r *http.Request, body []byte) error {
	ref, err := a.layerARNs().ParseName(r.PathValue("LayerName"))
	if err != nil {
		return err
	}
	var in publishLayerInput
	if err := decode(body, &in); err != nil {
		return err
	}
	if in.Content == nil {
		return errorf(400, "ValidationException", "1 validation error detected: Value null at 'content' failed to satisfy constraint: Member must not be null")
	}
	v := layer.Version{
		Name: ref.Name, Description: in.Description, LicenseInfo: in.LicenseInfo,
		CompatibleRuntimes: in.CompatibleRuntimes, CompatibleArchitectures: in.CompatibleArchitectures,
		Created: time.Now().UTC(),
	}
	if err := v.Validate(); err != nil {
		return err
	}
	if !a.layerARNs().Local(ref) {
		return a.layerDenied("PublishLayerVersion", "arn:aws:lambda:"+ref.Region+":"+ref.AccountID+":layer:"+ref.Name)
	}
	zip, err := a.zipFile(in.Content)
	if err != nil {
		return err
	}
	info, err := a.Code.Add(r.Context(), zip)
	if err != nil {
		return err
	}
	v.CodeSha256, v.Digest, v.CodeSize, v.UnzippedSize = info.Sha256, info.Digest, info.Size, info.UnzippedSize
	published, err := a.Layers.Publish(r.Context(), v)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, a.toLayerVersion(r, published))
}

// layerDenied is Lambda's refusal of action on resource, a layer of another account or region.
func (a *API) layerDenied(action, resource string) error {
	return errorf(403, "AccessDeniedException", "User: arn:aws:iam::"+a.ARNs.AccountID+":root is not authorized to perform: lambda:"+
		action+" on resource: "+resource+" because no resource-based policy allows the lambda:"+action+" action")
}

// layerVersion resolves the {LayerName} and {VersionNumber} path values.
func (a *API) layerVersion(r *http.Request) (layer.Ref, error) {
	ref, err := a.layerARNs().ParseName(r.PathValue("LayerName"))
	if err != nil {
		return layer.Ref{}, err
	}
	s := r.PathValue("VersionNumber")
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return layer.Ref{}, errorf(400, "ValidationException", "1 validation error detected: Value '"+s+"' at 'versionNumber' failed to satisfy constraint: Member must be a number")
	}
	if err := layer.CheckVersionNumber(n); err != nil {
		return layer.Ref{}, err
	}
	ref.Version = n
	return ref, nil
}

// getLayer returns the version ref names, if this server holds it.
func (a *API) getLayer(ctx context.Context, ref layer.Ref) (*layer.Version, error) {
	if !a.layerARNs().Local(ref) || ref.Version < 1 {
		return nil, layer.ErrNotFound
	}
	return a.Layers.Get(ctx, ref.Name, ref.Version)
}

func (a *API) getLayerVersion(w http.ResponseWriter, r *http.Request, _ []byte) error {
	ref, err := a.layerVersion(r)
	if err != nil {
		return err
	}
	v, err := a.getLayer(r.Context(), ref)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, a.toLayerVersion(r, v))
}

func (a *API) deleteLayerVersion(w http.ResponseWriter, r *http.Request, _ []byte) error {
	ref, err := a.layerVersion(r)
	if err != nil {
		return err
	}
	if a.layerARNs().Local(ref) {
		if err := a.Layers.Delete(r.Context(), ref.Name, ref.Version); err != nil {
			return err
		}
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// layers serves GET /2018-10-31/layers: GetLayerVersionByArn with ?find=LayerVersion,
// ListLayers without.
func (a *API) layers(w http.ResponseWriter, r *http.Request, _ []byte) error {
	if r.URL.Query().Get("find") == "LayerVersion" {
		return a.getLayerVersionByArn(w, r)
	}
	return a.listLayers(w, r)
}

func (a *API) getLayerVersionByArn(w http.ResponseWriter, r *http.Request) error {
	arn := r.URL.Query().Get("Arn")
	switch ref, ok := layer.ParseVersionARN(arn); {
	case arn == "":
		return errorf(400, "ValidationException", "1 validation error detected: Value null at 'arn' failed to satisfy constraint: Member must not be null")
	case len(arn) > 140:
		return errorf(400, "ValidationException", "1 validation error detected: Value '"+arn+"' at 'arn' failed to satisfy constraint: Member must have length less than or equal to 140")
	case !ok:
		return errorf(400, "ValidationException", "1 validation error detected: Value '"+arn+"' at 'arn' failed to satisfy constraint: Member must satisfy regular expression pattern: "+layer.VersionARNPattern)
	default:
		v, err := a.getLayer(r.Context(), ref)
		if err != nil {
			return err
		}
		return writeJSON(w, http.StatusOK, a.toLayerVersion(r, v))
	}
}

// listQuery reads the filters and paging parameters of ListLayers and ListLayerVersions.
func listQuery(r *http.Request) (runtime, arch, marker string, max int, err error) {
	q := r.URL.Query()
	runtime, arch, marker, max = q.Get("CompatibleRuntime"), q.Get("CompatibleArchitecture"), q.Get("Marker"), 50
	var maxItems *int
	if s := q.Get("MaxItems"); s != "" {
		n, perr := strconv.Atoi(s)
		if perr != nil {
			return "", "", "", 0, errorf(400, "ValidationException", "1 validation error detected: Value '"+s+"' at 'maxItems' failed to satisfy constraint: Member must be a number")
		}
		max, maxItems = n, &n
	}
	return runtime, arch, marker, max, layer.CheckFilters(runtime, arch, maxItems)
}

func decodeMarker(m string) (string, error) {
	b, err := base64.RawURLEncoding.DecodeString(m)
	if err != nil {
		return "", errorf(400, "InvalidParameterValueException", "Invalid marker: "+m)
	}
	return string(b), nil
}

func encodeMarker(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

type layersListItem struct {
	LayerName             string           `json:"LayerName"`
	LayerArn              string           `json:"LayerArn"`
	LatestMatchingVersion layerVersionItem `json:"LatestMatchingVersion"`
}

// listLayers lists the layers, by name, each with its newest version matching the filters;
// a layer with none is left out.
func (a *API) listLayers(w http.ResponseWriter, r *http.Request) error {
	runtime, arch, marker, max, err := listQuery(r)
	if err != nil {
		return err
	}
	after := ""
	if marker != "" {
		if after, err = decodeMarker(marker); err != nil {
			return err
		}
	}
	all, err := a.Layers.List(r.Context())
	if err != nil {
		return err
	}
	out := struct {
		Layers     []layersListItem `json:"Layers"`
		NextMarker string           `json:"NextMarker,omitempty"`
	}{Layers: []layersListItem{}}
	for _, v := range all { // by name, newest first
		if v.Name <= after || !v.Matches(runtime, arch) {
			continue
		}
		if len(out.Layers) == max {
			out.NextMarker = encodeMarker(out.Layers[max-1].LayerName)
			break
		}
		out.Layers = append(out.Layers, layersListItem{LayerName: v.Name, LayerArn: a.layerARNs().Layer(v.Name), LatestMatchingVersion: a.toLayerItem(v)})
		after = v.Name // the older versions of this layer are not listed
	}
	return writeJSON(w, http.StatusOK, out)
}

// listLayerVersions lists a layer's versions matching the filters, newest first.
func (a *API) listLayerVersions(w http.ResponseWriter, r *http.Request, _ []byte) error {
	ref, err := a.layerARNs().ParseName(r.PathValue("LayerName"))
	if err != nil {
		return err
	}
	runtime, arch, marker, max, err := listQuery(r)
	if err != nil {
		return err
	}
	before := int64(-1) // list versions below this number; -1: all
	if marker != "" {
		s, err := decodeMarker(marker)
		if err != nil {
			return err
		}
		if before, err = strconv.ParseInt(s, 10, 64); err != nil {
			return errorf(400, "InvalidParameterValueException", "Invalid marker: "+marker)
		}
	}
	out := struct {
		LayerVersions []layerVersionItem `json:"LayerVersions"`
		NextMarker    string             `json:"NextMarker,omitempty"`
	}{LayerVersions: []layerVersionItem{}}
	if !a.layerARNs().Local(ref) {
		return writeJSON(w, http.StatusOK, out)
	}
	versions, err := a.Layers.Versions(r.Context(), ref.Name)
	if err != nil {
		return err
	}
	for _, v := range versions {
		if (before >= 0 && v.Number >= before) || !v.Matches(runtime, arch) {
			continue
		}
		if len(out.LayerVersions) == max {
			out.NextMarker = encodeMarker(strconv.FormatInt(out.LayerVersions[max-1].Version, 10))
			break
		}
		out.LayerVersions = append(out.LayerVersions, a.toLayerItem(v))
	}
	return writeJSON(w, http.StatusOK, out)
}

// functionLayers resolves the layer version ARNs a function is given (CreateFunction,
// UpdateFunctionConfiguration), keeping their order, with Lambda's checks and messages.
func (a *API) functionLayers(ctx context.Context, arns []string) ([]function.LayerRef, error) {
	refs := make([]layer.Ref, len(arns))
	for i, s := range arns {
		ref, ok := layer.ParseVersionARN(s)
		if !ok || len(s) > layer.MaxVersionARNLength {
			return nil, errorf(400, "ValidationException", "1 validation error detected: Value '["+strings.Join(arns, ", ")+
				"]' at 'layers' failed to satisfy constraint: Member must satisfy constraint: [Member must have length less than or equal to 2048, Member must have length greater than or equal to 1, Member must satisfy regular expression pattern: "+
				layer.VersionARNPattern+", Member must not be null]")
		}
		refs[i] = ref
	}
	if len(arns) > layer.MaxPerFunction {
		return nil, errorf(400, "InvalidParameterValueException", "Cannot reference more than 5 layers.")
	}
	var out []function.LayerRef
	seen := map[string]string{} // layer name → the ARN of the version taken
	for i, ref := range refs {
		switch {
		case ref.Name != "" && ref.AccountID != a.ARNs.AccountID:
			return nil, a.layerDenied("GetLayerVersion", arns[i])
		case ref.Name != "" && ref.Region != a.ARNs.Region:
			return nil, errorf(400, "InvalidParameterValueException", "Layers are not in the same region as the function. Layers are expected to be in region "+a.ARNs.Region+".")
		}
		v, err := a.getLayer(ctx, ref)
		if errors.Is(err, layer.ErrNotFound) {
			return nil, errorf(400, "InvalidParameterValueException", "Layer version "+arns[i]+" does not exist.")
		}
		if err != nil {
			return nil, err
		}
		if prev, dup := seen[v.Name]; dup {
			return nil, errorf(400, "InvalidParameterValueException", "Two different versions of the same layer are not allowed to be referenced in the same function. "+
				prev+" and "+arns[i]+" are versions of the same layer.")
		}
		seen[v.Name] = arns[i]
		out = append(out, function.LayerRef{
			Arn: a.layerARNs().Version(v.Name, v.Number), CodeSize: v.CodeSize, Digest: v.Digest, UnzippedSize: v.UnzippedSize,
		})
	}
	return out, nil
}

// maxUnzipped is the limit on a function's code and layers, unzipped.
func (a *API) maxUnzipped() int64 {
	if a.Code.Limits.MaxUnzipped > 0 {
		return a.Code.Limits.MaxUnzipped
	}
	return code.DefaultLimits.MaxUnzipped
}
