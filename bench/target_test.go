package bench

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/aws/aws-sdk-go-v2/service/lambda"

	"github.com/lambent/lambent/internal/lambenttest"
	"github.com/lambent/lambent/internal/server"
)

// target is the Lambent server under test.
type target struct {
	endpoint  string
	inProcess bool
	pid       int // of the server process; 0 in process
	// forget drops every environment of a function, so that its next invoke starts cold.
	forget func(name string) error
}

// startTarget runs a Lambent server in a process of its own (benchserver), or inside this test
// binary with LAMBENT_BENCH_INPROCESS=1, and stops it when the benchmark ends.
func startTarget(b *testing.B, sandbox ...string) *target {
	b.Helper()
	driver := "process"
	if len(sandbox) > 0 {
		driver = sandbox[0]
	}
	if os.Getenv("LAMBENT_BENCH_INPROCESS") != "" {
		s := lambenttest.Start(b, func(c *server.Config) {
			c.Sandbox = driver
			c.IdleTimeout = 10 * time.Minute
			c.Logger = slog.New(slog.NewTextHandler(b.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
		})
		return &target{endpoint: s.Endpoint, inProcess: true, forget: func(name string) error {
			s.Router.Forget(name)
			return nil
		}}
	}
	args := []string{"-data-dir", b.TempDir(), "-sandbox", driver}
	if dir := os.Getenv("LAMBENT_BENCH_PROFILE_DIR"); dir != "" {
		name := strings.NewReplacer("/", "_", " ", "_").Replace(b.Name())
		args = append(args, "-cpuprofile", filepath.Join(dir, name+".server.prof"))
	}
	line, pid := startChild(b, []string{
		"LAMBENT_ACCESS_KEY_ID=" + lambenttest.AccessKeyID,
		"LAMBENT_SECRET_ACCESS_KEY=" + lambenttest.SecretAccessKey,
	}, build(b, "./bench/benchserver"), args...)
	var api, control string
	if _, err := fmt.Sscanf(line, "api=%s control=%s", &api, &control); err != nil {
		b.Fatalf("benchserver said %q: %v", line, err)
	}
	hc := &http.Client{}
	return &target{endpoint: "http://" + api, pid: pid, forget: func(name string) error {
		resp, err := hc.Post("http://"+control+"/forget?function="+name, "", nil)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNoContent {
			return fmt.Errorf("forget %s: %s", name, resp.Status)
		}
		return nil
	}}
}

// where says where the server ran, for the result lines.
func (t *target) where() string {
	if t.inProcess {
		return " [server in the benchmark's process]"
	}
	return ""
}

// createFunction deploys the empty aws-lambda-go handler as name and waits until it is Active.
func (t *target) createFunction(b *testing.B, name string, mutate ...func(*lambda.CreateFunctionInput)) {
	b.Helper()
	(&lambenttest.Server{Endpoint: t.endpoint}).CreateFunction(b, name, lambenttest.Function(b, "empty"), mutate...)
}

// invoker is a lean Lambda client: net/http with keep-alive and aws-sdk-go-v2's SigV4 signer,
// signing every request as an SDK does, without the SDK's middleware stack.
type invoker struct {
	client *http.Client
	url    string
	signer *v4.Signer
	creds  aws.Credentials
}

func (t *target) invoker(function string) *invoker {
	return &invoker{
		client: newHTTPClient(),
		url:    t.endpoint + "/2015-03-31/functions/" + function + "/invocations",
		signer: v4.NewSigner(),
		creds:  aws.Credentials{AccessKeyID: lambenttest.AccessKeyID, SecretAccessKey: lambenttest.SecretAccessKey},
	}
}

// request builds a signed Invoke request (RequestResponse) carrying payload.
func (c *invoker) request() (*http.Request, error) {
	req, err := http.NewRequest(http.MethodPost, c.url, bytes.NewReader(payload))
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(payload)
	err = c.signer.SignHTTP(context.Background(), c.creds, req, hex.EncodeToString(sum[:]), "lambda", "us-east-1", time.Now())
	return req, err
}

// invoke runs one signed Invoke and checks that the function answered with the payload.
func (c *invoker) invoke() error {
	req, err := c.request()
	if err != nil {
		return err
	}
	resp, err := c.client.Do(req)
	if err != nil {
		return err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK || resp.Header.Get("X-Amz-Function-Error") != "" || !bytes.Equal(body, payload) {
		return fmt.Errorf("invoke: %s %s %q", resp.Status, resp.Header.Get("X-Amz-Function-Error"), body)
	}
	return nil
}

// signing measures what request (building and signing one request) costs the client.
func (c *invoker) signing(n int) (latencies, error) {
	return sample(times(n), func() error {
		_, err := c.request()
		return err
	})
}
