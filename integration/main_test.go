package integration

import (
	"testing"

	"github.com/lambent/lambent/internal/lambenttest"
)

func TestMain(m *testing.M) { lambenttest.Main(m) }
