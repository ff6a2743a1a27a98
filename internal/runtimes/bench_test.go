package runtimes

import (
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/lambent/lambent/internal/runtimeapi"
)

// hello is a hello-world function per runtime client entry.
var hello = map[string]function{
	"python": {runtime: "python3.12", handler: "app.handler", files: map[string]string{
		"app.py": "def handler(event, context):\n    return 'hello'\n",
	}},
	"node": {runtime: "nodejs20.x", handler: "index.handler", files: map[string]string{
		"index.mjs": "export const handler = async () => 'hello';\n",
	}},
	"node-commonjs": {runtime: "nodejs20.x", handler: "index.handler", files: map[string]string{
		"index.js": "exports.handler = async () => 'hello';\n",
	}},
}

// BenchmarkColdInit measures a runtime's init phase, from starting the process to its first
// invocation/next, for a hello-world function, beside two floors of the bare interpreter: run
// to exit (python3 -c pass, node -e 0), and run until its first byte of output reaches us, which
// leaves out the interpreter's exit (slow for node) as the runtime's measure does.
func BenchmarkColdInit(b *testing.B) {
	floors := []struct {
		name  string
		argv  []string
		first bool // time to the first byte of output, not to exit
	}{
		{"python/floor(python3 -c pass)", []string{"/usr/bin/python3", "-c", "pass"}, false},
		{"python/floor(first output)", []string{"/usr/bin/python3", "-c", "import os; os.write(1, b'x')"}, true},
		{"node/floor(node -e 0)", []string{"/usr/bin/node", "-e", "0"}, false},
		{"node/floor(first output)", []string{"/usr/bin/node", "-e", "require('fs').writeSync(1, 'x')"}, true},
	}
	for _, f := range floors {
		b.Run(f.name, func(b *testing.B) {
			if _, err := exec.LookPath(f.argv[0]); err != nil {
				b.Skipf("%s not found: %v", f.argv[0], err)
			}
			for b.Loop() {
				cmd := exec.Command(f.argv[0], f.argv[1:]...)
				// The environment the runtimes get: the host's may hold costly settings
				// (NODE_EXTRA_CA_CERTS makes every node start load certificates: +40 ms).
				cmd.Env = []string{"PATH=/usr/bin:/bin", "LANG=C.UTF-8"}
				if !f.first {
					if err := cmd.Run(); err != nil {
						b.Fatal(err)
					}
					continue
				}
				out, err := cmd.StdoutPipe()
				if err != nil {
					b.Fatal(err)
				}
				if err := cmd.Start(); err != nil {
					b.Fatal(err)
				}
				if _, err := out.Read(make([]byte, 1)); err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				cmd.Wait()
				b.StartTimer()
			}
		})
	}
	for _, lang := range []string{"python", "node", "node-commonjs"} {
		b.Run(lang+"/hello", func(b *testing.B) {
			fn := hello[lang]
			rt := requireRuntime(b, fn.runtime)
			task := b.TempDir()
			writeFiles(b, task, fn.files)
			argv := rt.Command(root)
			var total time.Duration
			for b.Loop() {
				b.StopTimer()
				api := runtimeapi.New()
				srv := httptest.NewServer(api)
				cmd := exec.Command(argv[0], argv[1:]...)
				cmd.Dir = task
				cmd.Env = append([]string{
					"PATH=/usr/bin:/bin",
					"LANG=C.UTF-8",
					"AWS_LAMBDA_RUNTIME_API=" + srv.Listener.Addr().String(),
					"_HANDLER=" + fn.handler,
					"LAMBDA_TASK_ROOT=" + task,
					"AWS_LAMBDA_FUNCTION_NAME=hello",
					"AWS_LAMBDA_FUNCTION_VERSION=$LATEST",
					"AWS_LAMBDA_FUNCTION_MEMORY_SIZE=128",
					"_LAMBENT_OPT_DIR=" + filepath.Join(task, "opt"),
				}, rt.Env...)
				b.StartTimer()
				begin := time.Now()
				if err := cmd.Start(); err != nil {
					b.Fatal(err)
				}
				select {
				case <-api.Ready():
				case res := <-api.InitErrors():
					b.Fatalf("init error: %s", res.Payload)
				case <-time.After(wait):
					b.Fatal("not ready")
				}
				total += api.ReadyAt().Sub(begin)
				b.StopTimer()
				api.Close()
				cmd.Process.Signal(os.Kill)
				cmd.Wait()
				srv.Close()
				b.StartTimer()
			}
			b.ReportMetric(float64(total.Microseconds())/1000/float64(b.N), "ms-to-ready/op")
		})
	}
}

// BenchmarkWarmInvoke measures one invocation of a warm hello-world function, through a real
// Runtime API on loopback.
func BenchmarkWarmInvoke(b *testing.B) {
	for _, lang := range []string{"python", "node"} {
		b.Run(lang, func(b *testing.B) {
			e := start(b, hello[lang])
			e.ready()
			for b.Loop() {
				if res := e.invoke(event(`{}`)); res.Kind != runtimeapi.Response {
					b.Fatalf("%s: %s", res.ErrorType, res.Payload)
				}
			}
		})
	}
}
