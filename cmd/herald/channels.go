package main

import (
	"context"
	"fmt"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/heraldmq/herald/client"
)

// channelTypes are the channel types in listing order.
var channelTypes = []string{
	client.ChannelTypeQueues,
	client.ChannelTypeEvents,
	client.ChannelTypeEventsStore,
	client.ChannelTypeCommands,
	client.ChannelTypeQueries,
}

// parseChannelType accepts the SDK's type names and events-store.
func parseChannelType(s string) (string, error) {
	if s == "events-store" {
		return client.ChannelTypeEventsStore, nil
	}
	for _, t := range channelTypes {
		if s == t {
			return t, nil
		}
	}
	return "", fmt.Errorf("invalid channel type %q: want queues, events, events_store, commands or queries", s)
}

func newChannelsCmd() *cobra.Command {
	cf := &connFlags{}
	cmd := groupCmd("channels", "Create, delete and list channels", cf)
	cmd.AddCommand(newChannelsChangeCmd(cf, true), newChannelsChangeCmd(cf, false), newChannelsListCmd(cf))
	return cmd
}

func newChannelsChangeCmd(cf *connFlags, create bool) *cobra.Command {
	use, short, done := "create", "Create a channel", "created"
	if !create {
		use, short, done = "delete", "Delete a channel and its data", "deleted"
	}
	return &cobra.Command{
		Use:     use + " TYPE NAME",
		Short:   short,
		Long:    short + `. TYPE is queues, events, events_store, commands or queries.`,
		Example: "  herald channels " + use + " queues tasks",
		Args:    rangeArgs(2, 2, "TYPE NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			typ, err := parseChannelType(args[0])
			if err != nil {
				return err
			}
			ctx, c, end, err := cf.session(cmd)
			if err != nil {
				return err
			}
			defer end()
			change := client.CreateChannel
			if !create {
				change = client.DeleteChannel
			}
			if err := change(ctx, c, cf.clientID, args[1], typ); err != nil {
				return fmt.Errorf("%s %s channel %s: %w", use, typ, args[1], err)
			}
			return newPrinter(cmd, cf).print(fmt.Sprintf("%s %s channel %s", done, typ, args[1]), struct {
				Name   string `json:"name"`
				Type   string `json:"type"`
				Action string `json:"action"`
			}{args[1], typ, done})
		},
	}
}

// channelRow is one line of channels list.
type channelRow struct {
	name, typ         string
	in, out, volume   int
	waiting           string
	lastActivityMilli int
	active            bool
}

func newChannelsListCmd(cf *connFlags) *cobra.Command {
	var search string
	cmd := &cobra.Command{
		Use:   "list [TYPE]",
		Short: "List channels with their statistics",
		Long: `List the channels of TYPE (queues, events, events_store, commands or
queries), or of every type, whose names contain --search: name, type,
messages in and out, volume in, messages waiting (queues), last activity and
whether the channel has subscribers. With --json: a JSON array of the
channels as the broker describes them.`,
		Example: `  herald channels list
  herald channels list queues --search tasks --json`,
		Args: rangeArgs(0, 1, "[TYPE]"),
		RunE: func(cmd *cobra.Command, args []string) error {
			types := channelTypes
			if len(args) == 1 {
				typ, err := parseChannelType(args[0])
				if err != nil {
					return err
				}
				types = []string{typ}
			}
			ctx, c, end, err := cf.session(cmd)
			if err != nil {
				return err
			}
			defer end()
			var (
				rows []channelRow
				all  = []any{}
			)
			for _, typ := range types {
				r, js, err := listChannels(ctx, c, cf.clientID, typ, search)
				if err != nil {
					return fmt.Errorf("list %s channels: %w", typ, err)
				}
				rows, all = append(rows, r...), append(all, js...)
			}
			p := newPrinter(cmd, cf)
			if p.json {
				return p.print("", all)
			}
			tw := tabwriter.NewWriter(p.w, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tTYPE\tIN\tOUT\tVOLUME\tWAITING\tLAST ACTIVITY\tACTIVE")
			for _, r := range rows {
				last := "-"
				if r.lastActivityMilli > 0 {
					last = time.UnixMilli(int64(r.lastActivityMilli)).UTC().Format(time.RFC3339)
				}
				fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%s\t%s\t%s\t%t\n", r.name, r.typ, r.in, r.out, formatBytes(int64(r.volume)), r.waiting, last, r.active)
			}
			return tw.Flush()
		},
	}
	cmd.Flags().StringVar(&search, "search", "", "only channels whose names contain this text")
	return cmd
}

// listChannels lists the channels of one type as rows and as the values
// --json prints.
func listChannels(ctx context.Context, c *client.Client, clientID, typ, search string) ([]channelRow, []any, error) {
	var (
		rows []channelRow
		js   []any
	)
	switch typ {
	case client.ChannelTypeQueues:
		chs, err := client.ListQueuesChannels(ctx, c, clientID, search)
		if err != nil {
			return nil, nil, err
		}
		for _, ch := range chs {
			rows = append(rows, channelRow{ch.Name, typ, ch.Incoming.Messages, ch.Outgoing.Messages, ch.Incoming.Volume,
				strconv.Itoa(ch.Outgoing.Waiting), ch.LastActivity, ch.IsActive})
			js = append(js, withType(ch, &ch.Type, typ))
		}
	case client.ChannelTypeEvents, client.ChannelTypeEventsStore:
		chs, err := client.ListPubSubChannels(ctx, c, clientID, typ, search)
		if err != nil {
			return nil, nil, err
		}
		for _, ch := range chs {
			rows = append(rows, channelRow{ch.Name, typ, ch.Incoming.Messages, ch.Outgoing.Messages, ch.Incoming.Volume,
				"-", ch.LastActivity, ch.IsActive})
			js = append(js, withType(ch, &ch.Type, typ))
		}
	default:
		chs, err := client.ListCQChannels(ctx, c, clientID, typ, search)
		if err != nil {
			return nil, nil, err
		}
		for _, ch := range chs {
			rows = append(rows, channelRow{ch.Name, typ, ch.Incoming.Messages, ch.Outgoing.Messages, ch.Incoming.Volume,
				"-", ch.LastActivity, ch.IsActive})
			js = append(js, withType(ch, &ch.Type, typ))
		}
	}
	return rows, js, nil
}

// withType fills an empty type field of a listed channel and returns it.
func withType[T any](ch *T, field *string, typ string) *T {
	if *field == "" {
		*field = typ
	}
	return ch
}

// formatBytes prints n bytes with a decimal unit: 512 B, 1.5 kB, 3.2 MB.
func formatBytes(n int64) string {
	const unit = 1000
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %cB", float64(n)/float64(div), "kMGTPE"[exp])
}
