// Package cloudevents carries CloudEvents over Herald with the connection API
// of CACAO messaging2: QueryConnection for request/reply, streamed replies and
// scatter-gather; EventConnection for persisted events, response events
// correlated by transaction id, worker pools and graceful drain. Events are
// github.com/cloudevents/sdk-go/v2 events (Event is an alias of sdk-go's
// event.Event), and Protocol lets sdk-go's client send and receive over
// Herald. It speaks the KubeMQ API through Herald's client, so it works
// against Herald and any KubeMQ server; three guarantees are stronger on
// Herald (see Guarantees).
//
// # Quick start
//
//	cfg := cloudevents.Config{Address: "localhost:50000", ClientID: "credential-service", DurableName: "credential-service"}
//	events, err := cfg.ConnectEvents(ctx)
//	…
//	err = events.Listen(ctx, map[cloudevents.EventType]cloudevents.EventHandlerFunc{
//		"org.cyverse.events.CredentialCreationRequested": func(ctx context.Context, ev cloudevents.Event, w cloudevents.EventResponseWriter) error {
//			resp, _ := cloudevents.CreateCloudEventWithAutoSource(result, "org.cyverse.events.CredentialCreated")
//			cloudevents.SetTransactionID(&resp, "") // the writer copies the request's
//			return w.Write(resp)
//		},
//	}, &wg)
//	promise, err := events.Request(request, []cloudevents.EventType{"org.cyverse.events.CredentialCreated"})
//	response, err := promise.Response(ctx)
//
// # From messaging2
//
// A service moves by changing its imports and its connection setup:
//
//	messaging2                                  cloudevents
//	DefaultNatsURL "nats://nats:4222"           DefaultAddress "localhost:50000" (KubeMQ gRPC)
//	DefaultNatsMaxReconnects, …ReconnectWait    DefaultMaxReconnects, DefaultReconnectWait
//	DefaultNatsRequestTimeout, MaxNatsRequest…  DefaultRequestTimeout, MaxRequestTimeout
//	DefaultAckWait, DefaultStanEventsTimeout    DefaultAckWait, DefaultEventsTimeout
//	CyVerseStreamName "CYVERSE"                 DefaultStream "cloudevents", Config.Stream
//	AutoPopulateCloudEventSource                AutoPopulateCloudEventSource (same)
//	ConvertNats(msg)                            Decode(Wire), FromEventStore, FromQuery
//	CreateCloudEvent…, Get/SetTransactionID,    same names; TransactionIDExtension "transactionid"
//	  NewTransactionID
//	InitCyVerseStream(conf)                     Provision(ctx, cfg, types…) (optional)
//	NatsConfig, StanConfig, NatsStanMsgConfig   Config; ConfigFromEnv (HERALD_*, falling back to NATS_*)
//	NatsConnection, NewNatsConnection…          *QueryConn, NewQueryConnection(FromClient), Config.ConnectQuery
//	  GetNatsConn                                 Client
//	NatsJetConnection, NewNatsJetConnection…    *EventConn, NewEventConnection(FromClient), Config.ConnectEvents
//	  GetJetStreamContext                         Client
//	  ListenWithConcurrentWorkersWithPush         same (no push/pull distinction)
//	  RequestWithSyncSub                          same
//	QueryConnection, EventConnection,           same interfaces
//	  QueryHandlerFunc, EventHandlerFunc,
//	  ReplyWriter, ReplyStream,
//	  ReplyStreamWriter, EventResponseWriter,
//	  EventResponsePromise, EventObservable,
//	  Listener, ListenerCallback, ListenerID
//	EventSource, NewEventSource(nats, stan)     EventSource, NewEventSource(conn), EventConn.EventSource
//	common.EventType, QueryOp, TransactionID    EventType, QueryOp, TransactionID
//	StanConnection and everything NATS          not carried (NATS Streaming is deprecated)
//	  Streaming; DefaultNatsClusterID
//
// Beyond messaging2: RequestCached (server-side query cache), Gather
// (scatter-gather with MaxResponders), Subscribe with Subscription
// (Stopped, Done, InFlight, Drain, Err), Drain on both connections,
// Guarantee, InProgress and HandlerDeadline, Promise.Err, dead letters
// after MaxDeliver, and PublishContext / RequestContext.
//
// # Mapping onto the KubeMQ API
//
//	events (RouteByStream, default)  events-store channel <Stream>: every type, one order
//	events (RouteByType)             events-store channel <Stream>.<type>
//	query operation op               queries channel <QueryPrefix><op>
//	reply inbox of a QueryConn       events channel <QueryPrefix>_inbox.<xid>
//	durable listeners on Herald      queue _herald.es.<group>.<events channel> (acked durable read)
//	dead letters                     queue <Stream>.dlq.<group> (_ephemeral without a group)
//
// An event travels Structured (default: the CloudEvents JSON format in the
// body, metadata "application/cloudevents+json; charset=utf-8", copies of
// id, type, source, specversion, time, subject and transactionid as ce-
// tags) or Binary (the data in the body, its content type in the metadata,
// every other attribute and extension as a ce- tag). The message id is the
// event id, so on Herald publishing the same event twice within the
// deduplication window stores it once. Event types and query operations must
// be valid channel name parts and must not begin with '_'.
//
// Queries carry the requester's deadline in the tag herald.deadline, and the
// handler's context gets it. A handler that writes nothing answers at once
// with "no reply" (ErrNoReply); a panic answers with its text (*ReplyError).
// Listen returns only after each operation's channel has a responder (a
// readiness query every responder answers itself). RequestStream and Gather
// acknowledge the query at once and send the replies, numbered, as events to
// the requester's inbox, followed by an end event with the count.
//
// # Guarantees
//
//   - Request: at most once; a timeout means the handler may or may not have
//     run. Queries must be safe to repeat.
//   - RequestStream and Gather: replies at most once, in order per responder;
//     a lost reply is reported as ErrReplyStreamBroken, never hidden.
//   - Publish returning nil: the event is stored and survives a broker restart.
//   - Durable listeners (DurableName, else QueueGroup) on Herald: at least
//     once — every event stored after the durable was created is handled
//     successfully by one member of the group, or dead-lettered after
//     MaxDeliver attempts; a crash, an expired AckWait or a handler error
//     brings it back, so handlers should be idempotent. Elsewhere, or with
//     DeliveryAtMostOnce: an events-store group subscription — each event to
//     one member, at most once; an event received by a member that dies is
//     lost, and one published while the listener starts may be missed.
//     Guarantee reports which applies.
//   - Listeners without a group: every instance gets every event stored while
//     it listens (and those of the second before it started).
//   - Listen: stream order (per type with RouteByType); worker pools: none.
//   - Response events: a promise sees every matching event stored from
//     Lookback before its registration on, across reconnects.
//
// # Handlers, drain and close
//
// A handler's context is not derived from Listen's: cancelling Listen's
// context starts a drain (bounded by DrainTimeout), it does not abort running
// handlers. An event handler's context ends AckWait after it started
// (InProgress extends it, HandlerDeadline tells the current end; the
// context itself reports no Deadline), when a drain times out, or on Close.
// nil acknowledges; an error or a panic is retried after a back-off and, after
// MaxDeliver attempts, dead-lettered with the tags herald.dlq.reason,
// herald.dlq.attempts, herald.dlq.group and herald.dlq.sequence. Listen calls
// wg.Add(1) when it succeeds and wg.Done() when the listener has stopped (or
// its drain timed out).
//
// # Errors
//
// Sentinels (ErrClosed, ErrInvalidEvent, ErrTimeout, …) are matched with
// errors.Is; *ReplyError and *DrainError carry fields. Errors of the client
// are wrapped, so errors.Is(err, client.ErrUnavailable) and
// errors.Is(err, client.ErrTimeout) work too.
//
// # Concurrency
//
// QueryConn, EventConn, EventSource, Promise and Subscription are safe for
// concurrent use. Writers given to handlers are valid until the handler
// returns. EventSource callbacks run on its dispatch goroutine, one event at
// a time, and must not block or add listeners.
//
// # CloudEvents SDK client
//
// Protocol is an sdk-go protocol binding (Sender, Requester, Receiver,
// Responder, Opener, Closer) over an EventConn and a QueryConn, either of
// which may be nil:
//
//	p, err := cloudevents.NewProtocol(events, queries,
//		cloudevents.ReceiveEventTypes("org.cyverse.events.CredentialCreationRequested"),
//		cloudevents.RespondToOps("org.cyverse.query.CredentialGet"))
//	c, err := client.New(p) // github.com/cloudevents/sdk-go/v2/client
//	go c.StartReceiver(ctx, func(ctx context.Context, e event.Event) (*event.Event, protocol.Result) { … })
//	result := c.Send(ctx, e)             // EventConn.Publish
//	reply, result := c.Request(ctx, q)   // QueryConn.Request on q's type
//
// sdk-go's client receives through Respond when a protocol has it, so
// Respond delivers both the events of ReceiveEventTypes and the queries of
// RespondToOps to the StartReceiver function, one at a time per event
// channel and per operation. For a query, the function's returned event is
// the reply, its error a *ReplyError for the requester, and neither
// ErrNoReply. For an event, a returned event is published as a response
// event with the incoming transaction id, and an error (or Finish with an
// error) counts as a handler error: the event is retried and, after
// MaxDeliver attempts, dead-lettered. Receive delivers events only.
// Request reports ErrNoReply as an ACK receipt and a *ReplyError as a NACK
// receipt (errors.Is and errors.As still match them). The internal event
// subscription is a Listen of the EventConn (with its group, if any).
package cloudevents
