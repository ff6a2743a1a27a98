package auth

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// awsCLI is Debian's AWS CLI v2, which signs with botocore. The absolute path
// avoids any other aws on PATH.
const awsCLI = "/usr/bin/aws"

// TestVerifyAWSCLI checks that requests signed by botocore verify.
func TestVerifyAWSCLI(t *testing.T) {
	if _, err := os.Stat(awsCLI); err != nil {
		t.Skipf("%s not found (install Debian's awscli to run this test): %v", awsCLI, err)
	}
	srv, outcomes := newServer(t, NewVerifier(testKey), nil)
	dir := t.TempDir()
	env := []string{
		"PATH=/usr/bin:/bin",
		"HOME=" + dir,
		"AWS_CONFIG_FILE=" + filepath.Join(dir, "no-config"),
		"AWS_SHARED_CREDENTIALS_FILE=" + filepath.Join(dir, "no-credentials"),
		"AWS_ACCESS_KEY_ID=" + testKey.AccessKeyID,
		"AWS_SECRET_ACCESS_KEY=" + testKey.SecretAccessKey,
		"AWS_DEFAULT_REGION=us-east-1",
		"AWS_MAX_ATTEMPTS=1",
		"AWS_PAGER=",
		"AWS_EC2_METADATA_DISABLED=true",
	}
	tests := []struct {
		name    string
		args    []string
		wantURI string
	}{
		{"list-functions", []string{"list-functions", "--page-size", "5", "--function-version", "ALL"}, "FunctionVersion=ALL&MaxItems=5"},
		{"get-function ARN", []string{"get-function", "--function-name", helloARN}, "arn%3Aaws%3Alambda%3Aus-east-1%3A000000000000%3Afunction%3Ahello"},
		{"invoke", []string{"invoke", "--function-name", "hello", "--payload", `{"a":1}`,
			"--cli-binary-format", "raw-in-base64-out", "--log-type", "Tail", filepath.Join(dir, "out.json")}, "/2015-03-31/functions/hello/invocations"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
			defer cancel()
			args := append([]string{"lambda"}, tt.args...)
			args = append(args, "--endpoint-url", srv.URL, "--cli-read-timeout", "5", "--cli-connect-timeout", "5", "--output", "json")
			cmd := exec.CommandContext(ctx, awsCLI, args...)
			cmd.Env = env
			out, err := cmd.CombinedOutput()
			if err != nil { // the fake server's answers need not satisfy the CLI
				t.Logf("aws %s: %v\n%s", strings.Join(args, " "), err, out)
			}
			got := only(t, outcomes)
			if !strings.Contains(got.requestURI, tt.wantURI) {
				t.Errorf("request URI %q does not contain %q", got.requestURI, tt.wantURI)
			}
			if got.err != nil {
				t.Errorf("Verify = %v, want nil; Authorization: %s", got.err, got.authorization)
			}
		})
	}
}
