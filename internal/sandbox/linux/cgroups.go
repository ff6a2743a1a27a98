//go:build linux

package linux

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/containerd/cgroups/v3/cgroup1"
	"github.com/containerd/cgroups/v3/cgroup2"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// limits are what a sandbox's cgroup enforces.
type limits struct {
	MemoryBytes int64
	CPUQuota    int64 // microseconds per cpuPeriod
	Pids        int64
}

const (
	cpuPeriod = 100_000 // µs
	// mbPerCPU is how much memory buys one vCPU, as on Lambda.
	mbPerCPU = 1769
	// maxPids bounds processes and threads (Lambda: 1,024); a Go runtime needs ≥ 64.
	maxPids = 1024
)

func limitsFor(memoryMB int) limits {
	quota := int64(memoryMB) * cpuPeriod / mbPerCPU
	quota = min(max(quota, 1000), int64(runtime.NumCPU())*cpuPeriod)
	return limits{MemoryBytes: int64(memoryMB) << 20, CPUQuota: quota, Pids: maxPids}
}

// cgroup is one sandbox's control group, in whichever cgroup version the host has.
type cgroup interface {
	add(pid int) error
	// update sets new limits.
	update(l limits) error
	// setCPU sets the CPU quota alone.
	setCPU(quota int64) error
	// resetPeak starts peak memory accounting afresh, where the kernel allows it.
	resetPeak()
	freeze() error
	thaw() error
	// peakMemory is the most memory the group has used, in bytes.
	peakMemory() int64
	// oomKilled reports whether the kernel killed a process for exceeding the memory limit.
	oomKilled() bool
	// tasks is how many processes and threads the group holds.
	tasks() int64
	// kill ends every process in the group.
	kill() error
	remove() error
}

// cgroups creates sandbox cgroups under one parent group.
type cgroups interface {
	create(id string, l limits) (cgroup, error)
	// sweep removes the groups of sandboxes from an earlier run of the server.
	sweep() error
	version() string
}

// detectCgroups picks v2 where the unified hierarchy has the memory controller, else v1.
// Sandboxes' groups live under lambent/INSTANCE, so that servers with different state never
// sweep each other's sandboxes.
func detectCgroups(instance string) (cgroups, error) {
	parent := filepath.Join("lambent", instance)
	if data, err := os.ReadFile("/sys/fs/cgroup/cgroup.controllers"); err == nil && bytes.Contains(data, []byte("memory")) {
		return newV2("/sys/fs/cgroup", parent)
	}
	if _, err := os.Stat("/sys/fs/cgroup/memory/memory.limit_in_bytes"); err == nil {
		return newV1(parent)
	}
	return nil, errors.New("no usable cgroup hierarchy: need cgroup v2 with the memory controller at /sys/fs/cgroup, or cgroup v1 memory, cpu, pids and freezer controllers under /sys/fs/cgroup")
}

// ---- cgroup v1 ----

type v1 struct {
	parent         string // relative to this process's group in each hierarchy
	hierarchy      cgroup1.Hierarchy
	nested         map[string]string // subsystem -> this process's group
	swapAccounting bool
}

func newV1(parent string) (*v1, error) {
	subs := []struct {
		name cgroup1.Name
		make func(root string) cgroup1.Subsystem
	}{
		{cgroup1.Memory, func(r string) cgroup1.Subsystem { return cgroup1.NewMemory(r) }},
		{cgroup1.Cpu, func(r string) cgroup1.Subsystem { return cgroup1.NewCpu(r) }},
		{cgroup1.Pids, func(r string) cgroup1.Subsystem { return cgroup1.NewPids(r) }},
		{cgroup1.Freezer, func(r string) cgroup1.Subsystem { return cgroup1.NewFreezer(r) }},
	}
	var list []cgroup1.Subsystem
	for _, s := range subs {
		if _, err := os.Stat(filepath.Join("/sys/fs/cgroup", string(s.name))); err != nil {
			return nil, fmt.Errorf("cgroup v1 %s controller not mounted at /sys/fs/cgroup/%s", s.name, s.name)
		}
		list = append(list, s.make("/sys/fs/cgroup"))
	}
	paths, err := cgroup1.ParseCgroupFile("/proc/self/cgroup")
	if err != nil {
		return nil, err
	}
	_, err = os.Stat("/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes")
	return &v1{parent: parent, hierarchy: func() ([]cgroup1.Subsystem, error) { return list, nil }, nested: paths,
		swapAccounting: err == nil}, nil
}

func (c *v1) version() string { return "v1" }

func (c *v1) path(id string) cgroup1.Path {
	return func(name cgroup1.Name) (string, error) {
		return filepath.Join(c.nested[string(name)], c.parent, id), nil
	}
}

func (c *v1) create(id string, l limits) (cgroup, error) {
	mem := filepath.Join("/sys/fs/cgroup/memory", c.nested["memory"], c.parent, id)
	pids := filepath.Join("/sys/fs/cgroup/pids", c.nested["pids"], c.parent, id)
	g := &v1Group{memDir: mem, pidsDir: pids, swapAccounting: c.swapAccounting}
	var err error
	g.cg, err = cgroup1.New(c.path(id), g.resources(l), cgroup1.WithHierarchy(c.hierarchy))
	if err != nil {
		return nil, fmt.Errorf("cgroup v1 %s: %w", id, err)
	}
	return g, nil
}

// resources are l as runtime-spec resources. Memory and swap together are limited to the
// memory limit (no swap) where the kernel accounts swap.
func (g *v1Group) resources(l limits) *specs.LinuxResources {
	period := uint64(cpuPeriod)
	mem := &specs.LinuxMemory{Limit: &l.MemoryBytes}
	if g.swapAccounting {
		mem.Swap = &l.MemoryBytes
	}
	return &specs.LinuxResources{
		Memory: mem,
		CPU:    &specs.LinuxCPU{Quota: &l.CPUQuota, Period: &period},
		Pids:   &specs.LinuxPids{Limit: &l.Pids},
	}
}

// update lowers or raises the limits; memory+swap must stay at or above memory, so the order
// of the two writes depends on the direction, which containerd handles.
func (g *v1Group) update(l limits) error { return g.cg.Update(g.resources(l)) }

func (g *v1Group) setCPU(quota int64) error {
	period := uint64(cpuPeriod)
	return g.cg.Update(&specs.LinuxResources{CPU: &specs.LinuxCPU{Quota: &quota, Period: &period}})
}

func (g *v1Group) resetPeak() {
	os.WriteFile(filepath.Join(g.memDir, "memory.max_usage_in_bytes"), []byte("0"), 0)
}

func (c *v1) sweep() error {
	var errs []error
	for _, name := range []string{"memory", "cpu", "pids", "freezer"} {
		dir := filepath.Join("/sys/fs/cgroup", name, c.nested[name], c.parent)
		errs = append(errs, sweepDir(dir, func(group string) error {
			killAll(filepath.Join(group, "cgroup.procs"))
			return nil
		}))
	}
	return errors.Join(errs...)
}

type v1Group struct {
	cg             cgroup1.Cgroup
	memDir         string
	pidsDir        string
	swapAccounting bool
}

func (g *v1Group) add(pid int) error { return g.cg.Add(cgroup1.Process{Pid: pid}) }
func (g *v1Group) freeze() error     { return g.cg.Freeze() }
func (g *v1Group) thaw() error       { return g.cg.Thaw() }

func (g *v1Group) peakMemory() int64 {
	return readInt(filepath.Join(g.memDir, "memory.max_usage_in_bytes"))
}

func (g *v1Group) tasks() int64 { return readInt(filepath.Join(g.pidsDir, "pids.current")) }

func (g *v1Group) oomKilled() bool {
	return readKey(filepath.Join(g.memDir, "memory.oom_control"), "oom_kill") > 0
}

// kill freezes the group so nothing can fork, kills every member, then thaws it so the
// signals are delivered.
func (g *v1Group) kill() error {
	g.cg.Freeze()
	killAll(filepath.Join(g.memDir, "cgroup.procs"))
	return g.cg.Thaw()
}

func (g *v1Group) remove() error { return removeWithRetry(g.cg.Delete) }

// ---- cgroup v2 ----

type v2 struct {
	mount  string
	parent string // group of the sandboxes, relative to mount
}

func newV2(mount, parent string) (*v2, error) {
	self, err := cgroup2.NestedGroupPath("")
	if err != nil {
		return nil, err
	}
	c := &v2{mount: mount, parent: filepath.Join(self, parent)}
	// Controllers can only be handed to children of a group without processes of its own:
	// when the server's group has processes, the server moves into a leaf beside the sandboxes.
	if err := enableControllers(filepath.Join(mount, self)); err != nil {
		leaf := filepath.Join(mount, self, "server")
		if err := os.MkdirAll(leaf, 0o755); err != nil {
			return nil, err
		}
		if err := os.WriteFile(filepath.Join(leaf, "cgroup.procs"), []byte(strconv.Itoa(os.Getpid())), 0); err != nil {
			return nil, fmt.Errorf("move server into %s: %w", leaf, err)
		}
		if err := enableControllers(filepath.Join(mount, self)); err != nil {
			return nil, fmt.Errorf("enable cgroup controllers in %s: %w", self, err)
		}
	}
	// Each level down to the sandboxes' parent hands the controllers on.
	dir := filepath.Join(mount, self)
	for _, part := range strings.Split(parent, "/") {
		dir = filepath.Join(dir, part)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, err
		}
		if err := enableControllers(dir); err != nil {
			return nil, fmt.Errorf("enable cgroup controllers in %s: %w", dir, err)
		}
	}
	return c, nil
}

func enableControllers(dir string) error {
	return os.WriteFile(filepath.Join(dir, "cgroup.subtree_control"), []byte("+memory +cpu +pids"), 0)
}

func (c *v2) version() string { return "v2" }

func (c *v2) create(id string, l limits) (cgroup, error) {
	zero := int64(0)
	m, err := cgroup2.NewManager(c.mount, filepath.Join(c.parent, id), &cgroup2.Resources{
		Memory: &cgroup2.Memory{Max: &l.MemoryBytes, Swap: &zero},
		CPU:    &cgroup2.CPU{Max: cgroup2.NewCPUMax(&l.CPUQuota, ptr(uint64(cpuPeriod)))},
		Pids:   &cgroup2.Pids{Max: l.Pids},
	})
	if err != nil {
		return nil, fmt.Errorf("cgroup v2 %s: %w", id, err)
	}
	return &v2Group{m: m, dir: filepath.Join(c.mount, c.parent, id)}, nil
}

func (c *v2) sweep() error {
	return sweepDir(filepath.Join(c.mount, c.parent), func(group string) error {
		if err := os.WriteFile(filepath.Join(group, "cgroup.kill"), []byte("1"), 0); err != nil {
			killAll(filepath.Join(group, "cgroup.procs"))
		}
		return nil
	})
}

type v2Group struct {
	m   *cgroup2.Manager
	dir string
}

func (g *v2Group) add(pid int) error { return g.m.AddProc(uint64(pid)) }

func (g *v2Group) update(l limits) error {
	zero := int64(0)
	return g.m.Update(&cgroup2.Resources{
		Memory: &cgroup2.Memory{Max: &l.MemoryBytes, Swap: &zero},
		CPU:    &cgroup2.CPU{Max: cgroup2.NewCPUMax(&l.CPUQuota, ptr(uint64(cpuPeriod)))},
		Pids:   &cgroup2.Pids{Max: l.Pids},
	})
}

func (g *v2Group) setCPU(quota int64) error {
	return g.m.Update(&cgroup2.Resources{CPU: &cgroup2.CPU{Max: cgroup2.NewCPUMax(&quota, ptr(uint64(cpuPeriod)))}})
}

// resetPeak does nothing: cgroup v2 has no reset of memory.peak that later readers see, so
// on v2 the peak includes the few megabytes init used before it exec'd the entrypoint.
func (g *v2Group) resetPeak()    {}
func (g *v2Group) freeze() error { return g.m.Freeze() }
func (g *v2Group) thaw() error   { return g.m.Thaw() }
func (g *v2Group) peakMemory() int64 {
	if n := readInt(filepath.Join(g.dir, "memory.peak")); n > 0 {
		return n
	}
	return readInt(filepath.Join(g.dir, "memory.current"))
}
func (g *v2Group) tasks() int64 { return readInt(filepath.Join(g.dir, "pids.current")) }

func (g *v2Group) oomKilled() bool {
	return readKey(filepath.Join(g.dir, "memory.events"), "oom_kill") > 0
}
func (g *v2Group) kill() error   { return g.m.Kill() }
func (g *v2Group) remove() error { return removeWithRetry(g.m.Delete) }

// ---- helpers ----

func ptr[T any](v T) *T { return &v }

// removeWithRetry removes a group whose killed members may take a moment to leave it.
func removeWithRetry(remove func() error) error {
	var err error
	for range 200 {
		if err = remove(); err == nil || errors.Is(err, os.ErrNotExist) {
			return nil
		}
		time.Sleep(5 * time.Millisecond)
	}
	return err
}

// sweepDir kills and removes every child group of dir (left by a crashed server).
func sweepDir(dir string, kill func(group string) error) error {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	var errs []error
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		group := filepath.Join(dir, e.Name())
		kill(group)
		errs = append(errs, removeWithRetry(func() error { return syscall.Rmdir(group) }))
	}
	return errors.Join(errs...)
}

func killAll(procsFile string) {
	data, _ := os.ReadFile(procsFile)
	for _, f := range strings.Fields(string(data)) {
		if pid, err := strconv.Atoi(f); err == nil && pid > 0 {
			syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}

func readInt(path string) int64 {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	n, _ := strconv.ParseInt(strings.TrimSpace(string(data)), 10, 64)
	return n
}

// readKey reads "key value" lines and returns key's value.
func readKey(path, key string) int64 {
	f, err := os.Open(path)
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), " ")
		if ok && k == key {
			n, _ := strconv.ParseInt(v, 10, 64)
			return n
		}
	}
	return 0
}
