package bench

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// cpuMeter measures the CPU time (user + system) spent by this process (the client), a server
// process and the server's descendants (the functions) from its start.
type cpuMeter struct {
	server int // pid; 0 when the server runs in this process
	start  cpuTimes
}

type cpuTimes struct{ client, server, functions time.Duration }

// cpuPerOp is CPU time per operation, by process.
type cpuPerOp struct {
	cpuTimes
	separate bool // server and functions measured apart from the client
}

func startCPU(server int) *cpuMeter {
	return &cpuMeter{server: server, start: readCPU(server)}
}

// per returns the CPU time spent since the start divided by n operations.
func (m *cpuMeter) per(n int) cpuPerOp {
	end := readCPU(m.server)
	d := func(a, b time.Duration) time.Duration { return (b - a) / time.Duration(max(n, 1)) }
	return cpuPerOp{separate: m.server != 0, cpuTimes: cpuTimes{
		client:    d(m.start.client, end.client),
		server:    d(m.start.server, end.server),
		functions: d(m.start.functions, end.functions),
	}}
}

func (c cpuPerOp) total() time.Duration { return c.client + c.server + c.functions }

func (c cpuPerOp) String() string {
	if !c.separate {
		return fmt.Sprintf("client+server %.0fµs, function %.0fµs", us(c.client), us(c.functions))
	}
	if c.functions == 0 {
		return fmt.Sprintf("client %.0fµs + server %.0fµs = %.0fµs", us(c.client), us(c.server), us(c.total()))
	}
	return fmt.Sprintf("client %.0fµs + server %.0fµs + functions %.0fµs = %.0fµs",
		us(c.client), us(c.server), us(c.functions), us(c.total()))
}

// readCPU reads the CPU time of this process, of server and of server's descendants (of this
// process's when server is 0); server -1 reads this process only.
func readCPU(server int) cpuTimes {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	t := cpuTimes{client: time.Duration(ru.Utime.Nano() + ru.Stime.Nano())}
	if server < 0 {
		return t
	}
	root := server
	if root == 0 {
		root = os.Getpid()
	} else {
		t.server, _ = procCPU(server)
	}
	for _, pid := range descendants(root) {
		if c, ok := procCPU(pid); ok {
			t.functions += c
		}
	}
	return t
}

// procStat returns the fields of /proc/PID/stat after the command name (field 3 onwards).
func procStat(pid int) []string {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return nil
	}
	s := string(data)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return nil
	}
	return strings.Fields(s[i+1:])
}

// procCPU is utime + stime of pid (in USER_HZ ticks, 100 per second on Linux).
func procCPU(pid int) (time.Duration, bool) {
	f := procStat(pid)
	if len(f) < 13 {
		return 0, false
	}
	u, err1 := strconv.ParseInt(f[11], 10, 64)
	s, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, false
	}
	return time.Duration(u+s) * 10 * time.Millisecond, true
}

// descendants lists the live processes below pid.
func descendants(pid int) []int {
	entries, _ := filepath.Glob("/proc/[0-9]*")
	children := map[int][]int{}
	for _, e := range entries {
		p, err := strconv.Atoi(filepath.Base(e))
		if err != nil {
			continue
		}
		f := procStat(p)
		if len(f) < 2 {
			continue
		}
		if pp, err := strconv.Atoi(f[1]); err == nil {
			children[pp] = append(children[pp], p)
		}
	}
	var out []int
	queue := children[pid]
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		out = append(out, p)
		queue = append(queue, children[p]...)
	}
	return out
}
