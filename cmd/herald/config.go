package main

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"
	"gopkg.in/yaml.v3"

	"github.com/heraldmq/herald/internal/metrics"
	"github.com/heraldmq/herald/internal/tracing"
	"github.com/heraldmq/herald/server"
)

// Config is what `herald server` runs with: the server options and how to log.
type Config struct {
	Server    server.Options // Logger is left nil; the caller builds it from the fields below
	LogLevel  slog.Level
	LogFormat string // "text" or "json"
	// ShutdownTimeout bounds a shutdown after SIGINT or SIGTERM: running
	// calls get until then to finish, and the process exits within it.
	ShutdownTimeout time.Duration

	// File is the configuration file that was read ("" if none).
	File string
	// Warnings are problems that do not stop the server, such as an unknown
	// HERALD_* variable; they are logged once the logger exists.
	Warnings []string
}

// envPrefix starts the environment variable of every setting:
// store-max-age is HERALD_STORE_MAX_AGE.
const envPrefix = "HERALD_"

// configEnv names the configuration file, like --config.
const configEnv = envPrefix + "CONFIG"

// envName is the environment variable of the setting called name.
func envName(name string) string {
	return envPrefix + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
}

// A setting is one configuration key. Its name is the flag name and the YAML
// key; its environment variable is envName(name). Every source hands apply the
// value as text, so flags, env and file are parsed and checked the same way.
type setting struct {
	name  string
	typ   string // shown in --help
	def   string // the default, as text
	usage string
	apply func(c *Config, v string) error
}

// settings lists every key in the order of --help and herald.example.yaml.
var settings = []setting{
	{"data-dir", "string", server.DefaultDataDir,
		"directory for all stored data",
		text(func(c *Config) *string { return &c.Server.DataDir }, nonEmpty)},
	{"grpc-addr", "string", server.DefaultGRPCAddr,
		"KubeMQ gRPC listen address (port 0: any free port)",
		text(func(c *Config) *string { return &c.Server.GRPCAddr }, checkAddr)},
	{"rest-addr", "string", server.DefaultRESTAddr,
		`REST and WebSocket listen address ("off": no REST)`,
		text(func(c *Config) *string { return &c.Server.RESTAddr }, func(v string) error {
			if v == server.RESTOff {
				return nil
			}
			return checkAddr(v)
		})},
	{"http-addr", "string", server.DefaultHTTPAddr,
		`dashboard, /metrics, /health and /ready listen address ("off": none of them)`,
		text(func(c *Config) *string { return &c.Server.HTTPAddr }, func(v string) error {
			if v == server.HTTPOff {
				return nil
			}
			return checkAddr(v)
		})},
	{"metrics-channels", "string", "all",
		`channels with series of their own in /metrics: all, none or top:N (the N busiest; the others are summed as "_other")`,
		text(func(c *Config) *string { return &c.Server.MetricsChannels }, func(v string) error {
			_, err := metrics.ParsePolicy(v)
			return err
		})},
	{"otel-endpoint", "string", "",
		`OTLP collector Herald exports its spans to: host:port (plain text) or an http:// or https:// URL ("": tracing off)`,
		text(func(c *Config) *string { return &c.Server.Tracing.Endpoint }, optional(tracing.CheckEndpoint))},
	{"otel-protocol", "string", tracing.ProtocolGRPC,
		"OTLP protocol to --otel-endpoint: grpc or http",
		text(func(c *Config) *string { return &c.Server.Tracing.Protocol }, oneOf(tracing.ProtocolGRPC, tracing.ProtocolHTTP))},
	{"otel-sample-ratio", "float", "1",
		"share of the traces Herald starts itself (for messages without trace context) that it records, 0 to 1; traces clients start are followed as they sample them",
		applySampleRatio},
	{"nats-addr", "string", "",
		`embedded NATS client listen address, e.g. 127.0.0.1:4222 ("": no NATS port)`,
		text(func(c *Config) *string { return &c.Server.NATSAddr }, optional(checkAddr))},
	{"host", "string", "",
		`node name reported by Ping ("": the OS host name)`,
		text(func(c *Config) *string { return &c.Server.Host }, nil)},
	{"log-level", "string", "info",
		"log level: debug, info, warn or error",
		applyLogLevel},
	{"log-format", "string", "text",
		"log format on stderr: text or json",
		applyLogFormat},
	{"shutdown-timeout", "duration", "30s",
		"after SIGINT or SIGTERM, how long running calls may take to finish; the process exits within it",
		positiveDuration(func(c *Config) *time.Duration { return &c.ShutdownTimeout })},
	{"max-message-size", "int", "104857600",
		"largest gRPC message in bytes, both ways",
		whole(func(c *Config) *int { return &c.Server.MaxMessageSize }, 1)},
	{"subscriber-buffer", "int", "100",
		"events or requests held for a slow subscriber before the drop rule applies",
		whole(func(c *Config) *int { return &c.Server.SubscriberBuffer }, 1)},
	{"store-max-age", "duration", "24h",
		"how long events-store and queue channels keep messages, consumed or not (0 or negative: forever)",
		applyStoreMaxAge},
	{"store-max-messages", "int", "0",
		"most messages kept per events-store or queue channel, oldest dropped first (0: no limit)",
		whole(func(c *Config) *int64 { return &c.Server.StoreMaxMessages }, 0)},
	{"store-max-bytes", "int", "0",
		"most bytes kept per events-store or queue channel, oldest dropped first (0: no limit)",
		whole(func(c *Config) *int64 { return &c.Server.StoreMaxBytes }, 0)},
	{"store-cursor-idle", "duration", "24h",
		"forget an events-store subscription cursor unused for this long",
		positiveDuration(func(c *Config) *time.Duration { return &c.Server.CursorIdle })},
	{"query-cache-max-ttl", "duration", "24h",
		"cap on the CacheTTL of queries",
		positiveDuration(func(c *Config) *time.Duration { return &c.Server.QueryCacheMaxTTL })},
	{"request-max-timeout", "duration", "1h",
		"cap on the Timeout of commands and queries; a request asking for longer times out after it",
		positiveDuration(func(c *Config) *time.Duration { return &c.Server.RequestMaxTimeout })},
	{"sync-always", "bool", "false",
		"fsync every stored write (survives power loss; slower)",
		boolean(func(c *Config) *bool { return &c.Server.SyncAlways })},
	{"queue-shards", "int", "4",
		"engine streams holding the queue channels; fixed when a data dir is first used",
		whole(func(c *Config) *int { return &c.Server.QueueShards }, 1)},
	{"store-shards", "int", "4",
		"engine streams holding the events-store channels; fixed when a data dir is first used",
		whole(func(c *Config) *int { return &c.Server.StoreShards }, 1)},
	{"engine-start-timeout", "duration", "2m",
		"longest the engine may take to start, recovering the stored data (it logs its progress meanwhile)",
		positiveDuration(func(c *Config) *time.Duration { return &c.Server.EngineStartTimeout })},
	{"queue-max-number-of-messages", "int", "1024",
		"most messages one queue receive may ask for",
		whole(func(c *Config) *int32 { return &c.Server.Queue.MaxNumberOfMessages }, 1)},
	{"queue-max-wait-timeout-seconds", "int", "3600",
		"longest wait of a queue receive, ack-all or stream receive, in seconds",
		whole(func(c *Config) *int32 { return &c.Server.Queue.MaxWaitTimeoutSeconds }, 1)},
	{"queue-max-expiration-seconds", "int", "43200",
		"largest ExpirationSeconds a queue message may set",
		whole(func(c *Config) *int32 { return &c.Server.Queue.MaxExpirationSeconds }, 1)},
	{"queue-max-delay-seconds", "int", "43200",
		"largest DelaySeconds a queue message may set",
		whole(func(c *Config) *int32 { return &c.Server.Queue.MaxDelaySeconds }, 1)},
	{"queue-max-receive-count", "int", "1024",
		"largest MaxReceiveCount a queue message may set, and the value used when it sets 0",
		whole(func(c *Config) *int32 { return &c.Server.Queue.MaxReceiveCount }, 1)},
	{"queue-max-visibility-seconds", "int", "43200",
		"longest visibility of a stream receive; also the longest a poll transaction may hold messages",
		whole(func(c *Config) *int32 { return &c.Server.Queue.MaxVisibilitySeconds }, 1)},
	{"queue-default-visibility-seconds", "int", "60",
		"visibility of a stream receive that asks for 0",
		whole(func(c *Config) *int32 { return &c.Server.Queue.DefaultVisibilitySeconds }, 1)},
	{"queue-default-wait-timeout-seconds", "int", "1",
		"wait of a queue receive that asks for 0 seconds",
		whole(func(c *Config) *int32 { return &c.Server.Queue.DefaultWaitTimeoutSeconds }, 1)},
	{"queue-ack-wait", "duration", "30s",
		"how long queue messages leased by a node that died stay invisible before they return",
		positiveDuration(func(c *Config) *time.Duration { return &c.Server.QueueAckWait })},
	{"dedup-window", "duration", "2m",
		"a message id sent again to the same queue or events-store channel within this window is stored once (0 or negative: off)",
		applyDedupWindow},
	{"tls-cert", "string", "",
		"server certificate chain for the gRPC and REST ports: a PEM file, or the PEM itself (TLS is on when set)",
		pemOrFile(func(c *Config) (*string, *string) {
			return &c.Server.Security.TLS.CertFile, &c.Server.Security.TLS.Cert
		})},
	{"tls-key", "string", "",
		"private key of --tls-cert: a PEM file, or the PEM itself",
		pemOrFile(func(c *Config) (*string, *string) { return &c.Server.Security.TLS.KeyFile, &c.Server.Security.TLS.Key })},
	{"tls-client-ca", "string", "",
		"CAs that sign client certificates (mTLS): a PEM file, or the PEM itself",
		pemOrFile(func(c *Config) (*string, *string) {
			return &c.Server.Security.TLS.ClientCAFile, &c.Server.Security.TLS.ClientCA
		})},
	{"tls-client-auth", "string", "",
		`client certificates: require, verify-if-given or off ("": require once --tls-client-ca is set, else off)`,
		text(func(c *Config) *string { return &c.Server.Security.TLS.ClientAuth }, optional(oneOf(
			server.ClientAuthRequire, server.ClientAuthVerifyIfGiven, server.ClientAuthOff)))},
	{"auth-jwt-alg", "string", "",
		"JWT algorithm, which turns JWT authentication on: HS256, HS384, HS512, RS256, RS384, RS512, ES256, ES384 or ES512",
		text(func(c *Config) *string { return &c.Server.Security.Auth.JWTAlgorithm }, optional(oneOfFold(
			"HS256", "HS384", "HS512", "RS256", "RS384", "RS512", "ES256", "ES384", "ES512")))},
	{"auth-jwt-key", "string", "",
		"JWT verification key: a file (for HS* its every byte is the secret), or a PEM public key itself",
		pemOrFile(func(c *Config) (*string, *string) {
			return &c.Server.Security.Auth.JWTKeyFile, &c.Server.Security.Auth.JWTKey
		})},
	{"auth-jwt-jwks", "string", "",
		`JSON Web Key Set file, instead of --auth-jwt-key (a token's "kid" picks the key)`,
		text(func(c *Config) *string { return &c.Server.Security.Auth.JWKSFile }, nil)},
	{"auth-identity-claim", "string", "",
		`JWT claim naming the one client id a caller may declare ("": sub)`,
		text(func(c *Config) *string { return &c.Server.Security.Auth.IdentityClaim }, nil)},
	{"auth-jwt-issuer", "string", "",
		`required JWT "iss" ("": any)`,
		text(func(c *Config) *string { return &c.Server.Security.Auth.Issuer }, nil)},
	{"auth-jwt-audience", "string", "",
		`required JWT "aud" value ("": any)`,
		text(func(c *Config) *string { return &c.Server.Security.Auth.Audience }, nil)},
	{"auth-allow-unbound-tokens", "bool", "false",
		"accept JWTs without the identity claim, as KubeMQ did, and let them declare any client id",
		boolean(func(c *Config) *bool { return &c.Server.Security.Auth.AllowUnboundTokens })},
	{"auth-token-file", "string", "",
		`static tokens, one "token client-id-pattern" a line, which turn authentication on too`,
		text(func(c *Config) *string { return &c.Server.Security.Auth.TokenFile }, nil)},
	{"acl-file", "string", "",
		"access-control list (Herald's YAML or KubeMQ's JSON), which turns authorization on: what no rule grants is denied",
		text(func(c *Config) *string { return &c.Server.Security.Auth.ACLFile }, nil)},
	{"cors-origins", "list", "",
		`origins whose browser pages may call the REST port, comma-separated ("*": any; "": none)`,
		applyCORSOrigins},
}

// secretSettings are never echoed in error messages: they may hold a key.
var secretSettings = map[string]bool{"tls-key": true, "auth-jwt-key": true}

// pemOrFile sets the inline field when the value is PEM text
// ("-----BEGIN …") and the file field otherwise; setting one clears the
// other, so a later source replaces an earlier one whatever its form.
func pemOrFile(fields func(*Config) (file, inline *string)) func(*Config, string) error {
	return func(c *Config, v string) error {
		file, inline := fields(c)
		*file, *inline = "", ""
		if strings.HasPrefix(strings.TrimSpace(v), "-----BEGIN ") {
			*inline = v
		} else {
			*file = v
		}
		return nil
	}
}

func oneOf(values ...string) func(string) error {
	return func(v string) error {
		if slices.Contains(values, v) {
			return nil
		}
		return fmt.Errorf("want %s", strings.Join(values, ", "))
	}
}

func oneOfFold(values ...string) func(string) error {
	return func(v string) error {
		return oneOf(values...)(strings.ToUpper(v))
	}
}

func applyCORSOrigins(c *Config, v string) error {
	c.Server.Security.CORSOrigins = nil
	for _, o := range strings.Split(v, ",") {
		if o = strings.TrimSpace(o); o != "" {
			c.Server.Security.CORSOrigins = append(c.Server.Security.CORSOrigins, o)
		}
	}
	return nil
}

// applySampleRatio maps "0: none" to server.Options, where 0 means the
// default (1) and any negative value means none.
func applySampleRatio(c *Config, v string) error {
	r, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
	if err != nil || r < 0 || r > 1 {
		return errors.New("want a number from 0 to 1")
	}
	if r == 0 {
		r = -1
	}
	c.Server.Tracing.SampleRatio = r
	return nil
}

// applyDedupWindow maps "0 or negative: off" to server.Options, where 0
// means the default and any negative value means off.
func applyDedupWindow(c *Config, v string) error {
	d, err := parseDuration(v)
	if err != nil {
		return err
	}
	if d <= 0 {
		d = -1
	}
	c.Server.DedupWindow = d
	return nil
}

// fileConfig is the shape of the YAML file: one key per setting, named like
// the flag. Values are kept as nodes and parsed by the settings, like flags
// and env; unknown keys are rejected by the decoder.
type fileConfig struct {
	DataDir           yaml.Node `yaml:"data-dir"`
	GRPCAddr          yaml.Node `yaml:"grpc-addr"`
	RESTAddr          yaml.Node `yaml:"rest-addr"`
	HTTPAddr          yaml.Node `yaml:"http-addr"`
	MetricsChannels   yaml.Node `yaml:"metrics-channels"`
	OTelEndpoint      yaml.Node `yaml:"otel-endpoint"`
	OTelProtocol      yaml.Node `yaml:"otel-protocol"`
	OTelSampleRatio   yaml.Node `yaml:"otel-sample-ratio"`
	NATSAddr          yaml.Node `yaml:"nats-addr"`
	Host              yaml.Node `yaml:"host"`
	LogLevel          yaml.Node `yaml:"log-level"`
	LogFormat         yaml.Node `yaml:"log-format"`
	ShutdownTimeout   yaml.Node `yaml:"shutdown-timeout"`
	MaxMessageSize    yaml.Node `yaml:"max-message-size"`
	SubscriberBuffer  yaml.Node `yaml:"subscriber-buffer"`
	StoreMaxAge       yaml.Node `yaml:"store-max-age"`
	StoreMaxMessages  yaml.Node `yaml:"store-max-messages"`
	StoreMaxBytes     yaml.Node `yaml:"store-max-bytes"`
	StoreCursorIdle   yaml.Node `yaml:"store-cursor-idle"`
	QueryCacheMaxTTL  yaml.Node `yaml:"query-cache-max-ttl"`
	RequestMaxTimeout yaml.Node `yaml:"request-max-timeout"`
	SyncAlways        yaml.Node `yaml:"sync-always"`
	QueueShards       yaml.Node `yaml:"queue-shards"`
	StoreShards       yaml.Node `yaml:"store-shards"`
	EngineStart       yaml.Node `yaml:"engine-start-timeout"`

	QueueMaxNumberOfMessages       yaml.Node `yaml:"queue-max-number-of-messages"`
	QueueMaxWaitTimeoutSeconds     yaml.Node `yaml:"queue-max-wait-timeout-seconds"`
	QueueMaxExpirationSeconds      yaml.Node `yaml:"queue-max-expiration-seconds"`
	QueueMaxDelaySeconds           yaml.Node `yaml:"queue-max-delay-seconds"`
	QueueMaxReceiveCount           yaml.Node `yaml:"queue-max-receive-count"`
	QueueMaxVisibilitySeconds      yaml.Node `yaml:"queue-max-visibility-seconds"`
	QueueDefaultVisibilitySeconds  yaml.Node `yaml:"queue-default-visibility-seconds"`
	QueueDefaultWaitTimeoutSeconds yaml.Node `yaml:"queue-default-wait-timeout-seconds"`
	QueueAckWait                   yaml.Node `yaml:"queue-ack-wait"`
	DedupWindow                    yaml.Node `yaml:"dedup-window"`

	TLSCert                yaml.Node `yaml:"tls-cert"`
	TLSKey                 yaml.Node `yaml:"tls-key"`
	TLSClientCA            yaml.Node `yaml:"tls-client-ca"`
	TLSClientAuth          yaml.Node `yaml:"tls-client-auth"`
	AuthJWTAlg             yaml.Node `yaml:"auth-jwt-alg"`
	AuthJWTKey             yaml.Node `yaml:"auth-jwt-key"`
	AuthJWTJWKS            yaml.Node `yaml:"auth-jwt-jwks"`
	AuthIdentityClaim      yaml.Node `yaml:"auth-identity-claim"`
	AuthJWTIssuer          yaml.Node `yaml:"auth-jwt-issuer"`
	AuthJWTAudience        yaml.Node `yaml:"auth-jwt-audience"`
	AuthAllowUnboundTokens yaml.Node `yaml:"auth-allow-unbound-tokens"`
	AuthTokenFile          yaml.Node `yaml:"auth-token-file"`
	ACLFile                yaml.Node `yaml:"acl-file"`
	CORSOrigins            yaml.Node `yaml:"cors-origins"`
}

// addFlags registers one flag per setting, plus --config, on fs. The flags
// keep their text; loadConfig parses it.
func addFlags(fs *pflag.FlagSet) {
	fs.String("config", "", "YAML configuration file (env "+configEnv+")")
	for _, s := range settings {
		f := fs.VarPF(&flagText{text: s.def, typ: s.typ}, s.name, "",
			s.usage+" (env "+envName(s.name)+")")
		if s.typ == "bool" {
			f.NoOptDefVal = "true"
		}
	}
}

// flagText is a flag that stores its argument unparsed.
type flagText struct{ text, typ string }

func (f *flagText) String() string     { return f.text }
func (f *flagText) Set(v string) error { f.text = v; return nil }
func (f *flagText) Type() string       { return f.typ }

// loadConfig merges, in this order, the defaults, the YAML file (--config,
// else $HERALD_CONFIG), the HERALD_* variables in env (as os.Environ returns
// them) and the flags set in fs; later sources win. Every bad value in any
// source is an error, all of them joined, each naming its key and source.
func loadConfig(fs *pflag.FlagSet, env []string) (Config, error) {
	var c Config
	for _, s := range settings {
		if err := s.apply(&c, s.def); err != nil {
			panic(fmt.Sprintf("herald: default of %s: %v", s.name, err))
		}
	}
	var errs []error
	set := func(s *setting, v, source string) {
		if err := s.apply(&c, v); err != nil {
			if secretSettings[s.name] {
				v = "[redacted]"
			}
			errs = append(errs, fmt.Errorf("invalid %s %q (%s): %w", s.name, v, source, err))
		}
	}

	envs := make(map[string]string)
	for _, kv := range env {
		if k, v, ok := strings.Cut(kv, "="); ok && strings.HasPrefix(k, envPrefix) {
			envs[k] = v
		}
	}

	// The file.
	path, source := envs[configEnv], "env "+configEnv
	if f := fs.Lookup("config"); f != nil && f.Changed {
		path, source = f.Value.String(), "flag --config"
	}
	if path != "" {
		c.File = path
		values, fileErrs := readFile(path, source)
		errs = append(errs, fileErrs...)
		for _, v := range values {
			set(lookupSetting(v.name), v.text, fmt.Sprintf("file %s, line %d", path, v.line))
		}
	}

	// The environment.
	// the client commands' variables are not server settings, but not unknown
	known := map[string]bool{configEnv: true, envPrefix + "ADDRESS": true, envPrefix + "CLIENT_ID": true,
		envPrefix + "TOKEN": true, envPrefix + "TRANSPORT": true}
	for i := range settings {
		s := &settings[i]
		name := envName(s.name)
		known[name] = true
		if v, ok := envs[name]; ok {
			set(s, v, "env "+name)
		}
	}
	for _, k := range slices.Sorted(maps.Keys(envs)) {
		if !known[k] {
			c.Warnings = append(c.Warnings, fmt.Sprintf("unknown environment variable %s ignored", k))
		}
	}

	// The flags.
	for i := range settings {
		s := &settings[i]
		if f := fs.Lookup(s.name); f != nil && f.Changed {
			set(s, f.Value.String(), "flag --"+s.name)
		}
	}
	return c, errors.Join(errs...)
}

func lookupSetting(name string) *setting {
	for i := range settings {
		if settings[i].name == name {
			return &settings[i]
		}
	}
	panic("herald: fileConfig key " + name + " has no setting")
}

// unknownKey matches yaml.v3's message for a key that KnownFields rejects.
var unknownKey = regexp.MustCompile(`^line (\d+): field (.+) not found in type `)

// fileValue is one key found in the configuration file.
type fileValue struct {
	name, text string
	line       int
}

// readFile decodes the YAML file at path and returns the keys present, in
// the order of the file. source says where path came from.
func readFile(path, source string) ([]fileValue, []error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, []error{fmt.Errorf("config file (%s): %w", source, err)}
	}
	defer f.Close()
	dec := yaml.NewDecoder(f)
	dec.KnownFields(true)
	var fc fileConfig
	err = dec.Decode(&fc)
	if errors.Is(err, io.EOF) { // an empty file
		return nil, nil
	}
	if err == nil {
		var next yaml.Node
		if err2 := dec.Decode(&next); !errors.Is(err2, io.EOF) {
			err = errors.New("more than one YAML document")
		}
	}
	var errs []error
	var te *yaml.TypeError
	switch {
	case errors.As(err, &te): // fc holds the keys that did decode
		for _, msg := range te.Errors {
			if m := unknownKey.FindStringSubmatch(msg); m != nil {
				errs = append(errs, fmt.Errorf("unknown key %q (file %s, line %s)", m[2], path, m[1]))
			} else if strings.Contains(msg, "main.fileConfig") {
				errs = append(errs, fmt.Errorf("config file %s: want a mapping of keys to values", path))
			} else {
				errs = append(errs, fmt.Errorf("config file %s: %s", path, msg))
			}
		}
	case err != nil:
		return nil, []error{fmt.Errorf("config file %s: %s", path, strings.TrimPrefix(err.Error(), "yaml: "))}
	}

	var values []fileValue
	v := reflect.ValueOf(fc)
	for i := range v.NumField() {
		name := v.Type().Field(i).Tag.Get("yaml")
		n := v.Field(i).Interface().(yaml.Node)
		switch {
		case n.Kind == 0 || n.ShortTag() == "!!null": // absent, or `key:` with no value
		case n.Kind != yaml.ScalarNode:
			errs = append(errs, fmt.Errorf("invalid %s (file %s, line %d): want a single value", name, path, n.Line))
		default:
			values = append(values, fileValue{name, n.Value, n.Line})
		}
	}
	slices.SortFunc(values, func(a, b fileValue) int { return a.line - b.line })
	return values, errs
}

// Parsers, one per kind of value. Their errors say what is wrong with the
// value; the caller adds the key and the source.

func text(field func(*Config) *string, check func(string) error) func(*Config, string) error {
	return func(c *Config, v string) error {
		if check != nil {
			if err := check(v); err != nil {
				return err
			}
		}
		*field(c) = v
		return nil
	}
}

func nonEmpty(v string) error {
	if v == "" {
		return errors.New("must not be empty")
	}
	return nil
}

func optional(check func(string) error) func(string) error {
	return func(v string) error {
		if v == "" {
			return nil
		}
		return check(v)
	}
}

func checkAddr(v string) error {
	_, port, err := net.SplitHostPort(v)
	if err == nil {
		if n, perr := strconv.ParseUint(port, 10, 16); perr != nil || n > 65535 {
			err = errors.New("bad port")
		}
	}
	if err != nil {
		return errors.New("want host:port, e.g. :50000 or 127.0.0.1:50000")
	}
	return nil
}

func whole[T int | int32 | int64](field func(*Config) *T, min T) func(*Config, string) error {
	return func(c *Config, v string) error {
		n, err := strconv.ParseInt(strings.TrimSpace(v), 10, int(reflect.TypeFor[T]().Size())*8)
		switch {
		case errors.Is(err, strconv.ErrRange):
			return errors.New("out of range")
		case err != nil:
			return errors.New("want a whole number")
		case T(n) < min && min == 0:
			return errors.New("must not be negative")
		case T(n) < min:
			return fmt.Errorf("must be at least %d", min)
		}
		*field(c) = T(n)
		return nil
	}
}

func parseDuration(v string) (time.Duration, error) {
	d, err := time.ParseDuration(strings.TrimSpace(v))
	if err != nil {
		return 0, errors.New("want a duration such as 90s, 30m or 24h")
	}
	return d, nil
}

func positiveDuration(field func(*Config) *time.Duration) func(*Config, string) error {
	return func(c *Config, v string) error {
		d, err := parseDuration(v)
		if err != nil {
			return err
		}
		if d <= 0 {
			return errors.New("must be more than 0")
		}
		*field(c) = d
		return nil
	}
}

// applyStoreMaxAge maps "0 or negative: forever" to server.Options, where 0
// means the default and any negative value means forever.
func applyStoreMaxAge(c *Config, v string) error {
	d, err := parseDuration(v)
	if err != nil {
		return err
	}
	if d <= 0 {
		d = -1
	}
	c.Server.StoreMaxAge = d
	return nil
}

func boolean(field func(*Config) *bool) func(*Config, string) error {
	return func(c *Config, v string) error {
		b, err := strconv.ParseBool(strings.TrimSpace(v))
		if err != nil {
			return errors.New("want true or false")
		}
		*field(c) = b
		return nil
	}
}

func applyLogLevel(c *Config, v string) error {
	levels := map[string]slog.Level{
		"debug": slog.LevelDebug, "info": slog.LevelInfo, "warn": slog.LevelWarn, "error": slog.LevelError,
	}
	l, ok := levels[strings.ToLower(strings.TrimSpace(v))]
	if !ok {
		return errors.New("want debug, info, warn or error")
	}
	c.LogLevel = l
	return nil
}

func applyLogFormat(c *Config, v string) error {
	f := strings.ToLower(strings.TrimSpace(v))
	if f != "text" && f != "json" {
		return errors.New("want text or json")
	}
	c.LogFormat = f
	return nil
}
