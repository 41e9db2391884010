package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/heraldmq/herald/internal/bench"
)

func newBenchCmd() *cobra.Command {
	cf := &connFlags{}
	cfg := bench.Config{}
	var progress bool
	cmd := &cobra.Command{
		Use:       "bench SCENARIO",
		Short:     "Measure a broker: throughput and latency of one pattern",
		Long:      benchLong,
		Example:   benchExample,
		Args:      rangeArgs(1, 1, "SCENARIO"),
		ValidArgs: bench.Scenarios,
		RunE: func(cmd *cobra.Command, args []string) error {
			if !slices.Contains(bench.Scenarios, args[0]) {
				return fmt.Errorf("unknown scenario %q: want one of %s", args[0], strings.Join(bench.Scenarios, ", "))
			}
			cfg.Scenario = args[0]
			if cf.clientID == "" && os.Getenv(envClientID) == "" {
				cf.clientID = defaultClientID("herald-bench")
			}
			if err := cf.resolve(cmd.Flags()); err != nil {
				return err
			}
			if err := scenarioDefaults(&cfg, cmd.Flags()); err != nil {
				return err
			}
			if cfg.Scenario == "soak" && !cf.json {
				cfg.Log = cmd.ErrOrStderr()
			}
			cfg.Dial, cfg.Address, cfg.Transport, cfg.ClientID = cf.dial, cf.target(), cf.transport, cf.clientID
			if !cf.json && (progress || isTerminal(cmd.ErrOrStderr())) {
				cfg.Progress = cmd.ErrOrStderr()
			}
			b, err := bench.New(cfg)
			if err != nil {
				return err
			}
			ctx, stop := signalContext(cmd)
			defer stop()
			if !cf.json {
				fmt.Fprintln(cmd.ErrOrStderr(), b.Describe())
			}
			report, err := b.Run(ctx)
			if report != nil && len(report.Results) > 0 {
				if perr := printReport(cmd.OutOrStdout(), report, cf.json); perr != nil {
					return perr
				}
			}
			for _, w := range b.Warnings() {
				fmt.Fprintln(cmd.ErrOrStderr(), "herald: warning: "+w)
			}
			if err != nil {
				return fmt.Errorf("bench %s: %w", args[0], err)
			}
			return report.Err()
		},
	}
	addConnFlags(cmd, cf)
	addBenchFlags(cmd.Flags(), &cfg, &progress)
	return cmd
}

// benchLong is the help of herald bench.
const benchLong = `Measure the broker at --address (and nothing else) with one scenario:

  ping           Ping round trips; latency per call
  events         publishers stream events, subscribers receive each one;
                 throughput counts received events, latency is publish → receive
  events-store   publishers stream events and wait for each "stored" result;
                 throughput and latency of storing, and with subscribers a second
                 line for publish → receive
  queues         publishers send batches of --batch messages, then subscribers
                 take batches until the queue is empty; one line per phase,
                 latency per call (one batch)
  queues-stream  fill the queue in batches, then subscribers take and ack one
                 message at a time over the stream API; latency per message
                 (receive + ack)
  commands       publishers send commands one at a time, subscribers answer them
                 (as one group); latency per round trip
  queries        as commands, with queries whose responses echo the body
  soak           every pattern at once (events, events store, queues,
                 commands, queries) for --duration (default 10m) at --rate
                 (default 100 msg/s in all), sampling the server's RSS,
                 goroutines, open files and store size every --interval from
                 --metrics-url, --pid and --data-dir; one line per pattern
                 and direction, then first/after warm-up/last/max of each
                 resource and the slope of RSS; --csv and --plot write the
                 samples and a chart
  channels       --messages to each of --channels new queues, then to as many
                 new events-store channels, from --clients clients; first-send
                 and send latency of each kind, then the time of listing the
                 channels and of QueuesInfo

A run sends --count messages in all (default 10000) or runs for --duration;
with both, whichever ends first. Each publisher and subscriber has its own
connection. The result table goes to stdout, a progress bar to stderr when it
is a terminal (or with --progress), never with --json. MB/s counts payload
bytes (1 MB = 10^6 bytes). Channels the run creates are named
herald-bench-<scenario>-<id> and deleted afterwards, unless --keep.`

// benchExample is the example section of its help.
const benchExample = `  herald bench queues --count 100000 --batch 100
  herald bench events --publishers 4 --subscribers 4 --duration 30s --size 256
  herald bench commands --publishers 8 --subscribers 2 --json
  herald bench soak --duration 1h --metrics-url http://localhost:8080/metrics --data-dir ./herald-data --csv soak.csv --plot soak.png
  herald bench channels --channels 1000 --clients 32`

// addBenchFlags registers the flags of herald bench into cfg and progress.
func addBenchFlags(fs *pflag.FlagSet, cfg *bench.Config, progress *bool) {
	fs.IntVar(&cfg.Publishers, "publishers", 1, "publishing clients")
	fs.IntVar(&cfg.Subscribers, "subscribers", 1, "receiving or responding clients")
	fs.IntVar(&cfg.Count, "count", bench.DefaultCount, "messages to send in all (0: no limit, with --duration)")
	fs.DurationVar(&cfg.Duration, "duration", 0, "run for this long (with --count unset: no message limit)")
	fs.IntVar(&cfg.Size, "size", 1024, "payload bytes per message")
	fs.IntVar(&cfg.Batch, "batch", 100, "messages per queue batch (send and receive); in-flight window of events-store streams")
	fs.StringVar(&cfg.Channel, "channel", "", "channel to use (default: a new herald-bench-<scenario>-<id>)")
	fs.IntVar(&cfg.Rate, "rate", 0, "send at most this many messages per second in all (0: as fast as possible)")
	fs.DurationVar(&cfg.Timeout, "timeout", 10*time.Second, "timeout of one call or request")
	fs.BoolVar(progress, "progress", false, "draw the progress bar even when stderr is not a terminal")
	fs.BoolVar(&cfg.Keep, "keep", false, "keep the channels the run created")
	fs.DurationVar(&cfg.Interval, "interval", bench.DefaultInterval, "soak: time between two samples of the server")
	fs.DurationVar(&cfg.Warmup, "warmup", 0, "soak: samples left out of the RSS slope (default: a fifth of --duration, at most 1m)")
	fs.StringVar(&cfg.MetricsURL, "metrics-url", "", "soak: the server's Prometheus metrics, e.g. http://localhost:8080/metrics")
	fs.IntVar(&cfg.PID, "pid", 0, "soak: the server's process id, to read its RSS and open files from /proc")
	fs.StringVar(&cfg.DataDir, "data-dir", "", "soak: the server's data directory, to sum the size of its store")
	fs.StringVar(&cfg.CSV, "csv", "", "soak: write the samples to this CSV file")
	fs.StringVar(&cfg.Plot, "plot", "", "soak: draw RSS and goroutines over time in this PNG file")
	fs.IntVar(&cfg.Channels, "channels", bench.DefaultChannels, "channels: queues to create, and as many events-store channels")
	fs.IntVar(&cfg.Messages, "messages", bench.DefaultMessages, "channels: messages to send to each channel")
	fs.IntVar(&cfg.Clients, "clients", bench.DefaultClients, "channels: concurrent clients")
	fs.StringVar(&cfg.Prefix, "prefix", "", "channels: prefix of the channel names (default: herald-bench-channels-<id>)")
	fs.SortFlags = false
}

// scenarioDefaults applies what depends on the flags given: --duration
// alone lifts the message limit, soak has its own defaults, and the flags
// of another scenario are refused.
func scenarioDefaults(cfg *bench.Config, fs *pflag.FlagSet) error {
	if err := scenarioFlags(cfg.Scenario, fs); err != nil {
		return err
	}
	if fs.Changed("duration") && !fs.Changed("count") {
		cfg.Count = 0
	}
	if cfg.Scenario == "soak" {
		if !fs.Changed("count") {
			cfg.Count = 0
		}
		if !fs.Changed("duration") {
			cfg.Duration = bench.DefaultSoakDuration
		}
		if !fs.Changed("rate") {
			cfg.Rate = bench.DefaultSoakRate
		}
	}
	return nil
}

// printReport writes the report as JSON or as the table.
func printReport(w io.Writer, report *bench.Report, asJSON bool) error {
	if !asJSON {
		return report.WriteText(w)
	}
	out, err := json.MarshalIndent(report, "", "  ")
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%s\n", out)
	return err
}

// scenarioOnly are the flags of one scenario.
var scenarioOnly = map[string][]string{
	"soak":     {"interval", "warmup", "metrics-url", "pid", "data-dir", "csv", "plot"},
	"channels": {"channels", "messages", "clients", "prefix"},
}

// scenarioFlags refuses the flags of another scenario, and those that do
// not apply to channels.
func scenarioFlags(scenario string, fs *pflag.FlagSet) error {
	for s, names := range scenarioOnly {
		for _, n := range names {
			if s != scenario && fs.Changed(n) {
				return fmt.Errorf("--%s is a flag of scenario %s", n, s)
			}
		}
	}
	if scenario == "channels" {
		for _, n := range []string{"publishers", "subscribers", "count", "duration", "rate", "batch", "channel"} {
			if fs.Changed(n) {
				return fmt.Errorf("--%s does not apply to scenario channels", n)
			}
		}
	}
	return nil
}

// isTerminal reports whether w is a character device such as a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
