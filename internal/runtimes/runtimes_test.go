package runtimes

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"sync"
	"testing"
)

func TestInstallIsIdempotentAndConcurrent(t *testing.T) {
	dir := t.TempDir()
	const n = 8
	roots := make([]string, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { roots[i], errs[i] = Install(dir) })
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("Install: %v", errs[i])
		}
		if roots[i] != roots[0] {
			t.Fatalf("Install returned %q and %q", roots[0], roots[i])
		}
	}
	again, err := Install(dir)
	if err != nil || again != roots[0] {
		t.Fatalf("Install again = %q, %v; want %q", again, err, roots[0])
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 {
		t.Errorf("%s holds %d entries, want the one installed directory (no leftovers)", dir, len(entries))
	}
	names, _, err := contents()
	if err != nil {
		t.Fatal(err)
	}
	if len(names) < 6 {
		t.Errorf("embedded files %q: some are missing", names)
	}
	for _, name := range names {
		want, _ := clients.ReadFile(name)
		got, err := os.ReadFile(filepath.Join(roots[0], name))
		if err != nil || string(got) != string(want) {
			t.Errorf("%s: installed copy differs from the embedded one (%v)", name, err)
		}
	}
	if _, err := exec.LookPath(Managed["python3.12"].Interpreter); err == nil {
		cached, _ := filepath.Glob(filepath.Join(roots[0], "python", "__pycache__", "_lambent_ric.*.pyc"))
		if len(cached) == 0 {
			t.Errorf("no bytecode of the Python client under %s: every cold start would compile it", roots[0])
		}
	}
	info, err := os.Stat(roots[0])
	if err != nil || info.Mode().Perm() != 0o755 {
		t.Errorf("installed directory mode %v (%v), want 0755: sandboxed users must read it", info.Mode(), err)
	}
}

func TestManaged(t *testing.T) {
	for name, rt := range Managed {
		if _, err := os.Stat(filepath.Join(root, rt.Entry)); err != nil {
			t.Errorf("%s: entry %s: %v", name, rt.Entry, err)
		}
		if !filepath.IsAbs(rt.Interpreter) {
			t.Errorf("%s: interpreter %q is not absolute", name, rt.Interpreter)
		}
		if want := "AWS_EXECUTION_ENV=AWS_Lambda_" + name; len(rt.Env) == 0 || rt.Env[0] != want {
			t.Errorf("%s: Env %q does not start with %q", name, rt.Env, want)
		}
	}
	got := Managed["nodejs20.x"].Command("/var/runtime")
	if want := []string{"/usr/bin/node", "/var/runtime/node/bootstrap.cjs"}; !reflect.DeepEqual(got, want) {
		t.Errorf("Command = %q, want %q", got, want)
	}
}

func TestAvailable(t *testing.T) {
	tests := []struct {
		name  string
		found map[string]string // interpreter → where lookup finds it
		want  []string
	}{
		{"nothing", nil, nil},
		{"python only", map[string]string{"/usr/bin/python3": "/usr/bin/python3"},
			[]string{"python3.10", "python3.11", "python3.12", "python3.13", "python3.8", "python3.9"}},
		{"node only", map[string]string{"/usr/bin/node": "/usr/bin/node"},
			[]string{"nodejs16.x", "nodejs18.x", "nodejs20.x", "nodejs22.x"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Available(func(p string) (string, error) {
				if f, ok := tt.found[p]; ok {
					return f, nil
				}
				return "", errors.New("not found")
			})
			var names []string
			for name, path := range got {
				names = append(names, name)
				if path != tt.found[Managed[name].Interpreter] {
					t.Errorf("%s: path %q", name, path)
				}
			}
			if len(names) != len(tt.want) {
				t.Fatalf("Available = %v, want %v", got, tt.want)
			}
			for _, name := range tt.want {
				if _, ok := got[name]; !ok {
					t.Errorf("Available lacks %s", name)
				}
			}
		})
	}
}
