// Package dashboard is Herald's web dashboard: a small UI embedded in the
// binary (plain HTML, CSS and JavaScript modules; nothing is fetched at
// run time, so it works offline) and the JSON API it runs on.
//
// # Serving it
//
// New returns an http.Handler with the UI at / and the API under /api/:
//
//	be, err := dashboard.NewBroker(dashboard.BrokerConfig{Address: "localhost:50000", Info: info})
//	if err != nil { … }
//	defer be.Close()
//	http.ListenAndServe(":8080", dashboard.New(dashboard.Config{Backend: be, Logger: log}))
//
// # Pieces
//
// A Backend does the work the pages ask for. Broker is the one Herald
// uses: it talks to a KubeMQ-compatible broker through Herald's Go SDK over
// gRPC, with one connection per caller token, and lists channels with the
// KubeMQ channel-management queries (kubemq.cluster.internal.requests).
// What the KubeMQ API cannot tell — nodes, storage, traffic totals — comes
// from a ServerInfo the embedding server provides; ProcessNode fills a Node
// from the Go runtime. Without one, Broker derives what it can from Ping,
// QueuesInfo and the channel lists, so the dashboard also runs against a
// remote Herald or KubeMQ.
//
// Event streams last as long as their requests: an http.Server's Shutdown
// waits for them, so give the server a BaseContext that is cancelled when
// shutting down (or call Close on it after Shutdown's deadline).
//
// # Authentication
//
// With Config.Authenticate set, every /api call must pass it; the token it
// returns travels in the request's context (TokenFromContext) and Broker
// acts on the broker with it, so the broker's own authorization applies to
// each dashboard user. The UI asks for the token, keeps it in
// sessionStorage and sends it as a Bearer header (a token query parameter
// for live streams, moved into the header before Authenticate runs;
// BearerToken reads it).
//
// # The API
//
// JSON in and out; bodies of messages are base64 in JSON; times are RFC
// 3339. Errors are {"error": "<text>"} with 400 (invalid input), 401 (not
// authenticated), 403 (the broker refused the token), 404, 415 (a POST
// that is not application/json), 502 (broker unreachable), 504 (timeout)
// or 500.
//
//	GET    /api/session                       {"auth": bool}
//	GET    /api/overview                      nodes, storage, traffic, channels by type, recent channels, rates
//	GET    /api/nodes                         []Node
//	GET    /api/channels/{type}?search=       []Channel
//	POST   /api/channels/{type}               {"name"}: create
//	DELETE /api/channels/{type}/{name}        delete
//	GET    /api/queue?channel=                QueueInfo
//	POST   /api/queue/send                    QueueMessage with policy → QueueSendResult
//	POST   /api/queue/peek, /api/queue/pull   {"channel", "max"} → []QueueMessage
//	POST   /api/queue/purge                   {"channel"} → {"removed"}
//	POST   /api/queue/requeue                 {"channel": dead-letter queue, "max"} → RequeueResult
//	POST   /api/events/send                   Event ("store": true for the events store) → EventResult
//	POST   /api/requests/send                 {"type", "channel", "body", …, "timeoutSeconds"} → Response + "elapsedMs"
//
// Live data are server-sent events. Polled streams send a fresh document
// every Config.Interval (2 s by default); a failure is sent as a "problem"
// event and the stream goes on. Subscriptions send one event per message
// and an "end" event (with the reason) when they stop by themselves.
//
//	GET /api/stream/overview                  "overview" events
//	GET /api/stream/channels/{type}?search=   "channels" events
//	GET /api/stream/queue?channel=            "queue" events: QueueInfo and channel statistics
//	GET /api/stream/queue-monitor?channel=    "message" per message that arrives, "missed" for those taken unseen
//	GET /api/stream/events?channel=&store=true&start=new|first|last|sequence|time&sequence=&time=
//	                                          "event" per event; Last-Event-ID resumes a replay
//	GET /api/stream/requests?type=&channel=   "request" per command or query seen (no group; never answered)
package dashboard
