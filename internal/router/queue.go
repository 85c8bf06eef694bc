package router

import (
	"context"
	"hash/fnv"

	"github.com/rapporthq/rapport/internal/store"
)

// queueDepth is how many events each routing shard holds before Enqueue
// leaves further events to the sweeper.
const queueDepth = 10_000

// RunQueue routes enqueued events in the background with the given number
// of routing goroutines, until ctx ends. A customer's events always go to
// the same goroutine, so they are routed in the order they were stored.
// It returns at once.
func (r *Router) RunQueue(ctx context.Context, shards int) {
	if shards <= 0 {
		shards = 8
	}
	r.queue = make([]chan store.Event, shards)
	for i := range r.queue {
		ch := make(chan store.Event, queueDepth)
		r.queue[i] = ch
		go func() {
			for {
				select {
				case <-ctx.Done():
					return
				case e := <-ch:
					if _, err := r.Route(ctx, e); err != nil {
						r.log().Warn("event stored, routing deferred to the sweeper", "event_id", e.ID, "error", err)
					}
				}
			}
		}()
	}
}

// Enqueue asks for a stored event to be routed in the background. It never
// blocks: without a running queue, or when the customer's shard is full,
// the event stays unrouted in the store and the sweeper routes it.
func (r *Router) Enqueue(e store.Event) {
	if len(r.queue) == 0 {
		return
	}
	h := fnv.New32a()
	h.Write([]byte(e.CustomerID))
	select {
	case r.queue[h.Sum32()%uint32(len(r.queue))] <- e:
	default:
		r.log().Warn("routing queue full; the sweeper will route the event", "event_id", e.ID)
	}
}
