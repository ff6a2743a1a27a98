package invoke

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/lambent/lambent/internal/function"
	"github.com/lambent/lambent/internal/state"
)

// MaxAsyncPayload is the largest event an asynchronous invocation accepts (AWS: 1 MB).
const MaxAsyncPayload = 1 << 20

// asyncEvent is an accepted asynchronous invocation as queued.
type asyncEvent struct {
	Function      string    `json:"function"`
	RequestID     string    `json:"requestId"`
	Payload       []byte    `json:"payload"`
	ClientContext string    `json:"clientContext,omitempty"`
	Accepted      time.Time `json:"accepted"`
}

// Functions looks functions up by name.
type Functions interface {
	Get(name string) (*function.Function, error)
}

// Async accepts asynchronous invocations into the durable queue and works them off.
type Async struct {
	Queue     *state.Queue
	Router    *Router
	Functions Functions
	// RetryDelays are the waits before each retry of a failed event (AWS: two retries,
	// about one and two minutes apart).
	RetryDelays []time.Duration
}

// Enqueue stores req durably; once it returns without error the invocation will run at least once.
func (a *Async) Enqueue(ctx context.Context, req Request) error {
	data, err := json.Marshal(asyncEvent{
		Function: req.Function.Name, RequestID: req.RequestID, Payload: req.Payload,
		ClientContext: req.ClientContext, Accepted: time.Now().UTC(),
	})
	if err != nil {
		return err
	}
	return a.Queue.Publish(ctx, req.Function.Name, req.RequestID, data)
}

// Run works off the queue until ctx ends, parallel invocations at a time.
func (a *Async) Run(ctx context.Context, parallel int) error {
	return a.Queue.Consume(ctx, parallel, a.handle)
}

func (a *Async) handle(ctx context.Context, d state.Delivery) {
	log := a.Router.cfg.Logger
	var ev asyncEvent
	if err := json.Unmarshal(d.Data, &ev); err != nil {
		log.Error("dropping undecodable async event", "err", err)
		d.Ack()
		return
	}
	f, err := a.Functions.Get(ev.Function)
	if errors.Is(err, function.ErrNotFound) {
		log.Warn("dropping async event of deleted function", "function", ev.Function, "requestId", ev.RequestID)
		d.Ack()
		return
	}
	if err == nil && f.State != function.StateActive {
		err = ErrNotReady
	}
	if err != nil {
		d.Retry(time.Second)
		return
	}
	// Keep the delivery ours while the function runs (up to 15 minutes).
	stop := make(chan struct{})
	go func() {
		t := time.NewTicker(a.Queue.AckWait() / 3)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				d.InProgress()
			}
		}
	}()
	resp, err := a.Router.Invoke(ctx, Request{
		Function: f, Payload: ev.Payload, RequestID: ev.RequestID, ClientContext: ev.ClientContext,
	})
	close(stop)
	retry := err != nil || resp.FunctionError != ""
	if errors.Is(err, ErrThrottled) {
		d.Retry(time.Second) // throttles are retried without counting against the event
		return
	}
	if retry && int(d.Attempt) <= len(a.RetryDelays) {
		log.Info("async invocation failed; will retry", "function", ev.Function, "requestId", ev.RequestID,
			"attempt", d.Attempt, "err", err)
		d.Retry(a.RetryDelays[d.Attempt-1])
		return
	}
	if retry {
		log.Warn("async invocation failed after all retries; discarding", "function", ev.Function,
			"requestId", ev.RequestID, "attempts", d.Attempt)
	}
	d.Ack()
}
