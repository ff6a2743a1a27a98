package state

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

const (
	logStream  = "LAMBENT_LOGS"
	logSubject = "lambent.logs."
	// LogStreamHeader carries the CloudWatch-style log stream name of a record.
	LogStreamHeader = "Lambent-Log-Stream"
)

// Logs is the bounded stream of function log records, one subject per function and
// execution environment (lambent.logs.FUNCTION.ENVIRONMENT). Appends are gathered for up to
// logBatchDelay (or logBatchSize bytes) and published together: one JetStream message per
// environment and batch instead of one per invocation. Read publishes what is pending first.
type Logs struct {
	js jetstream.JetStream

	mu      sync.Mutex
	pending map[string]*pendingLog // by subject
	size    int
	timer   *time.Timer
}

type pendingLog struct {
	stream string
	text   []byte
}

const (
	logBatchDelay = 100 * time.Millisecond
	logBatchSize  = 64 << 10
)

func openLogs(ctx context.Context, js jetstream.JetStream, o Options) (*Logs, error) {
	_, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:     logStream,
		Subjects: []string{logSubject + ">"},
		Storage:  jetstream.FileStorage,
		Replicas: o.Replicas,
		MaxAge:   o.LogMaxAge,
		MaxBytes: o.LogMaxBytes,
		Discard:  jetstream.DiscardOld,
	})
	if err != nil {
		return nil, fmt.Errorf("log stream: %w", err)
	}
	return &Logs{js: js, pending: map[string]*pendingLog{}}, nil
}

// Append adds log text to the next batch of its environment; it never waits for JetStream:
// logs are off the invocation's path. function and env must be valid subject tokens.
func (l *Logs) Append(function, env, stream string, text []byte) error {
	subject := logSubject + function + "." + env
	l.mu.Lock()
	defer l.mu.Unlock()
	p := l.pending[subject]
	if p == nil {
		p = &pendingLog{stream: stream}
		l.pending[subject] = p
	}
	p.text = append(p.text, text...)
	l.size += len(text)
	if l.size >= logBatchSize {
		return l.publishLocked()
	}
	if l.timer == nil {
		l.timer = time.AfterFunc(logBatchDelay, func() {
			l.mu.Lock()
			defer l.mu.Unlock()
			l.publishLocked()
		})
	}
	return nil
}

func (l *Logs) publishLocked() error {
	if l.timer != nil {
		l.timer.Stop()
		l.timer = nil
	}
	var errs []error
	for subject, p := range l.pending {
		msg := &nats.Msg{Subject: subject, Data: p.text, Header: nats.Header{LogStreamHeader: []string{p.stream}}}
		_, err := l.js.PublishMsgAsync(msg)
		errs = append(errs, err)
	}
	clear(l.pending)
	l.size = 0
	return errors.Join(errs...)
}

// flush publishes what is pending and waits for JetStream to have it.
func (l *Logs) flush() {
	l.mu.Lock()
	l.publishLocked()
	l.mu.Unlock()
	select {
	case <-l.js.PublishAsyncComplete():
	case <-time.After(5 * time.Second):
	}
}

// LogRecord is one stored batch.
type LogRecord struct {
	Stream string
	Time   time.Time
	Text   []byte
}

// Read returns function's stored log records, oldest first.
func (l *Logs) Read(ctx context.Context, function string) ([]LogRecord, error) {
	l.flush()
	c, err := l.js.OrderedConsumer(ctx, logStream, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{logSubject + function + ".>"},
	})
	if err != nil {
		return nil, err
	}
	var out []LogRecord
	for {
		batch, err := c.FetchNoWait(256)
		if err != nil {
			return nil, err
		}
		n := 0
		for m := range batch.Messages() {
			n++
			meta, _ := m.Metadata()
			rec := LogRecord{Stream: m.Headers().Get(LogStreamHeader), Text: m.Data()}
			if meta != nil {
				rec.Time = meta.Timestamp
			}
			out = append(out, rec)
		}
		if n == 0 {
			return out, batch.Error()
		}
	}
}
