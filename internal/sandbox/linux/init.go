//go:build linux

package linux

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unsafe"

	seccomp "github.com/elastic/go-seccomp-bpf"
	"golang.org/x/sys/unix"
)

// InitArg is the argument with which the server re-executes itself as a sandbox's init.
const InitArg = "sandbox-init"

// initConfig is the first message the server sends a sandbox's init, through the socket at
// fd 3: what every sandbox shares. Init builds that much of the sandbox and waits.
type initConfig struct {
	Root     string // empty host directory the sandbox's root is built on
	UID, GID int
	Hostname string
	// ResolvConf is /etc/resolv.conf: empty without egress.
	ResolvConf string
}

// specialization is the second message: what makes the sandbox a function's. It carries the
// file descriptor of the function's output as SCM_RIGHTS.
type specialization struct {
	CodeDir    string   // mounted read-only at /var/task
	RuntimeDir string   // mounted read-only at /var/runtime, if set
	OptDir     string   // mounted read-only at /opt, if set
	Entrypoint string   // relative to /var/task, or absolute
	Args       []string // the entrypoint's arguments
	Env        []string // the function's environment
	TmpMB      int      // size of /tmp
}

// Init is the body of `lambent sandbox-init`: running as PID 1 of fresh pid, mount, uts and
// ipc namespaces (and inside the sandbox's network namespace), it builds the sandbox's root,
// waits to learn which function it will run, pivots into the root, drops every privilege and
// execs the entrypoint. Failures are written to fd 4, which closes on a successful exec.
// It never returns.
func Init() {
	runtime.LockOSThread() // namespaces, capabilities and seccomp are per thread: exec from this one
	status := os.NewFile(4, "status")
	syscall.CloseOnExec(3)
	syscall.CloseOnExec(4)
	fail := func(kind string, err error) {
		fmt.Fprintf(status, "%s:%s", kind, err)
		os.Exit(126)
	}
	var cfg initConfig
	if _, err := receive(&cfg); err != nil {
		fail("setup", err)
	}
	if err := buildRoot(&cfg); err != nil {
		fail("setup", err)
	}
	var spec specialization
	output, err := receive(&spec)
	if err != nil {
		fail("setup", err)
	}
	if err := specialize(&cfg, &spec, output); err != nil {
		fail("setup", err)
	}
	if err := dropPrivileges(&cfg); err != nil {
		fail("setup", err)
	}
	entry := spec.Entrypoint
	if !filepath.IsAbs(entry) {
		entry = filepath.Join("/var/task", entry)
	}
	argv := append([]string{entry}, spec.Args...)
	err = syscall.Exec(entry, argv, spec.Env)
	// A server process forked at the moment the code was written may still hold it open for
	// writing, for the microseconds until its own exec: try again briefly.
	for i := 0; err == syscall.ETXTBSY && i < 100; i++ {
		time.Sleep(time.Millisecond)
		err = syscall.Exec(entry, argv, spec.Env)
	}
	var errno syscall.Errno
	if errors.As(err, &errno) {
		fail("exec", fmt.Errorf("%d:%s", int(errno), entry))
	}
	fail("exec", err)
}

// receive reads one JSON message from fd 3 and the file descriptor it carries, if any (-1).
func receive(v any) (int, error) {
	buf, oob := make([]byte, 1<<20), make([]byte, unix.CmsgSpace(4))
	n, oobn, _, _, err := unix.Recvmsg(3, buf, oob, 0)
	if err != nil {
		return -1, fmt.Errorf("read config: %w", err)
	}
	if n == 0 {
		return -1, errors.New("read config: server went away")
	}
	fd := -1
	if oobn > 0 {
		msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
		if err == nil && len(msgs) > 0 {
			if fds, err := unix.ParseUnixRights(&msgs[0]); err == nil && len(fds) > 0 {
				fd = fds[0]
			}
		}
	}
	return fd, json.Unmarshal(buf[:n], v)
}

type mountStep struct {
	source, target, fstype string
	flags                  uintptr
	data                   string
}

// buildRoot makes the sandbox's filesystem and pivots into it.
func buildRoot(cfg *initConfig) error {
	r := cfg.Root
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("make mounts private: %w", err)
	}
	if err := unix.Mount("tmpfs", r, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, "size=1m,mode=755"); err != nil {
		return fmt.Errorf("root tmpfs: %w", err)
	}
	for _, d := range []string{"usr", "proc", "dev", "etc", "tmp", "var/task", "var/runtime", "opt", ".old"} {
		if err := os.MkdirAll(filepath.Join(r, d), 0o755); err != nil {
			return err
		}
	}
	// The merged-usr links, or read-only binds where the host has real directories.
	for _, d := range []string{"bin", "lib", "lib64", "sbin"} {
		host := "/" + d
		if target, err := os.Readlink(host); err == nil {
			if err := os.Symlink(target, filepath.Join(r, d)); err != nil {
				return err
			}
		} else if fi, err := os.Stat(host); err == nil && fi.IsDir() {
			if err := bindReadOnly(host, filepath.Join(r, d)); err != nil {
				return err
			}
		}
	}
	if err := bindReadOnly("/usr", filepath.Join(r, "usr")); err != nil {
		return err
	}
	if err := writeEtc(filepath.Join(r, "etc"), cfg); err != nil {
		return err
	}
	steps := []mountStep{
		{"proc", filepath.Join(r, "proc"), "proc", unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC, ""},
		{"tmpfs", filepath.Join(r, "dev"), "tmpfs", unix.MS_NOSUID | unix.MS_NOEXEC, "mode=755,size=64k"},
	}
	for _, s := range steps {
		if err := unix.Mount(s.source, s.target, s.fstype, s.flags, s.data); err != nil {
			return fmt.Errorf("mount %s on %s: %w", s.fstype, s.target, err)
		}
	}
	return buildDev(filepath.Join(r, "dev"))
}

// specialize mounts the function's code and /tmp, points stdout and stderr at its output,
// and pivots into the root.
func specialize(cfg *initConfig, spec *specialization, output int) error {
	r := cfg.Root
	if output < 0 {
		return errors.New("no output descriptor")
	}
	for _, fd := range []int{1, 2} {
		if err := unix.Dup3(output, fd, 0); err != nil {
			return fmt.Errorf("output: %w", err)
		}
	}
	unix.Close(output)
	for _, m := range []struct{ host, at string }{
		{spec.CodeDir, "var/task"}, {spec.RuntimeDir, "var/runtime"}, {spec.OptDir, "opt"},
	} {
		if m.host == "" {
			continue
		}
		if err := bindReadOnly(m.host, filepath.Join(r, m.at)); err != nil {
			return err
		}
	}
	tmp := "mode=1777,size=" + strconv.Itoa(spec.TmpMB) + "m"
	if err := unix.Mount("tmpfs", filepath.Join(r, "tmp"), "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, tmp); err != nil {
		return fmt.Errorf("mount /tmp: %w", err)
	}
	if err := unix.PivotRoot(r, filepath.Join(r, ".old")); err != nil {
		return fmt.Errorf("pivot_root: %w", err)
	}
	if err := unix.Chdir("/"); err != nil {
		return err
	}
	if err := unix.Unmount("/.old", unix.MNT_DETACH); err != nil {
		return fmt.Errorf("detach host root: %w", err)
	}
	if err := os.Remove("/.old"); err != nil {
		return err
	}
	if err := unix.Mount("", "/", "", unix.MS_REMOUNT|unix.MS_BIND|unix.MS_RDONLY|unix.MS_NOSUID|unix.MS_NODEV, ""); err != nil {
		return fmt.Errorf("read-only root: %w", err)
	}
	if err := unix.Sethostname([]byte(cfg.Hostname)); err != nil {
		return fmt.Errorf("hostname: %w", err)
	}
	return unix.Chdir("/var/task")
}

func bindReadOnly(src, dst string) error {
	if err := unix.Mount(src, dst, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("bind %s: %w", src, err)
	}
	flags := uintptr(unix.MS_BIND | unix.MS_REMOUNT | unix.MS_RDONLY | unix.MS_NOSUID | unix.MS_NODEV)
	if err := unix.Mount("", dst, "", flags, ""); err != nil {
		return fmt.Errorf("read-only %s: %w", dst, err)
	}
	return nil
}

// buildDev fills a tmpfs with the devices a function may use, bound from the host's.
func buildDev(dev string) error {
	for _, name := range []string{"null", "zero", "full", "random", "urandom", "tty"} {
		p := filepath.Join(dev, name)
		f, err := os.OpenFile(p, os.O_CREATE|os.O_WRONLY, 0o666)
		if err != nil {
			return err
		}
		f.Close()
		if err := unix.Mount("/dev/"+name, p, "", unix.MS_BIND, ""); err != nil {
			return fmt.Errorf("bind /dev/%s: %w", name, err)
		}
	}
	links := map[string]string{"fd": "/proc/self/fd", "stdin": "/proc/self/fd/0",
		"stdout": "/proc/self/fd/1", "stderr": "/proc/self/fd/2", "ptmx": "pts/ptmx"}
	for name, target := range links {
		if err := os.Symlink(target, filepath.Join(dev, name)); err != nil {
			return err
		}
	}
	shm := filepath.Join(dev, "shm")
	if err := os.Mkdir(shm, 0o1777); err != nil {
		return err
	}
	return unix.Mount("tmpfs", shm, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "mode=1777,size=64m")
}

// writeEtc writes the few files a function expects in /etc; the host's /etc is not visible.
func writeEtc(etc string, cfg *initConfig) error {
	files := map[string]string{
		"passwd":        fmt.Sprintf("root:x:0:0:root:/root:/sbin/nologin\nsbx_user1051:x:%d:%d::/home/sbx_user1051:/sbin/nologin\nnobody:x:65534:65534:nobody:/:/sbin/nologin\n", cfg.UID, cfg.GID),
		"group":         fmt.Sprintf("root:x:0:\nsbx_user1051:x:%d:\nnobody:x:65534:\n", cfg.GID),
		"hosts":         "127.0.0.1\tlocalhost\n::1\tlocalhost\n127.0.0.1\t" + cfg.Hostname + "\n",
		"hostname":      cfg.Hostname + "\n",
		"resolv.conf":   cfg.ResolvConf,
		"nsswitch.conf": "passwd: files\ngroup: files\nhosts: files dns\n",
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(etc, name), []byte(content), 0o644); err != nil {
			return err
		}
	}
	// Public, read-only host files that programs need: CA certificates, the dynamic linker's
	// cache and the alternatives links that /usr/bin points through.
	for _, p := range []string{"ssl", "ca-certificates", "alternatives", "ld.so.cache"} {
		host := filepath.Join("/etc", p)
		fi, err := os.Stat(host)
		if err != nil {
			continue
		}
		dst := filepath.Join(etc, p)
		if fi.IsDir() {
			err = os.Mkdir(dst, 0o755)
		} else {
			err = os.WriteFile(dst, nil, 0o644)
		}
		if err != nil {
			return err
		}
		if err := bindReadOnly(host, dst); err != nil {
			return err
		}
	}
	return nil
}

// dropPrivileges leaves the function an unprivileged user with no capabilities, no way to
// regain them, and a seccomp filter over the system calls a function never needs.
func dropPrivileges(cfg *initConfig) error {
	last := 40
	if data, err := os.ReadFile("/proc/sys/kernel/cap_last_cap"); err == nil {
		if n, err := strconv.Atoi(strings.TrimSpace(string(data))); err == nil {
			last = n
		}
	}
	for c := 0; c <= last; c++ {
		if err := unix.Prctl(unix.PR_CAPBSET_DROP, uintptr(c), 0, 0, 0); err != nil && err != unix.EINVAL {
			return fmt.Errorf("drop capability %d: %w", c, err)
		}
	}
	// Credentials and the seccomp filter are set on this thread only, with raw system calls:
	// Go's Setuid and friends stop every thread to change them all, which costs a millisecond
	// here, and exec, which follows on this same thread, discards the others.
	groups := []uint32{uint32(cfg.GID)} // gid_t
	if _, _, errno := unix.RawSyscall(unix.SYS_SETGROUPS, 1, uintptr(unsafe.Pointer(&groups[0])), 0); errno != 0 {
		return fmt.Errorf("setgroups: %w", errno)
	}
	gid := uintptr(cfg.GID)
	if _, _, errno := unix.RawSyscall(unix.SYS_SETRESGID, gid, gid, gid); errno != 0 {
		return fmt.Errorf("setresgid: %w", errno)
	}
	uid := uintptr(cfg.UID)
	if _, _, errno := unix.RawSyscall(unix.SYS_SETRESUID, uid, uid, uid); errno != 0 {
		return fmt.Errorf("setresuid: %w", errno)
	}
	return seccomp.LoadFilter(seccomp.Filter{
		NoNewPrivs: true,
		Policy:     denyPolicy,
	})
}

// denyPolicy refuses (EPERM) the system calls that manage the machine rather than run a
// program: mounts, namespaces, kernel modules and keys, tracing, BPF, reboot, clocks, swap.
var denyPolicy = seccomp.Policy{
	DefaultAction: seccomp.ActionAllow,
	Syscalls: []seccomp.SyscallGroup{{
		Action: seccomp.ActionErrno,
		Names: []string{
			"mount", "umount2", "pivot_root", "chroot", "move_mount", "open_tree", "fsopen", "fsmount", "fsconfig", "fspick",
			"setns", "unshare", "kexec_load", "kexec_file_load", "init_module", "finit_module", "delete_module",
			"bpf", "ptrace", "process_vm_readv", "process_vm_writev", "perf_event_open",
			"keyctl", "add_key", "request_key", "reboot", "swapon", "swapoff", "acct", "quotactl",
			"settimeofday", "clock_settime", "clock_adjtime", "adjtimex", "syslog", "vhangup",
			"open_by_handle_at", "name_to_handle_at", "iopl", "ioperm", "lookup_dcookie", "userfaultfd",
			"sethostname", "setdomainname",
		},
	}},
}
