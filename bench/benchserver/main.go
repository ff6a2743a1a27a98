// Command benchserver runs a Lambent server for the benchmarks in a process of its own, as an
// operator runs `lambent server`: the same server.Start, the process sandbox, state embedded
// under -data-dir, the key from LAMBENT_ACCESS_KEY_ID and LAMBENT_SECRET_ACCESS_KEY.
//
// It adds two things the benchmarks need and `lambent server` must not have: a control listener
// whose POST /forget?function=NAME drops every environment of NAME (what the server does itself
// when a function's configuration changes), so that a benchmark can force the next invoke to
// start cold without measuring anything else; and -cpuprofile, to profile the server alone.
//
// It prints "api=ADDR control=ADDR" on the first line of stdout and exits when stdin closes.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"runtime/pprof"
	"time"

	"github.com/lambent/lambent/internal/sandbox/linux"
	"github.com/lambent/lambent/internal/server"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == linux.InitArg {
		linux.Init() // a sandbox's init, started by the linux driver
	}
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "benchserver:", err)
		os.Exit(1)
	}
}

func run() error {
	cfg := server.Config{Region: "us-east-1", AccountID: "000000000000"}
	flag.StringVar(&cfg.Sandbox, "sandbox", "process", "sandbox driver: process or linux")
	flag.StringVar(&cfg.DataDir, "data-dir", "", "where state and code are kept")
	flag.DurationVar(&cfg.IdleTimeout, "idle-timeout", 10*time.Minute, "how long an idle environment stays warm")
	cpuprofile := flag.String("cpuprofile", "", "write the server's CPU profile to this file")
	flag.Parse()
	if cfg.DataDir == "" {
		return fmt.Errorf("-data-dir is required")
	}
	cfg.Listen = "127.0.0.1:0"
	cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))

	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			return err
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer func() {
			pprof.StopCPUProfile()
			f.Close()
		}()
	}
	sys, err := server.Start(context.Background(), cfg)
	if err != nil {
		return err
	}
	defer sys.Close()

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	control := http.NewServeMux()
	control.HandleFunc("POST /forget", func(w http.ResponseWriter, r *http.Request) {
		sys.Router.Forget(r.URL.Query().Get("function"))
		w.WriteHeader(http.StatusNoContent)
	})
	go http.Serve(ln, control)

	fmt.Printf("api=%s control=%s\n", sys.Addr(), ln.Addr())
	io.Copy(io.Discard, os.Stdin)
	return nil
}
