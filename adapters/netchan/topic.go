package netchan

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/cespare/xxhash/v2"
	"github.com/heraldmq/herald/client"
)

// Partitioning says how a Publisher picks a message's partition.
type Partitioning int

// The partitioning rules of the SeaweedFS messaging client.
const (
	NonNullKeyHash Partitioning = iota // default: hash of the key if non-nil, else round robin
	KeyHash                            // hash of the key (nil key hashes as empty)
	RoundRobin                         // a per-Publisher counter
)

// DefaultPartitions is the partition count of a topic without
// WithPartitions (the SeaweedFS client's fixed 4).
const DefaultPartitions = 4

// TopicConfiguration is the partition layout of a topic; publishers and
// subscribers of a topic must agree on PartitionCount.
type TopicConfiguration struct {
	PartitionCount int // 0 → DefaultPartitions
	Partitioning   Partitioning
}

// TopicOption configures a Publisher, a Subscriber or DeleteTopicContext.
type TopicOption func(*topicOptions)

type topicOptions struct {
	partitions   int
	partitioning Partitioning
	resume       bool
	serial       bool
	err          error
}

// WithPartitions sets the partition count, 1 to 1024 (default 4).
func WithPartitions(n int) TopicOption {
	return func(o *topicOptions) {
		if n < 1 || n > maxPartitions {
			o.err = fmt.Errorf("%w: WithPartitions(%d): want 1 to %d", ErrInvalidPartition, n, maxPartitions)
			return
		}
		o.partitions = n
	}
}

// WithPartitioning sets how publishers pick partitions (default
// NonNullKeyHash).
func WithPartitioning(p Partitioning) TopicOption {
	return func(o *topicOptions) {
		if p < NonNullKeyHash || p > RoundRobin {
			o.err = fmt.Errorf("%w: partitioning %d", ErrInvalidOption, p)
			return
		}
		o.partitioning = p
	}
}

// WithTopicConfiguration sets the partition count and partitioning at once.
func WithTopicConfiguration(tc TopicConfiguration) TopicOption {
	return func(o *topicOptions) {
		if tc.PartitionCount != 0 {
			WithPartitions(tc.PartitionCount)(o)
		}
		WithPartitioning(tc.Partitioning)(o)
	}
}

// ResumeTopic gives a Subscriber one durable cursor per partition, named by
// its subscriber id (acked durable reads on Herald, events-store groups
// elsewhere); see Resume.
func ResumeTopic() TopicOption { return func(o *topicOptions) { o.resume = true } }

// WithSerialHandler makes a Subscriber call its function from one goroutine
// at a time (by default partitions are handled concurrently).
func WithSerialHandler() TopicOption { return func(o *topicOptions) { o.serial = true } }

func topicOpts(opts []TopicOption) (topicOptions, error) {
	o := topicOptions{partitions: DefaultPartitions}
	for _, opt := range opts {
		if opt != nil {
			opt(&o)
		}
	}
	return o, o.err
}

// partitionOf maps a hash onto [0, n) as the SeaweedFS client did: through
// a signed conversion.
func partitionOf(h uint64, n int) int {
	p := int(int64(h) % int64(n))
	if p < 0 {
		p += n
	}
	return p
}

// Publisher publishes to the partitions of a topic. It is safe for
// concurrent use; a topic is never sealed.
type Publisher struct {
	c    *Client
	cl   *client.Client
	id   string
	base string
	opts topicOptions
	done chan struct{}

	mu      sync.Mutex
	counter uint64
	closed  bool
}

// NewPublisher opens a publisher of namespace/topic (namespace without
// dots).
func (c *Client) NewPublisher(publisherID, namespace, topic string, opts ...TopicOption) (*Publisher, error) {
	base, err := topicBase(c.opts.prefix, namespace, topic)
	if err != nil {
		return nil, err
	}
	to, err := topicOpts(opts)
	if err != nil {
		return nil, err
	}
	ctx, cancel := c.timeoutCtx()
	defer cancel()
	cl, err := c.conn(ctx)
	if err != nil {
		return nil, err
	}
	if publisherID == "" {
		publisherID = c.opts.clientID
	}
	p := &Publisher{c: c, cl: cl, id: publisherID, base: base, opts: to, done: make(chan struct{})}
	if err := c.track(p); err != nil {
		return nil, err
	}
	return p, nil
}

// partition picks m's partition and advances the counter.
func (p *Publisher) partition(m *Message) int {
	p.mu.Lock()
	h := p.counter
	p.counter++
	p.mu.Unlock()
	switch p.opts.partitioning {
	case NonNullKeyHash:
		if m.Key != nil {
			h = xxhash.Sum64(m.Key)
		}
	case KeyHash:
		h = xxhash.Sum64(m.Key)
	}
	return partitionOf(h, p.opts.partitions)
}

// Publish stores m with the publish timeout as deadline; see PublishContext.
func (p *Publisher) Publish(m *Message) error { return p.PublishContext(context.Background(), m) }

// PublishContext stores m in the partition its key selects and returns once
// the broker stored it (transport failures are retried with the same id
// until the publish timeout).
func (p *Publisher) PublishContext(ctx context.Context, m *Message) error {
	if m == nil {
		return ErrNilMessage
	}
	p.mu.Lock()
	closed := p.closed
	p.mu.Unlock()
	if closed {
		return ErrClosed
	}
	tags := map[string]string{tagPartitions: strconv.Itoa(p.opts.partitions), tagPublisher: p.id}
	if err := encodeTags(m, tags); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, p.c.opts.publishTimeout)
	defer cancel()
	ch := partitionChannel(p.base, p.partition(m))
	es := p.cl.ES().SetId(newID()).SetChannel(ch).SetMetadata(metadataMarker).SetBody(m.Value)
	es.Tags = tags
	if err := p.c.store(ctx, p.cl, es, p.done); err != nil {
		return fmt.Errorf("netchan: publish to %s: %w", ch, err)
	}
	return nil
}

// Shutdown releases the publisher (the SeaweedFS name of Close).
func (p *Publisher) Shutdown() { _ = p.Close() }

// Close releases the publisher; later publishes return ErrClosed. It is
// idempotent.
func (p *Publisher) Close() error {
	p.mu.Lock()
	if !p.closed {
		p.closed = true
		close(p.done)
	}
	p.mu.Unlock()
	p.c.untrack(p)
	return nil
}

// Subscriber reads the partitions of a topic. Its subscriptions open in
// NewSubscriber; Subscribe consumes them.
type Subscriber struct {
	c     *Client
	id    string
	base  string
	opts  topicOptions
	parts []int
	srcs  []source
	decs  []decoder

	ctx    context.Context
	cancel context.CancelFunc

	mu         sync.Mutex
	subscribed bool
	closed     bool
	err        error
	running    sync.WaitGroup
	serial     sync.Mutex
}

// NewSubscriber opens a subscription to partition partitionID of
// namespace/topic (−1: every partition), from startTime (inclusive, broker
// clock; zero: from the first message). A message stored after
// NewSubscriber returned is never missed.
func (c *Client) NewSubscriber(subscriberID, namespace, topic string, partitionID int, startTime time.Time, opts ...TopicOption) (*Subscriber, error) {
	base, err := topicBase(c.opts.prefix, namespace, topic)
	if err != nil {
		return nil, err
	}
	to, err := topicOpts(opts)
	if err != nil {
		return nil, err
	}
	if partitionID < -1 || partitionID >= to.partitions {
		return nil, fmt.Errorf("%w: partition %d of %d", ErrInvalidPartition, partitionID, to.partitions)
	}
	if to.resume && subscriberID == "" {
		return nil, fmt.Errorf("%w: ResumeTopic needs a subscriber id", ErrInvalidOption)
	}
	parts := []int{partitionID}
	if partitionID == -1 {
		parts = parts[:0]
		for i := range to.partitions {
			parts = append(parts, i)
		}
	}
	st := start{kind: startFirst}
	if !startTime.IsZero() {
		st = start{kind: startAtTime, t: startTime}
	}
	ctx, cancel := c.timeoutCtx()
	defer cancel()
	s := &Subscriber{c: c, id: subscriberID, base: base, opts: to, parts: parts}
	for _, p := range parts {
		src, err := c.openSource(ctx, partitionChannel(base, p), subscriberID, st, to.resume)
		if err != nil {
			for _, o := range s.srcs {
				o.close()
			}
			return nil, err
		}
		s.srcs = append(s.srcs, src)
	}
	s.decs = make([]decoder, len(parts))
	for i := range s.decs {
		s.decs[i].c = c
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	if err := c.track(s); err != nil {
		s.cancel()
		for _, o := range s.srcs {
			o.close()
		}
		return nil, err
	}
	return s, nil
}

// Subscribe calls fn with every message, in order within each partition,
// concurrently across partitions (unless WithSerialHandler). It blocks until
// Shutdown/Close or a fatal error (see Err).
func (s *Subscriber) Subscribe(fn func(m *Message)) {
	_ = s.SubscribeContext(context.Background(), func(_ context.Context, m *Message) error {
		fn(m)
		return nil
	})
}

// SubscribeContext is Subscribe with a context and a handler that can fail.
// The handler's context carries the trace context the message carries.
// A handler error is logged; with ResumeTopic the message is returned for
// redelivery (after a back-off), otherwise it counts as handled. It returns
// nil after Shutdown/Close, an error wrapping ctx.Err() when ctx ends, the
// fatal error (e.g. a *PartitionMismatchError, ErrChannelDeleted)
// otherwise, ErrAlreadySubscribed on a second call and ErrClosed after
// Close.
func (s *Subscriber) SubscribeContext(ctx context.Context, fn func(ctx context.Context, m *Message) error) error {
	s.mu.Lock()
	switch {
	case s.closed:
		s.mu.Unlock()
		return ErrClosed
	case s.subscribed:
		s.mu.Unlock()
		return ErrAlreadySubscribed
	}
	s.subscribed = true
	s.running.Add(1)
	s.mu.Unlock()
	defer s.running.Done()
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(s.ctx, cancel)
	defer stop()
	var wg sync.WaitGroup
	for i := range s.srcs {
		wg.Go(func() { s.consume(rctx, cancel, i, fn) })
	}
	wg.Wait()
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.err != nil:
		return s.err
	case s.ctx.Err() != nil:
		return nil
	case ctx.Err() != nil:
		return fmt.Errorf("netchan: subscribe: %w", ctx.Err())
	}
	return nil
}

func (s *Subscriber) fatal(err error, cancel context.CancelFunc) {
	s.mu.Lock()
	if s.err == nil {
		s.err = err
	}
	s.mu.Unlock()
	cancel()
}

// consume runs the handler over partition i.
func (s *Subscriber) consume(ctx context.Context, cancel context.CancelFunc, i int, fn func(context.Context, *Message) error) {
	src, part := s.srcs[i], s.parts[i]
	backoff := 100 * time.Millisecond
	for {
		d, err := src.next(ctx)
		if err != nil {
			if ctx.Err() == nil {
				s.fatal(err, cancel)
			}
			return
		}
		if v, ok := d.tags[tagPartitions]; ok {
			if n, err := strconv.Atoi(v); err == nil && n != s.opts.partitions {
				src.nack(d)
				s.fatal(&PartitionMismatchError{Want: s.opts.partitions, Got: n}, cancel)
				return
			}
		}
		m := s.decs[i].message(d, part)
		var ferr error
		if s.opts.serial {
			s.serial.Lock()
			ferr = fn(m.Context(ctx), &m)
			s.serial.Unlock()
		} else {
			ferr = fn(m.Context(ctx), &m)
		}
		if ferr == nil {
			backoff = 100 * time.Millisecond
			src.ack(d)
			continue
		}
		s.c.log.Warn("netchan: handler failed", "channel", d.channel, "group", s.id, "err", ferr)
		if !s.opts.resume {
			continue
		}
		t := time.NewTimer(backoff)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
		}
		backoff = min(2*backoff, visibilitySeconds*time.Second/2)
		src.nack(d)
		if ctx.Err() != nil {
			return
		}
	}
}

// Err returns the fatal error that ended Subscribe, or nil.
func (s *Subscriber) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// Shutdown stops the subscriber (the SeaweedFS name of Close).
func (s *Subscriber) Shutdown() { _ = s.Close() }

// Close ends Subscribe and the subscriptions; it returns once every
// goroutine the subscriber started has exited. It is idempotent.
func (s *Subscriber) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()
	s.cancel()
	s.running.Wait()
	for _, src := range s.srcs {
		src.close()
	}
	s.c.untrack(s)
	return nil
}

// DeleteTopic deletes every partition of namespace/topic with the publish
// timeout as deadline; see DeleteTopicContext.
func (c *Client) DeleteTopic(namespace, topic string) error {
	ctx, cancel := c.timeoutCtx()
	defer cancel()
	return c.DeleteTopicContext(ctx, namespace, topic)
}

// DeleteTopicContext deletes the partition channels of namespace/topic. On
// Herald it deletes every partition it finds listed, whatever the count;
// elsewhere partitions 0..P−1 (WithPartitions, default 4). On a server
// without channel management the error matches ErrUnsupported.
func (c *Client) DeleteTopicContext(ctx context.Context, namespace, topic string, opts ...TopicOption) error {
	base, err := topicBase(c.opts.prefix, namespace, topic)
	if err != nil {
		return err
	}
	to, err := topicOpts(opts)
	if err != nil {
		return err
	}
	cl, herald, err := c.connHerald(ctx)
	if err != nil {
		return err
	}
	var names []string
	if herald {
		list, err := cl.ListEventsStoreChannels(ctx, base)
		if err != nil {
			return fmt.Errorf("netchan: list %s*: %w", base, err)
		}
		for _, ch := range list {
			if rest, ok := strings.CutPrefix(ch.Name, base); ok {
				if _, err := strconv.Atoi(rest); err == nil {
					names = append(names, ch.Name)
				}
			}
		}
	} else {
		for p := range to.partitions {
			names = append(names, partitionChannel(base, p))
		}
	}
	var errs []error
	for _, n := range names {
		if err := c.deleteChannel(ctx, n); err != nil {
			if errors.Is(err, ErrUnsupported) {
				return err
			}
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
