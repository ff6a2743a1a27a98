package integration

import (
	"archive/zip"
	"bytes"
	"compress/flate"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
	"github.com/aws/smithy-go"

	"github.com/lambent/lambent/internal/lambenttest"
)

const layerARNPrefix = "arn:aws:lambda:us-east-1:000000000000:layer:"

// layerZip is a small layer with one file at path holding body.
func layerZip(t testing.TB, path, body string) []byte {
	return lambenttest.Zip(t, map[string]lambenttest.File{path: {Data: []byte(body)}})
}

// publish publishes zipBytes as a new version of name, failing the test on error.
func publish(t testing.TB, c *lambda.Client, name string, zipBytes []byte, mutate ...func(*lambda.PublishLayerVersionInput)) *lambda.PublishLayerVersionOutput {
	t.Helper()
	in := &lambda.PublishLayerVersionInput{LayerName: aws.String(name), Content: &types.LayerVersionContentInput{ZipFile: zipBytes}}
	for _, m := range mutate {
		m(in)
	}
	out, err := c.PublishLayerVersion(context.Background(), in)
	if err != nil {
		t.Fatalf("PublishLayerVersion %s: %v", name, err)
	}
	return out
}

// wantMessage checks that err is the API error code with status and message.
func wantMessage(t testing.TB, err error, code string, status int, message string) {
	t.Helper()
	wantError(t, err, code, status)
	if got := apiMessage(err); got != message {
		t.Errorf("message %q\nwant    %q", got, message)
	}
}

func apiMessage(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorMessage()
	}
	return ""
}

func sha256Of(b []byte) (b64, hexDigest string) {
	sum := sha256.Sum256(b)
	return base64.StdEncoding.EncodeToString(sum[:]), hex.EncodeToString(sum[:])
}

func TestLayerLifecycle(t *testing.T) {
	t.Parallel()
	s := lambenttest.Start(t)
	c, ctx := s.Client(), context.Background()
	z1, z2 := layerZip(t, "python/lib.py", "V = 1\n"), layerZip(t, "python/lib.py", "V = 2\n")

	start := time.Now()
	v1 := publish(t, c, "lib", z1, func(in *lambda.PublishLayerVersionInput) {
		in.Description, in.LicenseInfo = aws.String("a library"), aws.String("MIT")
		in.CompatibleRuntimes = []types.Runtime{types.RuntimePython312}
		in.CompatibleArchitectures = []types.Architecture{types.ArchitectureX8664}
	})
	sha, _ := sha256Of(z1)
	if got, want := [5]string{aws.ToString(v1.LayerArn), aws.ToString(v1.LayerVersionArn), aws.ToString(v1.Description), aws.ToString(v1.LicenseInfo), aws.ToString(v1.Content.CodeSha256)},
		[5]string{layerARNPrefix + "lib", layerARNPrefix + "lib:1", "a library", "MIT", sha}; got != want || v1.Version != 1 || v1.Content.CodeSize != int64(len(z1)) {
		t.Errorf("PublishLayerVersion = %q, version %d, size %d; want %q, 1, %d", got, v1.Version, v1.Content.CodeSize, want, len(z1))
	}
	if !slices.Equal(v1.CompatibleRuntimes, []types.Runtime{types.RuntimePython312}) || !slices.Equal(v1.CompatibleArchitectures, []types.Architecture{types.ArchitectureX8664}) {
		t.Errorf("compatibility %v %v", v1.CompatibleRuntimes, v1.CompatibleArchitectures)
	}
	created, err := time.Parse("2006-01-02T15:04:05.000-0700", aws.ToString(v1.CreatedDate))
	if err != nil || created.Before(start.Add(-time.Second)) || created.After(time.Now().Add(time.Second)) {
		t.Errorf("CreatedDate %q: %v", aws.ToString(v1.CreatedDate), err)
	}
	// Content.Location downloads the zip, as GetFunction's Code.Location does.
	resp, err := http.Get(aws.ToString(v1.Content.Location))
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !bytes.Equal(got, z1) {
		t.Errorf("Content.Location: %d, %d bytes; want the zip", resp.StatusCode, len(got))
	}

	v2 := publish(t, c, "lib", z2, func(in *lambda.PublishLayerVersionInput) {
		in.CompatibleRuntimes = []types.Runtime{types.RuntimePython312, types.RuntimeNodejs20x}
	})
	if v2.Version != 2 || aws.ToString(v2.LayerVersionArn) != layerARNPrefix+"lib:2" {
		t.Errorf("second publish: version %d, %s", v2.Version, aws.ToString(v2.LayerVersionArn))
	}
	publish(t, c, "lib", z1, func(in *lambda.PublishLayerVersionInput) {
		in.CompatibleRuntimes = []types.Runtime{types.RuntimeNodejs20x}
	})
	other := publish(t, c, "another", z2)

	// GetLayerVersion by name and by layer ARN, GetLayerVersionByArn: all the same version.
	for _, name := range []string{"lib", layerARNPrefix + "lib"} {
		g, err := c.GetLayerVersion(ctx, &lambda.GetLayerVersionInput{LayerName: aws.String(name), VersionNumber: aws.Int64(1)})
		if err != nil {
			t.Fatalf("GetLayerVersion %s: %v", name, err)
		}
		if aws.ToString(g.LayerVersionArn) != aws.ToString(v1.LayerVersionArn) || aws.ToString(g.CreatedDate) != aws.ToString(v1.CreatedDate) ||
			aws.ToString(g.Content.CodeSha256) != sha || aws.ToString(g.LicenseInfo) != "MIT" || g.Version != 1 {
			t.Errorf("GetLayerVersion %s = %+v", name, g)
		}
	}
	byArn, err := c.GetLayerVersionByArn(ctx, &lambda.GetLayerVersionByArnInput{Arn: aws.String(layerARNPrefix + "lib:2")})
	if err != nil || byArn.Version != 2 || aws.ToString(byArn.LayerArn) != layerARNPrefix+"lib" {
		t.Fatalf("GetLayerVersionByArn = %+v, %v", byArn, err)
	}

	// ListLayerVersions: newest first, paged, filtered.
	versions := func(in *lambda.ListLayerVersionsInput) []int64 {
		t.Helper()
		var out []int64
		p := lambda.NewListLayerVersionsPaginator(c, in)
		for p.HasMorePages() {
			page, err := p.NextPage(ctx)
			if err != nil {
				t.Fatalf("ListLayerVersions: %v", err)
			}
			for _, v := range page.LayerVersions {
				out = append(out, v.Version)
			}
		}
		return out
	}
	for _, tt := range []struct {
		in   *lambda.ListLayerVersionsInput
		want []int64
	}{
		{&lambda.ListLayerVersionsInput{LayerName: aws.String("lib")}, []int64{3, 2, 1}},
		{&lambda.ListLayerVersionsInput{LayerName: aws.String("lib"), MaxItems: aws.Int32(1)}, []int64{3, 2, 1}},
		{&lambda.ListLayerVersionsInput{LayerName: aws.String(layerARNPrefix + "lib"), MaxItems: aws.Int32(2)}, []int64{3, 2, 1}},
		{&lambda.ListLayerVersionsInput{LayerName: aws.String("lib"), CompatibleRuntime: types.RuntimePython312}, []int64{2, 1}},
		{&lambda.ListLayerVersionsInput{LayerName: aws.String("lib"), CompatibleArchitecture: types.ArchitectureX8664}, []int64{1}},
		{&lambda.ListLayerVersionsInput{LayerName: aws.String("nothing")}, nil},
	} {
		if got := versions(tt.in); !slices.Equal(got, tt.want) {
			t.Errorf("ListLayerVersions(%s, runtime %q, arch %q, max %v) = %v, want %v", aws.ToString(tt.in.LayerName),
				tt.in.CompatibleRuntime, tt.in.CompatibleArchitecture, aws.ToInt32(tt.in.MaxItems), got, tt.want)
		}
	}

	// ListLayers: each layer with its newest version that matches.
	layers := func(in *lambda.ListLayersInput) []string {
		t.Helper()
		var out []string
		p := lambda.NewListLayersPaginator(c, in)
		for p.HasMorePages() {
			page, err := p.NextPage(ctx)
			if err != nil {
				t.Fatalf("ListLayers: %v", err)
			}
			for _, l := range page.Layers {
				if aws.ToString(l.LayerArn) != layerARNPrefix+aws.ToString(l.LayerName) {
					t.Errorf("LayerArn %s of %s", aws.ToString(l.LayerArn), aws.ToString(l.LayerName))
				}
				out = append(out, aws.ToString(l.LatestMatchingVersion.LayerVersionArn))
			}
		}
		return out
	}
	for _, tt := range []struct {
		in   *lambda.ListLayersInput
		want []string
	}{
		{&lambda.ListLayersInput{}, []string{layerARNPrefix + "another:1", layerARNPrefix + "lib:3"}},
		{&lambda.ListLayersInput{MaxItems: aws.Int32(1)}, []string{layerARNPrefix + "another:1", layerARNPrefix + "lib:3"}},
		{&lambda.ListLayersInput{CompatibleRuntime: types.RuntimePython312}, []string{layerARNPrefix + "lib:2"}},
		{&lambda.ListLayersInput{CompatibleRuntime: types.RuntimePython312, CompatibleArchitecture: types.ArchitectureX8664}, []string{layerARNPrefix + "lib:1"}},
		{&lambda.ListLayersInput{CompatibleArchitecture: types.ArchitectureArm64}, nil},
	} {
		if got := layers(tt.in); !slices.Equal(got, tt.want) {
			t.Errorf("ListLayers(runtime %q, arch %q, max %v) = %v, want %v", tt.in.CompatibleRuntime, tt.in.CompatibleArchitecture, aws.ToInt32(tt.in.MaxItems), got, tt.want)
		}
	}

	// DeleteLayerVersion: 204 every time, the number never comes back.
	for range 2 {
		if _, err := c.DeleteLayerVersion(ctx, &lambda.DeleteLayerVersionInput{LayerName: aws.String("lib"), VersionNumber: aws.Int64(3)}); err != nil {
			t.Fatalf("DeleteLayerVersion: %v", err)
		}
	}
	_, err = c.GetLayerVersion(ctx, &lambda.GetLayerVersionInput{LayerName: aws.String("lib"), VersionNumber: aws.Int64(3)})
	wantMessage(t, err, "ResourceNotFoundException", 404, "The resource you requested does not exist.")
	if v := publish(t, c, "lib", z1); v.Version != 4 {
		t.Errorf("publish after deleting version 3 gave version %d, want 4", v.Version)
	}
	for _, n := range []int64{1, 2, 4} {
		if _, err := c.DeleteLayerVersion(ctx, &lambda.DeleteLayerVersionInput{LayerName: aws.String(layerARNPrefix + "lib"), VersionNumber: aws.Int64(n)}); err != nil {
			t.Fatal(err)
		}
	}
	if got := versions(&lambda.ListLayerVersionsInput{LayerName: aws.String("lib")}); len(got) != 0 {
		t.Errorf("versions after deleting them all: %v", got)
	}
	if got := layers(&lambda.ListLayersInput{}); !slices.Equal(got, []string{aws.ToString(other.LayerVersionArn)}) {
		t.Errorf("ListLayers after deleting every version of lib = %v", got)
	}
	if v := publish(t, c, "lib", z1); v.Version != 5 {
		t.Errorf("publish after deleting every version gave version %d, want 5", v.Version)
	}
}

// TestLayerOptionalFields checks the fields Lambda leaves out: compatibility lists that were
// not given, LicenseInfo; and that lists given empty are returned empty.
func TestLayerOptionalFields(t *testing.T) {
	t.Parallel()
	s := lambenttest.Start(t)
	z := layerZip(t, "f", "x")
	for _, tt := range []struct {
		in              map[string]any
		present, absent []string
	}{
		{map[string]any{"Content": map[string]any{"ZipFile": z}}, []string{"Description", "Content", "CreatedDate", "LayerArn", "LayerVersionArn", "Version"},
			[]string{"CompatibleRuntimes", "CompatibleArchitectures", "LicenseInfo"}},
		{map[string]any{"Content": map[string]any{"ZipFile": z}, "CompatibleRuntimes": []string{}, "CompatibleArchitectures": []string{}}, []string{"CompatibleRuntimes", "CompatibleArchitectures"},
			[]string{"LicenseInfo"}},
	} {
		r := rawCall(t, s, "POST", "/2018-10-31/layers/opt/versions", tt.in)
		body, ok := r.JSON(t).(map[string]any)
		if r.Status != 201 || !ok {
			t.Fatalf("publish: %d %s", r.Status, r.Body)
		}
		for _, k := range tt.present {
			if _, ok := body[k]; !ok {
				t.Errorf("%s missing from %s", k, r.Body)
			}
		}
		for _, k := range tt.absent {
			if _, ok := body[k]; ok {
				t.Errorf("%s present in %s", k, r.Body)
			}
		}
		for _, k := range []string{"digest", "Digest", "UnzippedSize", "unzippedSize"} {
			if bytes.Contains(r.Body, []byte(`"`+k+`"`)) {
				t.Errorf("internal field %s in %s", k, r.Body)
			}
		}
	}
}

func TestLayerErrors(t *testing.T) {
	t.Parallel()
	s := lambenttest.Start(t)
	c, ctx := s.Client(), context.Background()
	z := layerZip(t, "f", "x")
	publish(t, c, "lib", z)
	get := func(name string, n int64) error {
		_, err := c.GetLayerVersion(ctx, &lambda.GetLayerVersionInput{LayerName: aws.String(name), VersionNumber: aws.Int64(n)})
		return err
	}
	const notFound = "The resource you requested does not exist."
	wantMessage(t, get("nothing", 1), "ResourceNotFoundException", 404, notFound)
	wantMessage(t, get("lib", 2), "ResourceNotFoundException", 404, notFound)
	wantMessage(t, get("lib", 0), "InvalidParameterValueException", 400, "Layer Version Cannot be less than 1")
	wantMessage(t, get("lib", -1), "InvalidParameterValueException", 400, "Layer Version Cannot be less than 1")
	wantMessage(t, get("arn:aws:lambda:eu-west-1:000000000000:layer:lib", 1), "ResourceNotFoundException", 404, notFound)
	wantError(t, get("bad.name", 1), "ValidationException", 400)

	byArn := func(arn string) error {
		_, err := c.GetLayerVersionByArn(ctx, &lambda.GetLayerVersionByArnInput{Arn: aws.String(arn)})
		return err
	}
	wantMessage(t, byArn(layerARNPrefix+"lib"), "ValidationException", 400,
		"1 validation error detected: Value '"+layerARNPrefix+"lib' at 'arn' failed to satisfy constraint: Member must satisfy regular expression pattern: "+
			`(arn:(aws[a-zA-Z-]*)?:lambda:(eusc-)?[a-z]{2}((-gov)|(-iso([a-z]?)))?-[a-z]+-\d{1}:\d{12}:layer:[a-zA-Z0-9-_]+:[0-9]+)|(arn:[a-zA-Z0-9-]+:lambda:::awslayer:[a-zA-Z0-9-_]+)`)
	wantMessage(t, byArn(layerARNPrefix+"lib:2"), "ResourceNotFoundException", 404, notFound)
	wantMessage(t, byArn("arn:aws:lambda:us-east-1:111111111111:layer:lib:1"), "ResourceNotFoundException", 404, notFound)

	del := func(name string, n int64) error {
		_, err := c.DeleteLayerVersion(ctx, &lambda.DeleteLayerVersionInput{LayerName: aws.String(name), VersionNumber: aws.Int64(n)})
		return err
	}
	if err := del("nothing", 1); err != nil {
		t.Errorf("DeleteLayerVersion of a missing layer: %v", err)
	}
	if err := del("lib", 7); err != nil {
		t.Errorf("DeleteLayerVersion of a missing version: %v", err)
	}
	wantMessage(t, del("lib", 0), "InvalidParameterValueException", 400, "Layer Version Cannot be less than 1")

	_, err := c.ListLayers(ctx, &lambda.ListLayersInput{CompatibleRuntime: "runtimedoesnotexist"})
	wantError(t, err, "ValidationException", 400)
	if m := apiMessage(err); !strings.HasPrefix(m, "1 validation error detected: Value 'runtimedoesnotexist' at 'compatibleRuntime' failed to satisfy constraint: Member must satisfy enum value set: [") {
		t.Errorf("message %q", m)
	}
	_, err = c.ListLayers(ctx, &lambda.ListLayersInput{CompatibleArchitecture: "archdoesnotexist"})
	wantMessage(t, err, "ValidationException", 400, "1 validation error detected: Value 'archdoesnotexist' at 'compatibleArchitecture' failed to satisfy constraint: Member must satisfy enum value set: [x86_64, arm64]")
	_, err = c.ListLayerVersions(ctx, &lambda.ListLayerVersionsInput{LayerName: aws.String("lib"), MaxItems: aws.Int32(51)})
	wantError(t, err, "ValidationException", 400)

	pub := func(name string, zipBytes []byte, mutate func(*lambda.PublishLayerVersionInput)) error {
		in := &lambda.PublishLayerVersionInput{LayerName: aws.String(name), Content: &types.LayerVersionContentInput{ZipFile: zipBytes}}
		if mutate != nil {
			mutate(in)
		}
		_, err := c.PublishLayerVersion(ctx, in)
		return err
	}
	err = pub("lib", z, func(in *lambda.PublishLayerVersionInput) {
		in.CompatibleRuntimes = []types.Runtime{"invalidruntime", "invalidruntime2", types.RuntimeNodejs20x}
		in.CompatibleArchitectures = []types.Architecture{"invalidarch", types.ArchitectureX8664}
	})
	wantError(t, err, "ValidationException", 400)
	if m := apiMessage(err); !strings.HasPrefix(m, "2 validation errors detected: Value '[invalidruntime, invalidruntime2, nodejs20.x]' at 'compatibleRuntimes' failed to satisfy constraint: Member must satisfy enum value set: [nodejs20.x, ") ||
		!strings.HasSuffix(m, "; Value '[invalidarch, x86_64]' at 'compatibleArchitectures' failed to satisfy constraint: Member must satisfy constraint: [Member must satisfy enum value set: [x86_64, arm64], Member must not be null]") {
		t.Errorf("message %q", m)
	}
	wantError(t, pub("lib", []byte("not a zip"), nil), "InvalidParameterValueException", 400)
	wantError(t, pub("lib", lambenttest.Zip(t, map[string]lambenttest.File{"../escape": {Data: []byte("x")}}), nil), "InvalidParameterValueException", 400)
	wantError(t, pub("bad.name", z, nil), "ValidationException", 400)
	wantError(t, pub("arn:aws:lambda:us-east-1:111111111111:layer:theirs", z, nil), "AccessDeniedException", 403)
	_, err = c.PublishLayerVersion(ctx, &lambda.PublishLayerVersionInput{LayerName: aws.String("lib")})
	if err == nil {
		t.Errorf("PublishLayerVersion without Content: no error")
	}
	if r := rawCall(t, s, "POST", "/2018-10-31/layers/lib/versions", map[string]any{}); r.Status != 400 || r.Header.Get("X-Amzn-ErrorType") != "ValidationException" {
		t.Errorf("publish without Content: %d %s %s", r.Status, r.Header.Get("X-Amzn-ErrorType"), r.Body)
	}
	// None of the refused publishes took a number.
	if v := publish(t, c, "lib", z); v.Version != 2 {
		t.Errorf("next version after refused publishes: %d, want 2", v.Version)
	}
}

func TestFunctionLayers(t *testing.T) {
	t.Parallel()
	s := lambenttest.Start(t)
	c, ctx := s.Client(), context.Background()
	za, zb, zo := layerZip(t, "python/a.py", "A"), layerZip(t, "python/b.py", "B"), layerZip(t, "python/a.py", "other")
	a1, a2, o1 := publish(t, c, "liba", za), publish(t, c, "liba", zb), publish(t, c, "libo", zo)
	code := lambenttest.Function(t, "raw")

	arnsOf := func(ls []types.Layer) []string {
		var out []string
		for _, l := range ls {
			out = append(out, aws.ToString(l.Arn))
		}
		return out
	}
	created := s.CreateFunction(t, "layered", code, func(in *lambda.CreateFunctionInput) {
		in.Layers = []string{aws.ToString(o1.LayerVersionArn), aws.ToString(a1.LayerVersionArn)}
	})
	want := []string{layerARNPrefix + "libo:1", layerARNPrefix + "liba:1"}
	if got := arnsOf(created.Layers); !slices.Equal(got, want) || created.Layers[0].CodeSize != int64(len(zo)) || created.Layers[1].CodeSize != int64(len(za)) {
		t.Errorf("CreateFunction Layers = %+v, want %v with the zips' sizes", created.Layers, want)
	}
	cfg, err := c.GetFunctionConfiguration(ctx, &lambda.GetFunctionConfigurationInput{FunctionName: aws.String("layered")})
	if err != nil || !slices.Equal(arnsOf(cfg.Layers), want) {
		t.Errorf("GetFunctionConfiguration Layers = %v, %v; want %v", arnsOf(cfg.Layers), err, want)
	}
	fn, err := c.GetFunction(ctx, &lambda.GetFunctionInput{FunctionName: aws.String("layered")})
	if err != nil || !slices.Equal(arnsOf(fn.Configuration.Layers), want) {
		t.Errorf("GetFunction Layers = %v, %v; want %v", arnsOf(fn.Configuration.Layers), err, want)
	}
	list, err := c.ListFunctions(ctx, &lambda.ListFunctionsInput{})
	if err != nil || len(list.Functions) != 1 || !slices.Equal(arnsOf(list.Functions[0].Layers), want) {
		t.Errorf("ListFunctions Layers: %+v, %v", list.Functions, err)
	}
	// The record carries what the sandbox needs: the layers' digests, in order.
	rec, err := s.Functions.Get("layered")
	if err != nil {
		t.Fatal(err)
	}
	_, do := sha256Of(zo)
	_, da := sha256Of(za)
	if got := rec.LayerDigests(); !slices.Equal(got, []string{do, da}) {
		t.Errorf("LayerDigests = %v, want [%s %s]", got, do, da)
	}
	// Preparing the function made its merged /opt.
	merged, err := os.ReadDir(filepath.Join(s.DataDir, "code", "layers"))
	if err != nil || len(merged) != 1 {
		t.Errorf("merged layer directories: %v, %v; want one", merged, err)
	} else if b, err := os.ReadFile(filepath.Join(s.DataDir, "code", "layers", merged[0].Name(), "python", "a.py")); err != nil || string(b) != "A" {
		t.Errorf("merged python/a.py = %q, %v; want the later layer's", b, err)
	}
	// Lambda shows the ARN and size only.
	r := rawCall(t, s, "GET", "/2015-03-31/functions/layered/configuration", nil)
	for _, k := range []string{"digest", "Digest", "UnzippedSize", "unzippedSize"} {
		if bytes.Contains(r.Body, []byte(`"`+k+`"`)) {
			t.Errorf("internal field %s in %s", k, r.Body)
		}
	}

	// UpdateFunctionConfiguration: new layers (new environments), other changes keep them,
	// an empty list removes them.
	key := rec.EnvironmentKey()
	up, err := c.UpdateFunctionConfiguration(ctx, &lambda.UpdateFunctionConfigurationInput{
		FunctionName: aws.String("layered"), Layers: []string{aws.ToString(a2.LayerVersionArn), aws.ToString(o1.LayerVersionArn)},
	})
	want = []string{layerARNPrefix + "liba:2", layerARNPrefix + "libo:1"}
	if err != nil || !slices.Equal(arnsOf(up.Layers), want) {
		t.Fatalf("UpdateFunctionConfiguration Layers = %v, %v; want %v", arnsOf(up.Layers), err, want)
	}
	waitUpdated(t, c, "layered")
	if rec, _ := s.Functions.Get("layered"); rec.EnvironmentKey() == key {
		t.Errorf("changing the layers kept the environment key")
	}
	up, err = c.UpdateFunctionConfiguration(ctx, &lambda.UpdateFunctionConfigurationInput{FunctionName: aws.String("layered"), Description: aws.String("kept")})
	if err != nil || !slices.Equal(arnsOf(up.Layers), want) {
		t.Fatalf("UpdateFunctionConfiguration without Layers: %v, %v; want %v", arnsOf(up.Layers), err, want)
	}
	waitUpdated(t, c, "layered")
	// A deleted layer version stays with the functions that use it.
	if _, err := c.DeleteLayerVersion(ctx, &lambda.DeleteLayerVersionInput{LayerName: aws.String("liba"), VersionNumber: aws.Int64(2)}); err != nil {
		t.Fatal(err)
	}
	cfg, err = c.GetFunctionConfiguration(ctx, &lambda.GetFunctionConfigurationInput{FunctionName: aws.String("layered")})
	if err != nil || !slices.Equal(arnsOf(cfg.Layers), want) {
		t.Errorf("after deleting liba:2, Layers = %v, %v; want %v", arnsOf(cfg.Layers), err, want)
	}
	if _, err := c.UpdateFunctionConfiguration(ctx, &lambda.UpdateFunctionConfigurationInput{FunctionName: aws.String("layered"), Layers: []string{}}); err != nil {
		t.Fatal(err)
	}
	waitUpdated(t, c, "layered")
	r = rawCall(t, s, "GET", "/2015-03-31/functions/layered/configuration", nil)
	if bytes.Contains(r.Body, []byte(`"Layers"`)) {
		t.Errorf("a function without layers shows Layers: %s", r.Body)
	}
}

func TestFunctionLayerErrors(t *testing.T) {
	t.Parallel()
	s := lambenttest.Start(t)
	c, ctx := s.Client(), context.Background()
	z := layerZip(t, "f", "x")
	for range 2 {
		publish(t, c, "lib", z)
	}
	for _, n := range []string{"l1", "l2", "l3", "l4", "l5", "l6"} {
		publish(t, c, n, z)
	}
	code := lambenttest.Function(t, "raw")
	create := func(layers ...string) error {
		_, err := c.CreateFunction(ctx, &lambda.CreateFunctionInput{
			FunctionName: aws.String("refused"), Runtime: types.RuntimeProvidedal2023, Handler: aws.String("bootstrap"),
			Role: aws.String(lambenttest.Role), Code: &types.FunctionCode{ZipFile: code}, Layers: layers,
		})
		return err
	}
	s.CreateFunction(t, "plain", code)
	update := func(layers ...string) error {
		_, err := c.UpdateFunctionConfiguration(ctx, &lambda.UpdateFunctionConfigurationInput{FunctionName: aws.String("plain"), Layers: layers})
		return err
	}
	six := []string{layerARNPrefix + "l1:1", layerARNPrefix + "l2:1", layerARNPrefix + "l3:1", layerARNPrefix + "l4:1", layerARNPrefix + "l5:1", layerARNPrefix + "l6:1"}
	for _, tt := range []struct {
		name          string
		layers        []string
		code, message string
		status        int
	}{
		{"six", six, "InvalidParameterValueException", "Cannot reference more than 5 layers.", 400},
		{"missing version", []string{layerARNPrefix + "lib:9"}, "InvalidParameterValueException", "Layer version " + layerARNPrefix + "lib:9 does not exist.", 400},
		{"missing layer", []string{layerARNPrefix + "doesnotexist:1"}, "InvalidParameterValueException", "Layer version " + layerARNPrefix + "doesnotexist:1 does not exist.", 400},
		{"two versions", []string{layerARNPrefix + "lib:1", layerARNPrefix + "l1:1", layerARNPrefix + "lib:2"}, "InvalidParameterValueException",
			"Two different versions of the same layer are not allowed to be referenced in the same function. " + layerARNPrefix + "lib:1 and " + layerARNPrefix + "lib:2 are versions of the same layer.", 400},
		{"same version twice", []string{layerARNPrefix + "lib:1", layerARNPrefix + "lib:1"}, "InvalidParameterValueException",
			"Two different versions of the same layer are not allowed to be referenced in the same function. " + layerARNPrefix + "lib:1 and " + layerARNPrefix + "lib:1 are versions of the same layer.", 400},
		{"other region", []string{"arn:aws:lambda:eu-west-1:000000000000:layer:lib:1"}, "InvalidParameterValueException",
			"Layers are not in the same region as the function. Layers are expected to be in region us-east-1.", 400},
		{"other account", []string{"arn:aws:lambda:us-east-1:111111111111:layer:lib:1"}, "AccessDeniedException",
			"User: arn:aws:iam::000000000000:root is not authorized to perform: lambda:GetLayerVersion on resource: arn:aws:lambda:us-east-1:111111111111:layer:lib:1 because no resource-based policy allows the lambda:GetLayerVersion action", 403},
		{"no version", []string{layerARNPrefix + "lib"}, "ValidationException",
			"1 validation error detected: Value '[" + layerARNPrefix + "lib]' at 'layers' failed to satisfy constraint: Member must satisfy constraint: [Member must have length less than or equal to 2048, Member must have length greater than or equal to 1, Member must satisfy regular expression pattern: " +
				`(arn:(aws[a-zA-Z-]*)?:lambda:(eusc-)?[a-z]{2}((-gov)|(-iso([a-z]?)))?-[a-z]+-\d{1}:\d{12}:layer:[a-zA-Z0-9-_]+:[0-9]+)|(arn:[a-zA-Z0-9-]+:lambda:::awslayer:[a-zA-Z0-9-_]+), Member must not be null]`, 400},
	} {
		t.Run(tt.name, func(t *testing.T) {
			wantMessage(t, create(tt.layers...), tt.code, tt.status, tt.message)
			wantMessage(t, update(tt.layers...), tt.code, tt.status, tt.message)
		})
	}
	if _, err := c.GetFunction(ctx, &lambda.GetFunctionInput{FunctionName: aws.String("refused")}); !as[*types.ResourceNotFoundException](err) {
		t.Errorf("a refused function exists: %v", err)
	}
	if cfg, err := c.GetFunctionConfiguration(ctx, &lambda.GetFunctionConfigurationInput{FunctionName: aws.String("plain")}); err != nil || len(cfg.Layers) != 0 {
		t.Errorf("refused updates changed the layers: %+v, %v", cfg.Layers, err)
	}
	// Five is allowed.
	if err := update(six[:5]...); err != nil {
		t.Errorf("five layers: %v", err)
	}
}

// zerosZip is a zip holding one file of size zero bytes, compressed as fast as deflate can.
func zerosZip(t testing.TB, size int64) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	zw.RegisterCompressor(zip.Deflate, func(w io.Writer) (io.WriteCloser, error) { return flate.NewWriter(w, flate.BestSpeed) })
	h := &zip.FileHeader{Name: "zeros", Method: zip.Deflate}
	h.SetMode(0o644)
	w, err := zw.CreateHeader(h)
	if err != nil {
		t.Fatal(err)
	}
	chunk := make([]byte, 1<<20)
	for left := size; left > 0; left -= int64(len(chunk)) {
		if _, err := w.Write(chunk[:min(left, int64(len(chunk)))]); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestFunctionLayersSizeLimit: code and layers together may unzip to 262,144,000 bytes at most.
func TestFunctionLayersSizeLimit(t *testing.T) {
	t.Parallel()
	s := lambenttest.Start(t)
	c, ctx := s.Client(), context.Background()
	const limit = 262144000
	publish(t, c, "big", zerosZip(t, limit-1000))
	code := lambenttest.Zip(t, map[string]lambenttest.File{"bootstrap": {Data: bytes.Repeat([]byte("#"), 2000), Mode: 0o755}})
	const message = "Function code combined with layers exceeds the maximum allowed size of 262144000 bytes. The actual size is 262145000 bytes."
	_, err := c.CreateFunction(ctx, &lambda.CreateFunctionInput{
		FunctionName: aws.String("too-big"), Runtime: types.RuntimeProvidedal2023, Handler: aws.String("bootstrap"),
		Role: aws.String(lambenttest.Role), Code: &types.FunctionCode{ZipFile: code}, Layers: []string{layerARNPrefix + "big:1"},
	})
	wantMessage(t, err, "InvalidParameterValueException", 400, message)
	s.CreateFunction(t, "small", code)
	_, err = c.UpdateFunctionConfiguration(ctx, &lambda.UpdateFunctionConfigurationInput{FunctionName: aws.String("small"), Layers: []string{layerARNPrefix + "big:1"}})
	wantMessage(t, err, "InvalidParameterValueException", 400, message)
}

// TestLayersAWSCLI publishes, lists, uses and deletes layers with the real AWS CLI v2.
func TestLayersAWSCLI(t *testing.T) {
	t.Parallel()
	s := lambenttest.Start(t)
	cli := newAWSCLI(t, s)
	z := layerZip(t, "python/lib.py", "V = 1\n")
	zipPath := filepath.Join(t.TempDir(), "layer.zip")
	if err := os.WriteFile(zipPath, z, 0o644); err != nil {
		t.Fatal(err)
	}
	type version struct {
		LayerArn, LayerVersionArn, Description, CreatedDate string
		Version                                             int64
		CompatibleRuntimes                                  []string
		Content                                             struct {
			Location, CodeSha256 string
			CodeSize             int64
		}
	}
	var pub version
	cli.json(&pub, "publish-layer-version", "--layer-name", "cli-layer", "--zip-file", "fileb://"+zipPath,
		"--description", "from the CLI", "--compatible-runtimes", "python3.12", "provided.al2023")
	if pub.LayerVersionArn != layerARNPrefix+"cli-layer:1" || pub.Version != 1 || pub.Content.CodeSha256 != sha256b64(z) ||
		pub.Content.CodeSize != int64(len(z)) || !slices.Equal(pub.CompatibleRuntimes, []string{"python3.12", "provided.al2023"}) {
		t.Errorf("publish-layer-version printed %+v", pub)
	}
	if got := download(t, pub.Content.Location); !bytes.Equal(got, z) {
		t.Errorf("Content.Location gave %d bytes, want the %d uploaded", len(got), len(z))
	}
	var byArn version
	cli.json(&byArn, "get-layer-version-by-arn", "--arn", pub.LayerVersionArn)
	if byArn.LayerVersionArn != pub.LayerVersionArn || byArn.CreatedDate != pub.CreatedDate {
		t.Errorf("get-layer-version-by-arn printed %+v", byArn)
	}
	var layers struct {
		Layers []struct {
			LayerName             string
			LatestMatchingVersion version
		}
	}
	cli.json(&layers, "list-layers", "--compatible-runtime", "python3.12")
	if len(layers.Layers) != 1 || layers.Layers[0].LayerName != "cli-layer" || layers.Layers[0].LatestMatchingVersion.Version != 1 {
		t.Errorf("list-layers printed %+v", layers)
	}
	var fn struct {
		Layers []struct {
			Arn      string
			CodeSize int64
		}
	}
	cli.json(&fn, "create-function", "--function-name", "cli-layered", "--runtime", "provided.al2023",
		"--handler", "bootstrap", "--role", lambenttest.Role, "--zip-file", "fileb://"+zipPath, "--layers", pub.LayerVersionArn)
	if len(fn.Layers) != 1 || fn.Layers[0].Arn != pub.LayerVersionArn || fn.Layers[0].CodeSize != int64(len(z)) {
		t.Errorf("create-function --layers printed %+v", fn)
	}
	if _, stderr, code := cli.run("delete-layer-version", "--layer-name", "cli-layer", "--version-number", "1"); code != 0 {
		t.Errorf("delete-layer-version: exit %d\n%s", code, stderr)
	}
	var versions struct{ LayerVersions []version }
	cli.json(&versions, "list-layer-versions", "--layer-name", "cli-layer")
	if len(versions.LayerVersions) != 0 {
		t.Errorf("list-layer-versions after delete printed %+v", versions)
	}
	_, stderr, code := cli.run("get-layer-version", "--layer-name", "cli-layer", "--version-number", "1")
	if code == 0 || !strings.Contains(stderr, "ResourceNotFoundException") {
		t.Errorf("get-layer-version of a deleted version: exit %d\n%s", code, stderr)
	}
}
