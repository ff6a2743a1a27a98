package integration

import (
	"encoding/json"
	"flag"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// This file turns JSON responses into shapes: the set of their JSON paths, each with its JSON
// type, values ignored. It reads AWS's shapes from the responses LocalStack recorded against
// real AWS (../shared/parity/aws-lambda-snapshots, see its README) and keeps them as golden
// files in testdata/parity, so that the comparison runs without ../shared.

// shape maps a JSON path (Configuration.Architectures[], Code.Location…) to its JSON type:
// object, array, string, number, boolean, null, or map for objects whose keys are the user's
// data (environment variables, tags), which are not descended into.
type shape map[string]string

// mapPaths end the paths of objects whose keys are data, not field names.
var mapPaths = []string{"Environment.Variables", "Tags"}

// placeholderTypes are the types of fields whose values the snapshots replaced with a string
// placeholder such as "<code-size>", by the field's name.
var placeholderTypes = map[string]string{"CodeSize": "number"}

var placeholder = regexp.MustCompile(`^<[a-z0-9-]+(:\d+)?>$`)

// shapeOf computes the shape of a decoded JSON value, leaving out the top-level fields in skip.
func shapeOf(v any, skip ...string) shape {
	s := shape{}
	top, ok := v.(map[string]any)
	if !ok {
		s.add("", v)
		return s
	}
	for k, x := range top {
		if !slices.Contains(skip, k) {
			s.add(k, x)
		}
	}
	return s
}

func (s shape) add(path string, v any) {
	switch v := v.(type) {
	case map[string]any:
		if slices.ContainsFunc(mapPaths, func(m string) bool { return path == m || strings.HasSuffix(path, "."+m) }) {
			s[path] = "map"
			return
		}
		s[path] = "object"
		for k, x := range v {
			s.add(path+"."+k, x)
		}
	case []any:
		s[path] = "array"
		for _, x := range v {
			s.add(path+"[]", x)
		}
	case string:
		s[path] = "string"
		if t, ok := placeholderTypes[path[strings.LastIndex(path, ".")+1:]]; ok && placeholder.MatchString(v) {
			s[path] = t
		}
	case float64:
		s[path] = "number"
	case bool:
		s[path] = "boolean"
	case nil:
		s[path] = "null"
	}
}

// awsShape is a recorded AWS response reduced to what the comparison checks.
type awsShape struct {
	Source    string `json:"source"`              // test and key in the snapshot file
	Status    int    `json:"status,omitempty"`    // HTTP status; 0: not recorded
	ErrorType string `json:"errorType,omitempty"` // for errors, the error code
	Shape     shape  `json:"shape"`
}

// awsSource names the recorded response compared with one of Lambent's.
type awsSource struct {
	op, test, key string
	// unwrap descends into a field LocalStack wrapped the response in.
	unwrap string
	// keyLists: the test recorded each top-level object as the list of its keys (numbers).
	keyLists bool
}

const snapshotTests = "tests/aws/services/lambda_/test_lambda_api.py::"

var awsSources = []awsSource{
	{op: "CreateFunction", test: "TestLambdaRevisions::test_function_revisions_basic", key: "create_function_response_rev1", unwrap: "CreateFunctionResponse"},
	{op: "GetFunction", test: "TestLambdaRevisions::test_function_revisions_basic", key: "get_function_response_rev2"},
	{op: "GetFunctionTagged", test: "TestLambdaTag::test_create_tag_on_fn_create", key: "get_function_result"},
	{op: "GetFunctionConfiguration", test: "TestLambdaFunction::test_redundant_updates", key: "get_fn_config_result"},
	{op: "UpdateFunctionCode", test: "TestLambdaRevisions::test_function_revisions_basic", key: "update_function_code_response_rev3"},
	{op: "UpdateFunctionConfiguration", test: "TestLambdaRevisions::test_function_revisions_basic", key: "update_function_configuration_response_rev5"},
	{op: "ListFunctions", test: "TestLambdaFunction::test_list_functions", key: "list_default"},
	{op: "GetAccountSettings", test: "TestLambdaAccountSettings::test_account_settings", key: "acc_settings_modded", keyLists: true},
	{op: "ResourceNotFoundException", test: "TestLambdaFunction::test_ops_on_nonexisting_fn[get_function]", key: "not_found_exception"},
	{op: "PreconditionFailedException", test: "TestLambdaRevisions::test_function_revisions_basic", key: "update_function_configuration_revision_exception"},
	{op: "InvalidParameterValueException", test: "TestLambdaFunction::test_create_lambda_exceptions", key: "invalid_runtime_exc"},
	{op: "ResourceConflictException", test: "TestLambdaAlias::test_notfound_and_invalid_routingconfigs", key: "routing_config_exc_already_exist"},
	{op: "PublishLayerVersion", test: "TestLambdaLayer::test_layer_lifecycle", key: "publish_result"},
	{op: "PublishLayerVersionEmptyLists", test: "TestLambdaLayer::test_layer_exceptions", key: "publish_empty_result"},
	{op: "PublishLayerVersionMinimal", test: "TestLambdaLayer::test_layer_s3_content", key: "publish_layer_result"},
	{op: "GetLayerVersion", test: "TestLambdaLayer::test_layer_lifecycle", key: "get_layer_ver_result"},
	{op: "GetLayerVersionByArn", test: "TestLambdaLayer::test_layer_lifecycle", key: "get_layer_by_arn_version"},
	{op: "ListLayerVersions", test: "TestLambdaLayer::test_layer_lifecycle", key: "list_layer_versions_predelete"},
	{op: "UpdateFunctionConfigurationLayers", test: "TestLambdaLayer::test_layer_lifecycle", key: "update_fn_config"},
	{op: "GetFunctionConfigurationLayers", test: "TestLambdaLayer::test_layer_lifecycle", key: "get_fn_config"},
	{op: "LayerVersionNotFound", test: "TestLambdaLayer::test_layer_exceptions", key: "get_layer_version_exc_layer_doesnotexist"},
	{op: "LayerVersionBelowOne", test: "TestLambdaLayer::test_layer_exceptions", key: "get_layer_version_exc_layer_version_doesnotexist_negative"},
	{op: "LayerVersionMissingForFunction", test: "TestLambdaLayer::test_layer_function_exceptions", key: "add_nonexistent_layer_version_exc"},
}

// fromSnapshot extracts the shape of src's response from the snapshot file's contents.
func fromSnapshot(snapshot map[string]struct {
	Content map[string]json.RawMessage `json:"recorded-content"`
}, src awsSource) (awsShape, error) {
	raw, ok := snapshot[snapshotTests+src.test].Content[src.key]
	if !ok {
		return awsShape{}, fmt.Errorf("%s: no recorded %s in %s", src.op, src.key, src.test)
	}
	var resp map[string]any
	if err := json.Unmarshal(raw, &resp); err != nil {
		return awsShape{}, fmt.Errorf("%s: %v", src.op, err)
	}
	if src.unwrap != "" {
		resp, _ = resp[src.unwrap].(map[string]any)
	}
	out := awsShape{Source: src.test + " " + src.key}
	if md, ok := resp["ResponseMetadata"].(map[string]any); ok {
		status, _ := md["HTTPStatusCode"].(float64)
		out.Status = int(status)
	}
	if e, ok := resp["Error"].(map[string]any); ok {
		out.ErrorType, _ = e["Code"].(string)
	}
	// botocore adds ResponseMetadata and, to errors, an Error object of its own.
	out.Shape = shapeOf(resp, "ResponseMetadata", "Error")
	if src.keyLists {
		out.Shape = shape{}
		for k, v := range resp {
			if names, ok := v.([]any); ok {
				out.Shape[k] = "object"
				for _, n := range names {
					out.Shape[fmt.Sprint(k, ".", n)] = "number"
				}
			}
		}
	}
	return out, nil
}

// snapshotFile is where the recorded AWS responses are, relative to this package.
func snapshotFile() string {
	if dir := os.Getenv("LAMBENT_PARITY_SNAPSHOTS"); dir != "" {
		return filepath.Join(dir, "test_lambda_api.snapshot.json")
	}
	return filepath.Join("..", "..", "shared", "parity", "aws-lambda-snapshots", "test_lambda_api.snapshot.json")
}

const goldenDir = "testdata/parity"

func init() {
	// -update may be defined by another golden test of this package as well.
	if flag.Lookup("update") == nil {
		flag.Bool("update", false, "regenerate golden files (testdata/parity: from ../shared/parity)")
	}
}

func updating() bool { return flag.Lookup("update").Value.String() == "true" }

// awsShapes returns the AWS shape of every operation in awsSources: from the golden files,
// after checking them against the snapshot file when it is there; with -update, regenerated
// from the snapshot file. It skips the test if neither exists.
func awsShapes(t *testing.T) map[string]awsShape {
	t.Helper()
	var fromFile map[string]awsShape
	if data, err := os.ReadFile(snapshotFile()); err == nil {
		var snapshot map[string]struct {
			Content map[string]json.RawMessage `json:"recorded-content"`
		}
		if err := json.Unmarshal(data, &snapshot); err != nil {
			t.Fatalf("%s: %v", snapshotFile(), err)
		}
		fromFile = map[string]awsShape{}
		for _, src := range awsSources {
			if fromFile[src.op], err = fromSnapshot(snapshot, src); err != nil {
				t.Fatal(err)
			}
		}
	} else if updating() {
		t.Fatalf("-update needs the snapshot file: %v", err)
	}
	if updating() {
		if err := os.MkdirAll(goldenDir, 0o755); err != nil {
			t.Fatal(err)
		}
		for op, s := range fromFile {
			data, _ := json.MarshalIndent(s, "", "  ")
			if err := os.WriteFile(filepath.Join(goldenDir, op+".json"), append(data, '\n'), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		return fromFile
	}
	golden := map[string]awsShape{}
	for _, src := range awsSources {
		data, err := os.ReadFile(filepath.Join(goldenDir, src.op+".json"))
		if err != nil {
			break
		}
		var s awsShape
		if err := json.Unmarshal(data, &s); err != nil {
			t.Fatalf("%s golden file: %v", src.op, err)
		}
		golden[src.op] = s
	}
	switch {
	case len(golden) < len(awsSources) && fromFile == nil:
		t.Skipf("no AWS shapes: neither %s/*.json nor %s exists", goldenDir, snapshotFile())
	case len(golden) < len(awsSources):
		t.Errorf("golden files missing in %s: run go test ./integration -run Parity -update", goldenDir)
		return fromFile
	}
	for op, want := range fromFile {
		if got := golden[op]; got.Source != want.Source || got.Status != want.Status ||
			got.ErrorType != want.ErrorType || !maps.Equal(got.Shape, want.Shape) {
			t.Errorf("%s: golden file out of date with %s: run go test ./integration -run Parity -update", op, snapshotFile())
		}
	}
	return golden
}
