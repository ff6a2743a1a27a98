package sandbox

import (
	"slices"
	"testing"
)

func TestHostPath(t *testing.T) {
	spec := &Spec{CodeDir: "/data/code/abc", RuntimeDir: "/data/runtimes/r1", OptDir: "/data/layers/l1"}
	noOpt := &Spec{CodeDir: "/data/code/abc"}
	tests := []struct {
		spec     *Spec
		in, want string
	}{
		{spec, "bootstrap", "/data/code/abc/bootstrap"},
		{spec, "/var/task", "/data/code/abc"},
		{spec, "/var/task/lib/x.so", "/data/code/abc/lib/x.so"},
		{spec, "/var/taskforce/x", "/var/taskforce/x"}, // a prefix, not the directory
		{spec, "/var/runtime/python/bootstrap.py", "/data/runtimes/r1/python/bootstrap.py"},
		{spec, "/opt/nodejs/node_modules", "/data/layers/l1/nodejs/node_modules"},
		{spec, "/usr/bin/python3", "/usr/bin/python3"},
		{noOpt, "/opt/python", "/opt/python"}, // no layers: left as the sandbox would see it
	}
	for _, tt := range tests {
		if got := tt.spec.HostPath(tt.in); got != tt.want {
			t.Errorf("HostPath(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestHostEnv(t *testing.T) {
	spec := &Spec{CodeDir: "/c", RuntimeDir: "/r", OptDir: "/o"}
	got := spec.HostEnv([]string{
		"NODE_PATH=/opt/nodejs/node_modules:/var/runtime:/var/task",
		"PATH=/usr/bin:/opt/bin",
		"LD_LIBRARY_PATH=/var/task/lib:relative",
		"OTHER=/var/task", // not a path list a program reads: unchanged
	})
	want := []string{
		"NODE_PATH=/o/nodejs/node_modules:/r:/c",
		"PATH=/usr/bin:/o/bin",
		"LD_LIBRARY_PATH=/c/lib:relative",
		"OTHER=/var/task",
	}
	if !slices.Equal(got, want) {
		t.Errorf("HostEnv\n got %q\nwant %q", got, want)
	}
}
