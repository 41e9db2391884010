package cloudevents

// DropReplies makes q's streamed-reply writers drop the replies for which
// drop returns true (fault injection for TestCEReplyStreamGap).
func DropReplies(q *QueryConn, drop func(seq int) bool) { q.dropReply = drop }
