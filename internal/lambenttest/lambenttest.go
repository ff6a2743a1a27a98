// Package lambenttest starts real Lambent servers for tests and builds the real functions in
// internal/testfunctions into deployment zips. Nothing here fakes a component: tests get an
// embedded NATS server, the process sandbox and an aws-sdk-go-v2 client that signs with SigV4.
package lambenttest

import (
	"archive/zip"
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"

	"github.com/lambent/lambent/internal/sandbox/linux"
	"github.com/lambent/lambent/internal/server"
)

// Test credentials every test server accepts.
const (
	AccessKeyID     = "LKIATESTTESTTESTTEST"
	SecretAccessKey = "test-secret-key-for-lambent-tests-only00"
	Role            = "arn:aws:iam::000000000000:role/lambda-test"
)

// Server is a running Lambent server.
type Server struct {
	*server.System
	Endpoint string
	DataDir  string
	Config   server.Config
}

// Start runs a server on a loopback port with its state in a temporary directory. Options
// adjust the configuration before start.
func Start(t testing.TB, opts ...func(*server.Config)) *Server {
	t.Helper()
	cfg := Config(t, t.TempDir())
	for _, o := range opts {
		o(&cfg)
	}
	return StartWith(t, cfg)
}

// Config is the configuration Start uses, with state under dataDir.
func Config(t testing.TB, dataDir string) server.Config {
	return server.Config{
		Listen: "127.0.0.1:0", DataDir: dataDir, Region: "us-east-1", AccountID: "000000000000",
		Sandbox: Sandbox(), IdleTimeout: time.Minute,
		Getenv: func(k string) string {
			switch k {
			case "LAMBENT_ACCESS_KEY_ID":
				return AccessKeyID
			case "LAMBENT_SECRET_ACCESS_KEY":
				return SecretAccessKey
			}
			return ""
		},
		Logger: Logger(t),
	}
}

// StartWith runs a server with cfg and stops it when the test ends.
func StartWith(t testing.TB, cfg server.Config) *Server {
	t.Helper()
	sys, err := server.Start(context.Background(), cfg)
	if err != nil {
		t.Fatalf("start lambent: %v", err)
	}
	t.Cleanup(func() { sys.Close() })
	return &Server{System: sys, Endpoint: "http://" + sys.Addr(), DataDir: cfg.DataDir, Config: cfg}
}

// Client returns an aws-sdk-go-v2 Lambda client for s with retries off.
func (s *Server) Client() *lambda.Client {
	return NewClient(s.Endpoint, AccessKeyID, SecretAccessKey)
}

// NewClient returns a Lambda client for endpoint signing with the given key.
func NewClient(endpoint, akid, secret string) *lambda.Client {
	return lambda.New(lambda.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(endpoint),
		Credentials:  credentials.NewStaticCredentialsProvider(akid, secret, ""),
		Retryer:      aws.NopRetryer{},
	})
}

// CreateFunction creates name from zipBytes with the provided.al2023 runtime and waits until it
// is Active. mutate may adjust the input.
func (s *Server) CreateFunction(t testing.TB, name string, zipBytes []byte, mutate ...func(*lambda.CreateFunctionInput)) *lambda.CreateFunctionOutput {
	t.Helper()
	in := &lambda.CreateFunctionInput{
		FunctionName: aws.String(name),
		Runtime:      types.RuntimeProvidedal2023,
		Handler:      aws.String("bootstrap"),
		Role:         aws.String(Role),
		Code:         &types.FunctionCode{ZipFile: zipBytes},
	}
	for _, m := range mutate {
		m(in)
	}
	ctx := context.Background()
	out, err := s.Client().CreateFunction(ctx, in)
	if err != nil {
		t.Fatalf("CreateFunction %s: %v", name, err)
	}
	w := lambda.NewFunctionActiveV2Waiter(s.Client(), func(o *lambda.FunctionActiveV2WaiterOptions) {
		o.MinDelay, o.MaxDelay = 10*time.Millisecond, 100*time.Millisecond
	})
	if err := w.Wait(ctx, &lambda.GetFunctionInput{FunctionName: aws.String(name)}, 30*time.Second); err != nil {
		t.Fatalf("waiting for %s to be Active: %v", name, err)
	}
	return out
}

var (
	buildMu sync.Mutex
	built   = map[string][]byte{}
)

// Function builds internal/testfunctions/NAME as a Lambda `bootstrap` (static, linux, the
// lambda.norpc tag as AWS documents) and returns it zipped. Builds are cached per process.
func Function(t testing.TB, name string) []byte {
	t.Helper()
	buildMu.Lock()
	defer buildMu.Unlock()
	if z, ok := built[name]; ok {
		return z
	}
	dir := t.TempDir()
	out := filepath.Join(dir, "bootstrap")
	cmd := exec.Command("go", "build", "-tags", "lambda.norpc", "-trimpath", "-ldflags=-s -w", "-o", out,
		"github.com/lambent/lambent/internal/testfunctions/"+name)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux")
	if msg, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build function %s: %v\n%s", name, err, msg)
	}
	bin, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	z := Zip(t, map[string]File{"bootstrap": {Data: bin, Mode: 0o755}})
	built[name] = z
	return z
}

// File is one zip entry.
type File struct {
	Data []byte
	Mode os.FileMode
}

// Zip builds a zip with Unix modes from files.
func Zip(t testing.TB, files map[string]File) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for name, f := range files {
		h := &zip.FileHeader{Name: name, Method: zip.Deflate}
		mode := f.Mode
		if mode == 0 {
			mode = 0o644
		}
		h.SetMode(mode)
		w, err := zw.CreateHeader(h)
		if err != nil {
			t.Fatal(err)
		}
		w.Write(f.Data)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// Main runs a test binary's tests. A test binary that starts servers with the linux sandbox
// driver must use it from TestMain: the driver re-executes the binary as each sandbox's init.
func Main(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == linux.InitArg {
		linux.Init()
	}
	os.Exit(m.Run())
}

// Sandbox is the driver test servers use: $LAMBENT_TEST_SANDBOX, else "process".
func Sandbox() string {
	if s := os.Getenv("LAMBENT_TEST_SANDBOX"); s != "" {
		return s
	}
	return "process"
}
