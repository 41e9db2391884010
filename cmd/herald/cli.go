package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"crypto/rand"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/heraldmq/herald/client"
)

// Environment variables the client commands fall back to when a flag is not
// given. `herald server` ignores them.
const (
	envAddress   = envPrefix + "ADDRESS"
	envClientID  = envPrefix + "CLIENT_ID"
	envToken     = envPrefix + "TOKEN"
	envTransport = envPrefix + "TRANSPORT"
)

// Default addresses of the two transports.
const (
	defaultGRPCAddress = "localhost:50000"
	defaultRESTAddress = "localhost:9090"
)

// connectTimeout bounds the first Ping of a client command.
const connectTimeout = 10 * time.Second

// clientCommands returns the commands that talk to a broker through the
// client SDK: the pattern verbs, channel management and bench.
func clientCommands() []*cobra.Command {
	return []*cobra.Command{
		newEventsCmd(),
		newEventsStoreCmd(),
		newCommandsCmd(),
		newQueriesCmd(),
		newQueuesCmd(),
		newChannelsCmd(),
		newBenchCmd(),
	}
}

// connFlags are the connection flags every client command takes.
type connFlags struct {
	address   string
	clientID  string
	token     string
	transport string
	json      bool

	tlsCA, tlsCert, tlsKey string
}

// addConnFlags registers the connection flags on cmd as persistent flags, so
// that every subcommand takes them.
func addConnFlags(cmd *cobra.Command, cf *connFlags) {
	fs := cmd.PersistentFlags()
	fs.StringVar(&cf.address, "address", "", "broker address host:port (env "+envAddress+"; default "+defaultGRPCAddress+", "+defaultRESTAddress+" for rest)")
	fs.StringVar(&cf.clientID, "client-id", "", "client id (env "+envClientID+"; default herald-cli-<host>-<pid>-<random>)")
	fs.StringVar(&cf.token, "token", "", "authentication token (env "+envToken+")")
	fs.StringVar(&cf.transport, "transport", "", "grpc or rest (env "+envTransport+"; default grpc)")
	fs.BoolVar(&cf.json, "json", false, "print JSON for scripts")
	fs.StringVar(&cf.tlsCA, "tls-ca", "", "connect with TLS, trusting the CAs in this PEM file")
	fs.StringVar(&cf.tlsCert, "tls-cert", "", "connect with TLS, presenting this client certificate (PEM file; with --tls-key)")
	fs.StringVar(&cf.tlsKey, "tls-key", "", "the key of --tls-cert (PEM file)")
}

// tls reports whether the flags ask for TLS.
func (cf *connFlags) tls() bool { return cf.tlsCA != "" || cf.tlsCert != "" || cf.tlsKey != "" }

// resolve fills what the flags leave empty from the environment, then the
// defaults, and checks the result.
func (cf *connFlags) resolve(fs *pflag.FlagSet) error {
	fromEnv := func(name, env string, v *string) {
		if f := fs.Lookup(name); (f == nil || !f.Changed) && *v == "" {
			*v = os.Getenv(env)
		}
	}
	fromEnv("address", envAddress, &cf.address)
	fromEnv("client-id", envClientID, &cf.clientID)
	fromEnv("token", envToken, &cf.token)
	fromEnv("transport", envTransport, &cf.transport)
	switch cf.transport {
	case "", "grpc":
		cf.transport = "grpc"
		if cf.address == "" {
			cf.address = defaultGRPCAddress
		}
	case "rest":
		if cf.address == "" {
			cf.address = defaultRESTAddress
		}
	default:
		return fmt.Errorf("invalid --transport %q: want grpc or rest", cf.transport)
	}
	if cf.clientID == "" {
		cf.clientID = defaultClientID("herald-cli")
	}
	if (cf.tlsCert == "") != (cf.tlsKey == "") {
		return errors.New("--tls-cert and --tls-key go together")
	}
	if cf.tls() && strings.HasPrefix(cf.address, "http://") {
		return fmt.Errorf("invalid --address %q: TLS needs https://", cf.address)
	}
	_, _, err := cf.hostPort()
	return err
}

// hostPort splits the address of the gRPC transport.
func (cf *connFlags) hostPort() (string, int, error) {
	addr := cf.address
	if cf.transport == "rest" {
		addr = strings.TrimPrefix(strings.TrimPrefix(addr, "http://"), "https://")
	}
	host, p, err := net.SplitHostPort(addr)
	if err == nil && host == "" {
		err = errors.New("missing host")
	}
	port, perr := strconv.Atoi(p)
	if err == nil && (perr != nil || port <= 0 || port > 65535) {
		err = fmt.Errorf("invalid port %q", p)
	}
	if err != nil {
		return "", 0, fmt.Errorf("invalid --address %q: want host:port", cf.address)
	}
	return host, port, nil
}

// uri is the REST address (https:// with TLS).
func (cf *connFlags) uri() string {
	if strings.HasPrefix(cf.address, "http://") || strings.HasPrefix(cf.address, "https://") {
		return cf.address
	}
	if cf.tls() {
		return "https://" + cf.address
	}
	return "http://" + cf.address
}

// options are the client options the flags describe, with clientID as id.
func (cf *connFlags) options(clientID string, extra ...client.Option) []client.Option {
	opts := []client.Option{client.WithClientId(clientID)}
	if cf.transport == "rest" {
		opts = append(opts, client.WithTransportType(client.TransportTypeRest), client.WithUri(cf.uri()))
	} else {
		host, port, _ := cf.hostPort()
		opts = append(opts, client.WithTransportType(client.TransportTypeGRPC), client.WithAddress(host, port))
	}
	if cf.token != "" {
		opts = append(opts, client.WithToken(cf.token))
	}
	switch {
	case cf.tlsCert != "":
		opts = append(opts, client.WithMTLS(cf.tlsCert, cf.tlsKey, cf.tlsCA))
	case cf.tlsCA != "":
		opts = append(opts, client.WithCredentials(cf.tlsCA, ""))
	}
	return append(opts, extra...)
}

// target is the address as the transport dials it.
func (cf *connFlags) target() string {
	if cf.transport == "rest" {
		return cf.uri()
	}
	return cf.address
}

// dial connects a client with id clientID and checks, with a Ping, that the
// broker answers. The client closes when ctx ends.
func (cf *connFlags) dial(ctx context.Context, clientID string, extra ...client.Option) (*client.Client, error) {
	c, err := client.NewClient(ctx, cf.options(clientID, extra...)...)
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", cf.target(), err)
	}
	pctx, cancel := context.WithTimeout(ctx, connectTimeout)
	defer cancel()
	if _, err := c.Ping(pctx); err != nil {
		_ = c.Close()
		return nil, fmt.Errorf("connect to %s: %w", cf.target(), err)
	}
	return c, nil
}

// connect resolves the flags of cmd and dials with the resolved client id.
func (cf *connFlags) connect(cmd *cobra.Command, ctx context.Context) (*client.Client, error) {
	if err := cf.resolve(cmd.Flags()); err != nil {
		return nil, err
	}
	return cf.dial(ctx, cf.clientID)
}

// session is the start of every verb that talks to a broker: a context
// that ends on SIGINT or SIGTERM and a client connected with the flags;
// the func it returns closes both.
func (cf *connFlags) session(cmd *cobra.Command) (context.Context, *client.Client, func(), error) {
	ctx, stop := signalContext(cmd)
	c, err := cf.connect(cmd, ctx)
	if err != nil {
		stop()
		return nil, nil, nil, err
	}
	return ctx, c, func() { _ = c.Close(); stop() }, nil
}

// defaultClientID is prefix-<host>-<pid>-<random>. The random part keeps
// two runs apart: the broker resumes an events-store subscription of a
// client id it has seen, and process ids come back.
func defaultClientID(prefix string) string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "localhost"
	}
	return fmt.Sprintf("%s-%s-%d-%s", prefix, host, os.Getpid(), strings.ToLower(rand.Text()[16:]))
}

// signalContext returns a context that ends on SIGINT or SIGTERM; after the
// first signal a second one kills the process at once.
func signalContext(cmd *cobra.Command) (context.Context, context.CancelFunc) {
	ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
	context.AfterFunc(ctx, stop)
	return ctx, stop
}

// groupCmd returns a command that only holds subcommands and the connection
// flags.
func groupCmd(use, short string, cf *connFlags) *cobra.Command {
	cmd := &cobra.Command{
		Use:   use,
		Short: short,
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return fmt.Errorf("missing subcommand (see '%s --help')", cmd.CommandPath())
		},
	}
	addConnFlags(cmd, cf)
	return cmd
}

// rangeArgs accepts min to max positional arguments, naming them in its
// error.
func rangeArgs(min, max int, names string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) < min || len(args) > max {
			return fmt.Errorf("want %s, got %d arguments (see '%s --help')", names, len(args), cmd.CommandPath())
		}
		return nil
	}
}
