// Package logs captures what an execution environment writes, frames it per invocation with
// Lambda's START, END and REPORT lines, stores it and returns the tail Invoke asks for.
// It does not decide what an invocation cost or how it ended; it prints what it is told.
package logs

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"sync"
	"time"
)

// TailSize is how much of an invocation's log Invoke returns with LogType Tail.
const TailSize = 4096

// flushSize bounds the text held before it is stored.
const flushSize = 256 << 10

// readSize is the size of the buffer output is read through.
const readSize = 64 << 10

// Sink stores log text for a function's log stream.
type Sink interface {
	Append(function, env, stream string, text []byte) error
}

// Report is what the REPORT line says of one invocation.
type Report struct {
	RequestID    string
	Duration     time.Duration
	BilledMs     int64
	MemoryMB     int
	InitDuration time.Duration // zero on warm invocations
	WantTail     bool
	tail         chan []byte
}

// Capture reads one environment's output through a pipe. Lambent writes its own lines into the
// same pipe, behind a private marker, so they keep their order with the function's output.
type Capture struct {
	sink                  Sink
	function, env, stream string
	marker                []byte
	r, w                  *os.File
	done                  chan struct{}

	mu      sync.Mutex
	reports []*Report
	memory  func() int64
}

// NewCapture starts reading a new pipe for function's environment env, stored as stream.
func NewCapture(sink Sink, function, env, stream string) (*Capture, error) {
	r, w, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	var tok [8]byte
	rand.Read(tok[:])
	c := &Capture{
		sink: sink, function: function, env: env, stream: stream,
		marker: []byte("\x1flambent-" + hex.EncodeToString(tok[:]) + "\x1f"),
		r:      r, w: w, done: make(chan struct{}),
	}
	go c.read()
	return c, nil
}

// Output is the pipe's write end, for the sandbox's stdout and stderr.
func (c *Capture) Output() *os.File { return c.w }

// Stream is the log stream name.
func (c *Capture) Stream() string { return c.stream }

// SetMemory sets how REPORT learns the environment's peak memory in bytes.
func (c *Capture) SetMemory(fn func() int64) {
	c.mu.Lock()
	c.memory = fn
	c.mu.Unlock()
}

// Start writes the START line of an invocation.
func (c *Capture) Start(requestID, version string) {
	c.control('L', "START RequestId: "+requestID+" Version: "+version)
}

// Line writes a platform line (a timeout, a crash) into the log.
func (c *Capture) Line(text string) { c.control('L', text) }

// End writes END and REPORT for r. With r.WantTail it returns a channel that delivers the
// last TailSize bytes of the invocation's log once every line before END has been read.
func (c *Capture) End(r Report) <-chan []byte {
	rp := &r
	if r.WantTail {
		rp.tail = make(chan []byte, 1)
	}
	c.mu.Lock()
	c.reports = append(c.reports, rp)
	c.mu.Unlock()
	c.control('E', "END RequestId: "+r.RequestID)
	return rp.tail
}

// Close stops capturing once everything written so far has been stored.
func (c *Capture) Close() {
	c.w.Close()
	<-c.done
}

// control writes one marked line; a single write of under PIPE_BUF bytes is never interleaved
// with the function's writes.
func (c *Capture) control(kind byte, text string) {
	buf := make([]byte, 0, len(c.marker)+len(text)+2)
	buf = append(append(append(append(buf, c.marker...), kind), text...), '\n')
	c.w.Write(buf)
}

func (c *Capture) read() {
	defer close(c.done)
	defer c.r.Close()
	br := bufio.NewReaderSize(c.r, readSize)
	var batch, kept []byte // kept: the end of text already stored, for tails
	var carry []byte       // the start of a chunk that may continue in the next one
	open := false          // the text stored last ends without a newline
	flush := func() {
		if len(batch) == 0 {
			return
		}
		c.sink.Append(c.function, c.env, c.stream, batch)
		kept = lastBytes(append(kept, batch...), TailSize)
		batch = nil
	}
	for {
		chunk, err := br.ReadSlice('\n')
		line := chunk
		if len(carry) > 0 {
			line, carry = append(carry, chunk...), nil
		}
		i := bytes.Index(line, c.marker)
		if err == bufio.ErrBufferFull && len(line) < 2*readSize {
			// A line longer than the buffer: store what cannot be (the start of) a marked
			// record and look at the rest again with the next chunk.
			cut := max(len(line)-len(c.marker)+1, 0)
			if i >= 0 {
				cut = i
			}
			batch = append(batch, line[:cut]...)
			open = open || cut > 0
			carry = append([]byte(nil), line[cut:]...)
			if len(batch) > flushSize {
				flush()
			}
			continue
		}
		if len(line) > 0 {
			if i >= 0 && len(line) > i+len(c.marker) {
				if batch = append(batch, line[:i]...); open || i > 0 {
					batch = append(batch, '\n') // marked lines start on a line of their own
				}
				rec := line[i+len(c.marker):]
				kind, text := rec[0], bytes.TrimSuffix(rec[1:], []byte("\n"))
				if kind == 'L' && bytes.HasPrefix(text, []byte("START ")) {
					flush()
					kept = nil
				}
				batch = append(append(batch, text...), '\n')
				if kind == 'E' {
					r, tail := c.finish(&batch, kept)
					flush()
					kept = nil
					if r != nil && r.tail != nil {
						r.tail <- tail // after the invocation's log is handed to the sink
					}
				}
			} else {
				batch = append(batch, line...)
			}
			open = line[len(line)-1] != '\n'
			if len(batch) > flushSize {
				flush()
			}
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		if err != nil {
			if err != io.EOF {
				batch = fmt.Appendf(batch, "lambent: reading function output: %v\n", err)
			}
			flush()
			c.failPending()
			return
		}
	}
}

// finish appends the REPORT line of the oldest pending report and returns it with its tail.
func (c *Capture) finish(batch *[]byte, kept []byte) (*Report, []byte) {
	c.mu.Lock()
	if len(c.reports) == 0 {
		c.mu.Unlock()
		return nil, nil
	}
	r := c.reports[0]
	c.reports = c.reports[1:]
	memory := c.memory
	c.mu.Unlock()
	var used int64
	if memory != nil {
		used = memory()
	}
	*batch = appendReport(*batch, r, used)
	if r.tail == nil {
		return r, nil
	}
	return r, lastBytes(append(append([]byte(nil), kept...), (*batch)...), TailSize)
}

func (c *Capture) failPending() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, r := range c.reports {
		if r.tail != nil {
			r.tail <- nil
		}
	}
	c.reports = nil
}

func appendReport(b []byte, r *Report, maxMemory int64) []byte {
	b = fmt.Appendf(b, "REPORT RequestId: %s\tDuration: %.2f ms\tBilled Duration: %d ms\tMemory Size: %d MB\tMax Memory Used: %d MB\t",
		r.RequestID, float64(r.Duration.Microseconds())/1000, r.BilledMs, r.MemoryMB, (maxMemory+(1<<20)-1)>>20)
	if r.InitDuration > 0 {
		b = fmt.Appendf(b, "Init Duration: %.2f ms\t", float64(r.InitDuration.Microseconds())/1000)
	}
	return append(b, '\n')
}

func lastBytes(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}
