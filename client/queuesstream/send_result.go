package queuesstream

import (
	"fmt"
	"strings"

	kubemqpb "github.com/heraldmq/herald/api/kubemq"
)

// SendResult holds one result per message sent, in order.
type SendResult struct {
	Results []*kubemqpb.SendQueueMessageResult
}

func newSendResult(results []*kubemqpb.SendQueueMessageResult) *SendResult {
	return &SendResult{Results: results}
}

func (s *SendResult) String() string {
	if s == nil {
		return "<nil>"
	}
	var sb strings.Builder
	for _, r := range s.Results {
		fmt.Fprintf(&sb, "MessageID: %s, Error: %s\n", r.MessageID, r.Error)
	}
	return sb.String()
}
