package lambenttest

import (
	"log/slog"
	"testing"
)

// Logger writes the server's log to the test's output, shown when a test fails or with -v.
func Logger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
}
