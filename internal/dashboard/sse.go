package dashboard

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// keepalive is how often an idle event stream gets a comment line, so
// proxies and browsers keep it open.
const keepalive = 15 * time.Second

// eventStream writes server-sent events. Its methods are safe for
// concurrent use.
type eventStream struct {
	mu sync.Mutex
	w  http.ResponseWriter
	rc *http.ResponseController
}

// startStream answers r with an event stream. It lifts the server's write
// deadline, which would otherwise cut the stream.
func startStream(w http.ResponseWriter) (*eventStream, error) {
	rc := http.NewResponseController(w)
	if err := rc.SetWriteDeadline(time.Time{}); err != nil && !errors.Is(err, http.ErrNotSupported) {
		return nil, err
	}
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	s := &eventStream{w: w, rc: rc}
	if _, err := fmt.Fprint(w, "retry: 3000\n\n"); err != nil {
		return nil, err
	}
	return s, rc.Flush()
}

// send writes one event named event with v as JSON data; id, when not
// empty, becomes the event's id (the browser sends the last one back as
// Last-Event-ID when it reconnects).
func (s *eventStream) send(event, id string, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if id != "" {
		if _, err := fmt.Fprintf(s.w, "id: %s\n", id); err != nil {
			return err
		}
	}
	if _, err := fmt.Fprintf(s.w, "event: %s\ndata: %s\n\n", event, data); err != nil {
		return err
	}
	return s.rc.Flush()
}

// problem tells the page that something failed without ending the stream.
func (s *eventStream) problem(err error) error {
	return s.send("problem", "", map[string]string{"error": err.Error()})
}

// end tells the page the stream is over for good (it should not reconnect),
// with the reason when there is one.
func (s *eventStream) end(err error) error {
	msg := ""
	if err != nil {
		msg = err.Error()
	}
	return s.send("end", "", map[string]string{"error": msg})
}

func (s *eventStream) comment() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, err := fmt.Fprint(s.w, ": keepalive\n\n"); err != nil {
		return err
	}
	return s.rc.Flush()
}

// keepAlive writes comments while the stream is otherwise idle, until the
// returned stop is called (stop waits for it).
func (s *eventStream) keepAlive() (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(keepalive)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				if s.comment() != nil {
					return
				}
			}
		}
	})
	return func() {
		close(done)
		wg.Wait()
	}
}

// lastEventID returns the Last-Event-ID a reconnecting browser sent, as a
// number, or 0.
func lastEventID(r *http.Request) uint64 {
	n, _ := strconv.ParseUint(r.Header.Get("Last-Event-ID"), 10, 64)
	return n
}
