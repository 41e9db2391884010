package grpctransport

import (
	"slices"
	"testing"

	"google.golang.org/protobuf/proto"

	kubemqpb "github.com/heraldmq/herald/api/kubemq"
	"github.com/heraldmq/herald/internal/pattern/events"
	"github.com/heraldmq/herald/internal/pattern/eventsstore"
	"github.com/heraldmq/herald/internal/pattern/requests"
)

// TestServedMethods pins the wire contract: every method KubeMQ clients call
// is served under /kubemq.kubemq/<Method>, and nothing else is but the
// standard health service.
func TestServedMethods(t *testing.T) {
	s := New(Config{}, Services{})
	info := s.grpc.GetServiceInfo()
	if _, ok := info["grpc.health.v1.Health"]; len(info) != 2 || !ok {
		t.Fatalf("services %v, want kubemq.kubemq and grpc.health.v1.Health", info)
	}
	svc, ok := info["kubemq.kubemq"]
	if !ok {
		t.Fatalf("kubemq.kubemq not served: %v", info)
	}
	var got []string
	for _, m := range svc.Methods {
		got = append(got, "/kubemq.kubemq/"+m.Name)
	}
	slices.Sort(got)
	want := []string{
		"/kubemq.kubemq/AckAllQueueMessages",
		"/kubemq.kubemq/Ping",
		"/kubemq.kubemq/QueuesDownstream",
		"/kubemq.kubemq/QueuesInfo",
		"/kubemq.kubemq/QueuesUpstream",
		"/kubemq.kubemq/ReceiveQueueMessages",
		"/kubemq.kubemq/SendEvent",
		"/kubemq.kubemq/SendEventsStream",
		"/kubemq.kubemq/SendQueueMessage",
		"/kubemq.kubemq/SendQueueMessagesBatch",
		"/kubemq.kubemq/SendRequest",
		"/kubemq.kubemq/SendResponse",
		"/kubemq.kubemq/StreamQueueMessage",
		"/kubemq.kubemq/SubscribeToEvents",
		"/kubemq.kubemq/SubscribeToRequests",
	}
	if !slices.Equal(got, want) {
		t.Fatalf("served methods\n got %v\nwant %v", got, want)
	}
}

// FuzzDecodeUntrusted feeds arbitrary bytes, as a client could send them, to
// the decoders of every request message and then to the conversion and
// validation of the subscribe, event, request and response messages. Nothing
// may panic.
func FuzzDecodeUntrusted(f *testing.F) {
	seed := func(m proto.Message) {
		b, _ := proto.Marshal(m)
		f.Add(b)
	}
	seed(&kubemqpb.Subscribe{SubscribeTypeData: 2, ClientID: "c", Channel: "a.b", EventsStoreTypeData: 4, EventsStoreTypeValue: 9})
	seed(&kubemqpb.Subscribe{SubscribeTypeData: 1, ClientID: "c", Channel: "a.>", Group: "g"})
	seed(&kubemqpb.Event{ClientID: "c", Channel: "x", Body: []byte("b"), Tags: map[string]string{"k": "v"}})
	seed(&kubemqpb.Request{RequestTypeData: 2, ClientID: "c", Channel: "q", Timeout: 1000, CacheKey: "k", CacheTTL: 5})
	seed(&kubemqpb.Response{ClientID: "c", RequestID: "r", ReplyChannel: "_INBOX.x.y"})
	seed(&kubemqpb.QueueMessage{ClientID: "c", Channel: "q", Body: []byte("b"), Policy: &kubemqpb.QueueMessagePolicy{DelaySeconds: 3}})
	f.Add([]byte{0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, m := range []proto.Message{
			&kubemqpb.Event{}, &kubemqpb.Subscribe{}, &kubemqpb.Request{}, &kubemqpb.Response{},
			&kubemqpb.QueueMessage{}, &kubemqpb.QueueMessagesBatchRequest{}, &kubemqpb.ReceiveQueueMessagesRequest{},
			&kubemqpb.AckAllQueueMessagesRequest{}, &kubemqpb.StreamQueueMessagesRequest{},
			&kubemqpb.QueuesDownstreamRequest{}, &kubemqpb.QueuesUpstreamRequest{}, &kubemqpb.QueuesInfoRequest{},
		} {
			_ = proto.Unmarshal(b, m)
		}
		var sub kubemqpb.Subscribe
		if proto.Unmarshal(b, &sub) == nil {
			_ = (&events.Subscription{ClientID: sub.ClientID, Channel: sub.Channel, Group: sub.Group, StoreTypeSet: sub.EventsStoreTypeData != 0}).Validate()
			_ = (&eventsstore.Subscription{ClientID: sub.ClientID, Channel: sub.Channel, Group: sub.Group,
				Start: eventsstore.StartType(sub.EventsStoreTypeData), StartValue: sub.EventsStoreTypeValue}).Validate()
			_ = (&requests.Subscription{Kind: requests.Kind(sub.SubscribeTypeData - 2), ClientID: sub.ClientID, Channel: sub.Channel, Group: sub.Group}).Validate()
		}
		var ev kubemqpb.Event
		if proto.Unmarshal(b, &ev) == nil {
			_ = eventFromPB(&ev).Validate()
		}
		var qm kubemqpb.QueueMessage
		if proto.Unmarshal(b, &qm) == nil {
			_ = queueMsgToPB(queueMsgFromPB(&qm))
		}
	})
}
