package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"

	"github.com/lambent/lambent/internal/lambenttest"
	"github.com/lambent/lambent/internal/sandbox"
	"github.com/lambent/lambent/internal/sandbox/linux"
	"github.com/lambent/lambent/internal/server"
)

// TestMain lets the tests run this binary as `lambent` itself: with LAMBENT_TEST_MAIN=1 the test
// binary is the command, so the tests need no separate build.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == linux.InitArg {
		linux.Init() // a sandbox's init, started by the server under test
	}
	if os.Getenv("LAMBENT_TEST_MAIN") == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func env(vars map[string]string) func(string) string {
	return func(k string) string { return vars[k] }
}

func TestParseFlags(t *testing.T) {
	home := env(map[string]string{"HOME": "/home/u"})
	tests := []struct {
		name    string
		args    []string
		getenv  func(string) string
		want    server.Config
		verbose bool
		wantErr bool
	}{
		{name: "defaults", getenv: home, want: server.Config{
			Listen: "127.0.0.1:9770", DataDir: "/home/u/.local/share/lambent", Region: "us-east-1",
			AccountID: "000000000000", Sandbox: "linux", Network: "none", IdleTimeout: 10 * time.Minute, AsyncAckWait: 30 * time.Second,
		}},
		{name: "XDG_DATA_HOME", getenv: env(map[string]string{"HOME": "/home/u", "XDG_DATA_HOME": "/data"}),
			want: server.Config{
				Listen: "127.0.0.1:9770", DataDir: "/data/lambent", Region: "us-east-1",
				AccountID: "000000000000", Sandbox: "linux", Network: "none", IdleTimeout: 10 * time.Minute, AsyncAckWait: 30 * time.Second,
			}},
		{name: "every flag", getenv: home, args: []string{
			"--listen", "0.0.0.0:1234", "--data-dir", "/d", "--region", "eu-west-1", "--account-id", "123456789012",
			"--sandbox", "process", "--network", "none", "--nats-url", "nats://n:4222", "--idle-timeout", "1m", "--async-ack-wait", "2s", "-v",
		}, verbose: true, want: server.Config{
			Listen: "0.0.0.0:1234", DataDir: "/d", Region: "eu-west-1", AccountID: "123456789012",
			Sandbox: "process", Network: "none", NATSURL: "nats://n:4222", IdleTimeout: time.Minute, AsyncAckWait: 2 * time.Second,
		}},
		{name: "runtime interpreters", getenv: home, args: []string{
			"--runtime-interpreter", "python3.12=/opt/py/bin/python3", "--runtime-interpreter", "nodejs20.x=/usr/local/bin/node",
		}, want: server.Config{
			Listen: "127.0.0.1:9770", DataDir: "/home/u/.local/share/lambent", Region: "us-east-1",
			AccountID: "000000000000", Sandbox: "linux", Network: "none", IdleTimeout: 10 * time.Minute, AsyncAckWait: 30 * time.Second,
			Interpreters: map[string]string{"python3.12": "/opt/py/bin/python3", "nodejs20.x": "/usr/local/bin/node"},
		}},
		{name: "egress", getenv: home, args: []string{"--network", "egress"}, want: server.Config{
			Listen: "127.0.0.1:9770", DataDir: "/home/u/.local/share/lambent", Region: "us-east-1",
			AccountID: "000000000000", Sandbox: "linux", Network: "egress", IdleTimeout: 10 * time.Minute, AsyncAckWait: 30 * time.Second,
		}},
		{name: "unknown network", getenv: home, args: []string{"--network", "bridge"}, wantErr: true},
		{name: "egress without the linux sandbox", getenv: home, args: []string{"--sandbox", "process", "--network", "egress"}, wantErr: true},
		{name: "bad runtime interpreter", getenv: home, args: []string{"--runtime-interpreter", "python3.12"}, wantErr: true},
		{name: "unknown flag", getenv: home, args: []string{"--port", "1"}, wantErr: true},
		{name: "stray argument", getenv: home, args: []string{"extra"}, wantErr: true},
		{name: "bad duration", getenv: home, args: []string{"--idle-timeout", "soon"}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			got, verbose, err := parseFlags(tt.args, tt.getenv, &out)
			if tt.wantErr {
				if err == nil || !strings.Contains(out.String(), "-listen") {
					t.Fatalf("err = %v, output %q; want an error and the usage", err, out.String())
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.Getenv == nil {
				t.Error("Getenv not set")
			}
			got.Getenv = nil
			if !reflect.DeepEqual(got, tt.want) || verbose != tt.verbose {
				t.Errorf("got %+v verbose=%v\nwant %+v verbose=%v", got, verbose, tt.want, tt.verbose)
			}
		})
	}
}

func TestParseFlagsHelp(t *testing.T) {
	var out bytes.Buffer
	_, _, err := parseFlags([]string{"-h"}, env(nil), &out)
	if !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("err = %v, want flag.ErrHelp", err)
	}
	for _, f := range []string{"-listen", "-data-dir", "-region", "-account-id", "-async-ack-wait"} {
		if !strings.Contains(out.String(), f) {
			t.Errorf("help does not mention %s:\n%s", f, out.String())
		}
	}
}

// lambent runs this test binary as the lambent command.
func lambent(t *testing.T, args ...string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], args...)
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "LAMBENT_") {
			env = append(env, kv)
		}
	}
	cmd.Env = append(env, "LAMBENT_TEST_MAIN=1")
	return cmd
}

func TestUsage(t *testing.T) {
	out, err := lambent(t).CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 2 || !strings.Contains(string(out), "usage: lambent server") {
		t.Errorf("lambent with no command: %v\n%s", err, out)
	}
	out, err = lambent(t, "--help").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "usage: lambent server") {
		t.Errorf("lambent --help: %v\n%s", err, out)
	}
}

// serving is a lambent server started by startServer.
type serving struct {
	cmd                            *exec.Cmd
	banner, endpoint, akid, secret string
	exited                         chan struct{}
	waitErr                        error
}

// startServer runs the command as `lambent server ARGS` and waits for its banner.
func startServer(t *testing.T, args ...string) *serving {
	t.Helper()
	s := &serving{cmd: lambent(t, append([]string{"server"}, args...)...), exited: make(chan struct{})}
	stdout, err := s.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	s.cmd.Stderr = io.MultiWriter(t.Output(), &stderr)
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { s.waitErr = s.cmd.Wait(); close(s.exited) }()
	t.Cleanup(func() { s.cmd.Process.Kill(); <-s.exited })
	lines := make(chan string, 16)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	var banner []string
	timeout := time.After(60 * time.Second)
	for len(banner) == 0 || !strings.Contains(banner[len(banner)-1], "aws lambda list-functions") {
		select {
		case l, ok := <-lines:
			if !ok {
				<-s.exited
				s.banner = stderr.String()
				return s
			}
			banner = append(banner, l)
		case <-timeout:
			t.Fatalf("no banner within 60s; got %q", banner)
		}
	}
	go func() {
		for range lines {
		}
	}()
	s.banner = strings.Join(banner, "\n")
	for _, l := range banner {
		l = strings.TrimSpace(l)
		if v, ok := strings.CutPrefix(l, "Lambent is serving the Lambda API at "); ok {
			s.endpoint, _, _ = strings.Cut(v, " ")
		}
		if v, ok := strings.CutPrefix(l, "export AWS_ACCESS_KEY_ID="); ok {
			s.akid = v
		}
		if v, ok := strings.CutPrefix(l, "export AWS_SECRET_ACCESS_KEY="); ok {
			s.secret = v
		}
	}
	return s
}

// stop sends SIGTERM and checks for a clean exit.
func (s *serving) stop(t *testing.T) {
	t.Helper()
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-s.exited:
		if s.waitErr != nil {
			t.Errorf("exit after SIGTERM: %v", s.waitErr)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("server still running 30s after SIGTERM")
	}
}

// TestServe starts the command, reads its banner, checks that a second server cannot take the
// same data directory, and stops the first with SIGTERM.
func TestServe(t *testing.T) {
	dir := t.TempDir()
	s := startServer(t, "--listen", "127.0.0.1:0", "--data-dir", dir)
	for _, want := range []string{"Lambent is serving the Lambda API at http://127.0.0.1:", "data in " + dir,
		"export AWS_ACCESS_KEY_ID=LKIA", "export AWS_SECRET_ACCESS_KEY=", "export AWS_DEFAULT_REGION=us-east-1",
		"--endpoint-url http://127.0.0.1:"} {
		if !strings.Contains(s.banner, want) {
			t.Errorf("banner lacks %q:\n%s", want, s.banner)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "credentials.json")); err != nil {
		t.Errorf("generated key not stored: %v", err)
	}
	out, err := lambent(t, "server", "--listen", "127.0.0.1:0", "--data-dir", dir).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "in use by another lambent server") {
		t.Errorf("second server on the same data dir: %v\n%s", err, out)
	}
	s.stop(t)
}

// TestServeLinuxSandbox runs a real function under --sandbox linux, where this machine can
// isolate (root, namespaces, cgroups): the server re-executes itself as each sandbox's init.
func TestServeLinuxSandbox(t *testing.T) {
	s := startServer(t, "--listen", "127.0.0.1:0", "--data-dir", t.TempDir(), "--sandbox", "linux")
	if s.endpoint == "" {
		if strings.Contains(s.banner, sandbox.ErrUnavailable.Error()) {
			t.Skipf("linux sandbox unavailable here: %s", s.banner)
		}
		t.Fatalf("server did not start: %s", s.banner)
	}
	c := lambenttest.NewClient(s.endpoint, s.akid, s.secret)
	ctx := t.Context()
	if _, err := c.CreateFunction(ctx, &lambda.CreateFunctionInput{
		FunctionName: aws.String("isolated"), Runtime: types.RuntimeProvidedal2023, Handler: aws.String("bootstrap"),
		Role: aws.String(lambenttest.Role), Code: &types.FunctionCode{ZipFile: lambenttest.Function(t, "probe")},
	}); err != nil {
		t.Fatal(err)
	}
	out, err := c.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String("isolated"), Payload: []byte(`{"cmd":"env"}`)})
	if err != nil || out.FunctionError != nil {
		t.Fatalf("Invoke: %v, %s", err, out.Payload)
	}
	var got struct {
		Cwd string
		Env map[string]string
	}
	if err := json.Unmarshal(out.Payload, &got); err != nil {
		t.Fatalf("payload %s: %v", out.Payload, err)
	}
	if got.Cwd != "/var/task" || got.Env["LAMBDA_TASK_ROOT"] != "/var/task" {
		t.Errorf("function ran in %q with LAMBDA_TASK_ROOT %q, want /var/task: not in a linux sandbox", got.Cwd, got.Env["LAMBDA_TASK_ROOT"])
	}
	s.stop(t)
}

// TestLinuxSandboxUnavailable runs the server as an unprivileged user, where the default
// sandbox cannot be made: it must refuse to start, say why and point at --sandbox=process,
// never fall back to running functions unisolated.
func TestLinuxSandboxUnavailable(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to start the server as another, unprivileged user")
	}
	// A copy of this binary, and a home, that the unprivileged user can reach.
	home, err := os.MkdirTemp("", "lambent-nobody-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(home) })
	os.Chmod(home, 0o777)
	bin, err := os.ReadFile(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(home, "lambent"), bin, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := lambent(t, "server", "--listen", "127.0.0.1:0", "--data-dir", filepath.Join(home, "data"))
	cmd.Path = filepath.Join(home, "lambent")
	cmd.Env = append(cmd.Env, "HOME="+home)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 {
		t.Fatalf("server as nobody: %v, want exit status 1\n%s", err, out)
	}
	for _, want := range []string{"sandbox driver unavailable", "needs root", "--sandbox=process"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(string(out), "panic") || strings.Contains(string(out), "serving") {
		t.Errorf("output:\n%s", out)
	}
}
