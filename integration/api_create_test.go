package integration

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"

	"github.com/lambent/lambent/internal/lambenttest"
)

const arnPrefix = "arn:aws:lambda:us-east-1:000000000000:function:"

// config is the part of a FunctionConfiguration a test sets and reads back.
type config struct {
	FunctionName, FunctionArn, Runtime, Handler, Role, Description, Version, PackageType string
	MemorySize, Timeout, EphemeralStorage                                                int32
	Architectures, Environment                                                           string
}

func configOf(c *types.FunctionConfiguration) config {
	got := config{
		FunctionName: aws.ToString(c.FunctionName), FunctionArn: aws.ToString(c.FunctionArn),
		Runtime: string(c.Runtime), Handler: aws.ToString(c.Handler), Role: aws.ToString(c.Role),
		Description: aws.ToString(c.Description), Version: aws.ToString(c.Version),
		PackageType: string(c.PackageType), MemorySize: aws.ToInt32(c.MemorySize), Timeout: aws.ToInt32(c.Timeout),
		Architectures: fmt.Sprint(c.Architectures),
	}
	if c.EphemeralStorage != nil {
		got.EphemeralStorage = aws.ToInt32(c.EphemeralStorage.Size)
	}
	if c.Environment != nil {
		got.Environment = envString(c.Environment.Variables)
	}
	return got
}

// asConfig reads the FunctionConfiguration out of an operation's output (CreateFunction,
// UpdateFunctionCode, ...), which repeats its fields.
func asConfig(t testing.TB, out any) *types.FunctionConfiguration {
	t.Helper()
	b, err := json.Marshal(out)
	if err != nil {
		t.Fatal(err)
	}
	var c types.FunctionConfiguration
	if err := json.Unmarshal(b, &c); err != nil {
		t.Fatal(err)
	}
	return &c
}

func envString(vars map[string]string) string {
	var b strings.Builder
	for _, k := range slices.Sorted(maps.Keys(vars)) {
		fmt.Fprintf(&b, "%s=%s;", k, vars[k])
	}
	return b.String()
}

// defaults is the configuration of a function created with no optional field.
func defaults(name string) config {
	return config{
		FunctionName: name, FunctionArn: arnPrefix + name, Runtime: "provided.al2023", Handler: "bootstrap",
		Role: lambenttest.Role, Version: "$LATEST", PackageType: "Zip", MemorySize: 128, Timeout: 3,
		EphemeralStorage: 512, Architectures: "[x86_64]",
	}
}

func TestCreateFunction(t *testing.T) {
	t.Parallel()
	s := lambenttest.Start(t)
	c, zip := s.Client(), lambenttest.Function(t, "probe")
	tests := []struct {
		name   string
		in     func(name string, in *lambda.CreateFunctionInput)
		want   func(name string) config
		tags   map[string]string
		byName func(name string) string // the FunctionName sent, from the name
	}{
		{name: "defaults", want: defaults},
		{
			name: "every field",
			in: func(_ string, in *lambda.CreateFunctionInput) {
				in.MemorySize, in.Timeout, in.Publish = aws.Int32(1024), aws.Int32(60), true
				in.EphemeralStorage = &types.EphemeralStorage{Size: aws.Int32(2048)}
				in.Architectures = []types.Architecture{types.ArchitectureArm64}
				in.Description, in.Handler = aws.String("all the fields"), aws.String("my.handler")
				in.Environment = &types.Environment{Variables: map[string]string{"GREETING": "hi", "B_2": "x=y"}}
				in.Tags = map[string]string{"team": "lambent", "cost-centre": "42"}
				in.Runtime = types.RuntimeProvidedal2
			},
			want: func(name string) config {
				c := defaults(name)
				c.MemorySize, c.Timeout, c.EphemeralStorage, c.Architectures = 1024, 60, 2048, "[arm64]"
				c.Description, c.Handler, c.Runtime = "all the fields", "my.handler", "provided.al2"
				c.Environment = "B_2=x=y;GREETING=hi;"
				return c
			},
			tags: map[string]string{"team": "lambent", "cost-centre": "42"},
		},
		{
			name: "lower limits",
			in: func(_ string, in *lambda.CreateFunctionInput) {
				in.MemorySize, in.Timeout = aws.Int32(128), aws.Int32(1)
				in.EphemeralStorage = &types.EphemeralStorage{Size: aws.Int32(512)}
			},
			want: func(name string) config { c := defaults(name); c.Timeout = 1; return c },
		},
		{
			name: "upper limits",
			in: func(_ string, in *lambda.CreateFunctionInput) {
				in.MemorySize, in.Timeout = aws.Int32(10240), aws.Int32(900)
				in.EphemeralStorage = &types.EphemeralStorage{Size: aws.Int32(10240)}
				in.Description = aws.String(strings.Repeat("d", 256))
			},
			want: func(name string) config {
				c := defaults(name)
				c.MemorySize, c.Timeout, c.EphemeralStorage, c.Description = 10240, 900, 10240, strings.Repeat("d", 256)
				return c
			},
		},
		{name: "full ARN", want: defaults, byName: func(n string) string { return arnPrefix + n }},
		{name: "partial ARN", want: defaults, byName: func(n string) string { return "000000000000:function:" + n }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			name := testName(t)
			in := &lambda.CreateFunctionInput{
				FunctionName: aws.String(name), Runtime: types.RuntimeProvidedal2023, Handler: aws.String("bootstrap"),
				Role: aws.String(lambenttest.Role), Code: &types.FunctionCode{ZipFile: zip},
			}
			if tt.in != nil {
				tt.in(name, in)
			}
			if tt.byName != nil {
				in.FunctionName = aws.String(tt.byName(name))
			}
			ctx := context.Background()
			out, err := c.CreateFunction(ctx, in)
			if err != nil {
				t.Fatal(err)
			}
			want := tt.want(name)
			if got := configOf(asConfig(t, out)); got != want {
				t.Errorf("CreateFunction returned\n%+v, want\n%+v", got, want)
			}
			sum := sha256.Sum256(zip)
			gotState := [5]string{string(out.State), aws.ToString(out.StateReason), string(out.StateReasonCode), string(out.LastUpdateStatus), aws.ToString(out.CodeSha256)}
			wantState := [5]string{"Pending", "The function is being created.", "Creating", "", base64.StdEncoding.EncodeToString(sum[:])}
			if gotState != wantState || out.CodeSize != int64(len(zip)) {
				t.Errorf("CreateFunction state, reason, code, last update, sha = %q, size %d; want %q, size %d", gotState, out.CodeSize, wantState, len(zip))
			}
			waitActive(t, c, name)
			got, err := c.GetFunction(ctx, &lambda.GetFunctionInput{FunctionName: aws.String(name)})
			if err != nil {
				t.Fatal(err)
			}
			if g := configOf(got.Configuration); g != want {
				t.Errorf("GetFunction returned\n%+v, want\n%+v", g, want)
			}
			active := [4]string{string(got.Configuration.State), aws.ToString(got.Configuration.StateReason), string(got.Configuration.LastUpdateStatus), aws.ToString(got.Configuration.CodeSha256)}
			if want := [4]string{"Active", "", "Successful", wantState[4]}; active != want {
				t.Errorf("after creation: state, reason, last update, sha = %q, want %q", active, want)
			}
			if !maps.Equal(got.Tags, tt.tags) {
				t.Errorf("GetFunction tags %v, want %v", got.Tags, tt.tags)
			}
		})
	}
}

// waitActive waits until name is Active.
func waitActive(t testing.TB, c *lambda.Client, name string) {
	t.Helper()
	w := lambda.NewFunctionActiveV2Waiter(c, func(o *lambda.FunctionActiveV2WaiterOptions) {
		o.MinDelay, o.MaxDelay = 10*time.Millisecond, 100*time.Millisecond
	})
	if err := w.Wait(context.Background(), &lambda.GetFunctionInput{FunctionName: aws.String(name)}, 30*time.Second); err != nil {
		t.Fatalf("waiting for %s to be Active: %v", name, err)
	}
}

func TestGetFunction(t *testing.T) {
	t.Parallel()
	s := lambenttest.Start(t)
	c, zip := s.Client(), lambenttest.Function(t, "probe")
	s.CreateFunction(t, "getme", zip)
	ctx := context.Background()

	t.Run("Code.Location downloads the zip", func(t *testing.T) {
		out, err := c.GetFunction(ctx, &lambda.GetFunctionInput{FunctionName: aws.String("getme")})
		if err != nil {
			t.Fatal(err)
		}
		if got := aws.ToString(out.Code.RepositoryType); got != "S3" {
			t.Errorf("RepositoryType %q, want S3", got)
		}
		loc := aws.ToString(out.Code.Location)
		status, body := get(t, loc)
		if status != 200 || !bytes.Equal(body, zip) {
			t.Errorf("GET Code.Location: status %d, %d bytes equal to the zip: %v; want 200 and the zip (%d bytes)", status, len(body), bytes.Equal(body, zip), len(zip))
		}
		i := strings.Index(loc, "signature=") + len("signature=")
		flip := map[byte]byte{'0': '1'}[loc[i]]
		if flip == 0 {
			flip = '0'
		}
		tampered := map[string]string{
			"signature":    loc[:i] + string(flip) + loc[i+1:],
			"no signature": loc[:i],
			"expires":      strings.Replace(loc, "expires=", "expires=9", 1),
		}
		for what, u := range tampered {
			if status, body := get(t, u); status != http.StatusForbidden {
				t.Errorf("GET Code.Location with %s tampered: status %d (%d bytes), want 403", what, status, len(body))
			}
		}
	})

	t.Run("GetFunctionConfiguration is GetFunction's Configuration", func(t *testing.T) {
		fn := rawCall(t, s, "GET", "/2015-03-31/functions/getme", nil)
		cfg := rawCall(t, s, "GET", "/2015-03-31/functions/getme/configuration", nil)
		if fn.Status != 200 || cfg.Status != 200 {
			t.Fatalf("status %d and %d: %s %s", fn.Status, cfg.Status, fn.Body, cfg.Body)
		}
		got, want := cfg.JSON(t), fn.JSON(t).(map[string]any)["Configuration"]
		if !reflect.DeepEqual(got, want) {
			t.Errorf("GetFunctionConfiguration\n%s\nGetFunction.Configuration\n%v", cfg.Body, want)
		}
	})
}

// get fetches u with a plain HTTP GET, as a client downloads a presigned S3 URL.
func get(t testing.TB, u string) (int, []byte) {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, b
}
