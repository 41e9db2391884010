// Package metrics exposes Herald's Prometheus metrics: KubeMQ's own
// families under their names and labels (kubemq_messages_count,
// kubemq_messages_volume, kubemq_errors_count, kubemq_clients_count,
// kubemq_messages_last_seen, kubemq_messages_delayed,
// kubemq_messages_expired), so that dashboards and alerts made for KubeMQ
// keep working, and Herald's herald_* families: request latency, queue
// depths, drops, connections and streams, the engine's storage, and the Go
// runtime and process.
//
// Counters are read from where the broker already counts (the statistics
// registry, the services, the engine) when Prometheus scrapes, so the
// message path pays nothing for them. Channel and client series are
// bounded by a Policy; series of deleted channels and of clients gone for
// a while disappear.
package metrics

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/heraldmq/herald/internal/pattern/stats"
)

// Policy says which channels have series of their own.
type Policy struct {
	// All: every channel; otherwise the Top busiest (0: none) keep their
	// names and the others are summed under the channel OtherChannel.
	All bool
	Top int
}

// OtherChannel is the channel label of the channels a Policy folds.
const OtherChannel = "_other"

// ParsePolicy reads all, none or top:N.
func ParsePolicy(s string) (Policy, error) {
	switch {
	case s == "" || s == "all":
		return Policy{All: true}, nil
	case s == "none":
		return Policy{}, nil
	case strings.HasPrefix(s, "top:"):
		n, err := strconv.Atoi(strings.TrimPrefix(s, "top:"))
		if err == nil && n >= 0 && n <= 100000 {
			return Policy{Top: n}, nil
		}
	}
	return Policy{}, fmt.Errorf("metrics channels %q: want all, none or top:N (0 ≤ N ≤ 100000)", s)
}

// QueueState is one queue channel's state.
type QueueState struct {
	Channel      string
	Messages     int64 // held: ready and in flight
	InFlight     int64 // leased by receivers
	Delayed      int64
	DeadLettered int64 // moved to a dead-letter queue, ever
}

// EngineUsage is the engine's storage and assets.
type EngineUsage struct {
	StoreBytes, MemoryBytes, Messages uint64
	Streams, Consumers                int
	APIRequests, APIErrors            uint64
}

// Sources are what the collectors read at scrape time; nil functions are
// left out.
type Sources struct {
	Node    string
	Stats   *stats.Registry
	Queues  func(ctx context.Context) ([]QueueState, error)
	Engine  func() (EngineUsage, error)
	Dropped func() map[string]int64 // by pattern: messages dropped for slow subscribers
	// Channels counts the existing channels by type.
	Channels func() map[string]int
	Policy   Policy
	// ClientIdle folds a client's series into client_id "" once it has
	// been idle this long with nothing open (default 10 min).
	ClientIdle time.Duration
	Logger     *slog.Logger
}

// Metrics is the registry and the live instruments the transports update.
type Metrics struct {
	reg      *prometheus.Registry
	src      Sources
	duration *prometheus.HistogramVec
	conns    prometheus.Gauge
	streams  *prometheus.GaugeVec
}

// New builds the registry.
func New(src Sources) *Metrics {
	if src.ClientIdle <= 0 {
		src.ClientIdle = 10 * time.Minute
	}
	if src.Logger == nil {
		src.Logger = slog.New(slog.DiscardHandler)
	}
	m := &Metrics{reg: prometheus.NewRegistry(), src: src}
	m.duration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "herald_request_duration_seconds",
		Help:    "Time to answer a request, by transport, pattern and RPC (streams: per stream).",
		Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60},
	}, []string{"transport", "pattern", "rpc"})
	m.conns = prometheus.NewGauge(prometheus.GaugeOpts{Name: "herald_grpc_connections", Help: "Open gRPC connections."})
	m.streams = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "herald_streams_open", Help: "Open streaming calls and WebSockets, by RPC."}, []string{"rpc"})
	m.reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.duration, m.conns, m.streams,
		&collector{m: m},
	)
	return m
}

// Registry is the registry, for tests and for more collectors.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the registry in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{ErrorLog: slog.NewLogLogger(m.src.Logger.Handler(), slog.LevelWarn)})
}

// Patterns of the RPCs, for the pattern label.
var rpcPattern = map[string]string{
	"Ping": "", "SendEvent": "events", "SendEventsStream": "events", "SubscribeToEvents": "events",
	"SendRequest": "requests", "SendResponse": "requests", "SubscribeToRequests": "requests",
	"SendQueueMessage": "queues", "SendQueueMessagesBatch": "queues", "ReceiveQueueMessages": "queues",
	"StreamQueueMessage": "queues", "AckAllQueueMessages": "queues", "QueuesInfo": "queues",
	"QueuesDownstream": "queues", "QueuesUpstream": "queues",
}

// ObserveRequest records how long an RPC took over a transport.
func (m *Metrics) ObserveRequest(transport, rpc string, d time.Duration) {
	p, ok := rpcPattern[rpc]
	if !ok {
		rpc, p = "other", ""
	}
	m.duration.WithLabelValues(transport, p, rpc).Observe(d.Seconds())
}

// Connected counts an open gRPC connection until done is called.
func (m *Metrics) Connected() (done func()) {
	m.conns.Inc()
	return m.conns.Dec
}

// StreamOpened counts an open stream of rpc until done is called.
func (m *Metrics) StreamOpened(rpc string) (done func()) {
	if _, ok := rpcPattern[rpc]; !ok {
		rpc = "other"
	}
	g := m.streams.WithLabelValues(rpc)
	g.Inc()
	return g.Dec
}

// folder maps channel names to their label under the policy.
type folder struct {
	all  bool
	keep map[string]bool
}

func (f folder) label(ch string) string {
	if f.all || f.keep[ch] {
		return ch
	}
	return OtherChannel
}

// newFolder keeps the Top channels by weight.
func newFolder(p Policy, weight map[string]int64) folder {
	if p.All {
		return folder{all: true}
	}
	names := make([]string, 0, len(weight))
	for ch := range weight {
		names = append(names, ch)
	}
	sort.Slice(names, func(i, j int) bool {
		if weight[names[i]] != weight[names[j]] {
			return weight[names[i]] > weight[names[j]]
		}
		return names[i] < names[j]
	})
	f := folder{keep: map[string]bool{}}
	for _, ch := range names[:min(p.Top, len(names))] {
		f.keep[ch] = true
	}
	return f
}

var kubemqLabels = []string{"node", "client_id", "type", "side", "channel"}

var (
	descCount    = prometheus.NewDesc("kubemq_messages_count", "Messages sent and delivered, responses included.", kubemqLabels, nil)
	descVolume   = prometheus.NewDesc("kubemq_messages_volume", "Bytes of message bodies sent and delivered.", kubemqLabels, nil)
	descErrors   = prometheus.NewDesc("kubemq_errors_count", "Failed sends, requests not executed or unanswered, failed responses.", kubemqLabels, nil)
	descClients  = prometheus.NewDesc("kubemq_clients_count", "Open subscriptions and receivers.", kubemqLabels, nil)
	descLastSeen = prometheus.NewDesc("kubemq_messages_last_seen", "Unix milliseconds of the last activity.", kubemqLabels, nil)
	descDelayed  = prometheus.NewDesc("kubemq_messages_delayed", "Queue messages waiting for their delay.", kubemqLabels, nil)
	descExpired  = prometheus.NewDesc("kubemq_messages_expired", "Queue messages found expired.", kubemqLabels, nil)
)

// collector exports the families read at scrape time.
type collector struct{ m *Metrics }

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descCount, descVolume, descErrors, descClients, descLastSeen, descDelayed, descExpired,
		descQueueMsgs, descQueueInFlight, descQueueDelayed, descQueueDead, descDropped,
		descChannels, descStore, descMemory, descStreams, descConsumers, descEngineMsgs, descAPI, descAPIErrors} {
		ch <- d
	}
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	src := c.m.src
	var qs []QueueState
	if src.Queues != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		var err error
		qs, err = src.Queues(ctx)
		cancel()
		if err != nil {
			src.Logger.Warn("metrics: reading the queues failed", "err", err)
		}
	}
	c.kubemq(ch, qs)
	c.herald(ch, qs)
}

type series struct {
	msgs, bytes, errs, last int64
}

// kubemq exports KubeMQ's families from the statistics registry.
func (c *collector) kubemq(ch chan<- prometheus.Metric, qs []QueueState) {
	src := c.m.src
	src.Stats.Sweep(src.ClientIdle)
	entries := src.Stats.Clients()
	weight := map[string]int64{}
	for _, e := range entries {
		weight[e.Channel] += e.Messages
	}
	f := newFolder(src.Policy, weight)
	agg := map[stats.ClientKey]*series{}
	actives := map[stats.ClientKey]int64{} // kubemq_clients_count has no client_id
	for _, e := range entries {
		k := e.ClientKey
		k.Channel = f.label(k.Channel)
		if k.Channel == OtherChannel {
			k.Client = ""
		}
		s := agg[k]
		if s == nil {
			s = &series{}
			agg[k] = s
		}
		s.msgs += e.Messages
		s.bytes += e.Bytes
		s.errs += e.Errors
		s.last = max(s.last, e.LastSeen)
		if e.Active > 0 {
			actives[stats.ClientKey{Kind: k.Kind, Side: stats.Receive, Channel: k.Channel}] += e.Active
		}
	}
	node := src.Node
	for k, s := range agg {
		lv := []string{node, k.Client, k.Kind, k.Side, k.Channel}
		if s.msgs > 0 || s.bytes > 0 {
			ch <- prometheus.MustNewConstMetric(descCount, prometheus.CounterValue, float64(s.msgs), lv...)
			ch <- prometheus.MustNewConstMetric(descVolume, prometheus.CounterValue, float64(s.bytes), lv...)
		}
		if s.errs > 0 {
			ch <- prometheus.MustNewConstMetric(descErrors, prometheus.CounterValue, float64(s.errs), lv...)
		}
		if s.last > 0 {
			ch <- prometheus.MustNewConstMetric(descLastSeen, prometheus.GaugeValue, float64(s.last), lv...)
		}
	}
	for k, n := range actives {
		ch <- prometheus.MustNewConstMetric(descClients, prometheus.GaugeValue, float64(n), node, "", k.Kind, stats.Receive, k.Channel)
	}
	expired := map[string]int64{}
	for _, e := range src.Stats.Entries(stats.Queues) {
		if e.Expired > 0 {
			expired[f.label(e.Channel)] += e.Expired
		}
	}
	for chName, n := range expired {
		ch <- prometheus.MustNewConstMetric(descExpired, prometheus.CounterValue, float64(n), node, "", stats.Queues, stats.Receive, chName)
	}
	delayed := map[string]int64{}
	for _, q := range qs {
		if q.Delayed > 0 {
			delayed[f.label(q.Channel)] += q.Delayed
		}
	}
	for chName, n := range delayed {
		ch <- prometheus.MustNewConstMetric(descDelayed, prometheus.GaugeValue, float64(n), node, "", stats.Queues, stats.Send, chName)
	}
}

var (
	descQueueMsgs     = prometheus.NewDesc("herald_queue_messages", "Messages a queue holds, ready and in flight (delayed ones apart).", []string{"channel"}, nil)
	descQueueInFlight = prometheus.NewDesc("herald_queue_in_flight", "Messages of a queue leased by receivers.", []string{"channel"}, nil)
	descQueueDelayed  = prometheus.NewDesc("herald_queue_delayed", "Messages of a queue waiting for their delay.", []string{"channel"}, nil)
	descQueueDead     = prometheus.NewDesc("herald_queue_dead_lettered_total", "Messages of a queue moved to its dead-letter queue.", []string{"channel"}, nil)
	descDropped       = prometheus.NewDesc("herald_dropped_total", "Messages dropped because a subscriber was too slow (the 2 s rule).", []string{"pattern"}, nil)
	descChannels      = prometheus.NewDesc("herald_channels", "Channels that exist (queues, events store) or have been used (the others).", []string{"type"}, nil)
	descStore         = prometheus.NewDesc("herald_engine_storage_bytes", "Bytes the engine stores on disk.", nil, nil)
	descMemory        = prometheus.NewDesc("herald_engine_memory_bytes", "Bytes the engine stores in memory.", nil, nil)
	descStreams       = prometheus.NewDesc("herald_engine_streams", "Engine streams.", nil, nil)
	descConsumers     = prometheus.NewDesc("herald_engine_consumers", "Engine consumers.", nil, nil)
	descEngineMsgs    = prometheus.NewDesc("herald_engine_messages", "Messages the engine stores.", nil, nil)
	descAPI           = prometheus.NewDesc("herald_engine_api_requests_total", "Engine API requests.", nil, nil)
	descAPIErrors     = prometheus.NewDesc("herald_engine_api_errors_total", "Engine API requests that failed.", nil, nil)
)

// herald exports Herald's own families.
func (c *collector) herald(ch chan<- prometheus.Metric, qs []QueueState) {
	src := c.m.src
	{
		{
			weight := map[string]int64{}
			for _, q := range qs {
				weight[q.Channel] = q.Messages + q.Delayed
			}
			f := newFolder(src.Policy, weight)
			sums := map[string]*QueueState{}
			for _, q := range qs {
				l := f.label(q.Channel)
				s := sums[l]
				if s == nil {
					s = &QueueState{Channel: l}
					sums[l] = s
				}
				s.Messages += q.Messages
				s.InFlight += q.InFlight
				s.Delayed += q.Delayed
				s.DeadLettered += q.DeadLettered
			}
			for l, s := range sums {
				ch <- prometheus.MustNewConstMetric(descQueueMsgs, prometheus.GaugeValue, float64(s.Messages), l)
				ch <- prometheus.MustNewConstMetric(descQueueInFlight, prometheus.GaugeValue, float64(s.InFlight), l)
				ch <- prometheus.MustNewConstMetric(descQueueDelayed, prometheus.GaugeValue, float64(s.Delayed), l)
				ch <- prometheus.MustNewConstMetric(descQueueDead, prometheus.CounterValue, float64(s.DeadLettered), l)
			}
		}
	}
	if src.Dropped != nil {
		for p, n := range src.Dropped() {
			ch <- prometheus.MustNewConstMetric(descDropped, prometheus.CounterValue, float64(n), p)
		}
	}
	if src.Channels != nil {
		for t, n := range src.Channels() {
			ch <- prometheus.MustNewConstMetric(descChannels, prometheus.GaugeValue, float64(n), t)
		}
	}
	if src.Engine != nil {
		u, err := src.Engine()
		if err != nil {
			src.Logger.Warn("metrics: reading the engine's usage failed", "err", err)
			return
		}
		ch <- prometheus.MustNewConstMetric(descStore, prometheus.GaugeValue, float64(u.StoreBytes))
		ch <- prometheus.MustNewConstMetric(descMemory, prometheus.GaugeValue, float64(u.MemoryBytes))
		ch <- prometheus.MustNewConstMetric(descStreams, prometheus.GaugeValue, float64(u.Streams))
		ch <- prometheus.MustNewConstMetric(descConsumers, prometheus.GaugeValue, float64(u.Consumers))
		ch <- prometheus.MustNewConstMetric(descEngineMsgs, prometheus.GaugeValue, float64(u.Messages))
		ch <- prometheus.MustNewConstMetric(descAPI, prometheus.CounterValue, float64(u.APIRequests))
		ch <- prometheus.MustNewConstMetric(descAPIErrors, prometheus.CounterValue, float64(u.APIErrors))
	}
}
