// Command helper is the entrypoint the sandbox conformance suite (package sandboxtest) runs in
// every sandbox. It prints one line to stdout and one to stderr, reports what it sees to the
// handler served at $AWS_LAMBDA_RUNTIME_API, then does what SANDBOXTEST_MODE says:
//
//	exit    exits with the status in SANDBOXTEST_EXIT
//	child   starts a copy of itself that reports its pid and stays, and stays too
//	alloc   waits for the suite's go-ahead, allocates and touches 64 MiB, reports, and stays
//	(else)  stays
//
// It is a static Go program so that it runs in any driver's root file system.
package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"time"
)

// Report is what the helper tells the suite.
type Report struct {
	Pid    int      `json:"pid"`
	Cwd    string   `json:"cwd"`
	Env    []string `json:"env"`
	Marker string   `json:"marker"` // $LAMBDA_TASK_ROOT/marker.txt
	Local  string   `json:"local"`  // ./marker.txt
	// $LAMBDA_RUNTIME_DIR/marker.txt and $_LAMBENT_OPT_DIR/marker.txt
	RuntimeMarker string `json:"runtimeMarker"`
	OptMarker     string `json:"optMarker"`
}

var api = "http://" + os.Getenv("AWS_LAMBDA_RUNTIME_API")

func main() {
	fmt.Println("sandboxtest stdout " + os.Getenv("SANDBOXTEST_NONCE"))
	fmt.Fprintln(os.Stderr, "sandboxtest stderr "+os.Getenv("SANDBOXTEST_NONCE"))
	if os.Getenv("SANDBOXTEST_ROLE") == "child" {
		post("/event/child", Report{Pid: os.Getpid()})
		stay()
	}
	wd, _ := os.Getwd()
	marker, _ := os.ReadFile(filepath.Join(os.Getenv("LAMBDA_TASK_ROOT"), "marker.txt"))
	local, _ := os.ReadFile("marker.txt")
	rt, _ := os.ReadFile(filepath.Join(os.Getenv("LAMBDA_RUNTIME_DIR"), "marker.txt"))
	opt, _ := os.ReadFile(filepath.Join(os.Getenv("_LAMBENT_OPT_DIR"), "marker.txt"))
	post("/hello", Report{Pid: os.Getpid(), Cwd: wd, Env: os.Environ(), Marker: string(marker), Local: string(local),
		RuntimeMarker: string(rt), OptMarker: string(opt)})

	switch os.Getenv("SANDBOXTEST_MODE") {
	case "exit":
		code, _ := strconv.Atoi(os.Getenv("SANDBOXTEST_EXIT"))
		os.Exit(code)
	case "child":
		self, err := os.Executable()
		if err != nil {
			self = os.Args[0]
		}
		cmd := exec.Command(self)
		cmd.Env = append(os.Environ(), "SANDBOXTEST_ROLE=child")
		cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
		if err := cmd.Start(); err != nil {
			fmt.Fprintln(os.Stderr, "sandboxtest: start child:", err)
			os.Exit(2)
		}
		post("/event/spawned", Report{Pid: cmd.Process.Pid})
	case "alloc":
		resp, err := http.Get(api + "/gate")
		if err != nil {
			os.Exit(2)
		}
		resp.Body.Close()
		buf := make([]byte, 64<<20)
		for i := 0; i < len(buf); i += 4096 {
			buf[i] = 1
		}
		post("/event/allocated", Report{Pid: os.Getpid()})
		runtime.KeepAlive(buf)
	}
	stay()
}

func post(path string, r Report) {
	body, _ := json.Marshal(r)
	resp, err := http.Post(api+path, "application/json", bytes.NewReader(body))
	if err != nil {
		fmt.Fprintln(os.Stderr, "sandboxtest:", err)
		os.Exit(2)
	}
	resp.Body.Close()
}

func stay() {
	for {
		time.Sleep(time.Hour)
	}
}
