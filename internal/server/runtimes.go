package server

import (
	"fmt"
	"log/slog"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"

	"github.com/lambent/lambent/internal/invoke"
	"github.com/lambent/lambent/internal/runtimes"
	"github.com/lambent/lambent/internal/sandbox"
)

// managedRuntimes installs Lambent's runtime clients under dataDir and returns the managed
// runtimes whose interpreter this host has, as the router starts them. interpreters overrides
// the interpreter of a runtime by name.
func managedRuntimes(dataDir string, interpreters map[string]string, log *slog.Logger) (map[string]invoke.Runtime, error) {
	dir, err := runtimes.Install(filepath.Join(dataDir, "runtimes"))
	if err != nil {
		return nil, fmt.Errorf("install runtime clients: %w", err)
	}
	out := map[string]invoke.Runtime{}
	for name, rt := range runtimes.Managed {
		if p, ok := interpreters[name]; ok {
			rt.Interpreter = p
		}
		path, err := exec.LookPath(rt.Interpreter)
		if err != nil {
			continue
		}
		rt.Interpreter = path
		argv := rt.Command(sandbox.RuntimeDir)
		out[name] = invoke.Runtime{Entrypoint: argv[0], Args: argv[1:], Env: rt.Env, Dir: dir}
	}
	var names []string
	for name, rt := range out {
		names = append(names, name+"="+rt.Entrypoint)
	}
	slices.Sort(names)
	log.Info("runtimes", "provided", "provided, provided.al2, provided.al2023", "managed", strings.Join(names, " "))
	return out, nil
}
