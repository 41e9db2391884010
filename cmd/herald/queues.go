package main

import (
	"context"
	"fmt"
	"math"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/heraldmq/herald/client"
)

func newQueuesCmd() *cobra.Command {
	cf := &connFlags{}
	cmd := groupCmd("queues", "Send, receive and inspect queue messages (durable, one receiver each)", cf)
	cmd.AddCommand(
		newQueuesSendCmd(cf),
		newQueuesReceiveCmd(cf, false),
		newQueuesReceiveCmd(cf, true),
		newQueuesAckAllCmd(cf),
		newQueuesInfoCmd(cf),
		newQueuesStreamCmd(cf),
	)
	return cmd
}

// seconds converts a flag duration to whole seconds, rounded up.
func seconds(name string, d time.Duration) (int, error) {
	if d < 0 {
		return 0, fmt.Errorf("invalid --%s %v: want 0 or more", name, d)
	}
	s := math.Ceil(d.Seconds())
	if s > math.MaxInt32 {
		return 0, fmt.Errorf("invalid --%s %v: too long", name, d)
	}
	return int(s), nil
}

func newQueuesSendCmd(cf *connFlags) *cobra.Command {
	mf := &msgFlags{}
	var (
		delay, expiration time.Duration
		maxReceive        int
		deadLetter        string
	)
	cmd := &cobra.Command{
		Use:   "send CHANNEL [BODY|-]",
		Short: "Send one message to a queue",
		Long: `Send one message to a queue. The body is the argument, the file given by
--file, or stdin with - or --stdin. --delay, --expiration, --max-receive-count
and --dead-letter set the message's delivery policy (durations are rounded up
to whole seconds).`,
		Example: `  herald queues send tasks '{"task":1}' --expiration 1h
  herald queues send tasks --file job.json --max-receive-count 3 --dead-letter tasks.dead`,
		Args: rangeArgs(1, 2, "CHANNEL [BODY]"),
		RunE: func(cmd *cobra.Command, args []string) error {
			body, tags, err := mf.read(cmd, args)
			if err != nil {
				return err
			}
			delaySec, err := seconds("delay", delay)
			if err != nil {
				return err
			}
			expSec, err := seconds("expiration", expiration)
			if err != nil {
				return err
			}
			if maxReceive < 0 {
				return fmt.Errorf("invalid --max-receive-count %d: want 0 or more", maxReceive)
			}
			ctx, c, end, err := cf.session(cmd)
			if err != nil {
				return err
			}
			defer end()
			msg := c.QM().SetId(mf.messageID()).SetChannel(args[0]).SetMetadata(mf.metadata).SetBody(body).SetTags(tags)
			if delaySec > 0 {
				msg.SetPolicyDelaySeconds(delaySec)
			}
			if expSec > 0 {
				msg.SetPolicyExpirationSeconds(expSec)
			}
			if maxReceive > 0 {
				msg.SetPolicyMaxReceiveCount(maxReceive)
			}
			if deadLetter != "" {
				msg.SetPolicyMaxReceiveQueue(deadLetter)
			}
			res, err := msg.Send(ctx)
			if err == nil {
				err = res.Err()
			}
			if err != nil {
				return fmt.Errorf("send to queue %s: %w", args[0], err)
			}
			rec := sentRecord{Channel: args[0], ID: res.MessageID, Sent: true, DelayedTo: res.DelayedTo, ExpirationAt: res.ExpirationAt}
			if res.SentAt != 0 {
				rec.SentAt = &res.SentAt
			}
			human := fmt.Sprintf("sent message %s to %s", res.MessageID, args[0])
			if res.DelayedTo != 0 {
				human += ", delayed to " + time.Unix(0, res.DelayedTo).UTC().Format(time.RFC3339)
			}
			return newPrinter(cmd, cf).print(human, rec)
		},
	}
	addMsgFlags(cmd.Flags(), mf)
	fs := cmd.Flags()
	fs.DurationVar(&delay, "delay", 0, "keep the message invisible this long after it is sent")
	fs.DurationVar(&expiration, "expiration", 0, "drop the message if nobody received it within this long")
	fs.IntVar(&maxReceive, "max-receive-count", 0, "deliveries allowed before the message goes to --dead-letter or is dropped (0: the broker's maximum)")
	fs.StringVar(&deadLetter, "dead-letter", "", "queue that takes the message after --max-receive-count deliveries")
	return cmd
}

// queueRecord describes a received queue message.
func queueRecord(m *client.QueueMessage) *msgRecord {
	r := &msgRecord{Channel: m.Channel, ID: m.MessageID, ClientID: m.ClientID, Metadata: m.Metadata, Tags: m.Tags}
	if a := m.Attributes; a != nil {
		r.Sequence, r.ReceiveCount = a.Sequence, a.ReceiveCount
		if a.Timestamp != 0 {
			ts := time.Unix(0, a.Timestamp).UTC()
			r.Timestamp = &ts
		}
	}
	r.setBody(m.Body)
	return r
}

func newQueuesReceiveCmd(cf *connFlags, peek bool) *cobra.Command {
	var (
		max  int
		wait time.Duration
	)
	use, short, long := "receive", "Take messages from a queue and print them",
		`Take up to --max messages from a queue, waiting up to --wait for them, and
print them one line each. Taken messages are removed from the queue. Nothing
is printed when the queue stays empty.`
	if peek {
		use, short, long = "peek", "Print messages of a queue without taking them",
			`Print up to --max messages of a queue without taking them, waiting up to
--wait for them.`
	}
	cmd := &cobra.Command{
		Use:     use + " CHANNEL",
		Short:   short,
		Long:    long,
		Example: "  herald queues " + use + " tasks --max 10 --wait 5s --json",
		Args:    rangeArgs(1, 1, "CHANNEL"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if max < 1 {
				return fmt.Errorf("invalid --max %d: want 1 or more", max)
			}
			waitSec, err := seconds("wait", wait)
			if err != nil {
				return err
			}
			waitSec = max1(waitSec)
			ctx, c, end, err := cf.session(cmd)
			if err != nil {
				return err
			}
			defer end()
			rctx, cancel := context.WithTimeout(ctx, time.Duration(waitSec)*time.Second+connectTimeout)
			defer cancel()
			res, err := c.RQM().SetChannel(args[0]).SetMaxNumberOfMessages(max).SetWaitTimeSeconds(waitSec).SetIsPeak(peek).Send(rctx)
			if err == nil {
				err = res.Err()
			}
			if err != nil {
				return fmt.Errorf("%s queue %s: %w", use, args[0], err)
			}
			p := newPrinter(cmd, cf)
			for _, m := range res.Messages {
				r := queueRecord(m)
				if err := p.print(r.String(), r); err != nil {
					return err
				}
			}
			if len(res.Messages) == 0 && !p.json {
				fmt.Fprintf(cmd.ErrOrStderr(), "herald: no messages in %s\n", args[0])
			}
			return nil
		},
	}
	cmd.Flags().IntVar(&max, "max", 1, "take at most `N` messages")
	cmd.Flags().DurationVar(&wait, "wait", time.Second, "wait this long for messages (rounded up to whole seconds)")
	return cmd
}

func max1(n int) int {
	if n < 1 {
		return 1
	}
	return n
}

func newQueuesAckAllCmd(cf *connFlags) *cobra.Command {
	var wait time.Duration
	cmd := &cobra.Command{
		Use:   "ack-all CHANNEL",
		Short: "Remove every ready message of a queue",
		Long: `Remove every ready message of a queue. Messages held by receivers and
delayed messages stay.`,
		Example: "  herald queues ack-all tasks",
		Args:    rangeArgs(1, 1, "CHANNEL"),
		RunE: func(cmd *cobra.Command, args []string) error {
			waitSec, err := seconds("wait", wait)
			if err != nil {
				return err
			}
			ctx, c, end, err := cf.session(cmd)
			if err != nil {
				return err
			}
			defer end()
			res, err := c.AQM().SetChannel(args[0]).SetWaitTimeSeconds(max1(waitSec)).Send(ctx)
			if err == nil {
				err = res.Err()
			}
			if err != nil {
				return fmt.Errorf("ack-all queue %s: %w", args[0], err)
			}
			return newPrinter(cmd, cf).print(fmt.Sprintf("removed %d messages from %s", res.AffectedMessages, args[0]),
				struct {
					Channel  string `json:"channel"`
					Affected uint64 `json:"affected"`
				}{args[0], res.AffectedMessages})
		},
	}
	cmd.Flags().DurationVar(&wait, "wait", time.Second, "how long the broker may take (rounded up to whole seconds)")
	return cmd
}

func newQueuesInfoCmd(cf *connFlags) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "info [CHANNEL...]",
		Short: "Describe queues",
		Long:  `Describe the queues named, or every queue, with their message counts.`,
		Example: `  herald queues info
  herald queues info tasks tasks.dead --json`,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, c, end, err := cf.session(cmd)
			if err != nil {
				return err
			}
			defer end()
			info, err := c.QueuesInfo(ctx, strings.Join(args, ";"))
			if err != nil {
				return fmt.Errorf("queues info: %w", err)
			}
			p := newPrinter(cmd, cf)
			if p.json {
				return p.print("", info)
			}
			tw := tabwriter.NewWriter(p.w, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "QUEUE\tMESSAGES\tBYTES\tWAITING\tDELIVERED\tSENT\tSUBSCRIBERS")
			for _, q := range info.Queues {
				fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t%d\n", q.Name, q.Messages, q.Bytes, q.Waiting, q.Delivered, q.Sent, q.Subscribers)
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			_, err = fmt.Fprintf(p.w, "%s: %d waiting, %d delivered, %d sent\n", plural(info.TotalQueues, "queue"), info.Waiting, info.Delivered, info.Sent)
			return err
		},
	}
	return cmd
}

// plural is "1 queue" or "n queues".
func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}
