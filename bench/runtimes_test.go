package bench

import (
	"os/exec"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"

	"github.com/lambent/lambent/internal/lambenttest"
)

// BenchmarkColdStartPython is the end-to-end cold start of a Python echo handler (python3.12,
// Lambent's runtime client on the host's python3), beside `python3 -c pass` measured in the same
// run. Target: p50 ≤ 40 ms.
func BenchmarkColdStartPython(b *testing.B) {
	managedColdStart(b, "python3.12", "app.handler", "app.py",
		"def handler(event, context):\n    return event\n", 40, "/usr/bin/python3", "-c", "pass")
}

// BenchmarkColdStartNode is the same for a Node.js echo handler (nodejs20.x, an ES module),
// beside `node -e 0`. Target: p50 ≤ 60 ms.
func BenchmarkColdStartNode(b *testing.B) {
	managedColdStart(b, "nodejs20.x", "index.handler", "index.mjs",
		"export const handler = async (event) => event;\n", 60, "/usr/bin/node", "-e", "0")
}

func managedColdStart(b *testing.B, runtime, handler, file, source string, targetMs float64, floorCmd ...string) {
	if _, err := exec.LookPath(floorCmd[0]); err != nil {
		b.Skipf("%s is not installed: %v", floorCmd[0], err)
	}
	floor := func() latencies {
		var l latencies
		for range 20 {
			cmd := exec.Command(floorCmd[0], floorCmd[1:]...)
			cmd.Env = []string{"PATH=/usr/bin:/bin"} // as clean as a function's: no NODE_EXTRA_CA_CERTS and the like
			t0 := time.Now()
			if err := cmd.Run(); err != nil {
				b.Fatal(err)
			}
			l = append(l, time.Since(t0))
		}
		return l
	}
	before := floor()
	t := startTarget(b)
	zip := lambenttest.Zip(b, map[string]lambenttest.File{file: {Data: []byte(source)}})
	(&lambenttest.Server{Endpoint: t.endpoint}).CreateFunction(b, "hello", zip, func(in *lambda.CreateFunctionInput) {
		in.Runtime = types.Runtime(runtime)
		in.Handler = aws.String(handler)
	})
	lat := t.coldInvokes(b, "hello")
	all := append(before, floor()...)
	p50, p99 := lat.p50(), lat.p99()
	b.ReportMetric(ms(p50), "p50-ms")
	b.ReportMetric(ms(p99), "p99-ms")
	b.ReportMetric(ms(all.p50()), "floor-ms")
	report(b, "%s cold start p50 %.1fms (≤%.0fms: %s) p99 %.1fms | floor `%s` p50 %.1fms | ratio p50 %.2f×%s",
		runtime, ms(p50), targetMs, verdict(ms(p50) <= targetMs), ms(p99), joinArgs(floorCmd), ms(all.p50()),
		float64(p50)/float64(all.p50()), t.where()+load())
}

func joinArgs(a []string) string {
	s := a[0]
	for _, x := range a[1:] {
		s += " " + x
	}
	return s
}
