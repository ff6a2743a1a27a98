// Command lambent runs the Lambent server: an AWS Lambda compatible platform in one binary.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/lambent/lambent/internal/server"
)

const usage = `usage: lambent server [flags]

Runs the Lambda API on --listen with state embedded under --data-dir.
Run 'lambent server -h' for the flags.
`

func main() {
	if len(os.Args) < 2 || os.Args[1] != "server" {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	if err := serve(os.Args[2:]); err != nil {
		fmt.Fprintln(os.Stderr, "lambent:", err)
		os.Exit(1)
	}
}

func serve(args []string) error {
	fs := flag.NewFlagSet("lambent server", flag.ContinueOnError)
	cfg := server.Config{}
	fs.StringVar(&cfg.Listen, "listen", "127.0.0.1:9770", "address of the Lambda API")
	fs.StringVar(&cfg.DataDir, "data-dir", defaultDataDir(), "where state, code and keys are kept")
	fs.StringVar(&cfg.Region, "region", "us-east-1", "the region in ARNs and AWS_REGION")
	fs.StringVar(&cfg.AccountID, "account-id", "000000000000", "the account id in ARNs")
	fs.StringVar(&cfg.Sandbox, "sandbox", "process", "execution environment driver: process")
	fs.StringVar(&cfg.NATSURL, "nats-url", "", "external NATS cluster (default: embedded)")
	fs.DurationVar(&cfg.IdleTimeout, "idle-timeout", 10*time.Minute, "how long an idle environment stays warm")
	verbose := fs.Bool("v", false, "log debug messages")
	if err := fs.Parse(args); err != nil {
		return err
	}
	level := slog.LevelInfo
	if *verbose {
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
	endpoint := "http://" + sys.Addr()
	fmt.Printf(`Lambent is serving the Lambda API at %s (data in %s)

Use it from the AWS CLI or an SDK with:
  export AWS_ACCESS_KEY_ID=%s
  export AWS_SECRET_ACCESS_KEY=%s
  export AWS_DEFAULT_REGION=%s
  aws lambda list-functions --endpoint-url %s
`, endpoint, cfg.DataDir, sys.Credentials.AccessKeyID, sys.Credentials.SecretAccessKey, cfg.Region, endpoint)
	<-ctx.Done()
	cfg.Logger.Info("shutting down")
	return sys.Close()
}

func defaultDataDir() string {
	if d := os.Getenv("XDG_DATA_HOME"); d != "" {
		return filepath.Join(d, "lambent")
	}
	if home, err := os.UserHomeDir(); err == nil {
		return filepath.Join(home, ".local", "share", "lambent")
	}
	return "lambent-data"
}
