package client

import (
	"context"
	"errors"
	"fmt"
	"io"

	kubemqpb "github.com/heraldmq/herald/api/kubemq"
)

// Event is a real-time pub/sub message: delivered to the subscribers of its
// channel that are connected when it is sent, and not stored. Received
// events are Events too.
type Event struct {
	Id       string
	Channel  string
	Metadata string
	Body     []byte
	ClientId string
	Tags     map[string]string

	client *Client
}

// NewEvent returns an empty event that is not bound to a client: send it
// with EventsClient.Send or bind it with Client.SetEvent.
func NewEvent() *Event { return &Event{} }

// SetId sets the event id; the server generates one when it is empty.
func (e *Event) SetId(id string) *Event {
	e.Id = id
	return e
}

// SetClientId sets the sender's client id (default: the client's).
func (e *Event) SetClientId(clientId string) *Event {
	e.ClientId = clientId
	return e
}

// SetMetadata sets the metadata; an event needs metadata or a body.
func (e *Event) SetMetadata(metadata string) *Event {
	e.Metadata = metadata
	return e
}

// SetChannel sets the channel (no wildcards).
func (e *Event) SetChannel(channel string) *Event {
	e.Channel = channel
	return e
}

// SetBody sets the body; an event needs metadata or a body.
func (e *Event) SetBody(body []byte) *Event {
	e.Body = body
	return e
}

// SetTags replaces the tags with a copy of tags.
func (e *Event) SetTags(tags map[string]string) *Event {
	e.Tags = copyTags(tags)
	return e
}

// AddTag adds one tag.
func (e *Event) AddTag(key, value string) *Event {
	if e.Tags == nil {
		e.Tags = map[string]string{}
	}
	e.Tags[key] = value
	return e
}

// Send publishes the event. It returns once the server has accepted it,
// whether or not anyone subscribes.
func (e *Event) Send(ctx context.Context) error {
	if e.client == nil {
		return ErrNoTransportDefined
	}
	return e.client.sendEvent(ctx, e)
}

func (e *Event) String() string {
	if e == nil {
		return "<nil>"
	}
	return fmt.Sprintf("Id: %s, Channel: %s, Metadata: %s, Body: %s, ClientId: %s, Tags: %s", e.Id, e.Channel, e.Metadata, e.Body, e.ClientId, e.Tags)
}

func copyTags(tags map[string]string) map[string]string {
	out := make(map[string]string, len(tags))
	for k, v := range tags {
		out[k] = v
	}
	return out
}

func (e *Event) toPB(c *Client) *kubemqpb.Event {
	return &kubemqpb.Event{
		EventID: e.Id, ClientID: c.clientID(e.ClientId), Channel: e.Channel,
		Metadata: e.Metadata, Body: e.Body, Tags: e.Tags,
	}
}

func (c *Client) sendEvent(ctx context.Context, e *Event) error {
	if err := c.check(); err != nil {
		return err
	}
	pb := e.toPB(c)
	ctx, tags, span := c.startSend(ctx, sendSpan{op: "send", channel: pb.Channel, clientID: pb.ClientID, id: pb.EventID, bodySize: len(pb.Body)}, pb.Tags)
	pb.Tags = tags
	res, err := c.t.sendEvent(ctx, pb)
	if err == nil && !res.Sent {
		err = inBandError(res.Error)
	}
	endSpan(span, err)
	return err
}

// StreamEvents sends every event read from eventsCh over one stream, which is
// cheaper than Send per event. It blocks until ctx ends or the client
// closes (run it on its own goroutine). Events the server refuses are
// reported on errCh, as are stream failures; the stream is re-opened
// unless auto-reconnect is off, in which case StreamEvents returns after
// reporting. Sends on errCh never block: an error nobody is ready to read
// is dropped. Events sent while the stream breaks may be lost.
func (c *Client) StreamEvents(ctx context.Context, eventsCh chan *Event, errCh chan error) {
	c.retry(ctx, "events stream", errCh, func(ctx context.Context) (bool, error) {
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		stream, err := c.t.sendEventsStream(ctx)
		if err != nil {
			return false, err
		}
		recvErr := make(chan error, 1)
		readerDone := make(chan struct{})
		if !c.goroutine(func() {
			defer close(readerDone)
			for {
				res, err := stream.Recv()
				if err != nil {
					recvErr <- err
					return
				}
				if !res.Sent {
					notify(errCh, fmt.Errorf("client: event %q: %w", res.EventID, inBandError(res.Error)))
				}
			}
		}) {
			return false, ErrClientClosed
		}
		defer func() { cancel(); <-readerDone }()
		for {
			select {
			case <-ctx.Done():
				return true, ctx.Err()
			case err := <-recvErr:
				return true, streamEnded(err)
			case e, ok := <-eventsCh:
				if !ok {
					_ = stream.CloseSend()
					select {
					case <-recvErr:
					case <-ctx.Done():
						return true, ctx.Err()
					}
					return true, errInputClosed
				}
				if e == nil {
					continue
				}
				pb := e.toPB(c)
				pb.Tags = injectTags(ctx, c.opts.propagator, pb.Tags)
				if err := stream.Send(pb); err != nil {
					if errors.Is(err, io.EOF) {
						err = streamEnded(<-recvErr)
					}
					notify(errCh, fmt.Errorf("client: event %q not sent: %w", e.Id, err))
					return true, err
				}
			}
		}
	})
}

// streamEnded turns the clean end of a stream the client did not end into
// an error.
func streamEnded(err error) error {
	if err == nil || err == io.EOF {
		return errStreamEnded
	}
	return err
}

var errStreamEnded = errors.New("client: stream ended by the server")

// notify sends err on errCh without blocking; a nil errCh drops it.
func notify(errCh chan<- error, err error) {
	if errCh == nil || err == nil {
		return
	}
	select {
	case errCh <- err:
	default:
	}
}
