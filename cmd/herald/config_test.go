package main

import (
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
	"gopkg.in/yaml.v3"

	"github.com/heraldmq/herald/server"
)

// load runs loadConfig on command-line args and env as `herald server` does.
func load(t *testing.T, args, env []string) (Config, error) {
	t.Helper()
	fs := pflag.NewFlagSet("server", pflag.ContinueOnError)
	addFlags(fs)
	if err := fs.Parse(args); err != nil {
		t.Fatalf("parse %q: %v", args, err)
	}
	return loadConfig(fs, env)
}

// writeConfig writes a YAML file into a temporary directory and returns its path.
func writeConfig(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "herald.yaml")
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// defaults is the configuration with nothing set.
func defaults() Config {
	return Config{
		Server: server.Options{
			DataDir:           "./herald-data",
			GRPCAddr:          ":50000",
			RESTAddr:          ":9090",
			HTTPAddr:          ":8080",
			MaxMessageSize:    104857600,
			SubscriberBuffer:  100,
			StoreMaxAge:       24 * time.Hour,
			CursorIdle:        24 * time.Hour,
			QueryCacheMaxTTL:  24 * time.Hour,
			RequestMaxTimeout: time.Hour,
			Queue: server.QueueOptions{
				MaxNumberOfMessages: 1024, MaxWaitTimeoutSeconds: 3600, MaxExpirationSeconds: 43200,
				MaxDelaySeconds: 43200, MaxReceiveCount: 1024, MaxVisibilitySeconds: 43200,
				DefaultVisibilitySeconds: 60, DefaultWaitTimeoutSeconds: 1,
			},
			DedupWindow:        2 * time.Minute,
			QueueAckWait:       30 * time.Second,
			MetricsChannels:    "all",
			QueueShards:        4,
			StoreShards:        4,
			EngineStartTimeout: 2 * time.Minute,
			Tracing:            server.TracingOptions{Protocol: "grpc", SampleRatio: 1},
		},
		LogLevel:        slog.LevelInfo,
		LogFormat:       "text",
		ShutdownTimeout: 30 * time.Second,
	}
}

func TestLoadConfigDefaults(t *testing.T) {
	got, err := load(t, nil, []string{"PATH=/bin", "HOME=/root"})
	if err != nil {
		t.Fatal(err)
	}
	if want := defaults(); !reflect.DeepEqual(got, want) {
		t.Errorf("got  %+v\nwant %+v", got, want)
	}
}

// The defaults written here must be the server's own: the options built
// with nothing set must behave as the zero Options.
func TestLoadConfigDefaultsMatchServer(t *testing.T) {
	resolved := func(o server.Options) server.Options {
		t.Helper()
		srv, err := server.New(o)
		if err != nil {
			t.Fatal(err)
		}
		got := srv.Options()
		got.Logger = nil
		return got
	}
	c, err := load(t, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := resolved(c.Server), resolved(server.Options{}); !reflect.DeepEqual(got, want) {
		t.Errorf("cmd defaults %+v\nserver defaults %+v", got, want)
	}
}

func TestLoadConfigEverySettingFromEverySource(t *testing.T) {
	tests := []struct {
		name, value string
		check       func(c Config) bool
	}{
		{"data-dir", "/var/lib/herald", func(c Config) bool { return c.Server.DataDir == "/var/lib/herald" }},
		{"grpc-addr", "127.0.0.1:0", func(c Config) bool { return c.Server.GRPCAddr == "127.0.0.1:0" }},
		{"rest-addr", "[::1]:9091", func(c Config) bool { return c.Server.RESTAddr == "[::1]:9091" }},
		{"rest-addr", "off", func(c Config) bool { return c.Server.RESTAddr == "off" }},
		{"http-addr", "localhost:8081", func(c Config) bool { return c.Server.HTTPAddr == "localhost:8081" }},
		{"http-addr", "off", func(c Config) bool { return c.Server.HTTPAddr == "off" }},
		{"metrics-channels", "top:20", func(c Config) bool { return c.Server.MetricsChannels == "top:20" }},
		{"otel-endpoint", "collector:4317", func(c Config) bool { return c.Server.Tracing.Endpoint == "collector:4317" }},
		{"otel-endpoint", "https://collector.example.com:4318/v1/traces", func(c Config) bool {
			return c.Server.Tracing.Endpoint == "https://collector.example.com:4318/v1/traces"
		}},
		{"otel-protocol", "http", func(c Config) bool { return c.Server.Tracing.Protocol == "http" }},
		{"otel-sample-ratio", "0.25", func(c Config) bool { return c.Server.Tracing.SampleRatio == 0.25 }},
		{"otel-sample-ratio", "0", func(c Config) bool { return c.Server.Tracing.SampleRatio < 0 }},
		{"queue-shards", "8", func(c Config) bool { return c.Server.QueueShards == 8 }},
		{"store-shards", "2", func(c Config) bool { return c.Server.StoreShards == 2 }},
		{"engine-start-timeout", "5m", func(c Config) bool { return c.Server.EngineStartTimeout == 5*time.Minute }},
		{"nats-addr", "127.0.0.1:4222", func(c Config) bool { return c.Server.NATSAddr == "127.0.0.1:4222" }},
		{"host", "node-1", func(c Config) bool { return c.Server.Host == "node-1" }},
		{"log-level", "debug", func(c Config) bool { return c.LogLevel == slog.LevelDebug }},
		{"log-level", "WARN", func(c Config) bool { return c.LogLevel == slog.LevelWarn }},
		{"log-level", "error", func(c Config) bool { return c.LogLevel == slog.LevelError }},
		{"log-format", "json", func(c Config) bool { return c.LogFormat == "json" }},
		{"max-message-size", "2048", func(c Config) bool { return c.Server.MaxMessageSize == 2048 }},
		{"subscriber-buffer", "1", func(c Config) bool { return c.Server.SubscriberBuffer == 1 }},
		{"store-max-age", "90m", func(c Config) bool { return c.Server.StoreMaxAge == 90*time.Minute }},
		{"store-max-age", "0", func(c Config) bool { return c.Server.StoreMaxAge < 0 }},
		{"store-max-age", "-1h", func(c Config) bool { return c.Server.StoreMaxAge < 0 }},
		{"store-max-messages", "1000", func(c Config) bool { return c.Server.StoreMaxMessages == 1000 }},
		{"store-max-bytes", "8589934592", func(c Config) bool { return c.Server.StoreMaxBytes == 8<<30 }},
		{"store-cursor-idle", "1h", func(c Config) bool { return c.Server.CursorIdle == time.Hour }},
		{"query-cache-max-ttl", "5m", func(c Config) bool { return c.Server.QueryCacheMaxTTL == 5*time.Minute }},
		{"request-max-timeout", "90s", func(c Config) bool { return c.Server.RequestMaxTimeout == 90*time.Second }},
		{"shutdown-timeout", "5s", func(c Config) bool { return c.ShutdownTimeout == 5*time.Second }},
		{"sync-always", "true", func(c Config) bool { return c.Server.SyncAlways }},
		{"queue-max-number-of-messages", "5", func(c Config) bool { return c.Server.Queue.MaxNumberOfMessages == 5 }},
		{"queue-max-wait-timeout-seconds", "60", func(c Config) bool { return c.Server.Queue.MaxWaitTimeoutSeconds == 60 }},
		{"queue-max-expiration-seconds", "7", func(c Config) bool { return c.Server.Queue.MaxExpirationSeconds == 7 }},
		{"queue-max-delay-seconds", "8", func(c Config) bool { return c.Server.Queue.MaxDelaySeconds == 8 }},
		{"queue-max-receive-count", "3", func(c Config) bool { return c.Server.Queue.MaxReceiveCount == 3 }},
		{"queue-max-visibility-seconds", "600", func(c Config) bool { return c.Server.Queue.MaxVisibilitySeconds == 600 }},
		{"queue-default-visibility-seconds", "30", func(c Config) bool { return c.Server.Queue.DefaultVisibilitySeconds == 30 }},
		{"queue-default-wait-timeout-seconds", "2", func(c Config) bool { return c.Server.Queue.DefaultWaitTimeoutSeconds == 2 }},
		{"queue-ack-wait", "5s", func(c Config) bool { return c.Server.QueueAckWait == 5*time.Second }},
		{"dedup-window", "10m", func(c Config) bool { return c.Server.DedupWindow == 10*time.Minute }},
		{"dedup-window", "0", func(c Config) bool { return c.Server.DedupWindow < 0 }},
		{"tls-cert", "/etc/herald/tls.crt", func(c Config) bool {
			return c.Server.Security.TLS.CertFile == "/etc/herald/tls.crt" && c.Server.Security.TLS.Cert == ""
		}},
		{"tls-cert", testPEM, func(c Config) bool {
			return c.Server.Security.TLS.Cert == testPEM && c.Server.Security.TLS.CertFile == ""
		}},
		{"tls-key", "/etc/herald/tls.key", func(c Config) bool { return c.Server.Security.TLS.KeyFile == "/etc/herald/tls.key" }},
		{"tls-key", testPEM, func(c Config) bool { return c.Server.Security.TLS.Key == testPEM }},
		{"tls-client-ca", "ca.pem", func(c Config) bool { return c.Server.Security.TLS.ClientCAFile == "ca.pem" }},
		{"tls-client-ca", testPEM, func(c Config) bool { return c.Server.Security.TLS.ClientCA == testPEM }},
		{"tls-client-auth", "verify-if-given", func(c Config) bool { return c.Server.Security.TLS.ClientAuth == "verify-if-given" }},
		{"tls-client-auth", "off", func(c Config) bool { return c.Server.Security.TLS.ClientAuth == "off" }},
		{"auth-jwt-alg", "es256", func(c Config) bool { return c.Server.Security.Auth.JWTAlgorithm == "es256" }},
		{"auth-jwt-key", "/etc/herald/jwt.secret", func(c Config) bool {
			return c.Server.Security.Auth.JWTKeyFile == "/etc/herald/jwt.secret" && c.Server.Security.Auth.JWTKey == ""
		}},
		{"auth-jwt-key", testPEM, func(c Config) bool { return c.Server.Security.Auth.JWTKey == testPEM }},
		{"auth-jwt-jwks", "jwks.json", func(c Config) bool { return c.Server.Security.Auth.JWKSFile == "jwks.json" }},
		{"auth-identity-claim", "client_id", func(c Config) bool { return c.Server.Security.Auth.IdentityClaim == "client_id" }},
		{"auth-jwt-issuer", "https://idp", func(c Config) bool { return c.Server.Security.Auth.Issuer == "https://idp" }},
		{"auth-jwt-audience", "herald", func(c Config) bool { return c.Server.Security.Auth.Audience == "herald" }},
		{"auth-allow-unbound-tokens", "true", func(c Config) bool { return c.Server.Security.Auth.AllowUnboundTokens }},
		{"auth-token-file", "tokens", func(c Config) bool { return c.Server.Security.Auth.TokenFile == "tokens" }},
		{"acl-file", "acl.yaml", func(c Config) bool { return c.Server.Security.Auth.ACLFile == "acl.yaml" }},
		{"cors-origins", "https://a.example, http://b.example:8000", func(c Config) bool {
			return slices.Equal(c.Server.Security.CORSOrigins, []string{"https://a.example", "http://b.example:8000"})
		}},
		{"cors-origins", "*", func(c Config) bool { return slices.Equal(c.Server.Security.CORSOrigins, []string{"*"}) }},
	}
	seen := map[string]bool{}
	for _, tt := range tests {
		seen[tt.name] = true
		for _, source := range []string{"flag", "env", "file"} {
			t.Run(tt.name+"="+tt.value+"/"+source, func(t *testing.T) {
				var args, env []string
				switch source {
				case "flag":
					args = []string{"--" + tt.name + "=" + tt.value}
				case "env":
					env = []string{envName(tt.name) + "=" + tt.value}
				case "file":
					args = []string{"--config", writeConfig(t, tt.name+": "+yamlQuote(tt.value)+"\n")}
				}
				c, err := load(t, args, env)
				if err != nil {
					t.Fatal(err)
				}
				if !tt.check(c) {
					t.Errorf("%s %s=%s not applied: %+v", source, tt.name, tt.value, c)
				}
			})
		}
	}
	for _, s := range settings {
		if !seen[s.name] {
			t.Errorf("setting %s is not tested", s.name)
		}
	}
}

// testPEM is PEM-shaped text (what the settings sniff), not a real key.
const testPEM = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"

// The security settings' cross-field problems are reported by the server's
// checks, all of them at once, and never with a key in them.
func TestSecuritySettingsValidatedTogether(t *testing.T) {
	key := "-----BEGIN PRIVATE KEY-----\nc2VjcmV0LWtleS1tYXRlcmlhbA==\n-----END PRIVATE KEY-----\n"
	c, err := load(t, []string{"--tls-key", key, "--tls-client-auth", "require", "--auth-jwt-key", "jwt.secret",
		"--cors-origins", "https://ok.example,example.com"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = server.New(c.Server)
	if err == nil {
		t.Fatal("no error")
	}
	msg := err.Error()
	for _, want := range []string{
		"a key needs its certificate",
		`client auth "require" needs a client CA`,
		"a JWT key is set but no JWT algorithm",
		`cors origin "example.com"`,
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q does not contain %q", msg, want)
		}
	}
	if strings.Contains(msg, "c2VjcmV0") {
		t.Errorf("error %q shows the key", msg)
	}
}

// Off by default: nothing set, nothing enforced.
func TestSecurityOffByDefault(t *testing.T) {
	c, err := load(t, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	sec := c.Server.Security
	if sec.TLSEnabled() || sec.AuthenticationEnabled() || sec.AuthorizationEnabled() || len(sec.CORSOrigins) > 0 {
		t.Errorf("security on by default: %+v", sec)
	}
}

func yamlQuote(v string) string {
	out, err := yaml.Marshal(v)
	if err != nil {
		panic(err)
	}
	return strings.TrimSpace(string(out))
}

func TestLoadConfigPrecedence(t *testing.T) {
	file := "grpc-addr: :1001\nhost: from-file\nstore-max-age: 1h\n"
	tests := []struct {
		name     string
		file     bool
		env      []string
		args     []string
		wantAddr string
		wantHost string
		wantAge  time.Duration
	}{
		{name: "defaults", wantAddr: ":50000", wantAge: 24 * time.Hour},
		{name: "file over defaults", file: true,
			wantAddr: ":1001", wantHost: "from-file", wantAge: time.Hour},
		{name: "env over file", file: true, env: []string{"HERALD_GRPC_ADDR=:1002"},
			wantAddr: ":1002", wantHost: "from-file", wantAge: time.Hour},
		{name: "flag over env and file", file: true, env: []string{"HERALD_GRPC_ADDR=:1002", "HERALD_HOST=from-env"},
			args: []string{"--grpc-addr", ":1003"}, wantAddr: ":1003", wantHost: "from-env", wantAge: time.Hour},
		{name: "flag over env", env: []string{"HERALD_STORE_MAX_AGE=2h"}, args: []string{"--store-max-age", "3h"},
			wantAddr: ":50000", wantAge: 3 * time.Hour},
		{name: "empty env overrides file", file: true, env: []string{"HERALD_HOST="},
			wantAddr: ":1001", wantHost: "", wantAge: time.Hour},
		{name: "flag equal to default still wins", file: true, args: []string{"--grpc-addr=:50000"},
			wantAddr: ":50000", wantHost: "from-file", wantAge: time.Hour},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := tt.env
			if tt.file {
				env = append(env, "HERALD_CONFIG="+writeConfig(t, file))
			}
			c, err := load(t, tt.args, env)
			if err != nil {
				t.Fatal(err)
			}
			if c.Server.GRPCAddr != tt.wantAddr || c.Server.Host != tt.wantHost || c.Server.StoreMaxAge != tt.wantAge {
				t.Errorf("got addr %q host %q age %v, want %q %q %v",
					c.Server.GRPCAddr, c.Server.Host, c.Server.StoreMaxAge, tt.wantAddr, tt.wantHost, tt.wantAge)
			}
		})
	}
}

func TestLoadConfigFileChoice(t *testing.T) {
	fromEnv := writeConfig(t, "host: env-file\n")
	fromFlag := writeConfig(t, "host: flag-file\n")
	tests := []struct {
		name     string
		args     []string
		env      []string
		wantFile string
		wantHost string
	}{
		{"none", nil, nil, "", ""},
		{"HERALD_CONFIG", nil, []string{"HERALD_CONFIG=" + fromEnv}, fromEnv, "env-file"},
		{"--config", []string{"--config", fromFlag}, nil, fromFlag, "flag-file"},
		{"--config over HERALD_CONFIG", []string{"--config", fromFlag}, []string{"HERALD_CONFIG=" + fromEnv}, fromFlag, "flag-file"},
		{"empty HERALD_CONFIG reads no file", nil, []string{"HERALD_CONFIG="}, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := load(t, tt.args, tt.env)
			if err != nil {
				t.Fatal(err)
			}
			if c.File != tt.wantFile || c.Server.Host != tt.wantHost {
				t.Errorf("file %q host %q, want %q %q", c.File, c.Server.Host, tt.wantFile, tt.wantHost)
			}
		})
	}
}

func TestLoadConfigRejectsBadValues(t *testing.T) {
	tests := []struct{ name, value, want string }{
		{"data-dir", "", "must not be empty"},
		{"grpc-addr", "50000", "want host:port"},
		{"grpc-addr", "", "want host:port"},
		{"grpc-addr", ":http", "want host:port"},
		{"rest-addr", "localhost:65536", "want host:port"},
		{"http-addr", "a:b:c", "want host:port"},
		{"nats-addr", "4222", "want host:port"},
		{"otel-endpoint", "collector", "want host:port or an http(s) URL"},
		{"otel-endpoint", "grpc://collector:4317", "want host:port or an http(s) URL"},
		{"otel-protocol", "udp", "want grpc, http"},
		{"otel-sample-ratio", "1.5", "want a number from 0 to 1"},
		{"otel-sample-ratio", "-0.1", "want a number from 0 to 1"},
		{"otel-sample-ratio", "half", "want a number from 0 to 1"},
		{"log-level", "trace", "want debug, info, warn or error"},
		{"log-format", "xml", "want text or json"},
		{"max-message-size", "-1", "must be at least 1"},
		{"max-message-size", "0", "must be at least 1"},
		{"max-message-size", "100MB", "want a whole number"},
		{"subscriber-buffer", "0", "must be at least 1"},
		{"subscriber-buffer", "1.5", "want a whole number"},
		{"store-max-age", "1 day", "want a duration"},
		{"store-max-age", "24", "want a duration"},
		{"store-max-messages", "-5", "must not be negative"},
		{"store-max-bytes", "-1", "must not be negative"},
		{"store-max-bytes", "99999999999999999999", "out of range"},
		{"store-cursor-idle", "0", "must be more than 0"},
		{"query-cache-max-ttl", "-1m", "must be more than 0"},
		{"query-cache-max-ttl", "soon", "want a duration"},
		{"sync-always", "yes", "want true or false"},
		{"tls-client-auth", "required", "want require, verify-if-given, off"},
		{"auth-jwt-alg", "none", "want HS256"},
		{"auth-allow-unbound-tokens", "maybe", "want true or false"},
	}
	for _, tt := range tests {
		for _, source := range []string{"flag", "env", "file"} {
			t.Run(tt.name+"="+tt.value+"/"+source, func(t *testing.T) {
				var args, env []string
				var wantSource string
				switch source {
				case "flag":
					args = []string{"--" + tt.name + "=" + tt.value}
					wantSource = "(flag --" + tt.name + ")"
				case "env":
					env = []string{envName(tt.name) + "=" + tt.value}
					wantSource = "(env " + envName(tt.name) + ")"
				case "file":
					path := writeConfig(t, "# comment\n"+tt.name+": "+yamlQuote(tt.value)+"\n")
					args = []string{"--config", path}
					wantSource = "(file " + path + ", line 2)"
				}
				_, err := load(t, args, env)
				if err == nil {
					t.Fatal("no error")
				}
				msg := err.Error()
				for _, want := range []string{"invalid " + tt.name + " ", wantSource, tt.want} {
					if !strings.Contains(msg, want) {
						t.Errorf("error %q does not contain %q", msg, want)
					}
				}
				if strings.Contains(msg, "\n") {
					t.Errorf("error %q spans several lines", msg)
				}
			})
		}
	}
}

// A bad value is an error even when a later source overrides it, and every
// problem is reported, not just the first.
func TestLoadConfigReportsEveryBadValue(t *testing.T) {
	path := writeConfig(t, "store-max-age: never\n")
	_, err := load(t, []string{"--config", path, "--store-max-age", "1h", "--log-level", "loud"},
		[]string{"HERALD_SUBSCRIBER_BUFFER=many"})
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{"store-max-age", "HERALD_SUBSCRIBER_BUFFER", "--log-level"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %s", err, want)
		}
	}
}

func TestLoadConfigFileErrors(t *testing.T) {
	tests := []struct{ name, content, want string }{
		{"unknown key", "data-dir: x\ngrpc-adr: :1\n", `unknown key "grpc-adr" (file PATH, line 2)`},
		{"key in wrong case", "Data-Dir: x\n", `unknown key "Data-Dir" (file PATH, line 1)`},
		{"nested section", "store:\n  max-age: 1h\n", `unknown key "store" (file PATH, line 1)`},
		{"list value", "data-dir: [a, b]\n", "invalid data-dir (file PATH, line 1): want a single value"},
		{"mapping value", "host:\n  name: x\n", "invalid host (file PATH, line 2): want a single value"},
		{"not a mapping", "- data-dir\n", "config file PATH: want a mapping of keys to values"},
		{"syntax error", "data-dir: [\n", "config file PATH: line "},
		{"duplicate key", "host: a\nhost: b\n", `config file PATH: line 2: mapping key "host" already defined`},
		{"two documents", "host: a\n---\nhost: b\n", "config file PATH: more than one YAML document"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeConfig(t, tt.content)
			_, err := load(t, []string{"--config", path}, nil)
			if err == nil {
				t.Fatal("no error")
			}
			if want := strings.ReplaceAll(tt.want, "PATH", path); !strings.Contains(err.Error(), want) {
				t.Errorf("error %q does not contain %q", err, want)
			}
		})
	}

	t.Run("missing file", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "nope.yaml")
		_, err := load(t, nil, []string{"HERALD_CONFIG=" + path})
		if err == nil || !strings.Contains(err.Error(), "(env HERALD_CONFIG)") || !strings.Contains(err.Error(), path) {
			t.Errorf("error %v, want one naming %s and HERALD_CONFIG", err, path)
		}
	})
}

func TestLoadConfigFileEdgeCases(t *testing.T) {
	tests := []struct{ name, content string }{
		{"empty file", ""},
		{"only comments", "# nothing here\n"},
		{"key without value keeps the default", "data-dir:\nhost: ~\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeConfig(t, tt.content)
			c, err := load(t, []string{"--config", path}, nil)
			if err != nil {
				t.Fatal(err)
			}
			want := defaults()
			want.File = path
			if !reflect.DeepEqual(c, want) {
				t.Errorf("got  %+v\nwant %+v", c, want)
			}
		})
	}
}

func TestLoadConfigEnvParsing(t *testing.T) {
	tests := []struct {
		name         string
		env          []string
		wantHost     string
		wantWarnings []string
	}{
		{"other variables are ignored", []string{"HOST=elsewhere", "GRPC_ADDR=x", "herald_host=lower"}, "", nil},
		{"value may contain =", []string{"HERALD_HOST=a=b"}, "a=b", nil},
		{"value keeps spaces", []string{"HERALD_HOST= spaced "}, " spaced ", nil},
		{"malformed entry is skipped", []string{"HERALD_HOST"}, "", nil},
		{"last duplicate wins", []string{"HERALD_HOST=one", "HERALD_HOST=two"}, "two", nil},
		{"unknown HERALD_ variable warns", []string{"HERALD_GRPC_ADR=:1"}, "",
			[]string{"unknown environment variable HERALD_GRPC_ADR ignored"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := load(t, nil, tt.env)
			if err != nil {
				t.Fatal(err)
			}
			if c.Server.Host != tt.wantHost || !slices.Equal(c.Warnings, tt.wantWarnings) {
				t.Errorf("host %q warnings %q, want %q %q", c.Server.Host, c.Warnings, tt.wantHost, tt.wantWarnings)
			}
		})
	}
}

func TestLoadConfigBoolFlagWithoutValue(t *testing.T) {
	for _, args := range [][]string{{"--sync-always"}, {"--sync-always=true"}} {
		c, err := load(t, args, []string{"HERALD_SYNC_ALWAYS=false"})
		if err != nil || !c.Server.SyncAlways {
			t.Errorf("%q: sync-always %v, err %v", args, c.Server.SyncAlways, err)
		}
	}
	c, err := load(t, []string{"--sync-always=false"}, []string{"HERALD_SYNC_ALWAYS=true"})
	if err != nil || c.Server.SyncAlways {
		t.Errorf("--sync-always=false: sync-always %v, err %v", c.Server.SyncAlways, err)
	}
}

// The YAML shape and the settings table must list the same keys in the same order.
func TestFileConfigMatchesSettings(t *testing.T) {
	typ := reflect.TypeFor[fileConfig]()
	var keys, names []string
	for i := range typ.NumField() {
		keys = append(keys, typ.Field(i).Tag.Get("yaml"))
	}
	for _, s := range settings {
		names = append(names, s.name)
		if envName(s.name) != "HERALD_"+strings.ToUpper(strings.ReplaceAll(s.name, "-", "_")) {
			t.Errorf("env name of %s: %s", s.name, envName(s.name))
		}
	}
	if !slices.Equal(keys, names) {
		t.Errorf("fileConfig keys %q\nsettings       %q", keys, names)
	}
}

// The shipped example lists every key at its default.
func TestExampleConfig(t *testing.T) {
	const path = "herald.example.yaml"
	c, err := load(t, []string{"--config", path}, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := defaults()
	want.File = path
	if !reflect.DeepEqual(c, want) {
		t.Errorf("example differs from the defaults:\ngot  %+v\nwant %+v", c, want)
	}

	values, errs := readFile(path, "test")
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	var keys []string
	for _, v := range values {
		keys = append(keys, v.name)
	}
	for _, s := range settings {
		if !slices.Contains(keys, s.name) {
			t.Errorf("%s lacks key %s", path, s.name)
		}
		if s.def == "" { // an empty default must be written as "" to be listed
			continue
		}
		for _, v := range values {
			if v.name == s.name && v.text != s.def {
				t.Errorf("%s: %s is %q, default %q", path, s.name, v.text, s.def)
			}
		}
	}
}
