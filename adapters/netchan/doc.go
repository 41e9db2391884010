// Package netchan provides network channels over Herald: named, persisted
// streams of []byte that any number of readers replay from the start, that
// a publisher closes to mark them complete, and that readers can rewind to a
// nanosecond timestamp; and partitioned publish/subscribe on
// namespace/topic. It follows the SeaweedFS messaging client (msgclient) and
// stores everything on the KubeMQ events-store pattern, so any KubeMQ client
// can read and write netchan channels. It imports only the standard library,
// Herald's client SDK and xxhash.
//
// # Quick start
//
//	c, err := netchan.Dial(ctx, netchan.WithAddresses("localhost:50000"))
//	pub, err := c.NewPubChannel("logs")
//	err = pub.Publish([]byte("line 1"))
//	err = pub.Close() // writes the close marker; on Herald the channel is sealed
//
//	sub, err := c.NewSubChannel("reader-1", "logs") // from the first message
//	for line := range sub.Channel() { … }            // ends at the close marker
//	err = sub.Err()                                   // nil: the publisher closed it
//
// # From the SeaweedFS messaging client
//
//	msgclient                                      netchan
//	NewMessagingClient(brokers...)                 NewMessagingClient (lazy), Dial (at once); MessagingClient = Client
//	(mc) NewPubChannel(name)                       NewPubChannel, OpenPubChannel(ctx, …)
//	(pc) Publish(m)                                Publish, PublishContext — returns once stored
//	(pc) Close()                                   Close, CloseContext — flush, close marker, seal (Herald)
//	(pc) Md5()                                     Md5, Count
//	"closed channels reject writes"                ErrChannelClosed
//	(mc) NewSubChannel(subscriberId, name)         NewSubChannel, OpenSubChannel(ctx, …) with SubOptions
//	(sc) Channel()                                 Channel (payloads) or Messages (full view)
//	(sc) Md5(), (sc) Cancel()                      Md5, Cancel, Close; plus Closed, CloseInfo, Err
//	(mc) DeleteChannel(name)                       DeleteChannel, DeleteChannelContext
//	(mc) NewPublisher(id, namespace, topic)        NewPublisher with TopicOptions
//	(p) Publish(*messaging_pb.Message)             Publish(*Message), PublishContext
//	(p) Shutdown()                                 Shutdown, Close (a topic is never sealed)
//	(mc) NewSubscriber(id, ns, topic, p, t)        NewSubscriber (p = -1: all partitions)
//	(s) Subscribe(fn)                              Subscribe, SubscribeContext(ctx, fn) error
//	(s) Shutdown()                                 Shutdown, Close
//	(mc) DeleteTopic(ns, topic)                    DeleteTopic, DeleteTopicContext
//	messaging_pb.Message{Key, Value, Headers}      Message{Key, Value, Headers, EventTime, Partition, Sequence, Timestamp, Channel}
//	TopicConfiguration.PartitionCount (4)          WithPartitions(n), DefaultPartitions = 4
//	TopicConfiguration.Partitoning                 NonNullKeyHash, KeyHash, RoundRobin; WithPartitioning
//	StartPosition LATEST/EARLIEST/TIMESTAMP        FromNew, FromFirst, From(t) (inclusive)
//	subscriber_id ("to track consumption")         subscriber id; with Resume a real durable cursor
//	Collection, Replication, IsTransient           not carried (Herald's storage is server-wide)
//
// # Wire format
//
// A network channel name is the events-store channel netchan.chan.<name>;
// partition p of namespace/topic is netchan.topic.<namespace>.<topic>.<p>
// (WithChannelPrefix changes "netchan."). Every message has Metadata
// "netchan/1", the payload as Body, and tags: netchan.publisher;
// netchan.key, netchan.h.<name> (base64), netchan.event_time (Unix ns) and
// netchan.partitions on topics; herald.seal, netchan.md5 and netchan.count
// on the close marker. Partitions are chosen as the SeaweedFS client did:
// XXH64 (seed 0) of the key, or a per-publisher counter, through a signed
// modulo.
//
// # Guarantees
//
//   - A synchronous Publish that returned nil was stored by the broker
//     (durably on Herald's file store). Transport failures are retried with
//     the same message id until the publish timeout: stored once on Herald,
//     possibly twice on other servers.
//   - With WithAsync, Publish returning nil means queued; Flush or Close
//     returning nil means stored. The first failure sticks, and Close then
//     does not seal (a channel with a possible gap is never marked complete).
//   - One total order per channel and per partition, the same for every
//     reader; none across partitions.
//   - Plain readers get every stored message from their start point exactly
//     once, across broker restarts and reconnects. FromNew looks one second
//     back (broker clock): it may show messages stored up to a second before
//     the call and never misses one stored after it returned.
//   - Resume readers: at least once on Herald (acked durable reads; a
//     message is acknowledged once handed to the view, and one that was not
//     returns to the cursor); at most once on other servers (events-store
//     groups: what the client had received but not handed out is lost, and a
//     message published in the first moments may be missed). FromLast with
//     Resume starts a new cursor at the next message.
//   - Closing: on Herald the close marker seals the channel in the same step
//     and every later send by anyone fails (ErrChannelClosed). Elsewhere,
//     OpenPubChannel looks for a marker first (WithCloseCheck), but a writer
//     that started before the close can still append after it; readers stop
//     at the first marker, so such messages are stored yet never delivered.
//   - A slow or absent reader never blocks a publisher; retention is the
//     server's (Herald: until deleted or configured limits; sealed channels
//     have no age limit).
//
// # Errors
//
// Sentinels (ErrClosed, ErrInvalidName, ErrChannelClosed, ErrChannelDeleted,
// …) are matched with errors.Is; broker errors are wrapped, so
// errors.Is(err, client.ErrUnavailable) works too. Names and options are
// checked before any network call. A partition count that differs between
// publisher and subscriber stops the subscriber with a
// *PartitionMismatchError; unreachable brokers give a *ConnectError.
//
// # Concurrency and lifecycle
//
// Client, PubChannel, Publisher and Subscriber are safe for concurrent use.
// A SubChannel has one reader goroutine feeding its view; a Subscriber one
// goroutine per partition (its handler runs concurrently across partitions
// unless WithSerialHandler). Close is idempotent and returns once the
// handle's goroutines have exited; Client.Close closes every handle it
// opened (PubChannels are released, not sealed) and then the connection,
// unless it was borrowed with WithClient.
package netchan
