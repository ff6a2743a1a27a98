package logs

import (
	"bytes"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// memSink keeps what a Capture stores.
type memSink struct {
	mu   sync.Mutex
	text bytes.Buffer
	keys map[string]bool
}

func (s *memSink) Append(function, env, stream string, text []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.keys == nil {
		s.keys = map[string]bool{}
	}
	s.keys[function+"/"+env+"/"+stream] = true
	s.text.Write(text)
	return nil
}

func (s *memSink) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.text.String()
}

func newCapture(t *testing.T) (*Capture, *memSink) {
	t.Helper()
	sink := &memSink{}
	c, err := NewCapture(sink, "fn", "env1", "2024/01/02/[$LATEST]env1")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c, sink
}

func awaitTail(t *testing.T, ch <-chan []byte) []byte {
	t.Helper()
	select {
	case tail := <-ch:
		return tail
	case <-time.After(10 * time.Second):
		t.Fatal("tail never delivered")
	}
	return nil
}

var reportRE = regexp.MustCompile(`^REPORT RequestId: (\S+)\tDuration: (\d+\.\d\d) ms\tBilled Duration: (\d+) ms\tMemory Size: (\d+) MB\tMax Memory Used: (\d+) MB\t(Init Duration: (\d+\.\d\d) ms\t)?$`)

func TestInvocationFraming(t *testing.T) {
	tests := []struct {
		name   string
		report Report
		memory int64
		want   string // the REPORT line
	}{
		{
			name:   "cold",
			report: Report{RequestID: "r1", Duration: 1234567 * time.Nanosecond, BilledMs: 2, MemoryMB: 128, InitDuration: 45678 * time.Microsecond},
			memory: 20<<20 + 1,
			want:   "REPORT RequestId: r1\tDuration: 1.23 ms\tBilled Duration: 2 ms\tMemory Size: 128 MB\tMax Memory Used: 21 MB\tInit Duration: 45.68 ms\t",
		},
		{
			name:   "warm",
			report: Report{RequestID: "r2", Duration: 250 * time.Millisecond, BilledMs: 250, MemoryMB: 512},
			memory: 30 << 20,
			want:   "REPORT RequestId: r2\tDuration: 250.00 ms\tBilled Duration: 250 ms\tMemory Size: 512 MB\tMax Memory Used: 30 MB\t",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, sink := newCapture(t)
			c.SetMemory(func() int64 { return tt.memory })
			c.Start(tt.report.RequestID, "$LATEST")
			fmt.Fprintln(c.Output(), "hello from the function")
			fmt.Fprint(c.Output(), "no newline")
			c.Line("a platform line")
			tt.report.WantTail = true
			tail := string(awaitTail(t, c.End(tt.report)))
			want := "START RequestId: " + tt.report.RequestID + " Version: $LATEST\n" +
				"hello from the function\nno newline\na platform line\n" +
				"END RequestId: " + tt.report.RequestID + "\n" + tt.want + "\n"
			if tail != want {
				t.Errorf("tail\n%q\nwant\n%q", tail, want)
			}
			if !reportRE.MatchString(tt.want) {
				t.Errorf("REPORT line %q does not match %v", tt.want, reportRE)
			}
			// The tail is handed out only after the invocation's log went to the sink.
			if got := sink.String(); got != want {
				t.Errorf("stored\n%q\nwant\n%q", got, want)
			}
		})
	}
}

func TestTailIsLast4KB(t *testing.T) {
	c, _ := newCapture(t)
	c.Start("r1", "$LATEST")
	line := strings.Repeat("x", 99) + "\n"
	for range 100 {
		c.Output().WriteString(line)
	}
	tail := awaitTail(t, c.End(Report{RequestID: "r1", MemoryMB: 128, WantTail: true}))
	if len(tail) != TailSize {
		t.Errorf("tail of %d bytes, want %d", len(tail), TailSize)
	}
	if !bytes.HasSuffix(tail, []byte("END RequestId: r1\nREPORT RequestId: r1\tDuration: 0.00 ms\tBilled Duration: 0 ms\tMemory Size: 128 MB\tMax Memory Used: 0 MB\t\n")) {
		t.Errorf("tail ends %q", tail[len(tail)-200:])
	}
}

func TestTailsArePerInvocation(t *testing.T) {
	c, sink := newCapture(t)
	for i := range 3 {
		id := fmt.Sprint("r", i)
		c.Start(id, "$LATEST")
		fmt.Fprintln(c.Output(), "output of", id)
		tail := string(awaitTail(t, c.End(Report{RequestID: id, WantTail: true})))
		if !strings.HasPrefix(tail, "START RequestId: "+id+" ") || strings.Count(tail, "START") != 1 ||
			!strings.Contains(tail, "output of "+id+"\n") {
			t.Errorf("tail of %s:\n%s", id, tail)
		}
	}
	if got := strings.Count(sink.String(), "REPORT RequestId: "); got != 3 {
		t.Errorf("stored %d REPORT lines, want 3", got)
	}
}

// Long lines without a newline reach the reader in buffer-sized chunks; a marked line written
// after one may be split across two chunks and must still be recognised.
func TestLongLinesBeforeEnd(t *testing.T) {
	for _, n := range []int{readSize - 40, readSize - 20, readSize - 10, readSize - 1, readSize, readSize + 5,
		2*readSize - 13, 3*readSize + 7, 300 << 10} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			c, sink := newCapture(t)
			c.Start("r1", "$LATEST")
			text := strings.Repeat("y", n)
			c.Output().WriteString(text) // returns once the reader has taken all but the last pipeful
			tail := awaitTail(t, c.End(Report{RequestID: "r1", WantTail: true}))
			if !bytes.Contains(tail, []byte("y\nEND RequestId: r1\nREPORT RequestId: r1\t")) {
				t.Errorf("tail ends %q", tail[max(len(tail)-300, 0):])
			}
			stored := sink.String()
			if want := "START RequestId: r1 Version: $LATEST\n" + text + "\nEND RequestId: r1\n"; !strings.HasPrefix(stored, want) {
				t.Errorf("stored text of %d bytes differs from the %d written", len(stored), len(want))
			}
		})
	}
}

func TestCloseFailsPendingTails(t *testing.T) {
	sink := &memSink{}
	c, err := NewCapture(sink, "fn", "env1", "s")
	if err != nil {
		t.Fatal(err)
	}
	c.mu.Lock()
	c.reports = append(c.reports, &Report{RequestID: "lost", tail: make(chan []byte, 1)})
	r := c.reports[0]
	c.mu.Unlock()
	c.Close()
	if tail := awaitTail(t, r.tail); tail != nil {
		t.Errorf("tail %q after Close, want nil", tail)
	}
}
