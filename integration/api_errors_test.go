package integration

import (
	"context"
	"encoding/base64"
	"fmt"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"

	"github.com/lambent/lambent/internal/lambenttest"
)

// errorCase is an error a call must fail with. typed reports whether the error is the SDK's
// typed error for code; nil for the codes the SDK has no type for (ValidationException).
type errorCase struct {
	code   string
	status int
	typed  func(error) bool
}

var (
	validation     = errorCase{"ValidationException", 400, nil}
	invalidValue   = errorCase{"InvalidParameterValueException", 400, as[*types.InvalidParameterValueException]}
	invalidContent = errorCase{"InvalidRequestContentException", 400, as[*types.InvalidRequestContentException]}
	notFound       = errorCase{"ResourceNotFoundException", 404, as[*types.ResourceNotFoundException]}
	conflict       = errorCase{"ResourceConflictException", 409, as[*types.ResourceConflictException]}
	tooLarge       = errorCase{"RequestTooLargeException", 413, as[*types.RequestTooLargeException]}
)

func (want errorCase) check(t testing.TB, err error) {
	t.Helper()
	wantError(t, err, want.code, want.status)
	if err != nil && want.typed != nil && !want.typed(err) {
		t.Errorf("error %T (%v) is not the SDK's typed %s", err, err, want.code)
	}
}

func TestCreateFunctionErrors(t *testing.T) {
	t.Parallel()
	s := lambenttest.Start(t)
	c, zip := s.Client(), lambenttest.Function(t, "probe")
	s.CreateFunction(t, "exists", zip)
	env := func(vars map[string]string) func(*lambda.CreateFunctionInput) {
		return func(in *lambda.CreateFunctionInput) { in.Environment = &types.Environment{Variables: vars} }
	}
	code := func(z []byte) func(*lambda.CreateFunctionInput) {
		return func(in *lambda.CreateFunctionInput) { in.Code.ZipFile = z }
	}
	tests := []struct {
		name   string
		mutate func(*lambda.CreateFunctionInput)
		want   errorCase
	}{
		{"memory below 128", func(in *lambda.CreateFunctionInput) { in.MemorySize = aws.Int32(127) }, validation},
		{"memory above 10240", func(in *lambda.CreateFunctionInput) { in.MemorySize = aws.Int32(10241) }, validation},
		{"timeout 0", func(in *lambda.CreateFunctionInput) { in.Timeout = aws.Int32(0) }, validation},
		{"timeout above 900", func(in *lambda.CreateFunctionInput) { in.Timeout = aws.Int32(901) }, validation},
		{"storage below 512", func(in *lambda.CreateFunctionInput) {
			in.EphemeralStorage = &types.EphemeralStorage{Size: aws.Int32(511)}
		}, validation},
		{"storage above 10240", func(in *lambda.CreateFunctionInput) {
			in.EphemeralStorage = &types.EphemeralStorage{Size: aws.Int32(10241)}
		}, validation},
		{"unknown runtime", func(in *lambda.CreateFunctionInput) { in.Runtime = "cobol85" }, invalidValue},
		{"upper-case runtime", func(in *lambda.CreateFunctionInput) { in.Runtime = "PROVIDED.AL2023" }, invalidValue},
		{"role not an ARN", func(in *lambda.CreateFunctionInput) { in.Role = aws.String("r1") }, validation},
		{"handler with a space", func(in *lambda.CreateFunctionInput) { in.Handler = aws.String("a handler") }, validation},
		{"description too long", func(in *lambda.CreateFunctionInput) { in.Description = aws.String(strings.Repeat("d", 257)) }, validation},
		{"two architectures", func(in *lambda.CreateFunctionInput) {
			in.Architectures = []types.Architecture{types.ArchitectureX8664, types.ArchitectureArm64}
		}, validation},
		{"upper-case architecture", func(in *lambda.CreateFunctionInput) { in.Architectures = []types.Architecture{"X86_64"} }, validation},
		{"env var name starting with a digit", env(map[string]string{"1ABC": "x"}), validation},
		{"env var name with a dash", env(map[string]string{"A-B": "x"}), validation},
		{"reserved env var", env(map[string]string{"AWS_REGION": "mars-1"}), invalidValue},
		{"reserved env var AWS_ACCESS_KEY_ID", env(map[string]string{"AWS_ACCESS_KEY_ID": "x"}), invalidValue},
		{"env var name starting with _", env(map[string]string{"_HANDLER": "x"}), validation},
		{"env vars over 4 KB", env(map[string]string{"BIG": strings.Repeat("x", 4097)}), invalidValue},
		{"51 tags", func(in *lambda.CreateFunctionInput) {
			in.Tags = map[string]string{}
			for i := range 51 {
				in.Tags[fmt.Sprint("tag", i)] = "v"
			}
		}, invalidValue},
		{"invalid name", func(in *lambda.CreateFunctionInput) { in.FunctionName = aws.String("no spaces please") }, validation},
		{"name too long", func(in *lambda.CreateFunctionInput) { in.FunctionName = aws.String(strings.Repeat("a", 65)) }, invalidValue},
		{"duplicate", func(in *lambda.CreateFunctionInput) { in.FunctionName = aws.String("exists") }, conflict},
		{"duplicate by ARN", func(in *lambda.CreateFunctionInput) { in.FunctionName = aws.String(arnPrefix + "exists") }, conflict},
		{"corrupt zip", code([]byte("PK\x03\x04 this is not a zip")), invalidValue},
		{"empty zip file", code([]byte{}), invalidValue},
		{"zip with path traversal", code(lambenttest.Zip(t, map[string]lambenttest.File{
			"bootstrap": {Data: []byte("#!/bin/sh\n"), Mode: 0o755}, "../../evil": {Data: []byte("x")},
		})), invalidValue},
		{"zip with absolute path", code(lambenttest.Zip(t, map[string]lambenttest.File{"/etc/evil": {Data: []byte("x")}})), invalidValue},
		{"container image", func(in *lambda.CreateFunctionInput) {
			in.PackageType, in.Code = types.PackageTypeImage, &types.FunctionCode{ImageUri: aws.String("example.com/fn:1")}
		}, invalidValue},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := &lambda.CreateFunctionInput{
				FunctionName: aws.String(testName(t)), Runtime: types.RuntimeProvidedal2023, Handler: aws.String("bootstrap"),
				Role: aws.String(lambenttest.Role), Code: &types.FunctionCode{ZipFile: zip},
			}
			tt.mutate(in)
			_, err := c.CreateFunction(context.Background(), in)
			tt.want.check(t, err)
			if tt.want.code != conflict.code {
				_, err := c.GetFunction(context.Background(), &lambda.GetFunctionInput{FunctionName: in.FunctionName})
				if err == nil {
					t.Errorf("the refused function %s exists", aws.ToString(in.FunctionName))
				}
			}
		})
	}
}

// TestRawRequestErrors sends what the SDK refuses to send.
func TestRawRequestErrors(t *testing.T) {
	t.Parallel()
	s := lambenttest.Start(t)
	zip := lambenttest.Function(t, "probe")
	valid := func() map[string]any {
		return map[string]any{"FunctionName": "raw", "Runtime": "provided.al2023", "Handler": "bootstrap",
			"Role": lambenttest.Role, "Code": map[string]any{"ZipFile": zip}}
	}
	without := func(field string) map[string]any { m := valid(); delete(m, field); return m }
	tests := []struct {
		name   string
		body   any
		status int
		typ    string
	}{
		{"missing Code", without("Code"), 400, "ValidationException"},
		{"Code without a source", func() map[string]any { m := valid(); m["Code"] = map[string]any{}; return m }(), 400, "InvalidParameterValueException"},
		{"missing FunctionName", without("FunctionName"), 400, "ValidationException"},
		{"missing Role", without("Role"), 400, "ValidationException"},
		{"invalid JSON", []byte(`{"FunctionName": "raw",`), 400, "InvalidRequestContentException"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := rawCall(t, s, "POST", "/2015-03-31/functions", tt.body)
			if got := r.Header.Get("X-Amzn-ErrorType"); r.Status != tt.status || got != tt.typ {
				t.Errorf("status %d, X-Amzn-ErrorType %q (%s); want %d %s", r.Status, got, r.Body, tt.status, tt.typ)
			}
		})
	}
}

func TestInvokeErrors(t *testing.T) {
	t.Parallel()
	s := lambenttest.Start(t)
	c := s.Client()
	s.CreateFunction(t, "target", lambenttest.Function(t, "probe"))
	big := []byte(`"` + strings.Repeat("x", 6*1024*1024) + `"`)
	tests := []struct {
		name string
		in   *lambda.InvokeInput
		want errorCase
	}{
		{"payload over 6 MB", &lambda.InvokeInput{Payload: big}, tooLarge},
		{"payload not JSON", &lambda.InvokeInput{Payload: []byte(`{"a":`)}, invalidContent},
		{"client context not base64", &lambda.InvokeInput{ClientContext: aws.String("%%% not base64")}, invalidContent},
		{"client context not JSON", &lambda.InvokeInput{ClientContext: aws.String(base64.StdEncoding.EncodeToString([]byte("nope")))}, invalidContent},
		{"unknown function", &lambda.InvokeInput{FunctionName: aws.String("nobody")}, notFound},
		{"unknown version", &lambda.InvokeInput{Qualifier: aws.String("1")}, notFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.in.FunctionName == nil {
				tt.in.FunctionName = aws.String("target")
			}
			_, err := c.Invoke(context.Background(), tt.in)
			tt.want.check(t, err)
		})
	}
}

func TestUpdateErrors(t *testing.T) {
	t.Parallel()
	s := lambenttest.Start(t)
	c, ctx := s.Client(), context.Background()
	s.CreateFunction(t, "target", lambenttest.Function(t, "probe"))
	before := revisionOf(t, c, "target")
	config := func(mutate func(*lambda.UpdateFunctionConfigurationInput)) func() error {
		return func() error {
			in := &lambda.UpdateFunctionConfigurationInput{FunctionName: aws.String("target")}
			mutate(in)
			_, err := c.UpdateFunctionConfiguration(ctx, in)
			return err
		}
	}
	code := func(zip []byte) func() error {
		return func() error {
			_, err := c.UpdateFunctionCode(ctx, &lambda.UpdateFunctionCodeInput{FunctionName: aws.String("target"), ZipFile: zip})
			return err
		}
	}
	tests := []struct {
		name string
		call func() error
		want errorCase
	}{
		{"memory", config(func(in *lambda.UpdateFunctionConfigurationInput) { in.MemorySize = aws.Int32(64) }), validation},
		{"timeout", config(func(in *lambda.UpdateFunctionConfigurationInput) { in.Timeout = aws.Int32(1000) }), validation},
		{"runtime", config(func(in *lambda.UpdateFunctionConfigurationInput) { in.Runtime = "python2.7" }), invalidValue},
		{"role", config(func(in *lambda.UpdateFunctionConfigurationInput) { in.Role = aws.String("nobody") }), validation},
		{"reserved env var", config(func(in *lambda.UpdateFunctionConfigurationInput) {
			in.Environment = &types.Environment{Variables: map[string]string{"LAMBDA_TASK_ROOT": "/"}}
		}), invalidValue},
		{"unknown function", func() error {
			_, err := c.UpdateFunctionConfiguration(ctx, &lambda.UpdateFunctionConfigurationInput{FunctionName: aws.String("nobody")})
			return err
		}, notFound},
		{"corrupt zip", code([]byte("not a zip")), invalidValue},
		{"zip with path traversal", code(lambenttest.Zip(t, map[string]lambenttest.File{"../x": {Data: []byte("x")}})), invalidValue},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.want.check(t, tt.call()) })
	}
	if after := revisionOf(t, c, "target"); after != before {
		t.Errorf("refused updates changed the function: RevisionId %s → %s", before, after)
	}
}

// TestOversizedRequests sends a zip over Lambda's 50 MB limit and a request body over its
// 70,167,211-byte limit. Skipped with -short: it moves some 140 MB.
func TestOversizedRequests(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("moves 140 MB")
	}
	s := lambenttest.Start(t)
	_, err := s.Client().CreateFunction(context.Background(), &lambda.CreateFunctionInput{
		FunctionName: aws.String("huge"), Runtime: types.RuntimeProvidedal2023, Handler: aws.String("bootstrap"),
		Role: aws.String(lambenttest.Role), Code: &types.FunctionCode{ZipFile: make([]byte, 50<<20+1)},
	})
	wantError(t, err, "RequestEntityTooLargeException", 413)

	r := rawCall(t, s, "POST", "/2015-03-31/functions", make([]byte, 70167212))
	if got := r.Header.Get("X-Amzn-ErrorType"); r.Status != 413 || got != "RequestEntityTooLargeException" {
		t.Errorf("a body of 70167212 bytes: %d %q %s; want 413 RequestEntityTooLargeException", r.Status, got, r.Body)
	}
}
