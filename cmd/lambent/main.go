// Command lambent runs the Lambent server: an AWS Lambda compatible platform in one binary.
// main parses flags and wires them into server.Config; everything else lives in internal/.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/lambent/lambent/internal/sandbox/linux"
	"github.com/lambent/lambent/internal/server"
)

const usage = `usage: lambent server [flags]

Runs the Lambda API on --listen with state embedded under --data-dir.
Run 'lambent server -h' for the flags.
`

func main() {
	if len(os.Args) > 1 && os.Args[1] == linux.InitArg {
		linux.Init() // this process is a sandbox's init, started by the linux driver; never returns
	}
	if len(os.Args) < 2 || os.Args[1] != "server" {
		if len(os.Args) == 2 && (os.Args[1] == "-h" || os.Args[1] == "--help" || os.Args[1] == "help") {
			fmt.Print(usage)
			return
		}
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	cfg, verbose, err := parseFlags(os.Args[2:], os.Getenv, os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		os.Exit(2) // the flag package has printed the error and the usage
	}
	if err := serve(cfg, verbose); err != nil {
		fmt.Fprintln(os.Stderr, "lambent:", err)
		os.Exit(1)
	}
}

// parseFlags reads `lambent server`'s flags into a Config.
func parseFlags(args []string, getenv func(string) string, output io.Writer) (cfg server.Config, verbose bool, err error) {
	fs := flag.NewFlagSet("lambent server", flag.ContinueOnError)
	fs.SetOutput(output)
	fs.StringVar(&cfg.Listen, "listen", "127.0.0.1:9770", "address of the Lambda API")
	fs.StringVar(&cfg.DataDir, "data-dir", defaultDataDir(getenv), "where state, code and keys are kept")
	fs.StringVar(&cfg.Region, "region", "us-east-1", "the region in ARNs and AWS_REGION")
	fs.StringVar(&cfg.AccountID, "account-id", "000000000000", "the account id in ARNs")
	fs.StringVar(&cfg.Sandbox, "sandbox", "linux", "execution environment driver: "+server.Drivers)
	fs.StringVar(&cfg.Network, "network", "none",
		"functions' outbound network: none, or egress (a veth pair and NAT; needs --sandbox=linux)")
	fs.StringVar(&cfg.NATSURL, "nats-url", "", "external NATS cluster (default: embedded)")
	fs.DurationVar(&cfg.IdleTimeout, "idle-timeout", 10*time.Minute, "how long an idle environment stays warm")
	fs.DurationVar(&cfg.AsyncAckWait, "async-ack-wait", 30*time.Second,
		"how long an async invocation in flight when a server died waits before it is redelivered")
	fs.Func("runtime-interpreter", "`NAME=PATH`: the interpreter of managed runtime NAME (python3.12, nodejs20.x, …); repeatable",
		func(v string) error {
			name, path, ok := strings.Cut(v, "=")
			if !ok || name == "" || !strings.HasPrefix(path, "/") {
				return fmt.Errorf("want NAME=/absolute/path, got %q", v)
			}
			if cfg.Interpreters == nil {
				cfg.Interpreters = map[string]string{}
			}
			cfg.Interpreters[name] = path
			return nil
		})
	fs.BoolVar(&verbose, "v", false, "log debug messages")
	if err := fs.Parse(args); err != nil {
		return cfg, false, err
	}
	if fs.NArg() > 0 {
		err := fmt.Errorf("unexpected argument %q", fs.Arg(0))
		fmt.Fprintln(output, err)
		fs.Usage()
		return cfg, false, err
	}
	switch {
	case cfg.Network != "none" && cfg.Network != "egress":
		err = fmt.Errorf("--network %q: want none or egress", cfg.Network)
	case cfg.Network == "egress" && cfg.Sandbox != "linux":
		err = fmt.Errorf("--network egress needs --sandbox=linux (the %s driver cannot restrict a function's network)", cfg.Sandbox)
	}
	if err != nil {
		fmt.Fprintln(output, err)
		fs.Usage()
		return cfg, false, err
	}
	cfg.Getenv = getenv
	return cfg, verbose, nil
}

func serve(cfg server.Config, verbose bool) error {
	level := slog.LevelInfo
	if verbose {
		level = slog.LevelDebug
	}
	cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	sys, err := server.Start(ctx, cfg)
	if err != nil {
		return err
	}
	if cfg.Sandbox == "process" {
		cfg.Logger.Warn("sandbox driver 'process' isolates nothing: functions run as plain processes of this user")
	}
	fmt.Print(banner("http://"+sys.Addr(), cfg.DataDir, cfg.Region, sys.Credentials.AccessKeyID, sys.Credentials.SecretAccessKey))
	<-ctx.Done()
	cfg.Logger.Info("shutting down")
	return sys.Close()
}

// banner is what start-up prints: the endpoint and the lines that point the AWS CLI at it.
func banner(endpoint, dataDir, region, akid, secret string) string {
	return fmt.Sprintf(`Lambent is serving the Lambda API at %s (data in %s)

Use it from the AWS CLI or an SDK with:
  export AWS_ACCESS_KEY_ID=%s
  export AWS_SECRET_ACCESS_KEY=%s
  export AWS_DEFAULT_REGION=%s
  aws lambda list-functions --endpoint-url %s
`, endpoint, dataDir, akid, secret, region, endpoint)
}

// defaultDataDir follows the XDG base directory convention: $XDG_DATA_HOME/lambent, else
// ~/.local/share/lambent.
func defaultDataDir(getenv func(string) string) string {
	if d := getenv("XDG_DATA_HOME"); d != "" {
		return filepath.Join(d, "lambent")
	}
	if home := getenv("HOME"); home != "" {
		return filepath.Join(home, ".local", "share", "lambent")
	}
	if home, err := os.UserHomeDir(); err == nil {
		return filepath.Join(home, ".local", "share", "lambent")
	}
	return "lambent-data"
}
