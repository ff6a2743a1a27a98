// Package sandbox defines the contract between Lambent and the things that run execution
// environments: a Driver starts a Sandbox from a Spec. Drivers live in subpackages (process,
// and later linux); sandboxtest holds the conformance suite every driver must pass.
//
// The contract knows nothing of Lambda invocations: it starts one process tree with the code,
// environment and Runtime API it is given, reports how it ends, and kills it on request.
package sandbox

import (
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
)

// Where things appear inside a sandbox. Drivers without their own mount namespace use the
// host directories instead, and say so in LAMBDA_TASK_ROOT, LAMBDA_RUNTIME_DIR and
// _LAMBENT_OPT_DIR.
const (
	TaskRoot   = "/var/task"    // the function's code (LAMBDA_TASK_ROOT)
	RuntimeDir = "/var/runtime" // Lambent's runtime interface client, for managed runtimes
	OptDir     = "/opt"         // the function's layers, merged
)

// Sentinel errors of drivers and sandboxes.
var (
	// ErrUnavailable reports that a driver cannot run on this machine.
	ErrUnavailable = errors.New("sandbox driver unavailable")
	// ErrOutOfMemory is wrapped by Sandbox.Err when the memory limit killed the sandbox.
	ErrOutOfMemory = errors.New("out of memory")
)

// InitEnder is implemented by sandboxes that let the runtime use more CPU during its init
// phase than the function's share (init is bounded by its own timeout); InitDone applies the
// function's share for the invocations that follow.
type InitEnder interface {
	InitDone() error
}

// Freezer is implemented by sandboxes that can be stopped between invocations so that they
// use no CPU while idle.
type Freezer interface {
	Freeze() error
	Thaw() error
}

// Spec describes one execution environment.
type Spec struct {
	// ID names the environment; [a-z0-9], unique among live sandboxes.
	ID string
	// CodeDir is the host directory holding the extracted code; the sandbox must only read it.
	CodeDir string
	// Entrypoint is the program to run: relative to the task root ("bootstrap"), or an absolute
	// path as the sandbox sees it (under RuntimeDir, TaskRoot or OptDir, or a host program in /usr).
	Entrypoint string
	// Args are the entrypoint's arguments; paths in them are as the sandbox sees them.
	Args []string
	// RuntimeDir and OptDir are host directories shown read-only at RuntimeDir and OptDir;
	// empty for none.
	RuntimeDir, OptDir string
	// Env is the environment the function sees, as KEY=value. The driver adds
	// LAMBDA_TASK_ROOT, LAMBDA_RUNTIME_DIR, _LAMBENT_OPT_DIR and AWS_LAMBDA_RUNTIME_API.
	Env []string
	// MemoryMB and EphemeralStorageMB are the function's limits; drivers that isolate enforce them.
	MemoryMB           int
	EphemeralStorageMB int
	// RuntimeAPI is served at AWS_LAMBDA_RUNTIME_API, reachable from inside this sandbox only
	// (as far as the driver can isolate it).
	RuntimeAPI http.Handler
	// Output receives the function's stdout and stderr.
	Output *os.File
}

// Driver starts sandboxes.
type Driver interface {
	// Name is the value of --sandbox that selects this driver.
	Name() string
	// Start launches spec's entrypoint and returns once it is running.
	Start(ctx context.Context, spec Spec) (Sandbox, error)
}

// Sandbox is one running execution environment.
type Sandbox interface {
	// Done is closed when the entrypoint process has exited; Err then says how: nil for
	// status 0, else an error with an ExitCode() method whose text reads as os/exec's
	// ("exit status 7", "signal: killed"), which Lambda shows in Runtime.ExitError.
	Done() <-chan struct{}
	Err() error
	// Kill ends every process of the sandbox and releases what it holds. It is idempotent
	// and returns once the sandbox is gone.
	Kill() error
	// MaxMemoryBytes is the peak memory the sandbox has used so far, also after it ended.
	MaxMemoryBytes() int64
}

// HostEnv is env with the path lists a program reads (PATH, LD_LIBRARY_PATH, NODE_PATH,
// PYTHONPATH) mapped by HostPath, for drivers without a mount namespace.
func (spec *Spec) HostEnv(env []string) []string {
	out := make([]string, len(env))
	for i, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		switch k {
		case "PATH", "LD_LIBRARY_PATH", "NODE_PATH", "PYTHONPATH":
			parts := strings.Split(v, ":")
			for j, p := range parts {
				if strings.HasPrefix(p, "/") {
					parts[j] = spec.HostPath(p)
				}
			}
			kv = k + "=" + strings.Join(parts, ":")
		}
		out[i] = kv
	}
	return out
}

// HostPath maps a path as a sandbox sees it to the host directory that a driver without its own
// mount namespace uses: /var/task, /var/runtime and /opt map to spec's directories; other
// absolute paths are the host's own; relative paths are under the task root.
func (spec *Spec) HostPath(p string) string {
	if !strings.HasPrefix(p, "/") {
		return filepath.Join(spec.CodeDir, p)
	}
	for _, m := range []struct{ in, host string }{
		{TaskRoot, spec.CodeDir}, {RuntimeDir, spec.RuntimeDir}, {OptDir, spec.OptDir},
	} {
		if rest, ok := strings.CutPrefix(p, m.in); ok && (rest == "" || rest[0] == '/') && m.host != "" {
			return m.host + rest
		}
	}
	return p
}
