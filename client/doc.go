// Package client is Herald's Go SDK. It speaks the KubeMQ gRPC API
// (service kubemq.kubemq) or the KubeMQ REST and WebSocket API, so it works
// against Herald and against any KubeMQ server, and it keeps the names of the official KubeMQ Go SDK
// (github.com/kubemq-io/kubemq-go v1.9.0): code written against that SDK's
// documentation compiles by changing its import to
//
//	kubemq "github.com/heraldmq/herald/client"
//
// and, for the queue stream API, kubemq-go's queues_stream package to
//
//	queues_stream "github.com/heraldmq/herald/client/queuesstream"
//
// The public structs keep KubeMQ's documented field names (Id, ClientId,
// ResponseTo, …) for that reason.
//
// # Connecting
//
// NewClient connects to a server; Ping asks who it is; Close ends
// everything the client runs. A *Client is safe for concurrent use.
//
//	c, err := client.NewClient(ctx,
//		client.WithAddress("localhost", 50000),
//		client.WithClientId("orders-service"))
//	if err != nil { … }
//	defer c.Close()
//
// Options: WithAddress, WithClientId, WithToken (alias WithAuthToken; sent as
// the gRPC "authorization" metadata), WithCredentials and WithCertificate
// (TLS), WithReceiveBufferSize, WithDefaultChannel, WithDefaultCacheTTL,
// WithAutoReconnect, WithReconnectInterval, WithMaxReconnects,
// WithCheckConnection, WithKeepalive, and WithTransportType with WithUri for
// the REST transport (below). As in kubemq-go, the client closes itself
// when the context given to NewClient ends.
//
// # The REST transport
//
// WithTransportType(TransportTypeRest) with WithUri("http://host:9090")
// (Herald's and KubeMQ's REST port) gives the same API over HTTP and
// WebSockets:
//
//	c, err := client.NewClient(ctx,
//		client.WithTransportType(client.TransportTypeRest),
//		client.WithUri("http://localhost:9090"),
//		client.WithClientId("orders-service"))
//
// Sends, requests, responses, queue sends, receives, peeks, ack-all, Ping and
// QueuesInfo are HTTP requests whose bodies are the wire messages as JSON
// (the KubeMQ REST format); subscriptions of every kind, StreamEvents and
// StreamEventsStore (/send/stream), and queue transactions (SQM's Next and
// QueuesClient.Transaction, /queue/stream) are WebSockets. The token goes in
// an "Authorization: Bearer <token>" header of every request and WebSocket
// dial. For TLS use an https:// URI; WithCredentials and WithCertificate then
// name the CA (they require https). WithKeepalive sets the interval of
// WebSocket pings, which detect dead sockets.
//
// Behaviour is the same as over gRPC: subscriptions reconnect with the same
// backoff, report interruptions on errCh and keep delivering on the same
// channel, and events-store subscriptions resume after the last sequence
// delivered; errors are the same *Error values, with the same text, status
// code and conditions (Error.HTTPStatus adds the HTTP status). Unlike
// kubemq-go v1.9.0's REST transport, nothing is lost on the way: streamed
// events-store events are stored (not published as plain events), event
// ids are kept and SendEventStore returns the id, responses carry Executed
// and Error, command responses carry the request id, the responder's id
// and the execution time, QueuesInfo sends its filter (as ?QueueName=, and
// in the GET body where KubeMQ reads it), and subscription parameters are
// URL-escaped.
//
// What REST cannot do:
//   - The queue stream API of package queuesstream (QueuesUpstream and
//     QueuesDownstream) has no REST route: that package is gRPC only, and
//     GetGRPCRawClient returns ErrNotSupportedOverREST.
//   - The REST API runs one queue transaction per WebSocket, so each Next of
//     a StreamQueueMessage (and each Transaction) opens a new socket.
//   - The events stream answers every event, not only refused ones.
//   - Against the KubeMQ reference server (not Herald), answers slower than
//     its 60 s HTTP write timeout (a WaitTimeSeconds or request timeout
//     above 60 s) never arrive.
//
// # The patterns, in reading order
//
// Events: real-time pub/sub, nothing stored. Send with E (or NewEvent) and
// its setters; receive with SubscribeToEvents, which takes a group (each
// event to one member) and the wildcards * and >. StreamEvents sends many
// events over one stream.
//
//	err := c.E().SetChannel("prices").SetBody(data).Send(ctx)
//	events, err := c.SubscribeToEvents(ctx, "prices", "", errCh)
//	for ev := range events { … }
//
// Events store: persistent pub/sub with a sequence per channel. Send with ES;
// subscribe with SubscribeToEventsStore from a start position:
// StartFromNewEvents, StartFromFirstEvent, StartFromLastEvent,
// StartFromSequence(n), StartFromTime(t) (sent as Unix ns) or
// StartFromTimeDelta(d) (sent in seconds). Subscriptions are durable on the
// server: subscribing again with the same client id and channel (or the same
// group) resumes where the last one stopped. StreamEventsStore sends many
// events over one stream and reports one result per event.
//
// Commands: a request a responder executes. Send with C (SetTimeout: how long
// the server waits for a responder, sent in ms); a responder receives them
// from SubscribeToCommands and answers with R:
//
//	cmds, err := c.SubscribeToCommands(ctx, "jobs.run", "", errCh)
//	for cmd := range cmds {
//		err := run(cmd)
//		_ = c.R().SetRequestId(cmd.Id).SetResponseTo(cmd.ResponseTo).
//			SetExecutedAt(time.Now()).SetError(err).Send(ctx)
//	}
//	resp, err := c.C().SetChannel("jobs.run").SetBody(job).SetTimeout(5 * time.Second).Send(ctx)
//
// Queries: a request whose response carries data. Send with Q; responders use
// SubscribeToQueries and R with SetMetadata / SetBody. With SetCacheKey,
// Herald caches the response for SetCacheTTL (default 15 min): Herald's SDK
// sends the TTL in seconds, the unit Herald, KubeMQ's documentation and its
// other SDKs use (kubemq-go v1.9.0 sends milliseconds).
//
// Queues: durable; each message goes to one receiver. Send one with QM (policy
// setters SetPolicyExpirationSeconds, SetPolicyDelaySeconds,
// SetPolicyMaxReceiveCount, SetPolicyMaxReceiveQueue) or a batch with QMB.
// Take messages with RQM (SetIsPeak(true) only shows them), empty a queue with
// AQM, and describe queues with QueuesInfo. For one message at a time in a
// transaction use SQM: Next takes a message and holds it for its visibility
// time; settle it with Ack, Reject, Resend, ExtendVisibility on the message or
// ResendWithNewMessage on the StreamQueueMessage. Package queuesstream has
// the stream API with batched transactions (Poll, AckAll, NAckRange, …).
//
// The pattern clients of kubemq-go — EventsClient, EventsStoreClient,
// CommandsClient, QueriesClient, QueuesClient — are here too, with callback
// subscriptions and the channel management calls Create, Delete and List.
//
// # Subscriptions and reconnection
//
// Subscribe… methods return a channel and run until their context ends or
// the client closes; then they close the channel. Errors go to the errCh
// given to them, which is never blocked on (an error nobody is ready to
// read is dropped; errCh may be nil). Unlike kubemq-go, auto-reconnect is on
// by default: when a stream breaks (a broker restart, a network failure) the
// subscription is re-opened with exponential backoff from 100 ms up to
// WithReconnectInterval, errCh receives an error matching
// ErrSubscriptionInterrupted, and delivery goes on on the same channel. An
// events-store subscription resumes after the last event it delivered. A
// subscription the server refuses (an invalid channel, a bad token) ends at
// once with the server's error.
//
// Every blocking call takes a context and returns when it ends.
//
// # Tracing
//
// Every send carries the trace context of its ctx in the message's tags,
// as W3C traceparent and tracestate (TraceparentTag, TracestateTag):
// events, events-store events (also on StreamEvents and StreamEventsStore,
// from the stream's ctx), queue messages and batches (also over package
// queuesstream), commands, queries and responses. Herald reads these tags
// to put its own spans (send, store, deliver, respond, settle) in the same
// trace, and delivers them unchanged to every consumer; a KubeMQ server
// passes them on like any tag. Tags that already carry a traceparent keep
// it. WithPropagator changes the format (or turns it off);
// WithTracerProvider adds the SDK's own spans ("send <channel>",
// "respond"), whose context is then the one the messages carry.
//
// On the receiving side, ContextFromTags turns a message's tags into a
// context for the handler's span; a responder that answers with that
// context puts the response in the request's trace:
//
//	for q := range queries {
//		ctx, span := tracer.Start(client.ContextFromTags(ctx, q.Tags), "process "+q.Channel)
//		_ = c.R().SetRequestId(q.Id).SetResponseTo(q.ResponseTo).SetBody(answer(q)).Send(ctx)
//		span.End()
//	}
//
// InjectTags adds a context to tags by hand, for example per event of a
// stream.
//
// # Errors
//
// Errors from the server are *Error values: err.Error() is the server's
// text (for example "rpc error: code = Internal desc = Error 301: timeout for
// request message"), status.Code(err) its gRPC code, and errors.Is tells the
// condition: ErrTimeout (Error 301 and expired deadlines), ErrNoResponder,
// ErrUnauthorized, ErrInvalidArgument, ErrChannelSealed, ErrUnavailable (the
// server could not be reached), ErrClientClosed. State reports whether the
// connection is up (StateConnected, StateReconnecting, StateClosed).
// Queue operations report a refused message or request in their result
// (IsError, Error) as KubeMQ does; the results' Err method returns it as an
// error.
//
// ValidateChannel and ValidateQueueChannel apply the server's channel-name
// rules in the client, with the server's texts, for callers that check a
// name before any network call; ReservedPrefix tells the names servers
// keep for themselves.
//
// # Differences from kubemq-go v1.9.0
//
// Behaviour:
//   - Auto-reconnect is on by default, with backoff (WithReconnectInterval is
//     the longest wait); subscription channels are closed when the
//     subscription ends; sends on error channels never block.
//   - Query cache TTLs are sent in seconds (kubemq-go: milliseconds).
//   - StreamQueueMessage: a client may run several at once (kubemq-go allows
//     one per client); Next returns ctx's error when ctx ends (kubemq-go:
//     nil, nil).
//   - StreamEvents and StreamEventsStore also return when their input
//     channel is closed; StreamEventsStore sends each event's own client id,
//     generates missing event ids to match results, and does not close the
//     result channel.
//   - QueuesClient.Subscribe and TransactionStream back off after errors,
//     and stopping them cancels the call in flight; TransactionStream does
//     not report "Error 138" (no message within the wait).
//   - In package queuesstream, settlements wait for the server (see there).
//   - String methods do not panic on nil receivers or a nil Response.Err.
//
// API:
//   - The Transport interface is not exported; over gRPC, GetGRPCRawClient returns
//     the generated client of package kubemqpb (github.com/heraldmq/herald/api/kubemq),
//     whose messages QueueMessage embeds — generated by protoc-gen-go, so
//     without gogo's Marshal/Size/XXX_ methods.
//   - Trace and the AddTrace methods are kept without OpenCensus: with
//     WithTracerProvider they name and describe OpenTelemetry spans (see
//     Tracing), otherwise they do nothing.
//   - Additions: WithToken, WithKeepalive, ErrTimeout and the other
//     conditions, Error, InBandError, ErrSubscriptionInterrupted, the Err
//     methods of queue results, Response.AddTag, the ChannelType constants,
//     Default… constants, ValidateChannel, ValidateQueueChannel,
//     MaxChannelLen and ReservedPrefix; tracing: WithTracerProvider,
//     WithPropagator, ContextFromTags, InjectTags.
//   - Additions of the REST transport: ErrNotSupportedOverREST and
//     Error.HTTPStatus.
package client
