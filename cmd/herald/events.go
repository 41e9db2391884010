package main

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/heraldmq/herald/client"
)

func newEventsCmd() *cobra.Command {
	cf := &connFlags{}
	cmd := groupCmd("events", "Send and receive events (real-time pub/sub, not stored)", cf)
	cmd.AddCommand(newEventsSendCmd(cf), newEventsReceiveCmd(cf))
	return cmd
}

func newEventsSendCmd(cf *connFlags) *cobra.Command {
	mf := &msgFlags{}
	cmd := &cobra.Command{
		Use:   "send CHANNEL [BODY|-]",
		Short: "Publish one event",
		Long: `Publish one event. The body is the argument, the file given by --file, or
stdin with - or --stdin.`,
		Example: `  herald events send prices '{"eur":1.08}' --tag source=ecb
  echo hello | herald events send greetings -`,
		Args: rangeArgs(1, 2, "CHANNEL [BODY]"),
		RunE: func(cmd *cobra.Command, args []string) error {
			body, tags, err := mf.read(cmd, args)
			if err != nil {
				return err
			}
			ctx, c, end, err := cf.session(cmd)
			if err != nil {
				return err
			}
			defer end()
			id := mf.messageID()
			err = c.E().SetId(id).SetChannel(args[0]).SetMetadata(mf.metadata).SetBody(body).SetTags(tags).Send(ctx)
			if err != nil {
				return fmt.Errorf("send event to %s: %w", args[0], err)
			}
			return newPrinter(cmd, cf).print(fmt.Sprintf("sent event %s to %s", id, args[0]),
				sentRecord{Channel: args[0], ID: id, Sent: true})
		},
	}
	addMsgFlags(cmd.Flags(), mf)
	return cmd
}

func newEventsReceiveCmd(cf *connFlags) *cobra.Command {
	rf := &recvFlags{}
	cmd := &cobra.Command{
		Use:   "receive CHANNEL",
		Short: "Print the events of a channel as they come",
		Long: `Print the events of a channel (wildcards * and > allowed) as they come, one
line each, until --count events came, --timeout passed or SIGINT.`,
		Example: `  herald events receive 'prices.>' --count 10
  herald events receive prices --group dashboard --json`,
		Args: rangeArgs(1, 1, "CHANNEL"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := rf.check(); err != nil {
				return err
			}
			ctx, c, end, err := cf.session(cmd)
			if err != nil {
				return err
			}
			defer end()
			errs := make(chan error, errBufferSize)
			events, err := c.SubscribeToEvents(ctx, args[0], rf.group, errs)
			if err != nil {
				return fmt.Errorf("subscribe to %s: %w", args[0], err)
			}
			p := newPrinter(cmd, cf)
			return receive(ctx, rf, events, errs, cmd.ErrOrStderr(), func(ev *client.Event) error {
				r := &msgRecord{Channel: ev.Channel, ID: ev.Id, ClientID: ev.ClientId, Metadata: ev.Metadata, Tags: ev.Tags}
				r.setBody(ev.Body)
				return p.print(r.String(), r)
			})
		},
	}
	addRecvFlags(cmd.Flags(), rf)
	return cmd
}

func newEventsStoreCmd() *cobra.Command {
	cf := &connFlags{}
	cmd := groupCmd("events-store", "Send and receive persistent events (replayable pub/sub)", cf)
	cmd.AddCommand(newEventsStoreSendCmd(cf), newEventsStoreReceiveCmd(cf))
	return cmd
}

func newEventsStoreSendCmd(cf *connFlags) *cobra.Command {
	mf := &msgFlags{}
	cmd := &cobra.Command{
		Use:   "send CHANNEL [BODY|-]",
		Short: "Store one event",
		Long: `Store one event and wait until the broker stored it. The body is the
argument, the file given by --file, or stdin with - or --stdin.`,
		Example: `  herald events-store send orders '{"id":7}' --metadata created`,
		Args:    rangeArgs(1, 2, "CHANNEL [BODY]"),
		RunE: func(cmd *cobra.Command, args []string) error {
			body, tags, err := mf.read(cmd, args)
			if err != nil {
				return err
			}
			ctx, c, end, err := cf.session(cmd)
			if err != nil {
				return err
			}
			defer end()
			res, err := c.ES().SetId(mf.messageID()).SetChannel(args[0]).SetMetadata(mf.metadata).SetBody(body).SetTags(tags).Send(ctx)
			if err == nil && res.Err != nil {
				err = res.Err
			}
			if err != nil {
				return fmt.Errorf("store event in %s: %w", args[0], err)
			}
			return newPrinter(cmd, cf).print(fmt.Sprintf("stored event %s in %s", res.Id, args[0]),
				sentRecord{Channel: args[0], ID: res.Id, Sent: res.Sent})
		},
	}
	addMsgFlags(cmd.Flags(), mf)
	return cmd
}

func newEventsStoreReceiveCmd(cf *connFlags) *cobra.Command {
	rf := &recvFlags{}
	var start string
	cmd := &cobra.Command{
		Use:   "receive CHANNEL",
		Short: "Print the stored events of a channel, then new ones",
		Long: `Print the events of a channel from the position --start names, one line
each, until --count events came, --timeout passed or SIGINT.

--start is one of
  new              only events stored from now on (the default)
  first            from the first stored event
  last             from the last stored event
  sequence:N       from sequence N
  time:RFC3339     from the events stored at or after a time, e.g. time:2024-05-01T10:00:00Z
  delta:DURATION   from the events stored during the last DURATION, e.g. delta:30s

The broker keeps the position of a subscription per client id and channel
(or group): subscribing again with the same --client-id or --group resumes
where the last one stopped.`,
		Example: `  herald events-store receive orders --start first --count 100 --json
  herald events-store receive orders --start delta:5m --group audit`,
		Args: rangeArgs(1, 1, "CHANNEL"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := rf.check(); err != nil {
				return err
			}
			opt, err := parseStart(start)
			if err != nil {
				return err
			}
			ctx, c, end, err := cf.session(cmd)
			if err != nil {
				return err
			}
			defer end()
			errs := make(chan error, errBufferSize)
			events, err := c.SubscribeToEventsStore(ctx, args[0], rf.group, errs, opt)
			if err != nil {
				return fmt.Errorf("subscribe to %s: %w", args[0], err)
			}
			p := newPrinter(cmd, cf)
			return receive(ctx, rf, events, errs, cmd.ErrOrStderr(), func(ev *client.EventStoreReceive) error {
				r := &msgRecord{Channel: ev.Channel, ID: ev.Id, Sequence: ev.Sequence, Metadata: ev.Metadata, Tags: ev.Tags}
				if !ev.Timestamp.IsZero() {
					ts := ev.Timestamp.UTC()
					r.Timestamp = &ts
				}
				r.setBody(ev.Body)
				return p.print(r.String(), r)
			})
		},
	}
	addRecvFlags(cmd.Flags(), rf)
	cmd.Flags().StringVar(&start, "start", "new", "where to start: new, first, last, sequence:N, time:RFC3339 or delta:DURATION")
	return cmd
}

// parseStart turns --start into a subscription start position.
func parseStart(s string) (client.SubscriptionOption, error) {
	bad := func(why string) error {
		msg := fmt.Sprintf("invalid --start %q: want new, first, last, sequence:N, time:RFC3339 or delta:DURATION", s)
		if why != "" {
			msg += " (" + why + ")"
		}
		return errors.New(msg)
	}
	kind, arg, hasArg := strings.Cut(s, ":")
	switch kind {
	case "new", "first", "last":
		if hasArg {
			return nil, bad("")
		}
		switch kind {
		case "new":
			return client.StartFromNewEvents(), nil
		case "first":
			return client.StartFromFirstEvent(), nil
		}
		return client.StartFromLastEvent(), nil
	case "sequence":
		n, err := strconv.Atoi(arg)
		if err != nil || n < 1 {
			return nil, bad("the sequence is a number from 1")
		}
		return client.StartFromSequence(n), nil
	case "time":
		t, err := time.Parse(time.RFC3339Nano, arg)
		if err != nil {
			return nil, bad("the time is RFC 3339, e.g. 2024-05-01T10:00:00Z")
		}
		return client.StartFromTime(t), nil
	case "delta":
		d, err := time.ParseDuration(arg)
		if err != nil || d <= 0 {
			return nil, bad("the delta is a positive duration, e.g. 30s or 5m")
		}
		return client.StartFromTimeDelta(d), nil
	}
	return nil, bad("")
}
