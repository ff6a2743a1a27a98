package bench

import (
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// latencies are the durations of single operations.
type latencies []time.Duration

// sample times op once per call of more and returns the durations, in order.
func sample(more func() bool, op func() error) (latencies, error) {
	lat := make(latencies, 0, 1<<14)
	for more() {
		t0 := time.Now()
		if err := op(); err != nil {
			return lat, err
		}
		lat = append(lat, time.Since(t0))
	}
	return lat, nil
}

// percentile returns the q-th quantile (0 < q ≤ 1) by nearest rank.
func (l latencies) percentile(q float64) time.Duration {
	if len(l) == 0 {
		return 0
	}
	s := slices.Clone(l)
	slices.Sort(s)
	i := int(q*float64(len(s))+0.999999) - 1
	return s[max(0, min(i, len(s)-1))]
}

func (l latencies) p50() time.Duration { return l.percentile(0.50) }
func (l latencies) p99() time.Duration { return l.percentile(0.99) }

// parallel runs op from callers goroutines, one call per true result of more (asked from the
// calling goroutine only, so more may be b.Loop), and returns how many calls completed and how
// many per second, from the first call handed out to the last one finished.
func parallel(callers int, more func() bool, op func() error) (n int, perSec float64, err error) {
	tickets := make(chan struct{})
	var (
		wg      sync.WaitGroup
		done    atomic.Int64
		failed  atomic.Bool
		errOnce sync.Once
	)
	for range callers {
		wg.Go(func() {
			for range tickets {
				if e := op(); e != nil {
					errOnce.Do(func() { err = e })
					failed.Store(true)
					continue
				}
				done.Add(1)
			}
		})
	}
	start := time.Now()
	for !failed.Load() && more() {
		tickets <- struct{}{}
	}
	close(tickets)
	wg.Wait()
	return int(done.Load()), float64(done.Load()) / time.Since(start).Seconds(), err
}

// forDuration is a more for sample and parallel that runs for d.
func forDuration(d time.Duration) func() bool {
	var end time.Time
	return func() bool {
		if end.IsZero() {
			end = time.Now().Add(d)
		}
		return time.Now().Before(end)
	}
}

// times is a more for sample and parallel that runs n times.
func times(n int) func() bool {
	return func() bool {
		n--
		return n >= 0
	}
}

func us(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }
func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// verdict says whether a figure meets its target.
func verdict(ok bool) string {
	if ok {
		return "meets target"
	}
	return "MISSES target"
}

// load is the machine's load average, for the result lines: other work on the machine inflates
// every figure, the floors included, and p99 most.
func load() string {
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(data))
	if len(f) < 3 {
		return ""
	}
	return " [load avg " + f[0] + " " + f[1] + " " + f[2] + "]"
}
