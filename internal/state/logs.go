package state

import (
	"context"
	"fmt"
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
// execution environment (lambent.logs.FUNCTION.ENVIRONMENT).
type Logs struct {
	js jetstream.JetStream
}

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
	return &Logs{js: js}, nil
}

// Append stores one batch of log text without waiting for JetStream's acknowledgement: logs
// are off the invocation's path. function and env must be valid subject tokens.
func (l *Logs) Append(function, env, stream string, text []byte) error {
	msg := &nats.Msg{Subject: logSubject + function + "." + env, Data: text,
		Header: nats.Header{LogStreamHeader: []string{stream}}}
	_, err := l.js.PublishMsgAsync(msg)
	return err
}

func (l *Logs) flush() {
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
		if info := c.CachedInfo(); info != nil && info.NumPending == 0 && len(out) > 0 {
			return out, nil
		}
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
