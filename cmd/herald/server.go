package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/heraldmq/herald/server"
)

func newServerCmd(stdout, stderr io.Writer) *cobra.Command {
	var checkOnly bool
	cmd := &cobra.Command{
		Use:   "server",
		Short: "Run the broker until SIGINT or SIGTERM",
		Long: `Run the broker until SIGINT or SIGTERM.

Every setting is a flag, an environment variable HERALD_<FLAG_NAME> (e.g.
HERALD_STORE_MAX_AGE) and a key of the YAML file given by --config or
HERALD_CONFIG (e.g. store-max-age: 24h). Flags win over the environment,
which wins over the file, which wins over the defaults.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := loadConfig(cmd.Flags(), os.Environ())
			if err != nil {
				return err
			}
			if checkOnly {
				for _, w := range cfg.Warnings {
					fmt.Fprintln(stderr, "herald: warning: "+w)
				}
				if _, err := server.New(cfg.Server); err != nil { // runs the server's own checks
					return err
				}
				fmt.Fprintln(stdout, "configuration OK")
				return nil
			}
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			context.AfterFunc(ctx, stop) // a second signal kills at once
			return runServer(ctx, cfg, stdout, stderr)
		},
	}
	addFlags(cmd.Flags())
	cmd.Flags().BoolVar(&checkOnly, "check-config", false, "load and check the configuration, then exit")
	cmd.Flags().SortFlags = false
	return cmd
}

// runServer starts the broker, prints one line per listener on stdout and
// shuts down, with a deadline, once ctx ends.
func runServer(ctx context.Context, cfg Config, stdout, stderr io.Writer) error {
	log := newLogger(stderr, cfg)
	for _, w := range cfg.Warnings {
		log.Warn(w)
	}
	if cfg.File != "" {
		log.Info("configuration file read", "file", cfg.File)
	}
	opts := cfg.Server
	opts.Logger = log
	srv, err := server.New(opts)
	if err != nil {
		return err
	}
	if err := srv.Start(); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "herald %s: gRPC on %s, data in %s\n", server.Version, srv.GRPCAddr(), opts.DataDir)
	if a := srv.RESTAddr(); a != nil {
		fmt.Fprintf(stdout, "herald %s: REST and WebSocket on %s\n", server.Version, a)
	}
	if url := srv.NATSURL(); url != "" {
		fmt.Fprintf(stdout, "herald %s: NATS on %s\n", server.Version, url)
	}
	if a := srv.HTTPAddr(); a != nil {
		fmt.Fprintf(stdout, "herald %s: dashboard, /metrics, /health and /ready on http://%s\n", server.Version, a)
	}

	var failed error
	select {
	case <-ctx.Done():
	case <-srv.Done():
		failed = srv.Err()
		log.Error("server stopped by itself", "err", failed)
	}
	log.Info("shutting down", "timeout", cfg.ShutdownTimeout)
	sctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return err
	}
	return failed
}

func newLogger(w io.Writer, cfg Config) *slog.Logger {
	ho := &slog.HandlerOptions{Level: cfg.LogLevel}
	if cfg.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, ho))
	}
	return slog.New(slog.NewTextHandler(w, ho))
}
