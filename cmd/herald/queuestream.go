package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/heraldmq/herald/client"
)

const streamHelp = `commands: ack | reject | extend SECONDS | resend CHANNEL | next | quit`

func newQueuesStreamCmd(cf *connFlags) *cobra.Command {
	var (
		visibility, wait time.Duration
		auto             string
		count            int
	)
	cmd := &cobra.Command{
		Use:   "stream CHANNEL",
		Short: "Take queue messages one at a time and settle each interactively",
		Long: `Take the messages of a queue one at a time, each held invisible to other
receivers for --visibility, print it, and read what to do with it from stdin
(prompts go to stderr):

  ack               remove the message from the queue, then take the next
  reject            return it to the queue (its receive count grows), then take the next
  extend SECONDS    keep holding it for SECONDS more (also a duration: extend 2m)
  resend CHANNEL    move it to the queue CHANNEL, then take the next
  next              return a held message to the queue and take the next one;
                    when the queue was empty, wait again
  quit              return a held message to the queue and stop (so does end of input)

With --auto ack or --auto reject nothing is read: every message is settled
that way, and the command stops when the queue stays empty for --wait or
after --count messages.`,
		Example: `  herald queues stream tasks
  herald queues stream tasks --auto ack --count 100 --json`,
		Args: rangeArgs(1, 1, "CHANNEL"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if auto != "" && auto != "ack" && auto != "reject" {
				return fmt.Errorf("invalid --auto %q: want ack or reject", auto)
			}
			if count < 0 {
				return fmt.Errorf("invalid --count %d: want 0 or more", count)
			}
			visSec, err := seconds("visibility", visibility)
			if err != nil {
				return err
			}
			waitSec, err := seconds("wait", wait)
			if err != nil {
				return err
			}
			ctx, c, end, err := cf.session(cmd)
			if err != nil {
				return err
			}
			defer end()
			s := &streamSession{
				ctx: ctx, channel: args[0], sqm: c.SQM().SetChannel(args[0]),
				visibility: int32(max1(visSec)), wait: int32(max1(waitSec)),
				auto: auto, count: count,
				out: newPrinter(cmd, cf), stderr: cmd.ErrOrStderr(),
			}
			defer s.sqm.Close()
			if auto == "" {
				s.input = readLines(ctx, cmd.InOrStdin())
			}
			return s.run()
		},
	}
	fs := cmd.Flags()
	fs.DurationVar(&visibility, "visibility", time.Minute, "hold each message this long before the broker returns it to the queue")
	fs.DurationVar(&wait, "wait", 5*time.Second, "wait this long for a message")
	fs.StringVar(&auto, "auto", "", "settle every message without asking: ack or reject")
	fs.IntVar(&count, "count", 0, "stop after `N` messages (0: no limit)")
	return cmd
}

// readLines sends the lines of r on the returned channel, which is closed
// at the end of r. The reader goroutine stops early when ctx ends, unless it
// is blocked in a read (then the process exit ends it).
func readLines(ctx context.Context, r io.Reader) <-chan string {
	ch := make(chan string)
	go func() {
		defer close(ch)
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			select {
			case ch <- sc.Text():
			case <-ctx.Done():
				return
			}
		}
	}()
	return ch
}

// streamSession is one run of `queues stream`.
type streamSession struct {
	ctx        context.Context
	channel    string
	sqm        *client.StreamQueueMessage
	visibility int32
	wait       int32
	auto       string
	count      int
	input      <-chan string
	out        printer
	stderr     io.Writer

	held *client.QueueMessage
	seen int
}

func (s *streamSession) info(format string, args ...any) {
	fmt.Fprintf(s.stderr, format+"\n", args...)
}

// ask prompts on stderr and returns the next command; ok is false at the end
// of input or when ctx ends.
func (s *streamSession) ask(prompt string) (verb, arg string, ok bool) {
	fmt.Fprint(s.stderr, prompt+"> ")
	select {
	case line, open := <-s.input:
		if !open {
			fmt.Fprintln(s.stderr)
			return "", "", false
		}
		f := strings.Fields(line)
		if len(f) == 0 {
			return "", "", true
		}
		return strings.ToLower(f[0]), strings.Join(f[1:], " "), true
	case <-s.ctx.Done():
		fmt.Fprintln(s.stderr)
		return "", "", false
	}
}

// release returns a held message to the queue.
func (s *streamSession) release() {
	if s.held != nil {
		s.sqm.Close()
		s.info("message seq=%d returned to %s", seq(s.held), s.channel)
		s.held = nil
	}
}

func seq(m *client.QueueMessage) uint64 {
	if m.Attributes == nil {
		return 0
	}
	return m.Attributes.Sequence
}

// isNoMessage tells the broker's "no new message" answer to Next.
func isNoMessage(err error) bool {
	return strings.Contains(err.Error(), "Error 138") || strings.Contains(err.Error(), "no new queue message")
}

func (s *streamSession) run() error {
	defer s.release()
	for {
		if s.count > 0 && s.seen >= s.count {
			return nil
		}
		m, err := s.sqm.Next(s.ctx, s.visibility, s.wait)
		switch {
		case s.ctx.Err() != nil:
			return nil
		case err != nil && isNoMessage(err):
			if s.auto != "" {
				s.info("no message in %s within %ds", s.channel, s.wait)
				return nil
			}
			if !s.askEmpty() {
				return nil
			}
			continue
		case err != nil:
			return fmt.Errorf("receive from queue %s: %w", s.channel, err)
		}
		s.held = m
		s.seen++
		r := queueRecord(m)
		if err := s.out.print(r.String(), r); err != nil {
			return err
		}
		if s.auto != "" {
			if err := s.settle(s.auto, ""); err != nil {
				return err
			}
			continue
		}
		if !s.askHeld() {
			return nil
		}
	}
}

// askEmpty asks what to do after a wait without a message; false means stop.
func (s *streamSession) askEmpty() bool {
	for {
		verb, _, ok := s.ask(fmt.Sprintf("no message in %s within %ds; next or quit", s.channel, s.wait))
		switch {
		case !ok || verb == "quit" || verb == "q":
			return false
		case verb == "next" || verb == "n":
			return true
		case verb != "":
			s.info("no message is held; " + streamHelp)
		}
	}
}

// askHeld reads commands for the held message until it is settled or
// released; false means stop.
func (s *streamSession) askHeld() bool {
	for s.held != nil {
		verb, arg, ok := s.ask("ack, reject, extend SECONDS, resend CHANNEL, next or quit")
		switch verb {
		case "quit", "q":
			ok = false
		case "":
		case "next", "n":
			s.release()
		case "ack", "a", "reject", "r", "resend":
			if err := s.settle(verb, arg); err != nil {
				s.info("herald: %s", oneLine(err))
			}
		case "extend", "e":
			d, err := parseExtend(arg)
			if err == nil {
				err = s.held.ExtendVisibility(int32(d / time.Second))
			}
			if err != nil {
				s.info("herald: extend: %s", oneLine(err))
				if isExpired(err) {
					s.held = nil
				}
				continue
			}
			s.info("message seq=%d held for %v more", seq(s.held), d)
		default:
			s.info("unknown command %q; %s", verb, streamHelp)
		}
		if !ok {
			return false
		}
	}
	return true
}

// settle acks, rejects or resends the held message.
func (s *streamSession) settle(verb, arg string) error {
	m := s.held
	var err error
	var done string
	switch verb {
	case "ack", "a":
		err, done = m.Ack(), "acked"
	case "reject", "r":
		err, done = m.Reject(), "rejected"
	case "resend":
		if arg == "" || strings.ContainsAny(arg, " \t") {
			return errors.New("resend: want resend CHANNEL")
		}
		err, done = m.Resend(arg), "resent to "+arg
	}
	if err != nil {
		if isExpired(err) { // the broker took the message back
			s.held = nil
		}
		return fmt.Errorf("%s message seq=%d: %w", verb, seq(m), err)
	}
	s.held = nil
	s.info("message seq=%d %s", seq(m), done)
	return nil
}

// isExpired tells that the visibility of the held message ran out.
func isExpired(err error) bool {
	return strings.Contains(err.Error(), "Error 129")
}

// parseExtend reads the argument of extend: whole seconds or a duration.
func parseExtend(arg string) (time.Duration, error) {
	if n, err := strconv.Atoi(arg); err == nil && n > 0 {
		return time.Duration(n) * time.Second, nil
	}
	d, err := time.ParseDuration(arg)
	if err != nil || d < time.Second {
		return 0, fmt.Errorf("want extend SECONDS, e.g. extend 30, got %q", arg)
	}
	return d.Round(time.Second), nil
}
