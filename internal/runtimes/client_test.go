package runtimes

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// echoes is an echo function per runtime.
var echoes = map[string]function{
	pyRuntime: {runtime: pyRuntime, handler: "app.handler", files: map[string]string{
		"app.py": "def handler(event, context):\n    return event\n",
	}},
	nodeRuntime: {runtime: nodeRuntime, handler: "index.handler", files: map[string]string{
		"index.js": "exports.handler = async (event) => event;\n",
	}},
}

// Events and responses near the 6 MB limit go through whole, in both directions.
func TestLargePayloads(t *testing.T) {
	big := `{"data":"` + strings.Repeat("0123456789abcdef", 5<<20/16) + `","n":[1,2,3]}`
	for _, rt := range []string{pyRuntime, nodeRuntime} {
		t.Run(rt, func(t *testing.T) {
			t.Parallel()
			e := start(t, echoes[rt])
			for range 2 { // twice: the connection stays usable after a large exchange
				res := e.invoke(event(big))
				if !bytes.Equal(bytes.ReplaceAll(res.Payload, []byte(" "), nil), []byte(big)) {
					t.Fatalf("echo of %d bytes came back as %d bytes (%.100q...)", len(big), len(res.Payload), res.Payload)
				}
			}
		})
	}
}

// The runtime clients speak HTTP/1.1 themselves; this server answers in ways the Runtime API
// of Lambent does not but an HTTP server may: chunked bodies sent in pieces, chunked answers
// to posts, and Connection: close. After the events, it answers invocation/next with 403, as
// a Runtime API that shuts down does, and the runtime must exit.
func TestClientsAgainstAnAwkwardServer(t *testing.T) {
	for _, rt := range []string{pyRuntime, nodeRuntime} {
		t.Run(rt, func(t *testing.T) {
			t.Parallel()
			r := requireRuntime(t, rt)
			fn := echoes[rt]
			task := t.TempDir()
			writeFiles(t, task, fn.files)

			events := []string{`{"first":1}`, `"second"`, `[3]`, `{"fourth":"` + strings.Repeat("x", 100000) + `"}`}
			results := make(chan string, len(events))
			var requests atomic.Int32
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if requests.Add(1)%3 == 0 {
					w.Header().Set("Connection", "close")
				}
				switch {
				case r.Method == "GET" && r.URL.Path == "/2018-06-01/runtime/invocation/next":
					i := len(results)
					if i >= len(events) {
						w.WriteHeader(http.StatusForbidden)
						io.WriteString(w, `{"errorType":"InvalidStateTransition","errorMessage":"shutting down"}`)
						return
					}
					w.Header().Set("Lambda-Runtime-Aws-Request-Id", strconv.Itoa(i))
					w.Header().Set("Lambda-Runtime-Deadline-Ms", strconv.FormatInt(time.Now().Add(time.Minute).UnixMilli(), 10))
					w.WriteHeader(http.StatusOK)
					half := len(events[i]) / 2
					io.WriteString(w, events[i][:half])
					w.(http.Flusher).Flush() // headers and a first chunk, without Content-Length
					io.WriteString(w, events[i][half:])
				case r.Method == "POST" && strings.HasSuffix(r.URL.Path, "/response"):
					body, _ := io.ReadAll(r.Body)
					results <- r.URL.Path + " " + string(bytes.ReplaceAll(body, []byte(" "), nil))
					w.WriteHeader(http.StatusAccepted)
					w.(http.Flusher).Flush()
					io.WriteString(w, `{"status":"OK"}`)
				default:
					http.Error(w, "unexpected "+r.Method+" "+r.URL.Path, http.StatusNotFound)
				}
			}))
			defer srv.Close()

			argv := r.Command(root)
			cmd := exec.Command(argv[0], argv[1:]...)
			cmd.Dir = task
			cmd.Env = append([]string{
				"PATH=/usr/bin:/bin", "LANG=C.UTF-8",
				"AWS_LAMBDA_RUNTIME_API=" + srv.Listener.Addr().String(),
				"_HANDLER=" + fn.handler, "LAMBDA_TASK_ROOT=" + task,
			}, r.Env...)
			var out bytes.Buffer
			cmd.Stdout, cmd.Stderr = &out, &out
			done := make(chan error, 1)
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			go func() { done <- cmd.Wait() }()
			select {
			case err := <-done:
				if err == nil {
					t.Errorf("runtime exited with status 0 after invocation/next failed, want non-zero")
				}
			case <-time.After(wait):
				cmd.Process.Kill()
				<-done
				t.Fatalf("runtime still running after the server shut down; output:\n%s", out.String())
			}
			close(results)
			i := 0
			for got := range results {
				want := fmt.Sprintf("/2018-06-01/runtime/invocation/%d/response %s", i, events[i])
				if got != want {
					t.Errorf("result %d = %.80q..., want %.80q...", i, got, want)
				}
				i++
			}
			if i != len(events) {
				t.Errorf("%d results, want %d; output:\n%s", i, len(events), out.String())
			}
		})
	}
}
