// Package runtimes holds Lambent's runtime interface clients for the managed runtimes (python3.x,
// nodejs*.x): the programs that run inside an execution environment, load the function's
// handler and talk to the Runtime API (2018-06-01) as AWS's runtimes do. They are written for
// Lambent, with nothing but the interpreter's standard library, and embedded in the binary;
// Install writes them to disk and Managed says how to start each one.
//
// The package does not start processes, build sandboxes or set the function's environment:
// the sandbox and invoke code do that, with the command line and variables documented on
// Runtime.
package runtimes

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
)

//go:embed python/*.py node/*.cjs
var clients embed.FS

// Runtime says how to start one managed runtime.
//
// The command line is Command(root), where root is the directory Install returned, as seen
// from inside the environment. The process needs, besides the function's own variables:
// AWS_LAMBDA_RUNTIME_API (host:port of the environment's Runtime API), _HANDLER,
// LAMBDA_TASK_ROOT (also its working directory), AWS_LAMBDA_FUNCTION_NAME,
// AWS_LAMBDA_FUNCTION_VERSION, AWS_LAMBDA_FUNCTION_MEMORY_SIZE, AWS_LAMBDA_LOG_GROUP_NAME,
// AWS_LAMBDA_LOG_STREAM_NAME, and Env. _LAMBENT_OPT_DIR, when set, replaces /opt as the root of
// the layers' directories (for tests and for hosts that cannot mount layers at /opt).
type Runtime struct {
	Interpreter string   // absolute path of the interpreter on the host
	Args        []string // interpreter options, before the client's file
	Entry       string   // the runtime client, relative to the directory Install returns
	Env         []string // variables this runtime adds to the environment (AWS_EXECUTION_ENV, NODE_PATH)
}

// Command is the command line that starts r, with its client installed under root.
func (r Runtime) Command(root string) []string {
	argv := append([]string{r.Interpreter}, r.Args...)
	return append(argv, filepath.Join(root, r.Entry))
}

// Managed lists the runtime names AWS accepts that Lambent serves with an interpreter found on
// the host. Several names share one interpreter: Lambent runs python3.8 code with the host's
// python3, whatever its minor version.
var Managed = map[string]Runtime{
	"python3.8":  python("python3.8"),
	"python3.9":  python("python3.9"),
	"python3.10": python("python3.10"),
	"python3.11": python("python3.11"),
	"python3.12": python("python3.12"),
	"python3.13": python("python3.13"),
	"nodejs16.x": node("nodejs16.x", "16"),
	"nodejs18.x": node("nodejs18.x", "18"),
	"nodejs20.x": node("nodejs20.x", "20"),
	"nodejs22.x": node("nodejs22.x", "22"),
}

func python(name string) Runtime {
	return Runtime{
		Interpreter: "/usr/bin/python3",
		Entry:       "python/bootstrap.py",
		Env:         []string{"AWS_EXECUTION_ENV=AWS_Lambda_" + name},
	}
}

func node(name, major string) Runtime {
	return Runtime{
		Interpreter: "/usr/bin/node",
		Entry:       "node/bootstrap.cjs",
		Env: []string{
			"AWS_EXECUTION_ENV=AWS_Lambda_" + name,
			"NODE_PATH=/opt/nodejs/node" + major + "/node_modules:/opt/nodejs/node_modules:/var/runtime/node_modules:/var/runtime:/var/task",
		},
	}
}

// Available returns, for each name in Managed whose interpreter lookup finds, the path it
// found. lookup is exec.LookPath in production.
func Available(lookup func(string) (string, error)) map[string]string {
	found := make(map[string]string)
	for name, r := range Managed {
		if p, err := lookup(r.Interpreter); err == nil {
			found[name] = p
		}
	}
	return found
}

// Install writes the runtime clients under dir, in a subdirectory named for their content, and
// returns that subdirectory. It is idempotent and safe to call concurrently: a complete copy is
// renamed into place, so a directory that exists is whole.
//
// Install also compiles the Python client's modules with each Python interpreter of Managed
// found on the host, so that environments, which see the directory read-only, load cached
// bytecode instead of compiling the client on every cold start. A failure there costs time,
// not correctness, and is not reported.
func Install(dir string) (string, error) {
	names, sum, err := contents()
	if err != nil {
		return "", err
	}
	root := filepath.Join(dir, "lambent-runtimes-"+sum[:16])
	if _, err := os.Stat(root); err == nil {
		return root, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("install runtimes: %w", err)
	}
	tmp, err := os.MkdirTemp(dir, ".lambent-runtimes-")
	if err != nil {
		return "", fmt.Errorf("install runtimes: %w", err)
	}
	defer os.RemoveAll(tmp)
	for _, name := range names {
		data, _ := clients.ReadFile(name)
		target := filepath.Join(tmp, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
			return "", fmt.Errorf("install runtimes: %w", err)
		}
		if err := os.WriteFile(target, data, 0o644); err != nil {
			return "", fmt.Errorf("install runtimes: %w", err)
		}
	}
	precompile(filepath.Join(tmp, "python"))
	if err := os.Chmod(tmp, 0o755); err != nil {
		return "", fmt.Errorf("install runtimes: %w", err)
	}
	if err := os.Rename(tmp, root); err != nil {
		if _, statErr := os.Stat(root); statErr == nil {
			return root, nil // installed meanwhile by another caller
		}
		return "", fmt.Errorf("install runtimes: %w", err)
	}
	return root, nil
}

// precompile writes __pycache__ for the Python modules in dir with every Python interpreter
// Managed names that exists here.
func precompile(dir string) {
	done := make(map[string]bool)
	for _, r := range Managed {
		if r.Entry != "python/bootstrap.py" || done[r.Interpreter] {
			continue
		}
		done[r.Interpreter] = true
		if _, err := exec.LookPath(r.Interpreter); err == nil {
			exec.Command(r.Interpreter, "-m", "compileall", "-q", dir).Run()
		}
	}
}

// contents lists the embedded files (in lexical order) and hashes their names and contents.
func contents() ([]string, string, error) {
	var names []string
	err := fs.WalkDir(clients, ".", func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			names = append(names, p)
		}
		return err
	})
	if err != nil {
		return nil, "", err
	}
	if len(names) == 0 {
		return nil, "", errors.New("install runtimes: no embedded files")
	}
	h := sha256.New()
	for _, name := range names {
		data, err := clients.ReadFile(name)
		if err != nil {
			return nil, "", err
		}
		fmt.Fprintf(h, "%s\x00%d\x00", path.Clean(name), len(data))
		h.Write(data)
	}
	return names, hex.EncodeToString(h.Sum(nil)), nil
}
