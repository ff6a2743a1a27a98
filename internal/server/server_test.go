package server_test

import (
	"context"
	"strings"
	"testing"

	"github.com/lambent/lambent/internal/lambenttest"
	"github.com/lambent/lambent/internal/server"
)

func TestDataDirLock(t *testing.T) {
	dir := t.TempDir()
	cfg := lambenttest.Config(t, dir)
	first, err := server.Start(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := server.Start(context.Background(), cfg); err == nil || !strings.Contains(err.Error(), "in use by another lambent server") {
		t.Fatalf("second Start on the same data dir = %v, want it refused", err)
	}
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	if err := first.Close(); err != nil {
		t.Fatalf("second Close = %v, want the first's result", err)
	}
	again, err := server.Start(context.Background(), cfg)
	if err != nil {
		t.Fatalf("Start after Close: %v", err)
	}
	again.Close()
}

func TestUnknownSandbox(t *testing.T) {
	cfg := lambenttest.Config(t, t.TempDir())
	cfg.Sandbox = "vm"
	if _, err := server.Start(context.Background(), cfg); err == nil || !strings.Contains(err.Error(), `unknown --sandbox "vm"`) {
		t.Fatalf("Start with --sandbox vm = %v", err)
	}
}
