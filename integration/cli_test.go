package integration

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"

	"github.com/lambent/lambent/internal/lambenttest"
)

// awsCLIPath is Debian's AWS CLI v2. The absolute path matters: PATH may find another aws (a
// pyenv shim, a v1 CLI) first.
const awsCLIPath = "/usr/bin/aws"

// awsCLI runs the AWS CLI against one server with nothing from the user's configuration.
type awsCLI struct {
	t        *testing.T
	endpoint string
	env      []string
}

func newAWSCLI(t *testing.T, s *lambenttest.Server) *awsCLI {
	if _, err := os.Stat(awsCLIPath); err != nil {
		t.Skipf("skipping: the AWS CLI v2 is not at %s (`make test` installs Debian's awscli): %v", awsCLIPath, err)
	}
	version, err := exec.CommandContext(t.Context(), awsCLIPath, "--version").CombinedOutput()
	if err != nil || !strings.HasPrefix(string(version), "aws-cli/2.") {
		t.Skipf("skipping: %s is not the AWS CLI v2 (%q, %v)", awsCLIPath, version, err)
	}
	home := t.TempDir()
	return &awsCLI{t: t, endpoint: s.Endpoint, env: []string{
		"PATH=/usr/bin:/bin",
		"HOME=" + home,
		"AWS_ACCESS_KEY_ID=" + lambenttest.AccessKeyID,
		"AWS_SECRET_ACCESS_KEY=" + lambenttest.SecretAccessKey,
		"AWS_DEFAULT_REGION=us-east-1",
		"AWS_CONFIG_FILE=" + filepath.Join(home, "no-such-config"),
		"AWS_SHARED_CREDENTIALS_FILE=" + filepath.Join(home, "no-such-credentials"),
		"AWS_EC2_METADATA_DISABLED=true",
		"AWS_MAX_ATTEMPTS=1",
		"AWS_PAGER=",
	}}
}

// run runs `aws lambda ARGS` and returns its stdout, its stderr and its exit code.
func (c *awsCLI) run(args ...string) (stdout []byte, stderr string, code int) {
	c.t.Helper()
	args = append(append([]string{"lambda"}, args...), "--endpoint-url", c.endpoint, "--output", "json",
		"--cli-read-timeout", "60", "--cli-connect-timeout", "10")
	cmd := exec.CommandContext(c.t.Context(), awsCLIPath, args...)
	cmd.Env = c.env
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	start := time.Now()
	err := cmd.Run()
	c.t.Logf("aws %s (%v)", strings.Join(args, " "), time.Since(start).Round(time.Millisecond))
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		return out.Bytes(), errb.String(), exit.ExitCode()
	case err != nil:
		c.t.Fatalf("aws %s: %v", strings.Join(args, " "), err)
	}
	return out.Bytes(), errb.String(), 0
}

// json runs `aws lambda ARGS`, requires success and decodes its output into v.
func (c *awsCLI) json(v any, args ...string) {
	c.t.Helper()
	out, stderr, code := c.run(args...)
	if code != 0 {
		c.t.Fatalf("aws lambda %s: exit %d\n%s", args[0], code, stderr)
	}
	if err := json.Unmarshal(out, v); err != nil {
		c.t.Fatalf("aws lambda %s printed %q: %v", args[0], out, err)
	}
}

// cliFunction is the part of the CLI's FunctionConfiguration output the test reads.
type cliFunction struct {
	FunctionName, FunctionArn, Runtime, Handler, Role, Description, CodeSha256 string
	State, LastUpdateStatus, RevisionId                                        string
	CodeSize                                                                   int64
	MemorySize, Timeout                                                        int
	Environment                                                                struct{ Variables map[string]string }
}

// TestAWSCLI drives the function lifecycle through the real AWS CLI v2, as the README's quick
// start does.
func TestAWSCLI(t *testing.T) {
	s := lambenttest.Start(t)
	cli := newAWSCLI(t, s)
	dir := t.TempDir()
	probe, witness := lambenttest.Function(t, "probe"), lambenttest.Function(t, "witness")
	zipPath, zip2Path := filepath.Join(dir, "function.zip"), filepath.Join(dir, "function2.zip")
	for p, data := range map[string][]byte{zipPath: probe, zip2Path: witness} {
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	const name = "cli-hello"
	arn := "arn:aws:lambda:us-east-1:000000000000:function:" + name

	var created cliFunction
	cli.json(&created, "create-function", "--function-name", name, "--runtime", "provided.al2023",
		"--handler", "bootstrap", "--role", lambenttest.Role, "--zip-file", "fileb://"+zipPath,
		"--memory-size", "256", "--environment", "Variables={GREETING=hello}")
	if created.FunctionName != name || created.FunctionArn != arn || created.Runtime != "provided.al2023" ||
		created.CodeSha256 != sha256b64(probe) || created.CodeSize != int64(len(probe)) || created.MemorySize != 256 ||
		created.Timeout != 3 || created.Environment.Variables["GREETING"] != "hello" {
		t.Errorf("create-function printed %+v", created)
	}
	cliWaitUpdated(t, s, name)

	var got struct {
		Configuration cliFunction
		Code          struct{ RepositoryType, Location string }
	}
	cli.json(&got, "get-function", "--function-name", name)
	if got.Configuration.State != "Active" || got.Configuration.CodeSha256 != created.CodeSha256 || got.Code.RepositoryType != "S3" {
		t.Errorf("get-function printed %+v", got)
	}
	if zip := download(t, got.Code.Location); !bytes.Equal(zip, probe) {
		t.Errorf("Code.Location gave %d bytes, want the %d uploaded", len(zip), len(probe))
	}

	var list struct{ Functions []cliFunction }
	cli.json(&list, "list-functions")
	if len(list.Functions) != 1 || list.Functions[0].FunctionName != name {
		t.Errorf("list-functions printed %+v", list)
	}

	outFile := filepath.Join(dir, "out.json")
	var inv struct {
		StatusCode      int
		ExecutedVersion string
		LogResult       string
		FunctionError   string
	}
	cli.json(&inv, "invoke", "--function-name", name, "--cli-binary-format", "raw-in-base64-out",
		"--payload", `{"cmd":"print","text":"hello from the cli","n":2}`, "--log-type", "Tail", outFile)
	if inv.StatusCode != 200 || inv.ExecutedVersion != "$LATEST" || inv.FunctionError != "" {
		t.Errorf("invoke printed %+v", inv)
	}
	if out, err := os.ReadFile(outFile); err != nil || strings.TrimSpace(string(out)) != `{"printed":2}` {
		t.Errorf("invoke wrote %q, %v", out, err)
	}
	tail, err := base64.StdEncoding.DecodeString(inv.LogResult)
	if err != nil {
		t.Fatalf("LogResult %q: %v", inv.LogResult, err)
	}
	for _, want := range []string{"START RequestId: ", " Version: $LATEST", "hello from the cli\n",
		"END RequestId: ", "REPORT RequestId: ", "\tBilled Duration: ", "\tMemory Size: 256 MB\t"} {
		if !strings.Contains(string(tail), want) {
			t.Errorf("log tail lacks %q:\n%s", want, tail)
		}
	}

	var updated cliFunction
	cli.json(&updated, "update-function-configuration", "--function-name", name,
		"--description", "changed by the cli", "--timeout", "10", "--environment", "Variables={GREETING=hi,MORE=1}")
	if updated.Description != "changed by the cli" || updated.Timeout != 10 || updated.Environment.Variables["MORE"] != "1" ||
		updated.RevisionId == created.RevisionId {
		t.Errorf("update-function-configuration printed %+v", updated)
	}
	cliWaitUpdated(t, s, name)

	cli.json(&updated, "update-function-code", "--function-name", name, "--zip-file", "fileb://"+zip2Path)
	if updated.CodeSha256 != sha256b64(witness) || updated.CodeSize != int64(len(witness)) || updated.Description != "changed by the cli" {
		t.Errorf("update-function-code printed %+v", updated)
	}
	cliWaitUpdated(t, s, name)

	if out, stderr, code := cli.run("delete-function", "--function-name", name); code != 0 || len(bytes.TrimSpace(out)) != 0 {
		t.Errorf("delete-function: exit %d, output %q\n%s", code, out, stderr)
	}
	_, stderr, code := cli.run("get-function", "--function-name", name)
	if code != 254 || !strings.Contains(stderr, "ResourceNotFoundException") || !strings.Contains(stderr, name) {
		t.Errorf("get-function of a deleted function: exit %d\n%s", code, stderr)
	}
}

func sha256b64(b []byte) string {
	sum := sha256.Sum256(b)
	return base64.StdEncoding.EncodeToString(sum[:])
}

func download(t *testing.T, url string) []byte {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET Code.Location: %s, %v", resp.Status, err)
	}
	return body
}

// cliWaitUpdated waits with the SDK, which is quicker than one more CLI call, until name's last
// update has finished.
func cliWaitUpdated(t *testing.T, s *lambenttest.Server, name string) {
	t.Helper()
	w := lambda.NewFunctionUpdatedV2Waiter(s.Client(), func(o *lambda.FunctionUpdatedV2WaiterOptions) {
		o.MinDelay, o.MaxDelay = 10*time.Millisecond, 100*time.Millisecond
	})
	if err := w.Wait(t.Context(), &lambda.GetFunctionInput{FunctionName: aws.String(name)}, 30*time.Second); err != nil {
		t.Fatalf("waiting for %s: %v", name, err)
	}
}
