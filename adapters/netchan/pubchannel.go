package netchan

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"strconv"
	"sync"
	"time"

	"github.com/heraldmq/herald/client"
)

// PubOption configures a PubChannel.
type PubOption func(*pubOptions)

type pubOptions struct {
	async      int
	closeCheck time.Duration
	err        error
}

// WithAsync pipelines publishes: up to window messages may be unconfirmed.
// Publish then returns once the message is queued, Flush waits for every
// confirmation, and the first failure is sticky: it is returned by every
// later Publish, Flush and Close, and Close does not seal the channel.
func WithAsync(window int) PubOption {
	return func(o *pubOptions) {
		if window < 1 {
			o.err = fmt.Errorf("%w: WithAsync(%d): window must be at least 1", ErrInvalidOption, window)
			return
		}
		o.async = window
	}
}

// WithCloseCheck sets how long OpenPubChannel looks for a close marker on a
// server without server-side sealing (default 1 s; 0 = no check).
func WithCloseCheck(wait time.Duration) PubOption {
	return func(o *pubOptions) {
		if wait < 0 {
			o.err = fmt.Errorf("%w: WithCloseCheck(%v)", ErrInvalidOption, wait)
			return
		}
		o.closeCheck = wait
	}
}

// PubChannel publishes to one network channel. It is safe for concurrent
// use; Publish calls from one goroutine are stored in call order.
type PubChannel struct {
	c       *Client
	cl      *client.Client
	name    string
	channel string
	opts    pubOptions

	sendMu sync.Mutex // serialises synchronous publishes and the close marker

	mu      sync.Mutex
	md5     hash.Hash
	count   uint64
	closed  bool
	done    chan struct{} // closed when the handle is released
	sticky  error         // async: first failure
	pending []*pending    // async: unconfirmed, in publish order
	byID    map[string]*pending
	changed chan struct{} // async: closed and replaced on every confirmation or failure

	async *asyncSender
}

type pending struct {
	id      string
	payload []byte
	done    bool
}

// NewPubChannel opens a publisher for the network channel name (see
// OpenPubChannel), with the publish timeout as deadline.
func (c *Client) NewPubChannel(name string, opts ...PubOption) (*PubChannel, error) {
	ctx, cancel := c.timeoutCtx()
	defer cancel()
	return c.OpenPubChannel(ctx, name, opts...)
}

// OpenPubChannel opens a publisher for the network channel name. On a
// server without server-side sealing it first looks for a close marker
// (WithCloseCheck) and returns ErrChannelClosed if the channel was closed.
func (c *Client) OpenPubChannel(ctx context.Context, name string, opts ...PubOption) (*PubChannel, error) {
	ch, err := channelName(c.opts.prefix, name)
	if err != nil {
		return nil, err
	}
	po := pubOptions{closeCheck: time.Second}
	for _, o := range opts {
		if o != nil {
			o(&po)
		}
	}
	if po.err != nil {
		return nil, po.err
	}
	cl, herald, err := c.connHerald(ctx)
	if err != nil {
		return nil, err
	}
	if !herald && po.closeCheck > 0 {
		if err := c.checkClosed(ctx, cl, ch, po.closeCheck); err != nil {
			return nil, err
		}
	}
	p := &PubChannel{c: c, cl: cl, name: name, channel: ch, opts: po, md5: md5.New(),
		done: make(chan struct{}), byID: map[string]*pending{}, changed: make(chan struct{})}
	if err := c.track(p); err != nil {
		return nil, err
	}
	if po.async > 0 {
		p.async = startAsync(p, po.async)
	}
	return p, nil
}

// checkClosed reads the last message of ch, waiting up to wait for it, and
// reports ErrChannelClosed when it is a close marker.
func (c *Client) checkClosed(ctx context.Context, cl *client.Client, ch string, wait time.Duration) error {
	sctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	msgs, err := cl.SubscribeToEventsStoreWithRequest(sctx, &client.EventsStoreSubscription{
		Channel: ch, ClientId: c.opts.clientID + "-check-" + newID()[:8], SubscriptionType: client.StartFromLastEvent(),
	}, nil)
	if err != nil {
		return fmt.Errorf("netchan: close check of %s: %w", ch, err)
	}
	defer func() {
		cancel()
		for range msgs { // wait for the subscription to end
		}
	}()
	select {
	case ev, ok := <-msgs:
		if ok && isMarker(ev.Tags) {
			return fmt.Errorf("%w: %s", ErrChannelClosed, ch)
		}
	case <-sctx.Done():
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("netchan: close check of %s: %w", ch, err)
		}
	}
	return nil
}

// Name returns the network channel name.
func (p *PubChannel) Name() string { return p.name }

// Publish stores m (nil is an empty message) with the publish timeout as
// deadline; see PublishContext.
func (p *PubChannel) Publish(m []byte) error {
	return p.PublishContext(context.Background(), m)
}

// PublishContext stores m (nil is an empty message). Synchronous (the
// default): it returns once the broker stored it, retrying transport
// failures with the same message id until the publish timeout. With
// WithAsync it returns once m is queued.
func (p *PubChannel) PublishContext(ctx context.Context, m []byte) error {
	ctx, cancel := context.WithTimeout(ctx, p.c.opts.publishTimeout)
	defer cancel()
	if p.async != nil {
		return p.async.publish(ctx, m)
	}
	p.sendMu.Lock()
	defer p.sendMu.Unlock()
	p.mu.Lock()
	closed := p.closed
	p.mu.Unlock()
	if closed {
		return ErrClosed
	}
	es := p.event(m, nil)
	if err := p.c.store(ctx, p.cl, es, p.done); err != nil {
		return fmt.Errorf("netchan: publish to %s: %w", p.name, err)
	}
	p.mu.Lock()
	p.md5.Write(m)
	p.count++
	p.mu.Unlock()
	return nil
}

func (p *PubChannel) event(m []byte, tags map[string]string) *client.EventStore {
	all := map[string]string{tagPublisher: p.c.opts.clientID}
	for k, v := range tags {
		all[k] = v
	}
	es := p.cl.ES().SetId(newID()).SetChannel(p.channel).SetMetadata(metadataMarker).SetBody(m)
	es.Tags = all
	return es
}

// store sends es until it is stored, retrying unavailability with backoff
// and the same id until ctx ends or stop is closed.
func (c *Client) store(ctx context.Context, cl *client.Client, es *client.EventStore, stop <-chan struct{}) error {
	delay := 50 * time.Millisecond
	for {
		res, err := es.Send(ctx)
		if err == nil && res != nil && !res.Sent && res.Err != nil {
			err = res.Err
		}
		if err == nil {
			return nil
		}
		if errors.Is(err, client.ErrChannelSealed) {
			return fmt.Errorf("%w: %w", ErrChannelClosed, err)
		}
		if errors.Is(err, client.ErrClientClosed) {
			return fmt.Errorf("%w: %w", ErrClosed, err)
		}
		if ctx.Err() != nil {
			return fmt.Errorf("%w (last attempt: %w)", ctx.Err(), err)
		}
		if !errors.Is(err, client.ErrUnavailable) {
			return err
		}
		c.log.Debug("netchan: publish retry", "channel", es.Channel, "err", err)
		t := time.NewTimer(delay)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("%w (last attempt: %w)", ctx.Err(), err)
		case <-stop:
			t.Stop()
			return ErrClosed
		}
		delay = min(2*delay, time.Second)
	}
}

// Flush waits until every asynchronous publish is confirmed; it returns the
// sticky failure if one occurred. Synchronous channels return nil at once.
func (p *PubChannel) Flush(ctx context.Context) error {
	if p.async == nil {
		return nil
	}
	for {
		p.mu.Lock()
		err, n, changed := p.sticky, len(p.pending), p.changed
		p.mu.Unlock()
		if err != nil {
			return err
		}
		if n == 0 {
			return nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			err := fmt.Errorf("netchan: flush %s: %w", p.name, ctx.Err())
			p.fail(err)
			return err
		}
	}
}

// Close seals the channel with the publish timeout as deadline; see
// CloseContext.
func (p *PubChannel) Close() error {
	ctx, cancel := p.c.timeoutCtx()
	defer cancel()
	return p.CloseContext(ctx)
}

// CloseContext flushes, writes the close marker (tags herald.seal,
// netchan.md5, netchan.count) and releases the handle. On Herald storing
// the marker seals the channel: every later send to it fails. If an
// asynchronous publish failed, the channel is not sealed and the failure
// is returned. Calls after the first return nil.
func (p *PubChannel) CloseContext(ctx context.Context) error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true // refuse new publishes; those in flight finish
	p.mu.Unlock()
	defer p.release()
	if err := p.Flush(ctx); err != nil {
		return fmt.Errorf("netchan: close %s: not sealed: %w", p.name, err)
	}
	p.sendMu.Lock()
	defer p.sendMu.Unlock()
	p.mu.Lock()
	sum, count := hex.EncodeToString(p.md5.Sum(nil)), p.count
	p.mu.Unlock()
	es := p.event(nil, map[string]string{tagSeal: "true", tagMD5: sum, tagCount: strconv.FormatUint(count, 10)})
	if err := p.c.store(ctx, p.cl, es, nil); err != nil {
		return fmt.Errorf("netchan: close %s: %w", p.name, err)
	}
	return nil
}

// Release gives up the handle without sealing the channel: other
// publishers may continue it. Unconfirmed asynchronous publishes are
// abandoned (their outcome is unknown).
func (p *PubChannel) Release() error {
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
	p.release()
	return nil
}

func (p *PubChannel) release() {
	p.mu.Lock()
	select {
	case <-p.done:
		p.mu.Unlock()
		return
	default:
	}
	close(p.done)
	p.mu.Unlock()
	if p.async != nil {
		p.async.stop()
	}
	p.c.untrack(p)
}

// Md5 returns the MD5 of the payloads this handle published and got
// confirmed, in order.
func (p *PubChannel) Md5() []byte {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.md5.Sum(nil)
}

// Count returns how many payloads this handle published and got confirmed.
func (p *PubChannel) Count() uint64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.count
}

// fail records the first asynchronous failure.
func (p *PubChannel) fail(err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.sticky == nil {
		p.sticky = err
		close(p.changed)
		p.changed = make(chan struct{})
	}
}
