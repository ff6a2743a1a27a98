package process_test

import (
	"testing"

	"github.com/lambent/lambent/internal/sandbox"
	"github.com/lambent/lambent/internal/sandbox/process"
	"github.com/lambent/lambent/internal/sandbox/sandboxtest"
)

func TestConformance(t *testing.T) {
	sandboxtest.Run(t, func(t *testing.T) sandbox.Driver { return process.New() })
}
