//go:build linux

package linux

import (
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lambent/lambent/internal/sandbox"
)

func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == InitArg {
		Init()
	}
	os.Exit(m.Run())
}

func newDriver(t *testing.T) *Driver {
	t.Helper()
	d, err := New(Options{StateDir: t.TempDir()})
	if err != nil {
		t.Skipf("linux sandbox driver unavailable here: %v", err)
	}
	t.Cleanup(d.Close)
	return d
}

func TestSmoke(t *testing.T) {
	d := newDriver(t)
	code := scriptCode(t, "echo hello from $(id -u) host=$(hostname) api=$AWS_LAMBDA_RUNTIME_API\nls /\ncat /proc/1/cmdline; echo\nwget -q -O- http://$AWS_LAMBDA_RUNTIME_API/ping 2>&1 || echo nowget\nexit 7\n")
	r, w, _ := os.Pipe()
	mux := http.NewServeMux()
	mux.HandleFunc("/ping", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "pong") })
	start := time.Now()
	sb, err := d.Start(context.Background(), sandbox.Spec{ID: "smoke1", CodeDir: code, Entrypoint: "bootstrap",
		Env: []string{"PATH=/usr/bin:/bin"}, MemoryMB: 128, EphemeralStorageMB: 512, RuntimeAPI: mux, Output: w})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("started in %v", time.Since(start))
	w.Close()
	<-sb.Done()
	out, _ := io.ReadAll(r)
	t.Logf("err=%v output:\n%s", sb.Err(), out)
	sb.Kill()
	if !strings.Contains(string(out), "hello from 993") {
		t.Errorf("output %q", out)
	}
}

// scriptCode returns a code directory whose bootstrap is the shell script (without #!).
func scriptCode(t testing.TB, script string) string {
	t.Helper()
	code := t.TempDir()
	os.Chmod(code, 0o755) // readable by the sandbox's user
	if err := os.WriteFile(filepath.Join(code, "bootstrap"), []byte("#!/bin/sh\n"+script), 0o755); err != nil {
		t.Fatal(err)
	}
	return code
}
