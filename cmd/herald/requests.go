package main

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/heraldmq/herald/client"
)

// defaultRequestTimeout is how long send waits for a responder.
const defaultRequestTimeout = 10 * time.Second

// responseRecord is a command or query response as the send verbs print it.
type responseRecord struct {
	Channel      string            `json:"channel"`
	ID           string            `json:"id"`
	Executed     bool              `json:"executed"`
	ExecutedAt   *time.Time        `json:"executed_at,omitempty"`
	Responder    string            `json:"responder,omitempty"`
	Error        string            `json:"error,omitempty"`
	CacheHit     bool              `json:"cache_hit,omitempty"`
	Metadata     string            `json:"metadata,omitempty"`
	Body         *string           `json:"body,omitempty"`
	BodyEncoding string            `json:"body_encoding,omitempty"`
	Tags         map[string]string `json:"tags,omitempty"`
}

// String is the human line of a query response:
// [channel] id=… responder=… cache_hit=true metadata=… body=….
func (r *responseRecord) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "[%s] id=%s responder=%s", r.Channel, quoteIfNeeded(r.ID), quoteIfNeeded(r.Responder))
	if r.CacheHit {
		b.WriteString(" cache_hit=true")
	}
	fmt.Fprintf(&b, " metadata=%s", quoteIfNeeded(r.Metadata))
	if len(r.Tags) > 0 {
		b.WriteString(" tags=" + quoteIfNeeded(joinTags(r.Tags)))
	}
	body := ""
	if r.Body != nil {
		body = *r.Body
	}
	if r.BodyEncoding != "" {
		body = r.BodyEncoding + ":" + body
	}
	fmt.Fprintf(&b, " body=%s", quoteIfNeeded(body))
	return b.String()
}

func newCommandsCmd() *cobra.Command {
	cf := &connFlags{}
	cmd := groupCmd("commands", "Send commands and answer them (request/response without data)", cf)
	cmd.AddCommand(newCommandsSendCmd(cf), newCommandsReceiveCmd(cf))
	return cmd
}

func newCommandsSendCmd(cf *connFlags) *cobra.Command {
	mf := &msgFlags{}
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "send CHANNEL [BODY|-]",
		Short: "Send a command and wait for its response",
		Long: `Send a command and wait up to --timeout for a responder to execute it. A
command that fails, or that nobody answers in time, is an error.`,
		Example: `  herald commands send jobs.run '{"job":"backup"}' --timeout 30s`,
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
			id := mf.messageID()
			resp, err := c.C().SetId(id).SetChannel(args[0]).SetMetadata(mf.metadata).SetBody(body).SetTags(tags).SetTimeout(timeout).Send(ctx)
			if err != nil {
				return fmt.Errorf("command %s to %s: %w", id, args[0], err)
			}
			rec := responseRecord{Channel: args[0], ID: id, Executed: resp.Executed, Responder: resp.ResponseClientId, Error: resp.Error, Tags: resp.Tags}
			if !resp.ExecutedAt.IsZero() {
				t := resp.ExecutedAt.UTC()
				rec.ExecutedAt = &t
			}
			p := newPrinter(cmd, cf)
			if !resp.Executed || resp.Error != "" {
				if p.json {
					_ = p.print("", rec)
				}
				return fmt.Errorf("command %s to %s failed: %s", id, args[0], orUnknown(resp.Error))
			}
			return p.print(fmt.Sprintf("command %s executed by %s", id, orUnknown(resp.ResponseClientId)), rec)
		},
	}
	addMsgFlags(cmd.Flags(), mf)
	cmd.Flags().DurationVar(&timeout, "timeout", defaultRequestTimeout, "how long to wait for a response")
	return cmd
}

func newCommandsReceiveCmd(cf *connFlags) *cobra.Command {
	rf := &recvFlags{}
	var fail string
	cmd := &cobra.Command{
		Use:   "receive CHANNEL",
		Short: "Print the commands of a channel and answer them",
		Long: `Print the commands of a channel (wildcards * and > allowed), one line each,
and answer each as executed, or as failed with the text of --error, until
--count commands came, --timeout passed or SIGINT.`,
		Example: `  herald commands receive jobs.run --count 1
  herald commands receive 'jobs.>' --group workers --error "disk full"`,
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
			cmds, err := c.SubscribeToCommands(ctx, args[0], rf.group, errs)
			if err != nil {
				return fmt.Errorf("subscribe to %s: %w", args[0], err)
			}
			var execErr error
			if fail != "" {
				execErr = errors.New(fail)
			}
			p := newPrinter(cmd, cf)
			return receive(ctx, rf, cmds, errs, cmd.ErrOrStderr(), func(rc *client.CommandReceive) error {
				r := &msgRecord{Channel: rc.Channel, ID: rc.Id, ClientID: rc.ClientId, Metadata: rc.Metadata, Tags: rc.Tags}
				r.setBody(rc.Body)
				if err := p.print(r.String(), r); err != nil {
					return err
				}
				err := c.R().SetRequestId(rc.Id).SetResponseTo(rc.ResponseTo).SetExecutedAt(time.Now()).SetError(execErr).Send(ctx)
				if err != nil {
					return fmt.Errorf("answer command %s: %w", rc.Id, err)
				}
				return nil
			})
		},
	}
	addRecvFlags(cmd.Flags(), rf)
	cmd.Flags().StringVar(&fail, "error", "", "answer every command as failed with this `text`")
	return cmd
}

func newQueriesCmd() *cobra.Command {
	cf := &connFlags{}
	cmd := groupCmd("queries", "Send queries and answer them (request/response with data)", cf)
	cmd.AddCommand(newQueriesSendCmd(cf), newQueriesReceiveCmd(cf))
	return cmd
}

func newQueriesSendCmd(cf *connFlags) *cobra.Command {
	mf := &msgFlags{}
	var (
		timeout  time.Duration
		cacheKey string
		cacheTTL time.Duration
	)
	cmd := &cobra.Command{
		Use:   "send CHANNEL [BODY|-]",
		Short: "Send a query and print its response",
		Long: `Send a query, wait up to --timeout for the response and print it. A query
whose responder failed, or that nobody answers in time, is an error. With
--cache-key the broker answers repeated queries from its cache for
--cache-ttl.`,
		Example: `  herald queries send prices.get eur
  herald queries send prices.get eur --cache-key eur --cache-ttl 1m --json`,
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
			q := c.Q().SetId(id).SetChannel(args[0]).SetMetadata(mf.metadata).SetBody(body).SetTags(tags).SetTimeout(timeout)
			if cacheKey != "" {
				q.SetCacheKey(cacheKey)
				if cacheTTL > 0 {
					q.SetCacheTTL(cacheTTL)
				}
			}
			resp, err := q.Send(ctx)
			if err != nil {
				return fmt.Errorf("query %s to %s: %w", id, args[0], err)
			}
			rec := responseRecord{Channel: args[0], ID: id, Executed: resp.Executed, Responder: resp.ResponseClientId,
				Error: resp.Error, CacheHit: resp.CacheHit, Metadata: resp.Metadata, Tags: resp.Tags}
			if !resp.ExecutedAt.IsZero() {
				t := resp.ExecutedAt.UTC()
				rec.ExecutedAt = &t
			}
			var mr msgRecord
			mr.setBody(resp.Body)
			rec.Body, rec.BodyEncoding = &mr.Body, mr.BodyEncoding
			p := newPrinter(cmd, cf)
			if !resp.Executed || resp.Error != "" {
				if p.json {
					_ = p.print("", rec)
				}
				return fmt.Errorf("query %s to %s failed: %s", id, args[0], orUnknown(resp.Error))
			}
			return p.print(rec.String(), rec)
		},
	}
	addMsgFlags(cmd.Flags(), mf)
	cmd.Flags().DurationVar(&timeout, "timeout", defaultRequestTimeout, "how long to wait for a response")
	cmd.Flags().StringVar(&cacheKey, "cache-key", "", "cache the response under this key")
	cmd.Flags().DurationVar(&cacheTTL, "cache-ttl", 0, "how long the response stays cached (default: the client's, 15m)")
	return cmd
}

func newQueriesReceiveCmd(cf *connFlags) *cobra.Command {
	rf := &recvFlags{}
	var (
		respBody, respMeta, fail string
		bodySet, metaSet         bool
	)
	cmd := &cobra.Command{
		Use:   "receive CHANNEL",
		Short: "Print the queries of a channel and answer them",
		Long: `Print the queries of a channel (wildcards * and > allowed), one line each,
and answer each with --response-body and --response-metadata (by default the
query's own body and metadata), or as failed with the text of --error, until
--count queries came, --timeout passed or SIGINT.`,
		Example: `  herald queries receive prices.get --response-body 1.08 --count 1`,
		Args:    rangeArgs(1, 1, "CHANNEL"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := rf.check(); err != nil {
				return err
			}
			bodySet = cmd.Flags().Changed("response-body")
			metaSet = cmd.Flags().Changed("response-metadata")
			ctx, c, end, err := cf.session(cmd)
			if err != nil {
				return err
			}
			defer end()
			errs := make(chan error, errBufferSize)
			queries, err := c.SubscribeToQueries(ctx, args[0], rf.group, errs)
			if err != nil {
				return fmt.Errorf("subscribe to %s: %w", args[0], err)
			}
			var execErr error
			if fail != "" {
				execErr = errors.New(fail)
			}
			p := newPrinter(cmd, cf)
			return receive(ctx, rf, queries, errs, cmd.ErrOrStderr(), func(q *client.QueryReceive) error {
				r := &msgRecord{Channel: q.Channel, ID: q.Id, ClientID: q.ClientId, Metadata: q.Metadata, Tags: q.Tags}
				r.setBody(q.Body)
				if err := p.print(r.String(), r); err != nil {
					return err
				}
				body, meta := q.Body, q.Metadata
				if bodySet {
					body = []byte(respBody)
				}
				if metaSet {
					meta = respMeta
				}
				resp := c.R().SetRequestId(q.Id).SetResponseTo(q.ResponseTo).SetExecutedAt(time.Now()).SetError(execErr)
				if execErr == nil {
					resp.SetBody(body).SetMetadata(meta)
				}
				if err := resp.Send(ctx); err != nil {
					return fmt.Errorf("answer query %s: %w", q.Id, err)
				}
				return nil
			})
		},
	}
	addRecvFlags(cmd.Flags(), rf)
	cmd.Flags().StringVar(&respBody, "response-body", "", "answer with this body (default: the query's body)")
	cmd.Flags().StringVar(&respMeta, "response-metadata", "", "answer with this metadata (default: the query's metadata)")
	cmd.Flags().StringVar(&fail, "error", "", "answer every query as failed with this `text`")
	return cmd
}

// orUnknown is s, or "unknown" when s is empty.
func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}
