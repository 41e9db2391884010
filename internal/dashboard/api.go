package dashboard

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Limits of the API's inputs.
const (
	maxMessages       = 1024             // per peek, pull or requeue (KubeMQ's receive limit)
	defaultMessages   = 10               // when the caller gives no count
	maxRequestTimeout = 10 * time.Minute // a command or query's wait
	monitorPeek       = 256              // messages a queue monitor peeks at a time
	recentChannels    = 10               // channels the overview lists
)

func (h *handler) session(w http.ResponseWriter, r *http.Request) error {
	return ok(w, map[string]bool{"auth": h.cfg.Authenticate != nil})
}

// TypeSummary sums up the channels of one type for the overview.
type TypeSummary struct {
	Type        ChannelType `json:"type"`
	Channels    int         `json:"channels"`
	Active      int         `json:"active"`
	Clients     int         `json:"clients"` // -1: unknown
	MessagesIn  int64       `json:"messagesIn"`
	MessagesOut int64       `json:"messagesOut"`
	BytesIn     int64       `json:"bytesIn"`
	BytesOut    int64       `json:"bytesOut"`
	Waiting     int64       `json:"waiting"`
}

// Overview is what the overview page shows.
type Overview struct {
	Time     time.Time     `json:"time"`
	Nodes    []Node        `json:"nodes"`
	Storage  *Storage      `json:"storage,omitempty"`
	Traffic  *Traffic      `json:"traffic,omitempty"`
	Types    []TypeSummary `json:"types"`
	Recent   []Channel     `json:"recent"`
	Rates    []RatePoint   `json:"rates"`
	Problems []string      `json:"problems,omitempty"`
}

// buildOverview asks the backend for everything at once. Parts that fail
// are listed in Problems; it fails only when every part did.
func (h *handler) buildOverview(ctx context.Context) (*Overview, error) {
	doc := &Overview{Time: time.Now()}
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		problems []error
		lists    = make([][]Channel, len(ChannelTypes))
	)
	fail := func(what string, err error) {
		mu.Lock()
		problems = append(problems, fmt.Errorf("%s: %w", what, err))
		mu.Unlock()
	}
	wg.Go(func() {
		nodes, err := h.be.Nodes(ctx)
		if err != nil {
			fail("nodes", err)
		}
		doc.Nodes = nodes
	})
	wg.Go(func() {
		st, err := h.be.Storage(ctx)
		if err != nil {
			fail("storage", err)
			return
		}
		doc.Storage = &st
	})
	wg.Go(func() {
		t, err := h.be.Traffic(ctx)
		if err != nil {
			fail("traffic", err)
			return
		}
		doc.Traffic = &t
	})
	for i, typ := range ChannelTypes {
		wg.Go(func() {
			l, err := h.be.ListChannels(ctx, typ, "")
			if err != nil {
				fail(string(typ)+" channels", err)
			}
			lists[i] = l
		})
	}
	wg.Wait()
	if len(problems) == 3+len(ChannelTypes) {
		return nil, problems[0]
	}
	for _, p := range problems {
		doc.Problems = append(doc.Problems, p.Error())
	}
	if doc.Nodes == nil {
		doc.Nodes = []Node{}
	}
	var all []Channel
	for i, typ := range ChannelTypes {
		s := TypeSummary{Type: typ, Channels: len(lists[i]), Clients: -1}
		if doc.Traffic != nil && doc.Traffic.Clients != nil {
			s.Clients = doc.Traffic.Clients[typ]
		}
		for _, c := range lists[i] {
			if c.IsActive {
				s.Active++
			}
			s.MessagesIn += c.Incoming.Messages
			s.MessagesOut += c.Outgoing.Messages
			s.BytesIn += c.Incoming.Volume
			s.BytesOut += c.Outgoing.Volume
			s.Waiting += c.Outgoing.Waiting
			if !c.LastActivity.IsZero() {
				all = append(all, c)
			}
		}
		doc.Types = append(doc.Types, s)
	}
	slices.SortStableFunc(all, func(a, b Channel) int { return b.LastActivity.Compare(a.LastActivity) })
	doc.Recent = nonNil(all[:min(len(all), recentChannels)])
	if doc.Traffic != nil {
		doc.Rates = h.rates.observe(doc.Time, *doc.Traffic)
	}
	if doc.Rates == nil {
		doc.Rates = []RatePoint{}
	}
	return doc, nil
}

func (h *handler) overview(w http.ResponseWriter, r *http.Request) error {
	doc, err := h.buildOverview(r.Context())
	if err != nil {
		return err
	}
	return ok(w, doc)
}

func (h *handler) nodes(w http.ResponseWriter, r *http.Request) error {
	nodes, err := h.be.Nodes(r.Context())
	if err != nil {
		return err
	}
	return ok(w, nodes)
}

func channelType(r *http.Request) (ChannelType, error) {
	return ParseChannelType(r.PathValue("type"))
}

func (h *handler) listChannels(w http.ResponseWriter, r *http.Request) error {
	typ, err := channelType(r)
	if err != nil {
		return err
	}
	list, err := h.be.ListChannels(r.Context(), typ, r.URL.Query().Get("search"))
	if err != nil {
		return err
	}
	return ok(w, nonNil(list))
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

func (h *handler) createChannel(w http.ResponseWriter, r *http.Request) error {
	typ, err := channelType(r)
	if err != nil {
		return err
	}
	var in struct {
		Name string `json:"name"`
	}
	if err := decode(r, &in); err != nil {
		return err
	}
	if err := needChannel(in.Name); err != nil {
		return err
	}
	if err := h.be.CreateChannel(r.Context(), typ, in.Name); err != nil {
		return err
	}
	return ok(w, map[string]string{"type": string(typ), "name": in.Name})
}

func (h *handler) deleteChannel(w http.ResponseWriter, r *http.Request) error {
	typ, err := channelType(r)
	if err != nil {
		return err
	}
	name := r.PathValue("name")
	if err := needChannel(name); err != nil {
		return err
	}
	if err := h.be.DeleteChannel(r.Context(), typ, name); err != nil {
		return err
	}
	return ok(w, map[string]string{"type": string(typ), "name": name})
}

func needChannel(name string) error {
	if strings.TrimSpace(name) == "" {
		return fmt.Errorf("%w: a channel name is required", errBadRequest)
	}
	return nil
}

func (h *handler) queueInfo(w http.ResponseWriter, r *http.Request) error {
	name := r.URL.Query().Get("channel")
	if err := needChannel(name); err != nil {
		return err
	}
	info, err := h.be.QueueInfo(r.Context(), name)
	if err != nil {
		return err
	}
	return ok(w, info)
}

func (h *handler) queueSend(w http.ResponseWriter, r *http.Request) error {
	var m QueueMessage
	if err := decode(r, &m); err != nil {
		return err
	}
	if err := needChannel(m.Channel); err != nil {
		return err
	}
	p := m.Policy
	if p.DelaySeconds < 0 || p.ExpirationSeconds < 0 || p.MaxReceiveCount < 0 {
		return fmt.Errorf("%w: delay, expiration and max receive count must not be negative", errBadRequest)
	}
	res, err := h.be.SendQueueMessage(r.Context(), m)
	if err != nil {
		return err
	}
	return ok(w, res)
}

// countInput is the body of peek, pull, purge and requeue.
type countInput struct {
	Channel string `json:"channel"`
	Max     int    `json:"max"`
}

func (in *countInput) read(r *http.Request) error {
	if err := decode(r, in); err != nil {
		return err
	}
	if err := needChannel(in.Channel); err != nil {
		return err
	}
	if in.Max < 0 || in.Max > maxMessages {
		return fmt.Errorf("%w: max %d: want 1 to %d", errBadRequest, in.Max, maxMessages)
	}
	if in.Max == 0 {
		in.Max = defaultMessages
	}
	return nil
}

func (h *handler) queuePeek(w http.ResponseWriter, r *http.Request) error {
	var in countInput
	if err := in.read(r); err != nil {
		return err
	}
	msgs, err := h.be.PeekQueue(r.Context(), in.Channel, in.Max)
	if err != nil {
		return err
	}
	return ok(w, nonNil(msgs))
}

func (h *handler) queuePull(w http.ResponseWriter, r *http.Request) error {
	var in countInput
	if err := in.read(r); err != nil {
		return err
	}
	msgs, err := h.be.PullQueue(r.Context(), in.Channel, in.Max)
	if err != nil {
		return err
	}
	return ok(w, nonNil(msgs))
}

func (h *handler) queuePurge(w http.ResponseWriter, r *http.Request) error {
	var in countInput
	if err := in.read(r); err != nil {
		return err
	}
	n, err := h.be.PurgeQueue(r.Context(), in.Channel)
	if err != nil {
		return err
	}
	return ok(w, map[string]int64{"removed": n})
}

func (h *handler) queueRequeue(w http.ResponseWriter, r *http.Request) error {
	var in countInput
	if err := in.read(r); err != nil {
		return err
	}
	res, err := h.be.RequeueDeadLetters(r.Context(), in.Channel, in.Max)
	if err != nil {
		return err
	}
	return ok(w, res)
}

func (h *handler) eventSend(w http.ResponseWriter, r *http.Request) error {
	var e Event
	if err := decode(r, &e); err != nil {
		return err
	}
	if err := needChannel(e.Channel); err != nil {
		return err
	}
	res, err := h.be.SendEvent(r.Context(), e)
	if err != nil {
		return err
	}
	return ok(w, res)
}

func (h *handler) requestSend(w http.ResponseWriter, r *http.Request) error {
	var in struct {
		Type           ChannelType       `json:"type"`
		Channel        string            `json:"channel"`
		ID             string            `json:"id"`
		Metadata       string            `json:"metadata"`
		Body           []byte            `json:"body"`
		Tags           map[string]string `json:"tags"`
		TimeoutSeconds float64           `json:"timeoutSeconds"`
	}
	if err := decode(r, &in); err != nil {
		return err
	}
	if in.Type != Commands && in.Type != Queries {
		return fmt.Errorf("%w: type %q: want commands or queries", errBadRequest, in.Type)
	}
	if err := needChannel(in.Channel); err != nil {
		return err
	}
	timeout := time.Duration(in.TimeoutSeconds * float64(time.Second))
	if timeout <= 0 || timeout > maxRequestTimeout {
		return fmt.Errorf("%w: timeout %gs: want more than 0 and at most %v", errBadRequest, in.TimeoutSeconds, maxRequestTimeout)
	}
	start := time.Now()
	res, err := h.be.SendRequest(r.Context(), Request{
		ID: in.ID, Type: in.Type, Channel: in.Channel, Metadata: in.Metadata, Body: in.Body, Tags: in.Tags, Timeout: timeout,
	})
	if err != nil {
		return err
	}
	return ok(w, struct {
		Response
		ElapsedMS int64 `json:"elapsedMs"`
	}{res, time.Since(start).Milliseconds()})
}

// poll runs f at once and then every interval until the request ends or
// f fails to write; f reports a failure of the backend with problem.
func (h *handler) poll(w http.ResponseWriter, r *http.Request, f func(s *eventStream) error) error {
	s, err := startStream(w)
	if err != nil {
		return nil // the connection is gone
	}
	stop := s.keepAlive() // the queue monitor may stay silent for long
	defer stop()
	t := time.NewTicker(h.cfg.Interval)
	defer t.Stop()
	for {
		if err := f(s); err != nil {
			return nil
		}
		select {
		case <-r.Context().Done():
			return nil
		case <-t.C:
		}
	}
}

func (h *handler) streamOverview(w http.ResponseWriter, r *http.Request) error {
	return h.poll(w, r, func(s *eventStream) error {
		doc, err := h.buildOverview(r.Context())
		if err != nil {
			return s.problem(err)
		}
		return s.send("overview", "", doc)
	})
}

func (h *handler) streamChannels(w http.ResponseWriter, r *http.Request) error {
	typ, err := channelType(r)
	if err != nil {
		return err
	}
	search := r.URL.Query().Get("search")
	return h.poll(w, r, func(s *eventStream) error {
		list, err := h.be.ListChannels(r.Context(), typ, search)
		if err != nil {
			return s.problem(err)
		}
		return s.send("channels", "", nonNil(list))
	})
}

// QueueDoc is what the queue page's live strip shows: the queue now and
// its channel statistics.
type QueueDoc struct {
	Info    *QueueInfo `json:"info"` // nil: the queue does not exist (yet)
	Channel *Channel   `json:"channel,omitempty"`
}

func (h *handler) streamQueue(w http.ResponseWriter, r *http.Request) error {
	name := r.URL.Query().Get("channel")
	if err := needChannel(name); err != nil {
		return err
	}
	return h.poll(w, r, func(s *eventStream) error {
		var doc QueueDoc
		info, err := h.be.QueueInfo(r.Context(), name)
		switch {
		case err == nil:
			doc.Info = &info
		case !errors.Is(err, ErrNotFound):
			return s.problem(err)
		}
		list, err := h.be.ListChannels(r.Context(), Queues, name)
		if err != nil {
			return s.problem(err)
		}
		for i := range list {
			if list[i].Name == name {
				doc.Channel = &list[i]
			}
		}
		return s.send("queue", "", doc)
	})
}

// streamQueueMonitor shows the messages that arrive in a queue: every
// interval it compares the queue's last sequence with the last one seen,
// peeks at the queue when it grew, and sends the messages past the last
// one seen. Messages taken before a peek, or beyond the first monitorPeek
// ready ones, are reported as missed counts.
func (h *handler) streamQueueMonitor(w http.ResponseWriter, r *http.Request) error {
	name := r.URL.Query().Get("channel")
	if err := needChannel(name); err != nil {
		return err
	}
	var (
		started bool
		last    int64
	)
	return h.poll(w, r, func(s *eventStream) error {
		info, err := h.be.QueueInfo(r.Context(), name)
		if errors.Is(err, ErrNotFound) {
			info, err = QueueInfo{Name: name}, nil
		}
		if err != nil {
			return s.problem(err)
		}
		if !started {
			started, last = true, info.LastSequence
			return s.send("watching", "", map[string]int64{"lastSequence": last})
		}
		if info.LastSequence < last { // deleted and created again
			last = 0
		}
		if info.LastSequence == last {
			return nil
		}
		var seen int64
		if info.Waiting > 0 {
			msgs, err := h.be.PeekQueue(r.Context(), name, monitorPeek)
			if err != nil {
				return s.problem(err)
			}
			for _, m := range msgs {
				if int64(m.Sequence) > last && int64(m.Sequence) <= info.LastSequence {
					seen++
					if err := s.send("message", strconv.FormatUint(m.Sequence, 10), m); err != nil {
						return err
					}
				}
			}
		}
		if missed := info.LastSequence - last - seen; missed > 0 {
			if err := s.send("missed", "", map[string]int64{"count": missed, "from": last + 1, "to": info.LastSequence}); err != nil {
				return err
			}
		}
		last = info.LastSequence
		return nil
	})
}

func (h *handler) streamEvents(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	t := Tail{Channel: q.Get("channel"), Store: q.Get("store") == "true", Start: Start(q.Get("start"))}
	if err := needChannel(t.Channel); err != nil {
		return err
	}
	if t.Start == "" {
		t.Start = StartNew
	}
	switch t.Start {
	case StartNew:
	case StartFirst, StartLast:
		if !t.Store {
			return fmt.Errorf("%w: events are not stored: only start=new", errBadRequest)
		}
	case StartSequence:
		n, err := strconv.ParseUint(q.Get("sequence"), 10, 64)
		if err != nil || n == 0 || !t.Store {
			return fmt.Errorf("%w: start=sequence needs an events-store channel and sequence ≥ 1", errBadRequest)
		}
		t.Sequence = n
	case StartTime:
		tm, err := time.Parse(time.RFC3339Nano, q.Get("time"))
		if err != nil || !t.Store {
			return fmt.Errorf("%w: start=time needs an events-store channel and an RFC 3339 time", errBadRequest)
		}
		t.Time = tm
	default:
		return fmt.Errorf("%w: start %q: want new, first, last, sequence or time", errBadRequest, t.Start)
	}
	if last := lastEventID(r); last > 0 && t.Store {
		t.Start, t.Sequence = StartSequence, last+1 // a reconnecting browser resumes
	}
	s, err := startStream(w)
	if err != nil {
		return nil
	}
	stop := s.keepAlive()
	defer stop()
	_ = s.send("open", "", map[string]any{"channel": t.Channel, "store": t.Store, "start": t.Start})
	err = h.be.TailEvents(r.Context(), t, func(e Event) error {
		id := ""
		if e.Sequence > 0 {
			id = strconv.FormatUint(e.Sequence, 10)
		}
		return s.send("event", id, e)
	})
	if r.Context().Err() == nil {
		_ = s.end(err)
	}
	return nil
}

func (h *handler) streamRequests(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	typ, err := ParseChannelType(q.Get("type"))
	if err != nil {
		return err
	}
	if typ != Commands && typ != Queries {
		return fmt.Errorf("%w: type %q: want commands or queries", errBadRequest, typ)
	}
	channel := q.Get("channel")
	if err := needChannel(channel); err != nil {
		return err
	}
	s, err := startStream(w)
	if err != nil {
		return nil
	}
	stop := s.keepAlive()
	defer stop()
	_ = s.send("open", "", map[string]any{"channel": channel, "type": typ})
	err = h.be.MonitorRequests(r.Context(), typ, channel, func(req Request) error {
		return s.send("request", "", req)
	})
	if r.Context().Err() == nil {
		_ = s.end(err)
	}
	return nil
}
