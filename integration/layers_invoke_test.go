package integration

import (
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"

	"github.com/lambent/lambent/internal/lambenttest"
)

// TestLayersAtInvoke runs functions whose code comes partly from layers merged at /opt: a
// third-party pure-Python package, an npm package installed now, a later layer overriding an
// earlier one, and a custom runtime's bootstrap brought by a layer.
func TestLayersAtInvoke(t *testing.T) { eachDriver(t, layerCases) }

func layerCases(t *testing.T, s *lambenttest.Server) {
	c := s.Client()
	files := func(m map[string]string) []byte { return sourceZip(t, m) }
	withLayers := func(runtime, handler string, arns ...string) func(*lambda.CreateFunctionInput) {
		return func(in *lambda.CreateFunctionInput) {
			in.Runtime, in.Handler, in.Layers = types.Runtime(runtime), aws.String(handler), arns
		}
	}

	t.Run("python package from a layer", func(t *testing.T) {
		pkg := "/usr/lib/python3/dist-packages/jmespath" // pure Python; Debian's awscli depends on it
		if _, err := os.Stat(pkg); err != nil {
			t.Skipf("no third-party pure-Python package to ship: %v", err)
		}
		layer := map[string]string{}
		filepath.WalkDir(pkg, func(p string, d fs.DirEntry, err error) error {
			if err == nil && !d.IsDir() && strings.HasSuffix(p, ".py") {
				b, _ := os.ReadFile(p)
				layer["python/jmespath/"+strings.TrimPrefix(p, pkg+"/")] = string(b)
			}
			return nil
		})
		l := publish(t, c, "jmespath", files(layer))
		s.CreateFunction(t, "py-layer", files(map[string]string{"app.py": `
import jmespath
def handler(event, context):
    return {"found": jmespath.search("a.b", event), "file": jmespath.__file__}
`}), withLayers("python3.12", "app.handler", aws.ToString(l.LayerVersionArn)))
		got := fnOK(t, c, "py-layer", `{"a":{"b":42}}`)
		if got["found"] != float64(42) || !strings.HasSuffix(got["file"].(string), "python/jmespath/__init__.py") ||
			strings.HasPrefix(got["file"].(string), "/usr/") {
			t.Errorf("jmespath from the layer: %v", got)
		}
	})

	t.Run("npm package from a layer", func(t *testing.T) {
		npm, err := exec.LookPath("npm")
		if err != nil {
			t.Skip("npm is not installed")
		}
		dir := t.TempDir()
		install := exec.Command(npm, "install", "--no-audit", "--no-fund", "--prefix", filepath.Join(dir, "nodejs"), "is-number@7.0.0")
		if out, err := install.CombinedOutput(); err != nil {
			t.Skipf("npm install is-number: %v\n%s", err, out)
		}
		layer := map[string]string{}
		filepath.WalkDir(filepath.Join(dir, "nodejs", "node_modules"), func(p string, d fs.DirEntry, err error) error {
			if err == nil && !d.IsDir() {
				b, _ := os.ReadFile(p)
				layer[strings.TrimPrefix(p, dir+"/")] = string(b)
			}
			return nil
		})
		l := publish(t, c, "is-number", files(layer))
		s.CreateFunction(t, "node-layer", files(map[string]string{"index.js": `
const isNumber = require('is-number');
exports.handler = async (event) => ({ yes: isNumber(event.x), no: isNumber('abc') });
`}), withLayers("nodejs20.x", "index.handler", aws.ToString(l.LayerVersionArn)))
		if got := fnOK(t, c, "node-layer", `{"x":5}`); got["yes"] != true || got["no"] != false {
			t.Errorf("is-number from the layer: %v", got)
		}
	})

	t.Run("later layers win", func(t *testing.T) {
		a := publish(t, c, "shared-a", files(map[string]string{"python/shared.py": "VALUE = 'a'\n", "python/only_a.py": "X = 1\n"}))
		b := publish(t, c, "shared-b", files(map[string]string{"python/shared.py": "VALUE = 'b'\n"}))
		s.CreateFunction(t, "py-order", files(map[string]string{"app.py": `
import shared, only_a
def handler(event, context):
    return {"value": shared.VALUE, "x": only_a.X}
`}), withLayers("python3.12", "app.handler", aws.ToString(a.LayerVersionArn), aws.ToString(b.LayerVersionArn)))
		if got := fnOK(t, c, "py-order", `{}`); got["value"] != "b" || got["x"] != float64(1) {
			t.Errorf("merged layers: %v; want shared from the later layer, only_a from the earlier", got)
		}
	})

	t.Run("bootstrap from a layer", func(t *testing.T) {
		l := publish(t, c, "custom-runtime", lambenttest.Function(t, "probe"))
		s.CreateFunction(t, "layer-bootstrap", files(map[string]string{"README": "code without a bootstrap"}),
			withLayers("provided.al2023", "bootstrap", aws.ToString(l.LayerVersionArn)))
		if got := fnOK(t, c, "layer-bootstrap", `{"cmd":"echo","k":"v"}`); got["k"] != "v" {
			t.Errorf("bootstrap from /opt: %v", got)
		}
	})
}
