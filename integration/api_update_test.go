package integration

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"

	"github.com/lambent/lambent/internal/lambenttest"
)

// invokeJSON invokes name with payload and decodes the function's result.
func invokeJSON(t testing.TB, c *lambda.Client, name, payload string) map[string]any {
	t.Helper()
	out, err := c.Invoke(context.Background(), &lambda.InvokeInput{FunctionName: aws.String(name), Payload: []byte(payload)})
	if err != nil {
		t.Fatalf("Invoke %s: %v", name, err)
	}
	if out.FunctionError != nil {
		t.Fatalf("Invoke %s: function error %s: %s", name, aws.ToString(out.FunctionError), out.Payload)
	}
	var got map[string]any
	if err := json.Unmarshal(out.Payload, &got); err != nil {
		t.Fatalf("Invoke %s: payload %q: %v", name, out.Payload, err)
	}
	return got
}

func revisionOf(t testing.TB, c *lambda.Client, name string) string {
	t.Helper()
	out, err := c.GetFunctionConfiguration(context.Background(), &lambda.GetFunctionConfigurationInput{FunctionName: aws.String(name)})
	if err != nil {
		t.Fatal(err)
	}
	return aws.ToString(out.RevisionId)
}

func TestUpdateFunctionCode(t *testing.T) {
	t.Parallel()
	s := lambenttest.Start(t)
	c, ctx := s.Client(), context.Background()
	probe, raw := lambenttest.Function(t, "probe"), lambenttest.Function(t, "raw")
	created := s.CreateFunction(t, "coded", probe)
	// probe answers {"cmd":"env"} with its environment; raw echoes the event.
	if got := invokeJSON(t, c, "coded", `{"cmd":"env"}`); got["env"] == nil {
		t.Fatalf("before the update the probe should run, got %v", got)
	}
	stale := revisionOf(t, c, "coded")

	dry, err := c.UpdateFunctionCode(ctx, &lambda.UpdateFunctionCodeInput{FunctionName: aws.String("coded"), ZipFile: raw, DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(raw)
	rawSha := base64.StdEncoding.EncodeToString(sum[:])
	if aws.ToString(dry.CodeSha256) != rawSha || revisionOf(t, c, "coded") != stale {
		t.Errorf("DryRun: CodeSha256 %s (want %s), and the function should not change", aws.ToString(dry.CodeSha256), rawSha)
	}

	out, err := c.UpdateFunctionCode(ctx, &lambda.UpdateFunctionCodeInput{FunctionName: aws.String("coded"), ZipFile: raw, RevisionId: aws.String(stale)})
	if err != nil {
		t.Fatal(err)
	}
	got := [4]string{aws.ToString(out.CodeSha256), string(out.LastUpdateStatus), string(out.LastUpdateStatusReasonCode), string(out.State)}
	if want := [4]string{rawSha, "InProgress", "Creating", "Active"}; got != want || out.CodeSize != int64(len(raw)) {
		t.Errorf("UpdateFunctionCode: sha, last update, reason code, state = %q, size %d; want %q, size %d", got, out.CodeSize, want, len(raw))
	}
	if aws.ToString(out.CodeSha256) == aws.ToString(created.CodeSha256) || aws.ToString(out.RevisionId) == stale {
		t.Errorf("CodeSha256 and RevisionId should change: %s → %s, %s → %s", aws.ToString(created.CodeSha256), aws.ToString(out.CodeSha256), stale, aws.ToString(out.RevisionId))
	}
	waitUpdated(t, c, "coded")
	fn, err := c.GetFunction(ctx, &lambda.GetFunctionInput{FunctionName: aws.String("coded")})
	if err != nil {
		t.Fatal(err)
	}
	if got := fn.Configuration.LastUpdateStatus; got != types.LastUpdateStatusSuccessful {
		t.Errorf("after the update LastUpdateStatus %q, want Successful", got)
	}
	if status, body := get(t, aws.ToString(fn.Code.Location)); status != 200 || string(body) != string(raw) {
		t.Errorf("Code.Location after the update: status %d, %d bytes; want the new zip", status, len(body))
	}
	if got := invokeJSON(t, c, "coded", `{"cmd":"env"}`); got["cmd"] != "env" || got["env"] != nil {
		t.Errorf("after the update the new code (an echo) should run, got %v", got)
	}

	_, err = c.UpdateFunctionCode(ctx, &lambda.UpdateFunctionCodeInput{FunctionName: aws.String("coded"), ZipFile: probe, RevisionId: aws.String(stale)})
	wantError(t, err, "PreconditionFailedException", 412)
	if err != nil && !as[*types.PreconditionFailedException](err) {
		t.Errorf("stale RevisionId: %T, want *types.PreconditionFailedException", err)
	}
}

func TestUpdateFunctionConfiguration(t *testing.T) {
	t.Parallel()
	s := lambenttest.Start(t)
	c, ctx := s.Client(), context.Background()
	created := s.CreateFunction(t, "configured", lambenttest.Function(t, "probe"))
	revisions := []string{aws.ToString(created.RevisionId), revisionOf(t, c, "configured")}

	in := &lambda.UpdateFunctionConfigurationInput{
		FunctionName: aws.String("configured"), RevisionId: aws.String(revisions[1]),
		MemorySize: aws.Int32(512), Timeout: aws.Int32(42), Description: aws.String("updated"),
		Handler: aws.String("other.handler"), Role: aws.String("arn:aws:iam::000000000000:role/other"),
		Runtime: types.RuntimeProvidedal2, EphemeralStorage: &types.EphemeralStorage{Size: aws.Int32(1024)},
		Environment: &types.Environment{Variables: map[string]string{"COLOUR": "blue"}},
	}
	want := defaults("configured")
	want.MemorySize, want.Timeout, want.Description, want.Handler = 512, 42, "updated", "other.handler"
	want.Role, want.Runtime, want.EphemeralStorage, want.Environment = "arn:aws:iam::000000000000:role/other", "provided.al2", 1024, "COLOUR=blue;"
	out, err := c.UpdateFunctionConfiguration(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	if got := configOf(asConfig(t, out)); got != want {
		t.Errorf("UpdateFunctionConfiguration returned\n%+v, want\n%+v", got, want)
	}
	if out.LastUpdateStatus != types.LastUpdateStatusInProgress {
		t.Errorf("LastUpdateStatus %q in the response, want InProgress", out.LastUpdateStatus)
	}
	revisions = append(revisions, aws.ToString(out.RevisionId))
	waitUpdated(t, c, "configured")
	got, err := c.GetFunctionConfiguration(ctx, &lambda.GetFunctionConfigurationInput{FunctionName: aws.String("configured")})
	if err != nil {
		t.Fatal(err)
	}
	if g := configOf(asConfig(t, got)); g != want || got.LastUpdateStatus != types.LastUpdateStatusSuccessful {
		t.Errorf("GetFunctionConfiguration after the update\n%+v (%s), want\n%+v (Successful)", g, got.LastUpdateStatus, want)
	}
	revisions = append(revisions, aws.ToString(got.RevisionId))
	if env := invokeJSON(t, c, "configured", `{"cmd":"env"}`)["env"].(map[string]any); env["COLOUR"] != "blue" || env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] != "512" {
		t.Errorf("the function should run with the new configuration, env %v", env)
	}

	// Every change makes a new RevisionId; a stale one is refused and changes nothing.
	seen := map[string]bool{}
	for _, r := range revisions {
		if r == "" || seen[r] {
			t.Errorf("RevisionIds %q should be distinct and not empty", revisions)
		}
		seen[r] = true
	}
	for _, stale := range revisions[:3] {
		_, err := c.UpdateFunctionConfiguration(ctx, &lambda.UpdateFunctionConfigurationInput{
			FunctionName: aws.String("configured"), RevisionId: aws.String(stale), MemorySize: aws.Int32(2048),
		})
		wantError(t, err, "PreconditionFailedException", 412)
		if err != nil && !as[*types.PreconditionFailedException](err) {
			t.Errorf("stale RevisionId: %T, want *types.PreconditionFailedException", err)
		}
	}
	if r := revisionOf(t, c, "configured"); r != revisions[3] {
		t.Errorf("refused updates changed the RevisionId: %s → %s", revisions[3], r)
	}
}

func TestDeleteFunction(t *testing.T) {
	t.Parallel()
	s := lambenttest.Start(t)
	c, ctx, zip := s.Client(), context.Background(), lambenttest.Function(t, "probe")
	s.CreateFunction(t, "doomed", zip)
	invokeJSON(t, c, "doomed", `{}`)
	name := aws.String("doomed")
	if _, err := c.DeleteFunction(ctx, &lambda.DeleteFunctionInput{FunctionName: name}); err != nil {
		t.Fatal(err)
	}
	calls := map[string]func() error{
		"GetFunction": func() error { _, err := c.GetFunction(ctx, &lambda.GetFunctionInput{FunctionName: name}); return err },
		"GetFunctionConfiguration": func() error {
			_, err := c.GetFunctionConfiguration(ctx, &lambda.GetFunctionConfigurationInput{FunctionName: name})
			return err
		},
		"Invoke": func() error { _, err := c.Invoke(ctx, &lambda.InvokeInput{FunctionName: name}); return err },
		"DeleteFunction": func() error {
			_, err := c.DeleteFunction(ctx, &lambda.DeleteFunctionInput{FunctionName: name})
			return err
		},
		"UpdateFunctionCode": func() error {
			_, err := c.UpdateFunctionCode(ctx, &lambda.UpdateFunctionCodeInput{FunctionName: name, ZipFile: zip})
			return err
		},
		"UpdateFunctionConfiguration": func() error {
			_, err := c.UpdateFunctionConfiguration(ctx, &lambda.UpdateFunctionConfigurationInput{FunctionName: name, Timeout: aws.Int32(5)})
			return err
		},
	}
	for op, call := range calls {
		t.Run(op, func(t *testing.T) {
			err := call()
			wantError(t, err, "ResourceNotFoundException", 404)
			if err != nil && !as[*types.ResourceNotFoundException](err) {
				t.Errorf("%T, want *types.ResourceNotFoundException", err)
			}
		})
	}
	t.Run("create again", func(t *testing.T) {
		s.CreateFunction(t, "doomed", zip)
		invokeJSON(t, c, "doomed", `{}`)
	})
}
