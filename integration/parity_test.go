package integration

import (
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/lambent/lambent/internal/lambenttest"
)

// conditional lists, per operation, the paths AWS returns only in some cases that the recorded
// responses do not show, so that a shape may have them or not. Each entry says when AWS has the
// field. (Cases the recordings show are compared as separate operations instead: GetFunction
// of a function with tags is GetFunctionTagged.)
var conditional = map[string][]string{
	// The next page's marker: only when more functions follow (no recording pages).
	"ListFunctions": {"NextMarker"},
}

// TestParityShapes compares the shape of Lambent's raw response bodies with the shapes of the
// responses real AWS gave for the same operations: every path AWS has must be there with the
// same JSON type, and no other; statuses and error types must match.
func TestParityShapes(t *testing.T) {
	t.Parallel()
	aws := awsShapes(t)
	got := lambentResponses(t)
	for _, src := range awsSources {
		t.Run(src.op, func(t *testing.T) {
			want, resp := aws[src.op], got[src.op]
			if resp.Body == nil {
				t.Fatalf("no Lambent response recorded for %s", src.op)
			}
			if want.Status != 0 && resp.Status != want.Status {
				t.Errorf("status %d, AWS %d", resp.Status, want.Status)
			}
			if typ := resp.Header.Get("X-Amzn-ErrorType"); typ != want.ErrorType {
				t.Errorf("X-Amzn-ErrorType %q, AWS %q", typ, want.ErrorType)
			}
			for _, d := range diffShapes(shapeOf(resp.JSON(t)), want.Shape, conditional[src.op]) {
				t.Error(d)
			}
			if t.Failed() {
				t.Logf("Lambent's body: %s\nAWS: %s", resp.Body, want.Source)
			}
		})
	}
}

// diffShapes lists how got differs from want, leaving out the paths in optional (and
// everything under them).
func diffShapes(got, want shape, optional []string) []string {
	skip := func(p string) bool {
		return slices.ContainsFunc(optional, func(o string) bool { return p == o || strings.HasPrefix(p, o+".") || strings.HasPrefix(p, o+"[]") })
	}
	var diffs []string
	for _, p := range slices.Sorted(maps.Keys(want)) {
		switch g, ok := got[p]; {
		case skip(p):
		case !ok:
			diffs = append(diffs, "missing "+p+" ("+want[p]+"), which AWS returns")
		case g != want[p]:
			diffs = append(diffs, p+" is "+g+", AWS has "+want[p])
		}
	}
	for _, p := range slices.Sorted(maps.Keys(got)) {
		if _, ok := want[p]; !ok && !skip(p) {
			diffs = append(diffs, "extra "+p+" ("+got[p]+"), which AWS does not return")
		}
	}
	return diffs
}

// lambentResponses drives a server through the operations of awsSources in the order of the
// recorded AWS tests and returns each raw response.
func lambentResponses(t *testing.T) map[string]rawResponse {
	t.Helper()
	s := lambenttest.Start(t)
	c := s.Client()
	probe, raw := lambenttest.Function(t, "probe"), lambenttest.Function(t, "raw")
	create := func(name, runtime string, tags ...string) rawResponse {
		in := map[string]any{
			"FunctionName": name, "Runtime": runtime, "Handler": "bootstrap", "Role": lambenttest.Role,
			"Code": map[string]any{"ZipFile": probe}, "Timeout": 30,
		}
		if len(tags) > 0 {
			in["Tags"] = map[string]string{tags[0]: tags[1]}
		}
		return rawCall(t, s, "POST", "/2015-03-31/functions", in)
	}
	const fn = "/2015-03-31/functions/parity"
	out := map[string]rawResponse{}
	out["CreateFunction"] = create("parity", "provided.al2023")
	stale := out["CreateFunction"].JSON(t).(map[string]any)["RevisionId"]
	waitActive(t, c, "parity")
	out["GetFunction"] = rawCall(t, s, "GET", fn, nil)
	out["GetFunctionConfiguration"] = rawCall(t, s, "GET", fn+"/configuration", nil)
	out["PreconditionFailedException"] = rawCall(t, s, "PUT", fn+"/configuration", map[string]any{"RevisionId": stale, "Timeout": 10})
	out["UpdateFunctionCode"] = rawCall(t, s, "PUT", fn+"/code", map[string]any{"ZipFile": raw})
	waitUpdated(t, c, "parity")
	out["UpdateFunctionConfiguration"] = rawCall(t, s, "PUT", fn+"/configuration", map[string]any{
		"Description": "changed", "Environment": map[string]any{"Variables": map[string]string{"ENV_A": "a"}},
	})
	waitUpdated(t, c, "parity")
	if r := create("parity-2", "provided.al2"); r.Status != 201 {
		t.Fatalf("create parity-2: %d %s", r.Status, r.Body)
	}
	if r := create("parity-tagged", "provided.al2023", "testtag", "value"); r.Status != 201 {
		t.Fatalf("create parity-tagged: %d %s", r.Status, r.Body)
	}
	waitActive(t, c, "parity-tagged")
	out["GetFunctionTagged"] = rawCall(t, s, "GET", "/2015-03-31/functions/parity-tagged", nil)
	out["ListFunctions"] = rawCall(t, s, "GET", "/2015-03-31/functions/", nil)
	out["GetAccountSettings"] = rawCall(t, s, "GET", "/2016-08-19/account-settings/", nil)
	out["ResourceNotFoundException"] = rawCall(t, s, "GET", "/2015-03-31/functions/nonexisting", nil)
	out["InvalidParameterValueException"] = create("invalid-runtime", "non-existent-runtime")
	out["ResourceConflictException"] = create("parity", "provided.al2023")
	layerResponses(t, s, out)
	for op, r := range out {
		if !strings.HasSuffix(op, "Exception") && !layerErrors[op] && r.Status/100 != 2 {
			t.Fatalf("%s: %d %s", op, r.Status, r.Body)
		}
	}
	return out
}

// layerErrors are the layer operations of awsSources that are errors.
var layerErrors = map[string]bool{"LayerVersionNotFound": true, "LayerVersionBelowOne": true, "LayerVersionMissingForFunction": true}

// layerResponses drives the layer operations of awsSources as the recorded tests did.
func layerResponses(t *testing.T, s *lambenttest.Server, out map[string]rawResponse) {
	t.Helper()
	c := s.Client()
	zip := lambenttest.Zip(t, map[string]lambenttest.File{"python/lib.py": {Data: []byte("V = 1\n")}})
	const layers = "/2018-10-31/layers/"
	publish := map[string]any{
		"Content": map[string]any{"ZipFile": zip}, "Description": "a layer", "LicenseInfo": "MIT",
		"CompatibleRuntimes": []string{"python3.12"}, "CompatibleArchitectures": []string{"x86_64"},
	}
	out["PublishLayerVersion"] = rawCall(t, s, "POST", layers+"parity-layer/versions", publish)
	rawCall(t, s, "POST", layers+"parity-layer/versions", publish)
	out["PublishLayerVersionEmptyLists"] = rawCall(t, s, "POST", layers+"parity-empty/versions", map[string]any{
		"Content": map[string]any{"ZipFile": zip}, "CompatibleRuntimes": []string{}, "CompatibleArchitectures": []string{},
	})
	out["PublishLayerVersionMinimal"] = rawCall(t, s, "POST", layers+"parity-minimal/versions", map[string]any{"Content": map[string]any{"ZipFile": zip}})
	out["GetLayerVersion"] = rawCall(t, s, "GET", layers+"parity-layer/versions/1", nil)
	arn := "arn:aws:lambda:us-east-1:000000000000:layer:parity-layer"
	out["GetLayerVersionByArn"] = rawCall(t, s, "GET", query("/2018-10-31/layers", "find", "LayerVersion", "Arn", arn+":1"), nil)
	out["ListLayerVersions"] = rawCall(t, s, "GET", layers+"parity-layer/versions", nil)
	out["LayerVersionNotFound"] = rawCall(t, s, "GET", layers+"parity-nothing/versions/1", nil)
	out["LayerVersionBelowOne"] = rawCall(t, s, "GET", layers+"parity-layer/versions/-1", nil)

	fn := map[string]any{
		"FunctionName": "parity-layered", "Runtime": "provided.al2023", "Handler": "bootstrap", "Role": lambenttest.Role,
		"Code": map[string]any{"ZipFile": lambenttest.Function(t, "probe")}, "Timeout": 30,
	}
	if r := rawCall(t, s, "POST", "/2015-03-31/functions", fn); r.Status != 201 {
		t.Fatalf("create parity-layered: %d %s", r.Status, r.Body)
	}
	waitActive(t, c, "parity-layered")
	const cfg = "/2015-03-31/functions/parity-layered/configuration"
	out["LayerVersionMissingForFunction"] = rawCall(t, s, "PUT", cfg, map[string]any{"Layers": []string{arn + ":9"}})
	out["UpdateFunctionConfigurationLayers"] = rawCall(t, s, "PUT", cfg, map[string]any{"Layers": []string{arn + ":1"}})
	waitUpdated(t, c, "parity-layered")
	out["GetFunctionConfigurationLayers"] = rawCall(t, s, "GET", cfg, nil)
}
