package main

import (
	"bufio"
	"bytes"
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

	"github.com/lambent/lambent/internal/server"
)

// TestMain lets the tests run this binary as `lambent` itself: with LAMBENT_TEST_MAIN=1 the test
// binary is the command, so the tests need no separate build.
func TestMain(m *testing.M) {
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
			AccountID: "000000000000", Sandbox: "process", IdleTimeout: 10 * time.Minute, AsyncAckWait: 30 * time.Second,
		}},
		{name: "XDG_DATA_HOME", getenv: env(map[string]string{"HOME": "/home/u", "XDG_DATA_HOME": "/data"}),
			want: server.Config{
				Listen: "127.0.0.1:9770", DataDir: "/data/lambent", Region: "us-east-1",
				AccountID: "000000000000", Sandbox: "process", IdleTimeout: 10 * time.Minute, AsyncAckWait: 30 * time.Second,
			}},
		{name: "every flag", getenv: home, args: []string{
			"--listen", "0.0.0.0:1234", "--data-dir", "/d", "--region", "eu-west-1", "--account-id", "123456789012",
			"--sandbox", "process", "--nats-url", "nats://n:4222", "--idle-timeout", "1m", "--async-ack-wait", "2s", "-v",
		}, verbose: true, want: server.Config{
			Listen: "0.0.0.0:1234", DataDir: "/d", Region: "eu-west-1", AccountID: "123456789012",
			Sandbox: "process", NATSURL: "nats://n:4222", IdleTimeout: time.Minute, AsyncAckWait: 2 * time.Second,
		}},
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

// TestServe starts the command, reads its banner, checks that a second server cannot take the
// same data directory, and stops the first with SIGTERM.
func TestServe(t *testing.T) {
	dir := t.TempDir()
	cmd := lambent(t, "server", "--listen", "127.0.0.1:0", "--data-dir", dir)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = t.Output()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	lines := make(chan string, 16)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
		io.Copy(io.Discard, stdout)
	}()
	var banner []string
	timeout := time.After(60 * time.Second)
	for len(banner) == 0 || !strings.Contains(banner[len(banner)-1], "aws lambda list-functions") {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("server output ended after %q", banner)
			}
			banner = append(banner, l)
		case <-timeout:
			t.Fatalf("no banner within 60s; got %q", banner)
		}
	}
	text := strings.Join(banner, "\n")
	for _, want := range []string{"Lambent is serving the Lambda API at http://127.0.0.1:", "data in " + dir,
		"export AWS_ACCESS_KEY_ID=LKIA", "export AWS_SECRET_ACCESS_KEY=", "export AWS_DEFAULT_REGION=us-east-1",
		"--endpoint-url http://127.0.0.1:"} {
		if !strings.Contains(text, want) {
			t.Errorf("banner lacks %q:\n%s", want, text)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "credentials.json")); err != nil {
		t.Errorf("generated key not stored: %v", err)
	}

	out, err := lambent(t, "server", "--listen", "127.0.0.1:0", "--data-dir", dir).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "in use by another lambent server") {
		t.Errorf("second server on the same data dir: %v\n%s", err, out)
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("exit after SIGTERM: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("server still running 30s after SIGTERM")
	}
}
