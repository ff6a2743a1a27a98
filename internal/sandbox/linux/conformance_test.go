//go:build linux

package linux

import (
	"testing"

	"github.com/lambent/lambent/internal/sandbox"
	"github.com/lambent/lambent/internal/sandbox/sandboxtest"
)

func TestConformance(t *testing.T) {
	sandboxtest.Run(t, func(t *testing.T) sandbox.Driver {
		return newDriver(t)
	})
}
