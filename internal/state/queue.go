package state

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

const (
	asyncStream   = "LAMBENT_ASYNC"
	asyncSubject  = "lambent.async."
	asyncConsumer = "lambent-async"
)

// Queue is the durable stream of accepted asynchronous invocations. Delivery is at least once:
// a message leaves the queue only when its worker acknowledges it.
type Queue struct {
	js      jetstream.JetStream
	cons    jetstream.Consumer
	ackWait time.Duration
}

func openQueue(ctx context.Context, js jetstream.JetStream, o Options) (*Queue, error) {
	_, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:       asyncStream,
		Subjects:   []string{asyncSubject + ">"},
		Retention:  jetstream.WorkQueuePolicy,
		Storage:    jetstream.FileStorage,
		Replicas:   o.Replicas,
		MaxAge:     6 * time.Hour, // Lambda keeps unprocessed events up to 6 hours
		Duplicates: 2 * time.Minute,
	})
	if err != nil {
		return nil, fmt.Errorf("async stream: %w", err)
	}
	cons, err := js.CreateOrUpdateConsumer(ctx, asyncStream, jetstream.ConsumerConfig{
		Durable:       asyncConsumer,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       o.AsyncAckWait,
		MaxDeliver:    -1,
		MaxAckPending: 10000,
	})
	if err != nil {
		return nil, fmt.Errorf("async consumer: %w", err)
	}
	return &Queue{js: js, cons: cons, ackWait: o.AsyncAckWait}, nil
}

// Publish stores an invocation for function durably; it returns once JetStream has it.
// id deduplicates retried publishes.
func (q *Queue) Publish(ctx context.Context, function, id string, data []byte) error {
	msg := &nats.Msg{Subject: asyncSubject + function, Data: data, Header: nats.Header{}}
	_, err := q.js.PublishMsg(ctx, msg, jetstream.WithMsgID(id))
	return err
}

// Delivery is one delivery of a queued invocation.
type Delivery struct {
	msg     jetstream.Msg
	Data    []byte
	Attempt uint64 // 1 for the first delivery
}

// Ack removes the invocation from the queue.
func (d Delivery) Ack() error { return d.msg.DoubleAck(context.Background()) }

// Retry asks for redelivery after delay.
func (d Delivery) Retry(delay time.Duration) error { return d.msg.NakWithDelay(delay) }

// InProgress extends the acknowledgement deadline.
func (d Delivery) InProgress() error { return d.msg.InProgress() }

// AckWait is how often a long-running worker must call InProgress.
func (q *Queue) AckWait() time.Duration { return q.ackWait }

// Consume hands deliveries to handle, at most parallel at a time, until ctx ends. It takes a
// message from JetStream only when a handler is free, so a message never waits unacknowledged
// in a local buffer while its AckWait runs out (which would deliver it twice).
func (q *Queue) Consume(ctx context.Context, parallel int, handle func(context.Context, Delivery)) error {
	sem := make(chan struct{}, parallel)
	for {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			return ctx.Err()
		}
		msg, err := q.next(ctx)
		if err != nil {
			<-sem
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return err
		}
		meta, err := msg.Metadata()
		if err != nil {
			<-sem
			_ = msg.Term()
			continue
		}
		go func() {
			defer func() { <-sem }()
			handle(ctx, Delivery{msg: msg, Data: msg.Data(), Attempt: meta.NumDelivered})
		}()
	}
}

// next waits for one message until ctx ends or the connection is closed. Other errors (an
// external cluster electing a leader, a reconnect) are waited out.
func (q *Queue) next(ctx context.Context) (jetstream.Msg, error) {
	backoff := 50 * time.Millisecond
	for {
		wait, cancel := context.WithTimeout(ctx, 30*time.Second)
		msg, err := q.cons.Next(jetstream.FetchContext(wait))
		cancel()
		switch {
		case err == nil:
			return msg, nil
		case ctx.Err() != nil:
			return nil, ctx.Err()
		case errors.Is(err, nats.ErrTimeout), errors.Is(err, context.DeadlineExceeded):
			continue // nothing queued yet
		case errors.Is(err, nats.ErrConnectionClosed):
			return nil, err
		}
		select {
		case <-time.After(backoff):
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}
