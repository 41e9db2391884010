// Package bus is a one-topic message bus handle over Herald with the API of
// hms-msgbus (Cray-HPE): connect for a topic as a writer, a reader or both,
// write strings, and read them with a blocking call or a callback. Readers
// without a group each see every message; readers sharing a GroupId split
// the messages between them (at least once on Herald).
//
// Patterns: the default carries a topic on a persistent events-store
// channel (Kafka-like); PatternEvents is fire-and-forget; PatternQueue is a
// work queue with acknowledgement. The topic is an ordinary KubeMQ channel:
// messages carry the string as the body, with no metadata and no tags, so
// any KubeMQ client can read or write it.
//
// The package uses only the standard library and Herald's client SDK; it
// works against Herald and against any KubeMQ server (see Guarantees).
//
// # Quick start
//
//	r, err := bus.Connect(bus.MsgBusConfig{Host: "localhost", Topic: "telemetry", Direction: bus.BusReader})
//	if err != nil { … }
//	defer r.Disconnect()
//	_ = r.RegisterCB(func(msg string) { fmt.Println(msg) })
//
//	w, err := bus.Connect(bus.MsgBusConfig{Host: "localhost", Topic: "telemetry", Direction: bus.BusWriter})
//	if err != nil { … }
//	defer w.Disconnect()
//	err = w.MessageWrite("node x1000c0s0b0n0 up")
//
// # From hms-msgbus
//
// Code written for hms-msgbus runs with a changed import and a Herald
// address (the port defaults to Herald's 50000, not Kafka's 9092).
//
//	hms-msgbus                         bus                                   on Herald
//	MsgBusIO (7 methods)               MsgBusIO, implemented by *Conn        Connect returns it
//	Connect(cfg)                       Connect(cfg); ConnectContext(ctx, cfg) validates, connects with retries, subscribes before returning; nil handle on error
//	Disconnect()                       Disconnect(); Close()                 stops reading, flushes a NonBlocking writer, releases the connection; idempotent
//	MessageWrite(msg)                  MessageWrite; MessageWriteContext     Blocking: returns once stored (accepted for events); NonBlocking: once queued
//	MessageRead()                      MessageRead; MessageReadContext; Receive  waits (Blocking) or ErrWouldBlock (NonBlocking)
//	MessageAvailable()                 MessageAvailable                      messages buffered, not yet read; 0 for writers
//	RegisterCB(cbfunc)                 RegisterCB                            buffered messages first, then new ones, one at a time
//	UnregisterCB()                     UnregisterCB                          no call starts after it returns; callable inside the callback
//	Status()                           Status                                StatusOpen, StatusReconnecting (new), StatusClosed
//	CBFunc                             CBFunc                                —
//	MsgBusTech, BusTechKafka           MsgBusTech, BusTechKafka, BusTechHerald  both mean Herald
//	BlockingMode, NonBlocking/Blocking BlockingMode, same values             zero means Blocking (the README's default; the code's was NonBlocking)
//	BusStatus, StatusOpen/StatusClosed BusStatus, plus StatusReconnecting    —
//	BusDir, BusWriter/BusReader        BusDir, plus BusReadWriter            both directions on one handle
//	SubscriptionToken, CallbackToken   same, declared                        unused, as in hms-msgbus
//	MsgBusConfig.BusTech               same                                  0 → BusTechHerald
//	MsgBusConfig.Host                  same                                  "" → localhost
//	MsgBusConfig.Port                  same                                  0 → 50000
//	MsgBusConfig.Blocking              same                                  0 → Blocking
//	MsgBusConfig.Direction             same                                  required
//	MsgBusConfig.ConnectRetries        same                                  attempts 1 s apart; 0 → unlimited
//	MsgBusConfig.Topic                 same                                  the channel name; required
//	MsgBusConfig.GroupId               same                                  consumer group of readers
//	SetLogger(*logrus.Logger)          SetLogger(*slog.Logger)               default for handles without MsgBusConfig.Logger
//	DebugLevel(int) (older versions)   —                                     slog levels
//	MSG_QUEUE_MAX_LEN = 1000           DefaultReadBufferSize, ReadBufferSize the reader's local buffer
//	MsgBusWriter_Kafka, MsgBusReader_Kafka, ConnectReader_Kafka  —          implementation types, not carried
//	Kafka consumer settings            —                                     "latest" is StartNewest, the default
//	-tags musl build note              —                                     pure Go, no cgo, no build tags
//
// Behaviour that differs from hms-msgbus: a handle never installs signal
// handlers (hms-msgbus closed readers on SIGINT/SIGTERM); it reconnects and
// resubscribes; Blocking writes report broker failures instead of logging
// them; empty writes are refused (ErrEmptyMessage); MessageRead with a
// callback registered returns ErrCallbackRegistered, and after Disconnect
// ErrClosed.
//
// # Mapping onto KubeMQ
//
//	Pattern             writer sends            reader without group                         reader with GroupId
//	PatternEventsStore  events store, Topic     subscription from 1 s before Connect        Herald: acked durable read _herald.es.<group>.<Topic>; else events-store group subscription
//	PatternEvents       events, Topic           events subscription                          events group subscription
//	PatternQueue        queue message, Topic    queue stream polls with manual ack           — (not allowed: a queue gives each message to one reader)
//
// Acked reads (PatternQueue, and group readers of PatternEventsStore on
// Herald) fetch at most 16 messages ahead and extend the visibility of held
// messages every Visibility/2. MessageRead acknowledges a message before
// returning it; a callback's message is acknowledged when the callback
// returns and returned to the broker after a back-off if it panics; Receive
// leaves settlement to the caller (Message.Ack, Message.Nack). With
// MaxDeliver, a message whose last allowed delivery fails is copied to
// DeadLetterTopic (a queue, default Topic+".dlq") with the tags
// herald.dlq.reason, herald.dlq.attempts, herald.dlq.group and
// herald.dlq.sequence, then acknowledged.
//
// # Guarantees
//
//   - A Blocking MessageWrite that returned nil: the message is stored
//     (events store, queue) or accepted by the broker (events, not stored).
//     A NonBlocking one only queued it in this process; Flush or Disconnect
//     returning nil confirms it.
//   - Readers without a group get every message stored after Connect
//     returned, plus those stored up to one second before, in store order,
//     without gap or duplicate across reconnects. A new process starts again
//     at "new".
//   - Group readers on Herald get each message at least once, one member of
//     the group per message: a message handed out and not acknowledged (a
//     crash, an expired visibility, a Nack) comes back, with a higher
//     ReceiveCount. Elsewhere (or with DeliveryAtMostOnce) each message goes
//     to one member at most once: a member that dies loses what it had
//     buffered, and a message stored in the first moments after Connect may
//     be missed. Drain hands out what is buffered before closing.
//   - PatternEvents readers get what is published while they are connected;
//     a reader without a group is confirmed subscribed (by a probe event
//     tagged herald.bus.probe, which other KubeMQ clients of the topic see)
//     before Connect returns. Nothing is stored; a broker restart loses what
//     was published meanwhile.
//   - PatternQueue: each message to exactly one reader, at least once;
//     redeliveries come out of order.
//   - Disconnect returns unacknowledged messages of acked modes to the
//     broker; in other modes unread buffered messages are discarded (their
//     number is logged).
//
// # Errors
//
// Sentinels for errors.Is: ErrClosed, ErrInvalidConfig (with *ConfigError
// listing every problem), ErrInvalidName, ErrUnsupported, ErrConnect (with
// *ConnectError), ErrWrongDirection, ErrEmptyMessage, ErrWriteBufferFull,
// ErrWriteFailed (with *WriteError), ErrWouldBlock, ErrNilCallback,
// ErrCallbackRegistered, ErrChannelDeleted. Errors of the client SDK are
// wrapped: errors.Is(err, client.ErrUnavailable), client.ErrTimeout,
// client.ErrUnauthorized hold as well. Methods that take a context return an
// error wrapping ctx.Err() when it ends.
//
// # Concurrency
//
// All methods of *Conn are safe for concurrent use. Writes from one
// goroutine keep their order. The callback runs on one goroutine owned by
// the Conn, never concurrently with itself. Disconnect returns after every
// goroutine the Conn started has exited; the Conn installs no signal
// handlers.
package bus
