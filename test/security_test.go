package test

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/kubemq-io/kubemq-go"
	"github.com/kubemq-io/kubemq-go/queues_stream"
	pb "github.com/kubemq-io/protobuf/go"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	heraldclient "github.com/heraldmq/herald/client"
	"github.com/heraldmq/herald/internal/auth"
	"github.com/heraldmq/herald/internal/tlsconf"
	"github.com/heraldmq/herald/server"
	"github.com/heraldmq/herald/server/heraldtest"
)

// The security tests run Herald with JWT authentication (HS256, key file),
// an access-control list and, where they say so, TLS; they check every RPC,
// every REST route and the WebSockets for the refusals the reference
// server's clients expect (texts of KubeMQ v2.3.7, codes of
// docs/security.md).

const (
	jwtSecret = "a shared secret of thirty-two bytes, for tests only"
	authFail  = "Error 421: authentication verification failed, "
	denied    = "Error 412: access denied to resource"
	noToken   = "Authorization token is not supplied"
	badHeader = "invalid authentication header"
)

// matrixACL grants alice and bob everything on ok.>, and admin everything.
const matrixACL = `rules:
  - clients: [alice, bob]
    resources: "*"
    channels: "ok.>"
    actions: [read, write]
  - clients: admin
    resources: "*"
    channels: ">"
    actions: [read, write]
`

// secEnv is a broker started with security on, and what it was started with.
type secEnv struct {
	srv     *heraldtest.Server
	dir     string
	secret  string // the JWT key file
	aclFile string
	certs   *heraldtest.Certs // nil without TLS
	logs    *syncBuffer
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// newSecEnv starts a broker with JWT authentication and acl (none when
// empty); mod adjusts the security options (TLS, token file, …) first.
func newSecEnv(t *testing.T, acl string, mod ...func(t *testing.T, e *secEnv, o *server.SecurityOptions)) *secEnv {
	t.Helper()
	e := &secEnv{dir: t.TempDir(), logs: &syncBuffer{}}
	e.secret = writeFile(t, e.dir, "jwt.secret", jwtSecret)
	o := server.SecurityOptions{
		Auth:           server.AuthOptions{JWTAlgorithm: "HS256", JWTKeyFile: e.secret},
		ReloadInterval: 50 * time.Millisecond,
	}
	if acl != "" {
		e.aclFile = writeFile(t, e.dir, "acl.yaml", acl)
		o.Auth.ACLFile = e.aclFile
	}
	for _, m := range mod {
		m(t, e, &o)
	}
	log := slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	e.srv = heraldtest.NewServer(t, server.Options{Security: o, Logger: log})
	return e
}

// withTLS turns TLS on with fresh certificates; clientAuth "" asks for no
// client certificate.
func withTLS(clientAuth string) func(t *testing.T, e *secEnv, o *server.SecurityOptions) {
	return func(t *testing.T, e *secEnv, o *server.SecurityOptions) {
		e.certs = heraldtest.NewCerts(t)
		o.TLS = server.TLSOptions{CertFile: e.certs.CertFile, KeyFile: e.certs.KeyFile}
		if clientAuth != "" {
			o.TLS.ClientCAFile, o.TLS.ClientAuth = e.certs.CAFile, clientAuth
		}
	}
}

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	// Written aside and renamed, as tools update such files: a poll never
	// sees half a file.
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
	return path
}

// signed returns an HS256 token for sub, valid for an hour, with extra
// claims (nil values delete a claim).
func signed(t *testing.T, alg, key, sub string, extra map[string]any) string {
	t.Helper()
	now := time.Now()
	claims := map[string]any{"sub": sub, "iat": now.Unix(), "exp": now.Add(time.Hour).Unix()}
	for k, v := range extra {
		if v == nil {
			delete(claims, k)
		} else {
			claims[k] = v
		}
	}
	tok, err := auth.Sign(alg, []byte(key), "", claims)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func (e *secEnv) token(t *testing.T, sub string) string {
	return signed(t, "HS256", jwtSecret, sub, nil)
}

// unsignedToken is a JWT with "alg":"none".
func unsignedToken(sub string) string {
	enc := base64.RawURLEncoding.EncodeToString
	return enc([]byte(`{"alg":"none","typ":"JWT"}`)) + "." +
		enc([]byte(fmt.Sprintf(`{"sub":%q,"exp":%d}`, sub, time.Now().Add(time.Hour).Unix()))) + "."
}

// badTokens are credentials that must all be refused, with the cause the
// Error 421 text ends with.
func badTokens(t *testing.T) []struct{ name, token, cause string } {
	return []struct{ name, token, cause string }{
		{"garbage", "not-a-jwt", "token is malformed"},
		{"bad signature", signed(t, "HS256", jwtSecret+"!", "alice", nil), "signature is invalid"},
		{"wrong algorithm", signed(t, "HS384", jwtSecret, "alice", nil), "unexpected signing method: HS384"},
		{"alg none", unsignedToken("alice"), "unexpected signing method: none"},
		{"expired", signed(t, "HS256", jwtSecret, "alice", map[string]any{"exp": time.Now().Add(-time.Hour).Unix()}), "token is expired"},
		{"not yet valid", signed(t, "HS256", jwtSecret, "alice", map[string]any{"nbf": time.Now().Add(time.Hour).Unix()}), "token is not valid yet"},
		{"no identity", signed(t, "HS256", jwtSecret, "alice", map[string]any{"sub": nil}), "token has no sub claim"},
	}
}

// clientTLS trusts caFile ("": the system's roots) and presents the client
// certificate, when given.
func clientTLS(t *testing.T, caFile, certFile, keyFile string) *tls.Config {
	t.Helper()
	tc, err := tlsconf.NewClientConfig(tlsconf.ClientConfig{CAFile: caFile, CertFile: certFile, KeyFile: keyFile})
	if err != nil {
		t.Fatal(err)
	}
	return tc
}

// as returns ctx carrying token as the "authorization" metadata, as the
// official SDKs send it ("" sends none).
func as(ctx context.Context, token string) context.Context {
	if token == "" {
		return ctx
	}
	return metadata.AppendToOutgoingContext(ctx, "authorization", token)
}

// inBand is an error a response carried in-band (IsError/Error, Sent=false).
type inBand string

func (e inBand) Error() string { return string(e) }

// rpc is one RPC called with a client id and channel; its error is the
// status the call ended with or the in-band error it answered. A call that
// was let in but found nothing (a subscription with no events, a request
// nobody answers) returns nil.
type rpc struct {
	name string
	call func(ctx context.Context, c pb.KubemqClient, clientID, channel string) error
}

// quiet maps the outcomes of a call that was let in to nil: a deadline
// while waiting for messages (or the server ending the stream at that
// deadline, which it learnt from the client), a request timeout, an empty
// queue.
func quiet(err error) error {
	if err == nil || errors.Is(err, io.EOF) || status.Code(err) == codes.DeadlineExceeded || errors.Is(err, context.DeadlineExceeded) ||
		strings.Contains(err.Error(), "Error 301") || strings.Contains(err.Error(), "Error 138") {
		return nil
	}
	return err
}

// cmpErr is the first error that is not nil.
func cmpErr(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

var rpcs = []rpc{
	{"SendEvent", func(ctx context.Context, c pb.KubemqClient, cid, ch string) error {
		res, err := c.SendEvent(ctx, &pb.Event{ClientID: cid, Channel: ch, Body: []byte("x")})
		if err == nil && !res.Sent {
			return inBand(res.Error)
		}
		return err
	}},
	{"SendEventsStream", func(ctx context.Context, c pb.KubemqClient, cid, ch string) error {
		s, err := c.SendEventsStream(ctx)
		if err != nil {
			return err
		}
		if err := s.Send(&pb.Event{EventID: "e1", ClientID: cid, Channel: ch, Body: []byte("x"), Store: true}); err != nil {
			_, rerr := s.Recv()
			return cmpErr(rerr, err)
		}
		res, err := s.Recv()
		if err != nil {
			return err
		}
		if !res.Sent {
			return inBand(res.Error)
		}
		return nil
	}},
	{"SubscribeToEvents", func(ctx context.Context, c pb.KubemqClient, cid, ch string) error {
		ctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
		defer cancel()
		s, err := c.SubscribeToEvents(ctx, &pb.Subscribe{SubscribeTypeData: pb.Subscribe_Events, ClientID: cid, Channel: ch})
		if err != nil {
			return err
		}
		_, err = s.Recv()
		return quiet(err)
	}},
	{"SubscribeToRequests", func(ctx context.Context, c pb.KubemqClient, cid, ch string) error {
		ctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
		defer cancel()
		s, err := c.SubscribeToRequests(ctx, &pb.Subscribe{SubscribeTypeData: pb.Subscribe_Commands, ClientID: cid, Channel: ch})
		if err != nil {
			return err
		}
		_, err = s.Recv()
		return quiet(err)
	}},
	{"SendRequest", func(ctx context.Context, c pb.KubemqClient, cid, ch string) error {
		_, err := c.SendRequest(ctx, &pb.Request{RequestTypeData: pb.Request_Query, ClientID: cid, Channel: ch, Body: []byte("x"), Timeout: 200})
		return quiet(err)
	}},
	{"SendResponse", func(ctx context.Context, c pb.KubemqClient, cid, ch string) error {
		_, err := c.SendResponse(ctx, &pb.Response{ClientID: cid, RequestID: "r1", ReplyChannel: "_INBOX.nobody." + ch})
		return err
	}},
	{"SendQueueMessage", func(ctx context.Context, c pb.KubemqClient, cid, ch string) error {
		res, err := c.SendQueueMessage(ctx, &pb.QueueMessage{ClientID: cid, Channel: ch, Body: []byte("x")})
		if err == nil && res.IsError {
			return inBand(res.Error)
		}
		return err
	}},
	{"SendQueueMessagesBatch", func(ctx context.Context, c pb.KubemqClient, cid, ch string) error {
		res, err := c.SendQueueMessagesBatch(ctx, &pb.QueueMessagesBatchRequest{BatchID: "b1",
			Messages: []*pb.QueueMessage{{ClientID: cid, Channel: ch, Body: []byte("x")}}})
		if err == nil && res.Results[0].IsError {
			if !res.HaveErrors {
				return errors.New("HaveErrors not set")
			}
			return inBand(res.Results[0].Error)
		}
		return err
	}},
	{"ReceiveQueueMessages", func(ctx context.Context, c pb.KubemqClient, cid, ch string) error {
		res, err := c.ReceiveQueueMessages(ctx, &pb.ReceiveQueueMessagesRequest{ClientID: cid, Channel: ch, MaxNumberOfMessages: 1, WaitTimeSeconds: 1, IsPeak: true})
		if err == nil && res.IsError {
			return quiet(inBand(res.Error))
		}
		return err
	}},
	{"StreamQueueMessage", func(ctx context.Context, c pb.KubemqClient, cid, ch string) error {
		s, err := c.StreamQueueMessage(ctx)
		if err != nil {
			return err
		}
		if err := s.Send(&pb.StreamQueueMessagesRequest{RequestID: "s1", ClientID: cid, StreamRequestTypeData: pb.StreamRequestType_ReceiveMessage,
			Channel: ch, VisibilitySeconds: 1, WaitTimeSeconds: 1}); err != nil {
			_, rerr := s.Recv()
			return cmpErr(rerr, err)
		}
		res, err := s.Recv()
		if err != nil {
			return err
		}
		if res.IsError {
			return quiet(inBand(res.Error))
		}
		return nil
	}},
	{"AckAllQueueMessages", func(ctx context.Context, c pb.KubemqClient, cid, ch string) error {
		res, err := c.AckAllQueueMessages(ctx, &pb.AckAllQueueMessagesRequest{ClientID: cid, Channel: ch, WaitTimeSeconds: 1})
		if err == nil && res.IsError {
			return inBand(res.Error)
		}
		return err
	}},
	{"QueuesDownstream", func(ctx context.Context, c pb.KubemqClient, cid, ch string) error {
		s, err := c.QueuesDownstream(ctx)
		if err != nil {
			return err
		}
		if err := s.Send(&pb.QueuesDownstreamRequest{RequestID: "d1", ClientID: cid, RequestTypeData: pb.QueuesDownstreamRequestType_Get,
			Channel: ch, MaxItems: 1, WaitTimeout: 1000}); err != nil {
			_, rerr := s.Recv()
			return cmpErr(rerr, err)
		}
		res, err := s.Recv()
		if err != nil {
			return err
		}
		if res.IsError {
			return quiet(inBand(res.Error))
		}
		return nil
	}},
	{"QueuesUpstream", func(ctx context.Context, c pb.KubemqClient, cid, ch string) error {
		s, err := c.QueuesUpstream(ctx)
		if err != nil {
			return err
		}
		if err := s.Send(&pb.QueuesUpstreamRequest{RequestID: "u1", Messages: []*pb.QueueMessage{{ClientID: cid, Channel: ch, Body: []byte("x")}}}); err != nil {
			_, rerr := s.Recv()
			return cmpErr(rerr, err)
		}
		res, err := s.Recv()
		switch {
		case err != nil:
			return err
		case res.IsError:
			return inBand(res.Error)
		case res.Results[0].IsError:
			return inBand(res.Results[0].Error)
		}
		return nil
	}},
	{"QueuesInfo", func(ctx context.Context, c pb.KubemqClient, _, ch string) error {
		res, err := c.QueuesInfo(ctx, &pb.QueuesInfoRequest{RequestID: "i1", QueueName: ch})
		if err != nil {
			return err
		}
		for _, q := range res.Info.Queues {
			if q.Name == ch {
				return nil
			}
		}
		return inBand("not listed")
	}},
	{"Ping", func(ctx context.Context, c pb.KubemqClient, _, _ string) error {
		_, err := c.Ping(ctx, &pb.Empty{})
		return err
	}},
}

// outcome is what a call must end with: a status, an in-band error, or
// (zero) success.
type outcome struct {
	code   codes.Code // OK: in-band when text is set
	text   string     // exact text, or the prefix with prefix set
	prefix bool
}

func (o outcome) String() string {
	switch {
	case o.code == codes.OK && o.text == "":
		return "success"
	case o.code == codes.OK:
		return fmt.Sprintf("in-band %q", o.text)
	}
	return fmt.Sprintf("status %v %q", o.code, o.text)
}

func (o outcome) check(t *testing.T, what string, err error) {
	t.Helper()
	var ib inBand
	switch {
	case o.code == codes.OK && o.text == "":
		if err != nil {
			t.Errorf("%s: %v, want %v", what, err, o)
		}
	case o.code == codes.OK:
		if !errors.As(err, &ib) || !o.matches(string(ib)) {
			t.Errorf("%s: %v, want %v", what, err, o)
		}
	default:
		st, ok := status.FromError(err)
		if !ok || err == nil || st.Code() != o.code || !o.matches(st.Message()) {
			t.Errorf("%s: %v, want %v", what, err, o)
		}
	}
}

func (o outcome) matches(s string) bool {
	if o.prefix {
		return strings.HasPrefix(s, o.text)
	}
	return s == o.text
}

// deniedIn says, per RPC, how a refusal by the list (or of a declared
// client id) reaches the caller: a status for calls and subscriptions,
// in-band for stream and batch items, and a shorter listing for QueuesInfo.
var deniedIn = map[string]outcome{
	"SendEvent":              {code: codes.PermissionDenied, text: denied},
	"SendEventsStream":       {text: denied},
	"SubscribeToEvents":      {code: codes.PermissionDenied, text: denied},
	"SubscribeToRequests":    {code: codes.PermissionDenied, text: denied},
	"SendRequest":            {code: codes.PermissionDenied, text: denied},
	"SendResponse":           {code: codes.PermissionDenied, text: denied},
	"SendQueueMessage":       {code: codes.PermissionDenied, text: denied},
	"SendQueueMessagesBatch": {text: denied},
	"ReceiveQueueMessages":   {code: codes.PermissionDenied, text: denied},
	"StreamQueueMessage":     {text: denied},
	"AckAllQueueMessages":    {code: codes.PermissionDenied, text: denied},
	"QueuesDownstream":       {text: denied},
	"QueuesUpstream":         {text: denied},
	"QueuesInfo":             {text: "not listed"},
	"Ping":                   {},
}

// Every RPC over raw gRPC stubs: refused without a token and with each bad
// one (Ping aside), let in with a good one on a granted channel, refused on
// a channel no rule grants and when the request declares a client id the
// token does not allow.
func TestSecurityEveryRPC(t *testing.T) {
	e := newSecEnv(t, matrixACL)
	c := rawClient(t, e.srv)
	ctx := testCtx(t, 2*time.Minute)
	admin, alice := e.token(t, "admin"), e.token(t, "alice")
	for _, ch := range []string{"ok.q", "denied.q"} { // queues for QueuesInfo to list or hide
		if err := rpcs[6].call(as(ctx, admin), c, "admin", ch); err != nil {
			t.Fatalf("admin send to %s: %v", ch, err)
		}
	}
	unauthenticated := func(text string, prefix bool) outcome {
		return outcome{code: codes.Unauthenticated, text: text, prefix: prefix}
	}
	for _, r := range rpcs {
		t.Run(r.name, func(t *testing.T) {
			open := r.name == "Ping"
			want := func(o outcome) outcome {
				if open {
					return outcome{}
				}
				return o
			}
			want(unauthenticated(noToken, false)).check(t, "no token", r.call(ctx, c, "alice", "ok.q"))
			for _, bt := range badTokens(t) {
				want(unauthenticated(authFail+bt.cause, true)).check(t, bt.name, r.call(as(ctx, bt.token), c, "alice", "ok.q"))
			}
			outcome{}.check(t, "granted", r.call(as(ctx, alice), c, "alice", "ok.q"))
			notGranted := deniedIn[r.name]
			if r.name == "SendResponse" {
				notGranted = outcome{} // whoever received a request may answer it
			}
			notGranted.check(t, "channel not granted", r.call(as(ctx, alice), c, "alice", "denied.q"))
			if r.name != "QueuesInfo" { // it declares no client id
				deniedIn[r.name].check(t, "impersonation", r.call(as(ctx, alice), c, "bob", "ok.q"))
			}
		})
	}
	// Nothing secret reached the logs.
	logs := e.logs.String()
	for _, secret := range []string{jwtSecret, alice, admin, "not-a-jwt"} {
		if strings.Contains(logs, secret) {
			t.Errorf("the logs contain %q", secret)
		}
	}
	if !strings.Contains(logs, "access denied") || !strings.Contains(logs, "authentication failed") {
		t.Errorf("refusals are not logged:\n%s", logs)
	}
}

// restDo calls a REST route of e with the Authorization header auth ("":
// none) and returns the status and the envelope.
func (e *secEnv) restDo(t *testing.T, method, path, authz, body string) (int, envelope, string) {
	t.Helper()
	scheme, hc := "http", http.DefaultClient
	if e.certs != nil {
		scheme = "https"
		hc = &http.Client{Transport: &http.Transport{TLSClientConfig: clientTLS(t, e.certs.CAFile, e.certs.ClientCertFile, e.certs.ClientKeyFile)}}
	}
	req, err := http.NewRequest(method, scheme+"://"+e.srv.RESTAddr().String()+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if authz != "" {
		req.Header.Set("Authorization", authz)
	}
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var env envelope
	_ = json.Unmarshal(raw, &env)
	return resp.StatusCode, env, string(raw)
}

// wsDial opens a WebSocket route of e; on a refused handshake it returns
// the HTTP status and envelope instead.
func (e *secEnv) wsDial(t *testing.T, path, authz string) (*websocket.Conn, int, envelope) {
	t.Helper()
	d := websocket.Dialer{HandshakeTimeout: 5 * time.Second}
	scheme := "ws"
	if e.certs != nil {
		scheme, d.TLSClientConfig = "wss", clientTLS(t, e.certs.CAFile, e.certs.ClientCertFile, e.certs.ClientKeyFile)
	}
	h := http.Header{}
	if authz != "" {
		h.Set("Authorization", authz)
	}
	conn, resp, err := d.Dial(scheme+"://"+e.srv.RESTAddr().String()+path, h)
	if err != nil {
		if resp == nil {
			t.Fatalf("dial %s: %v", path, err)
		}
		raw, _ := io.ReadAll(resp.Body)
		var env envelope
		_ = json.Unmarshal(raw, &env)
		return nil, resp.StatusCode, env
	}
	t.Cleanup(func() { _ = conn.Close() })
	return conn, http.StatusSwitchingProtocols, envelope{}
}

// wsExchange sends one JSON frame and returns the error the answer frame
// carries ("Error" of a Result or of a stream queue response; "" if none).
func wsExchange(t *testing.T, conn *websocket.Conn, frame string) string {
	t.Helper()
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	if err := conn.WriteMessage(websocket.TextMessage, []byte(frame)); err != nil {
		t.Fatal(err)
	}
	_, data, err := conn.ReadMessage()
	if err != nil {
		t.Fatalf("no answer to %s: %v", frame, err)
	}
	var res struct{ Error string }
	if err := json.Unmarshal(data, &res); err != nil {
		t.Fatalf("answer %s: %v", data, err)
	}
	return res.Error
}

// restRoute is a REST route called with a client id and channel; its error
// is the refusal it answered (status and message, or in-band text), nil
// when it let the call in.
type restRoute struct {
	name string
	call func(t *testing.T, e *secEnv, authz, cid, ch string) (code int, msg string)
}

func jsonRoute(method, path, body string) func(t *testing.T, e *secEnv, authz, cid, ch string) (int, string) {
	return func(t *testing.T, e *secEnv, authz, cid, ch string) (int, string) {
		p, b := path, body
		if strings.Contains(p, "%s") {
			p = fmt.Sprintf(p, ch)
		}
		if b != "" {
			b = fmt.Sprintf(b, cid, ch)
		}
		code, env, raw := e.restDo(t, method, p, authz, b)
		if env.IsError {
			return code, env.Message
		}
		// In-band errors: of a queue answer, or of the first batch item.
		var data struct {
			IsError    bool
			Error      string
			HaveErrors bool
			Results    []struct{ Error string }
			Info       struct{ Queues []struct{ Name string } }
		}
		_ = json.Unmarshal(env.Data, &data)
		switch {
		case len(data.Results) > 0 && data.Results[0].Error != "":
			return code, "in-band " + data.Results[0].Error
		case data.IsError && !strings.Contains(data.Error, "Error 138"):
			return code, "in-band " + data.Error
		case path == "/queue/info?QueueName=%s" && !strings.Contains(raw, `"Name": "`+ch+`"`):
			return code, "not listed"
		}
		return code, ""
	}
}

func wsRoute(path, frame string) func(t *testing.T, e *secEnv, authz, cid, ch string) (int, string) {
	return func(t *testing.T, e *secEnv, authz, cid, ch string) (int, string) {
		p := path
		if strings.Contains(p, "%s") {
			p = fmt.Sprintf(path, cid, ch)
		}
		conn, code, env := e.wsDial(t, p, authz)
		if conn == nil {
			return code, env.Message
		}
		if frame == "" { // a subscription: it stays open
			return code, ""
		}
		if msg := wsExchange(t, conn, fmt.Sprintf(frame, cid, ch)); msg != "" && !strings.Contains(msg, "Error 138") {
			return code, "in-band " + msg
		}
		return code, ""
	}
}

var restRoutes = []restRoute{
	{"GET /ping", jsonRoute("GET", "/ping", "")},
	{"POST /send/event", jsonRoute("POST", "/send/event", `{"ClientID":%q,"Channel":%q,"Body":"eA=="}`)},
	{"POST /send/event store", jsonRoute("POST", "/send/event", `{"ClientID":%q,"Channel":%q,"Body":"eA==","Store":true}`)},
	{"POST /send/request", jsonRoute("POST", "/send/request", `{"RequestTypeData":1,"ClientID":%q,"Channel":%q,"Body":"eA==","Timeout":200}`)},
	{"POST /send/response", jsonRoute("POST", "/send/response", `{"ClientID":%q,"RequestID":"r1","ReplyChannel":"_INBOX.nobody.%s"}`)},
	{"POST /queue/send", jsonRoute("POST", "/queue/send", `{"ClientID":%q,"Channel":%q,"Body":"eA=="}`)},
	{"POST /queue/send_batch", jsonRoute("POST", "/queue/send_batch", `{"BatchID":"b","Messages":[{"ClientID":%q,"Channel":%q,"Body":"eA=="}]}`)},
	{"POST /queue/receive", jsonRoute("POST", "/queue/receive", `{"ClientID":%q,"Channel":%q,"MaxNumberOfMessages":1,"WaitTimeSeconds":1,"IsPeak":true}`)},
	{"POST /queue/ack_all", jsonRoute("POST", "/queue/ack_all", `{"ClientID":%q,"Channel":%q,"WaitTimeSeconds":1}`)},
	{"GET /queue/info", jsonRoute("GET", "/queue/info?QueueName=%s", "")},
	{"WS /subscribe/events", wsRoute("/subscribe/events?&client_id=%s&channel=%s&subscribe_type=events", "")},
	{"WS /subscribe/events store", wsRoute("/subscribe/events?&client_id=%s&channel=%s&subscribe_type=events_store&events_store_type_data=2", "")},
	{"WS /subscribe/requests", wsRoute("/subscribe/requests?&client_id=%s&channel=%s&subscribe_type=queries", "")},
	{"WS /send/stream", wsRoute("/send/stream", `{"EventID":"e1","ClientID":%q,"Channel":%q,"Body":"eA=="}`)},
	{"WS /queue/stream", wsRoute("/queue/stream", `{"RequestID":"r1","ClientID":%q,"StreamRequestTypeData":1,"Channel":%q,"VisibilitySeconds":1,"WaitTimeSeconds":1}`)},
}

// restDenied says how each route answers a refusal: 403 for calls and
// subscription handshakes, in-band for batch items and stream frames.
var restDenied = map[string]struct {
	code int
	msg  string
}{
	"POST /send/event":           {403, denied},
	"POST /send/event store":     {403, denied},
	"POST /send/request":         {403, denied},
	"POST /send/response":        {403, denied},
	"POST /queue/send":           {403, denied},
	"POST /queue/send_batch":     {200, "in-band " + denied},
	"POST /queue/receive":        {403, denied},
	"POST /queue/ack_all":        {403, denied},
	"GET /queue/info":            {200, "not listed"},
	"WS /subscribe/events":       {403, denied},
	"WS /subscribe/events store": {403, denied},
	"WS /subscribe/requests":     {403, denied},
	"WS /send/stream":            {101, "in-band " + denied},
	"WS /queue/stream":           {101, "in-band " + denied},
}

// Every REST route and WebSocket with Go's HTTP client and gorilla's
// WebSocket dialer: 401 without a token, with a malformed header and with
// each bad token; let in with a good one; refused on a channel no rule
// grants and for a client id the token does not allow.
func TestSecurityEveryRESTRoute(t *testing.T) {
	e := newSecEnv(t, matrixACL)
	admin, alice := e.token(t, "admin"), e.token(t, "alice")
	for _, ch := range []string{"ok.q", "denied.q"} {
		if code, env, raw := e.restDo(t, "POST", "/queue/send", "Bearer "+admin, `{"ClientID":"admin","Channel":"`+ch+`","Body":"eA=="}`); code != 200 || env.IsError {
			t.Fatalf("admin send: %d %s", code, raw)
		}
	}
	ok := func(code int) bool { return code == 200 || code == 101 || (code == 400) }
	for _, r := range restRoutes {
		t.Run(r.name, func(t *testing.T) {
			open := r.name == "GET /ping"
			refused := func(what string, code int, msg string, wantMsg string, prefix bool) {
				t.Helper()
				match := msg == wantMsg || (prefix && strings.HasPrefix(msg, wantMsg))
				switch {
				case open && code != 200:
					t.Errorf("%s: %d %q, want 200 (open)", what, code, msg)
				case !open && (code != 401 || !match):
					t.Errorf("%s: %d %q, want 401 %q", what, code, msg, wantMsg)
				}
			}
			code, msg := r.call(t, e, "", "alice", "ok.q")
			refused("no token", code, msg, badHeader, false)
			for _, h := range []string{"Token " + alice, "bearer " + alice, "Bearer", "Bearer  " + alice, alice} {
				code, msg := r.call(t, e, h, "alice", "ok.q")
				refused(fmt.Sprintf("header %.12q…", h), code, msg, badHeader, false)
			}
			for _, bt := range badTokens(t) {
				code, msg := r.call(t, e, "Bearer "+bt.token, "alice", "ok.q")
				refused(bt.name, code, msg, authFail+bt.cause, true)
			}
			if code, msg := r.call(t, e, "Bearer "+alice, "alice", "ok.q"); !ok(code) || (msg != "" && !strings.Contains(msg, "Error 301")) {
				t.Errorf("granted: %d %q", code, msg)
			}
			if open {
				return
			}
			want := restDenied[r.name]
			if r.name != "POST /send/response" { // whoever received a request may answer it
				if code, msg := r.call(t, e, "Bearer "+alice, "alice", "denied.q"); code != want.code || msg != want.msg {
					t.Errorf("channel not granted: %d %q, want %d %q", code, msg, want.code, want.msg)
				}
			}
			if r.name != "GET /queue/info" {
				if code, msg := r.call(t, e, "Bearer "+alice, "bob", "ok.q"); code != want.code || msg != want.msg {
					t.Errorf("impersonation: %d %q, want %d %q", code, msg, want.code, want.msg)
				}
			}
		})
	}
	// Browsers cannot set headers on a WebSocket: the token may be a query
	// parameter there, and only there.
	if conn, code, env := e.wsDial(t, "/subscribe/events?&client_id=alice&channel=ok.q&subscribe_type=events&token="+alice, ""); conn == nil {
		t.Errorf("token as a query parameter: %d %+v", code, env)
	}
	if code, env, _ := e.restDo(t, "POST", "/queue/send?token="+alice, "", `{"ClientID":"alice","Channel":"ok.q","Body":"eA=="}`); code != 401 || env.Message != badHeader {
		t.Errorf("token as a query parameter of a plain route: %d %+v", code, env)
	}
}

// sdkOp is one call of the official Go SDK on a channel; its error is what
// the SDK reported (returned, on the error channel, or in-band in a
// result), nil when the call was let in.
type sdkOp struct {
	name     string
	grpcOnly bool
	run      func(ctx context.Context, c *kubemq.Client, ch string) error
}

// subscribed waits briefly for an error of a subscription.
func subscribed(err error, errCh chan error) error {
	if err != nil {
		return err
	}
	select {
	case err := <-errCh:
		return err
	case <-time.After(time.Second):
		return nil
	}
}

var sdkOps = []sdkOp{
	{"SendEvent", false, func(ctx context.Context, c *kubemq.Client, ch string) error {
		return c.E().SetChannel(ch).SetBody([]byte("x")).Send(ctx)
	}},
	{"SendEventStore", false, func(ctx context.Context, c *kubemq.Client, ch string) error {
		res, err := c.ES().SetChannel(ch).SetBody([]byte("x")).Send(ctx)
		if err == nil && res.Err != nil {
			return res.Err
		}
		return err
	}},
	{"SendCommand", false, func(ctx context.Context, c *kubemq.Client, ch string) error {
		_, err := c.C().SetChannel(ch).SetBody([]byte("x")).SetTimeout(200 * time.Millisecond).Send(ctx)
		return quietSDK(err)
	}},
	{"SendQuery", false, func(ctx context.Context, c *kubemq.Client, ch string) error {
		_, err := c.Q().SetChannel(ch).SetBody([]byte("x")).SetTimeout(200 * time.Millisecond).Send(ctx)
		return quietSDK(err)
	}},
	{"SubscribeToEvents", false, func(ctx context.Context, c *kubemq.Client, ch string) error {
		errCh := make(chan error, 4)
		_, err := c.SubscribeToEvents(ctx, ch, "", errCh)
		return subscribed(err, errCh)
	}},
	{"SubscribeToEventsStore", false, func(ctx context.Context, c *kubemq.Client, ch string) error {
		errCh := make(chan error, 4)
		_, err := c.SubscribeToEventsStore(ctx, ch, "", errCh, kubemq.StartFromFirstEvent())
		return subscribed(err, errCh)
	}},
	{"SubscribeToCommands", false, func(ctx context.Context, c *kubemq.Client, ch string) error {
		errCh := make(chan error, 4)
		_, err := c.SubscribeToCommands(ctx, ch, "", errCh)
		return subscribed(err, errCh)
	}},
	{"SubscribeToQueries", false, func(ctx context.Context, c *kubemq.Client, ch string) error {
		errCh := make(chan error, 4)
		_, err := c.SubscribeToQueries(ctx, ch, "", errCh)
		return subscribed(err, errCh)
	}},
	{"SendQueueMessage", false, func(ctx context.Context, c *kubemq.Client, ch string) error {
		res, err := c.QM().SetChannel(ch).SetBody([]byte("x")).Send(ctx)
		if err == nil && res.IsError {
			return errors.New(res.Error)
		}
		return err
	}},
	{"SendQueueMessages", false, func(ctx context.Context, c *kubemq.Client, ch string) error {
		res, err := c.SendQueueMessages(ctx, []*kubemq.QueueMessage{c.QM().SetChannel(ch).SetBody([]byte("x"))})
		if err == nil && res[0].IsError {
			return errors.New(res[0].Error)
		}
		return err
	}},
	{"ReceiveQueueMessages", false, func(ctx context.Context, c *kubemq.Client, ch string) error {
		res, err := c.RQM().SetChannel(ch).SetMaxNumberOfMessages(1).SetWaitTimeSeconds(1).SetIsPeak(true).Send(ctx)
		if err == nil && res.IsError {
			return quietSDK(errors.New(res.Error))
		}
		return err
	}},
	{"AckAllQueueMessages", false, func(ctx context.Context, c *kubemq.Client, ch string) error {
		res, err := c.AQM().SetChannel(ch).SetWaitTimeSeconds(1).Send(ctx)
		if err == nil && res.IsError {
			return errors.New(res.Error)
		}
		return err
	}},
	{"StreamQueueMessage", false, func(ctx context.Context, c *kubemq.Client, ch string) error {
		_, err := c.NewStreamQueueMessage().SetChannel(ch).Next(ctx, 1, 1)
		return quietSDK(err)
	}},
	{"QueuesInfo", false, func(ctx context.Context, c *kubemq.Client, ch string) error {
		info, err := c.QueuesInfo(ctx, ch)
		if err != nil {
			return err
		}
		for _, q := range info.Queues {
			if q.Name == ch {
				return nil
			}
		}
		return errors.New("not listed")
	}},
	{"StreamEvents", true, func(ctx context.Context, c *kubemq.Client, ch string) error {
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		in, errCh := make(chan *kubemq.Event, 1), make(chan error, 4)
		go c.StreamEvents(ctx, in, errCh)
		in <- c.E().SetChannel(ch).SetBody([]byte("x"))
		return subscribed(nil, errCh)
	}},
}

func quietSDK(err error) error {
	if err != nil && (strings.Contains(err.Error(), "Error 301") || strings.Contains(err.Error(), "Error 138") ||
		strings.Contains(err.Error(), "timeout")) {
		return nil
	}
	return err
}

// The official Go SDK v1.9.0 over gRPC and over REST, with WithAuthToken:
// each call it can express is refused without a token, let in with one on a
// granted channel, and refused on another channel and as another client.
// kubemq-go's queues_stream (QueuesUpstream, QueuesDownstream) too.
func TestSecurityOfficialSDK(t *testing.T) {
	e := newSecEnv(t, matrixACL)
	admin := newSDKClient(t, e, "grpc", "admin", e.token(t, "admin"))
	ctx := testCtx(t, 3*time.Minute)
	for _, ch := range []string{"ok.q", "denied.q"} {
		if _, err := admin.QM().SetChannel(ch).SetBody([]byte("x")).Send(ctx); err != nil {
			t.Fatal(err)
		}
	}
	for _, tr := range []string{"grpc", "rest"} {
		t.Run(tr, func(t *testing.T) {
			anon := newSDKClient(t, e, tr, "alice", "")
			alice := newSDKClient(t, e, tr, "alice", e.token(t, "alice"))
			bob := newSDKClient(t, e, tr, "bob", e.token(t, "alice")) // alice's token, declaring bob
			missing := noToken
			if tr == "rest" {
				missing = badHeader
			}
			for _, op := range sdkOps {
				if op.grpcOnly && tr == "rest" {
					continue
				}
				t.Run(op.name, func(t *testing.T) {
					wantIn := func(what string, err error, want string) {
						t.Helper()
						if err == nil || !strings.Contains(err.Error(), want) {
							t.Errorf("%s: %v, want an error containing %q", what, err, want)
						}
					}
					wantIn("no token", op.run(ctx, anon, "ok.q"), missing)
					if err := op.run(ctx, alice, "ok.q"); err != nil {
						t.Errorf("granted: %v", err)
					}
					want := denied
					if op.name == "QueuesInfo" {
						want = "not listed"
					}
					wantIn("channel not granted", op.run(ctx, alice, "denied.q"), want)
					if op.name != "QueuesInfo" {
						wantIn("impersonation", op.run(ctx, bob, "ok.q"), denied)
					}
				})
			}
		})
	}
	t.Run("queues_stream", func(t *testing.T) {
		qc := func(clientID, token string) *queues_stream.QueuesStreamClient {
			opts := []queues_stream.Option{queues_stream.WithAddress(e.srv.Host, e.srv.Port), queues_stream.WithClientId(clientID)}
			if token != "" {
				opts = append(opts, queues_stream.WithAuthToken(token))
			}
			c, err := queues_stream.NewQueuesStreamClient(ctx, opts...)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = c.Close() })
			return c
		}
		send := func(c *queues_stream.QueuesStreamClient, ch string) error {
			res, err := c.Send(ctx, queues_stream.NewQueueMessage().SetChannel(ch).SetBody([]byte("x")))
			if err == nil && res.Results[0].IsError {
				return errors.New(res.Results[0].Error)
			}
			return err
		}
		poll := func(c *queues_stream.QueuesStreamClient, ch string) error {
			_, err := c.Poll(ctx, queues_stream.NewPollRequest().SetChannel(ch).SetMaxItems(1).SetWaitTimeout(1000).SetAutoAck(true))
			return quietSDK(err)
		}
		anon, alice, bob := qc("alice", ""), qc("alice", e.token(t, "alice")), qc("bob", e.token(t, "alice"))
		for _, op := range []struct {
			name string
			fn   func(*queues_stream.QueuesStreamClient, string) error
		}{{"upstream", send}, {"downstream", poll}} {
			// This SDK reports a stream that ended as "connection lost",
			// without the status (TestSecurityEveryRPC checks it).
			if err := op.fn(anon, "ok.q"); err == nil {
				t.Errorf("%s without a token: let in", op.name)
			}
			if err := op.fn(alice, "ok.q"); err != nil {
				t.Errorf("%s granted: %v", op.name, err)
			}
			for what, err := range map[string]error{"channel not granted": op.fn(alice, "denied.q"), "impersonation": op.fn(bob, "ok.q")} {
				if err == nil || !strings.Contains(err.Error(), denied) {
					t.Errorf("%s, %s: %v", op.name, what, err)
				}
			}
		}
	})
}

// newSDKClient connects the official SDK to e over transport tr as
// clientID, with token ("" for none).
func newSDKClient(t *testing.T, e *secEnv, tr, clientID, token string) *kubemq.Client {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	opts := []kubemq.Option{kubemq.WithClientId(clientID)}
	if tr == "rest" {
		opts = append(opts, kubemq.WithTransportType(kubemq.TransportTypeRest), kubemq.WithUri("http://"+e.srv.RESTAddr().String()))
	} else {
		opts = append(opts, kubemq.WithTransportType(kubemq.TransportTypeGRPC), kubemq.WithAddress(e.srv.Host, e.srv.Port))
	}
	if token != "" {
		opts = append(opts, kubemq.WithAuthToken(token))
	}
	c, err := kubemq.NewClient(ctx, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// The list's semantics through the calls: read-only, write-only, a channel
// no rule names, and wildcards in rules and in subscriptions.
func TestSecurityACLRules(t *testing.T) {
	e := newSecEnv(t, `rules:
  - {clients: reader, resources: [events, queues], channels: "feed.>", actions: read}
  - {clients: writer, resources: [events, queues], channels: "feed.>", actions: write}
  - {clients: "team-*", resources: events, channels: "feed.*", actions: [read, write]}
`)
	c := rawClient(t, e.srv)
	ctx := testCtx(t, time.Minute)
	send, subscribe := rpcs[0], rpcs[2]
	sendQ, receiveQ := rpcs[6], rpcs[8]
	tests := []struct {
		name      string
		who       string
		call      rpc
		channel   string
		wantAllow bool
	}{
		{"read-only subscribes", "reader", subscribe, "feed.a", true},
		{"read-only receives", "reader", receiveQ, "feed.a", true},
		{"read-only cannot send", "reader", send, "feed.a", false},
		{"read-only cannot send to a queue", "reader", sendQ, "feed.a", false},
		{"write-only sends", "writer", send, "feed.a", true},
		{"write-only sends to a queue", "writer", sendQ, "feed.a", true},
		{"write-only cannot subscribe", "writer", subscribe, "feed.a", false},
		{"write-only cannot receive", "writer", receiveQ, "feed.a", false},
		{"wrong channel", "reader", subscribe, "other.a", false},
		{"the prefix itself is not under >", "reader", subscribe, "feed", false},
		{"> covers a subscription's *", "reader", subscribe, "feed.*", true},
		{"> covers a subscription's >", "reader", subscribe, "feed.>", true},
		{"client pattern and * rule", "team-blue", send, "feed.a", true},
		{"* is one token", "team-blue", send, "feed.a.b", false},
		{"a * rule does not cover a > subscription", "team-blue", subscribe, "feed.>", false},
		{"a * rule covers a * subscription", "team-blue", subscribe, "feed.*", true},
		{"client pattern does not match", "teams", send, "feed.a", false},
		{"resource not granted", "team-blue", sendQ, "feed.a", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call.call(as(ctx, e.token(t, tt.who)), c, tt.who, tt.channel)
			if tt.wantAllow {
				outcome{}.check(t, tt.who+" on "+tt.channel, err)
			} else {
				deniedIn[tt.call.name].check(t, tt.who+" on "+tt.channel, err)
			}
		})
	}
}

// With authentication off and a list on, rules match the client id each
// request declares (the reference's behaviour): any caller declaring
// "writer" may write, nobody else. Nothing binds the id to the caller.
func TestSecurityACLWithoutAuthentication(t *testing.T) {
	dir := t.TempDir()
	acl := writeFile(t, dir, "acl.json", `[{"Events":true,"Queues":true,"ClientID":"^writer$","Channel":"^decl\\..*$","Read":false,"Write":true},
	 {"Events":true,"Queues":true,"ClientID":"^reader$","Channel":"^decl\\..*$","Read":true,"Write":false}]`)
	srv := heraldtest.NewServer(t, server.Options{Security: server.SecurityOptions{Auth: server.AuthOptions{ACLFile: acl}}})
	c := rawClient(t, srv)
	ctx := testCtx(t, time.Minute)
	outcome{}.check(t, "writer sends", rpcs[0].call(ctx, c, "writer", "decl.a"))
	outcome{}.check(t, "reader subscribes", rpcs[2].call(ctx, c, "reader", "decl.a"))
	outcome{}.check(t, "reader receives", rpcs[8].call(ctx, c, "reader", "decl.a"))
	deniedIn["SendEvent"].check(t, "reader sends", rpcs[0].call(ctx, c, "reader", "decl.a"))
	deniedIn["SendEvent"].check(t, "anyone else sends", rpcs[0].call(ctx, c, "someone", "decl.a"))
	deniedIn["SendQueueMessage"].check(t, "writer on another channel", rpcs[6].call(ctx, c, "writer", "other.a"))
	outcome{}.check(t, "no token needed", rpcs[6].call(ctx, c, "writer", "decl.q"))
	// Through the official SDK too: the declared client id is its option.
	w := newSDKClient(t, &secEnv{srv: srv}, "grpc", "writer", "")
	r := newSDKClient(t, &secEnv{srv: srv}, "rest", "reader", "")
	if err := w.E().SetChannel("decl.sdk").SetBody([]byte("x")).Send(ctx); err != nil {
		t.Errorf("SDK writer: %v", err)
	}
	if err := r.E().SetChannel("decl.sdk").SetBody([]byte("x")).Send(ctx); err == nil || !strings.Contains(err.Error(), denied) {
		t.Errorf("SDK reader sends over REST: %v", err)
	}
}

// Each message of a stream and each item of a batch is checked on its own:
// one refused item does not stop the others, nor the stream.
func TestSecurityStreamsCheckEveryMessage(t *testing.T) {
	e := newSecEnv(t, matrixACL)
	c := rawClient(t, e.srv)
	ctx := as(testCtx(t, time.Minute), e.token(t, "alice"))

	t.Run("SendEventsStream", func(t *testing.T) {
		s, err := c.SendEventsStream(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for i, ch := range []string{"ok.s", "denied.s", "ok.s"} {
			if err := s.Send(&pb.Event{EventID: fmt.Sprint(i), ClientID: "alice", Channel: ch, Body: []byte("x"), Store: true}); err != nil {
				t.Fatal(err)
			}
		}
		for i, want := range []string{"", denied, ""} {
			res, err := s.Recv()
			if err != nil {
				t.Fatal(err)
			}
			if res.EventID != fmt.Sprint(i) || res.Error != want || res.Sent != (want == "") {
				t.Errorf("result %d: %+v, want error %q", i, res, want)
			}
		}
	})
	t.Run("QueuesUpstream", func(t *testing.T) {
		s, err := c.QueuesUpstream(ctx)
		if err != nil {
			t.Fatal(err)
		}
		msgs := []*pb.QueueMessage{
			{ClientID: "alice", Channel: "ok.u", Body: []byte("1")},
			{ClientID: "alice", Channel: "denied.u", Body: []byte("2")},
			{ClientID: "bob", Channel: "ok.u", Body: []byte("3")},
			{ClientID: "alice", Channel: "ok.u", Body: []byte("4"), Policy: &pb.QueueMessagePolicy{MaxReceiveCount: 1, MaxReceiveQueue: "denied.dead"}},
			{ClientID: "alice", Channel: "ok.u", Body: []byte("5"), Policy: &pb.QueueMessagePolicy{MaxReceiveCount: 1, MaxReceiveQueue: "ok.dead"}},
		}
		if err := s.Send(&pb.QueuesUpstreamRequest{RequestID: "u", Messages: msgs}); err != nil {
			t.Fatal(err)
		}
		res, err := s.Recv()
		if err != nil {
			t.Fatal(err)
		}
		for i, want := range []string{"", denied, denied, denied, ""} {
			if r := res.Results[i]; r.Error != want || r.IsError != (want != "") || r.MessageID == "" {
				t.Errorf("item %d: %+v, want error %q", i, r, want)
			}
		}
		// The stream goes on.
		if err := s.Send(&pb.QueuesUpstreamRequest{RequestID: "u2", Messages: msgs[:1]}); err != nil {
			t.Fatal(err)
		}
		if res, err := s.Recv(); err != nil || res.Results[0].IsError {
			t.Errorf("after refusals: %+v %v", res, err)
		}
	})
	t.Run("SendQueueMessagesBatch", func(t *testing.T) {
		res, err := c.SendQueueMessagesBatch(ctx, &pb.QueueMessagesBatchRequest{Messages: []*pb.QueueMessage{
			{ClientID: "alice", Channel: "ok.b", Body: []byte("1")},
			{ClientID: "alice", Channel: "denied.b", Body: []byte("2")},
		}})
		if err != nil || res.Results[0].IsError || res.Results[1].Error != denied || !res.HaveErrors {
			t.Fatalf("batch: %+v %v", res, err)
		}
	})
	t.Run("StreamQueueMessage resend and send-modified", func(t *testing.T) {
		for _, tt := range []struct {
			name string
			req  *pb.StreamQueueMessagesRequest
			want string
		}{
			{"resend to a channel not granted", &pb.StreamQueueMessagesRequest{StreamRequestTypeData: pb.StreamRequestType_ResendMessage, Channel: "denied.r"}, denied},
			{"send-modified to a channel not granted", &pb.StreamQueueMessagesRequest{StreamRequestTypeData: pb.StreamRequestType_SendModifiedMessage,
				ModifiedMessage: &pb.QueueMessage{ClientID: "alice", Channel: "denied.r", Body: []byte("m")}}, denied},
			{"send-modified as another client", &pb.StreamQueueMessagesRequest{StreamRequestTypeData: pb.StreamRequestType_SendModifiedMessage,
				ModifiedMessage: &pb.QueueMessage{ClientID: "bob", Channel: "ok.r", Body: []byte("m")}}, denied},
			{"resend to a granted channel", &pb.StreamQueueMessagesRequest{StreamRequestTypeData: pb.StreamRequestType_ResendMessage, Channel: "ok.r2"}, ""},
		} {
			t.Run(tt.name, func(t *testing.T) {
				if _, err := c.SendQueueMessage(ctx, &pb.QueueMessage{ClientID: "alice", Channel: "ok.r", Body: []byte("x")}); err != nil {
					t.Fatal(err)
				}
				s, err := c.StreamQueueMessage(ctx)
				if err != nil {
					t.Fatal(err)
				}
				defer s.CloseSend()
				if err := s.Send(&pb.StreamQueueMessagesRequest{RequestID: "1", ClientID: "alice", StreamRequestTypeData: pb.StreamRequestType_ReceiveMessage,
					Channel: "ok.r", VisibilitySeconds: 5, WaitTimeSeconds: 2}); err != nil {
					t.Fatal(err)
				}
				if res, err := s.Recv(); err != nil || res.IsError {
					t.Fatalf("receive: %+v %v", res, err)
				}
				tt.req.RequestID, tt.req.ClientID = "2", "alice"
				if err := s.Send(tt.req); err != nil {
					t.Fatal(err)
				}
				res, err := s.Recv()
				if err != nil || res.Error != tt.want {
					t.Fatalf("%+v %v, want error %q", res, err, tt.want)
				}
				if tt.want != "" {
					// Refused, the message is still held: the transaction goes on.
					if err := s.Send(&pb.StreamQueueMessagesRequest{RequestID: "3", ClientID: "alice", StreamRequestTypeData: pb.StreamRequestType_AckMessage,
						RefSequence: 0}); err != nil {
						t.Fatal(err)
					}
					if res, err := s.Recv(); err != nil || res.IsError && res.Error == denied {
						t.Fatalf("ack after a refusal: %+v %v", res, err)
					}
				}
			})
		}
	})
	t.Run("QueuesDownstream requeue", func(t *testing.T) {
		if _, err := c.SendQueueMessage(ctx, &pb.QueueMessage{ClientID: "alice", Channel: "ok.d", Body: []byte("x")}); err != nil {
			t.Fatal(err)
		}
		s, err := c.QueuesDownstream(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Send(&pb.QueuesDownstreamRequest{RequestID: "g", ClientID: "alice", RequestTypeData: pb.QueuesDownstreamRequestType_Get,
			Channel: "ok.d", MaxItems: 1, WaitTimeout: 2000}); err != nil {
			t.Fatal(err)
		}
		got, err := s.Recv()
		if err != nil || got.IsError || len(got.Messages) != 1 {
			t.Fatalf("get: %+v %v", got, err)
		}
		for _, tt := range []struct{ what, clientID, channel, want string }{
			{"to a channel not granted", "", "denied.d", denied},
			{"as another client", "bob", "ok.d2", denied},
		} {
			if err := s.Send(&pb.QueuesDownstreamRequest{RequestID: "rq", ClientID: tt.clientID, RequestTypeData: pb.QueuesDownstreamRequestType_ReQueueAll,
				RefTransactionId: got.TransactionId, ReQueueChannel: tt.channel}); err != nil {
				t.Fatal(err)
			}
			res, err := s.Recv()
			if err != nil || res.Error != tt.want || res.RefRequestId != "rq" {
				t.Errorf("requeue %s: %+v %v", tt.what, res, err)
			}
		}
		// Granted, it is not answered; the message is then in ok.d2.
		if err := s.Send(&pb.QueuesDownstreamRequest{RequestID: "rq", RequestTypeData: pb.QueuesDownstreamRequestType_ReQueueAll,
			RefTransactionId: got.TransactionId, ReQueueChannel: "ok.d2"}); err != nil {
			t.Fatal(err)
		}
		eventually(t, 5*time.Second, func() error {
			res, err := c.ReceiveQueueMessages(ctx, &pb.ReceiveQueueMessagesRequest{ClientID: "alice", Channel: "ok.d2", MaxNumberOfMessages: 1, WaitTimeSeconds: 1, IsPeak: true})
			if err != nil || len(res.Messages) != 1 {
				return fmt.Errorf("ok.d2: %+v %w", res, err)
			}
			return nil
		})
	})
}

const liveACL = `rules:
  - {clients: [alice, carol], resources: "*", channels: "live.>", actions: [read, write]}
  - {clients: admin, resources: "*", channels: ">", actions: [read, write]}
`

const revokedACL = `rules:
  - {clients: admin, resources: "*", channels: ">", actions: [read, write]}
`

// A live subscription ends, with the refusal, once the list stops granting
// it (the grant was there when it began), once its static token is removed
// from the token file, and at the first message after its JWT expired.
func TestSecurityReloadEndsLiveSubscriptions(t *testing.T) {
	const carol = "carol-token-0123456789abcdef"
	e := newSecEnv(t, liveACL, func(t *testing.T, e *secEnv, o *server.SecurityOptions) {
		o.Auth.TokenFile = writeFile(t, e.dir, "tokens", carol+" carol\n")
	})
	c := rawClient(t, e.srv)
	ctx := testCtx(t, time.Minute)
	admin := e.token(t, "admin")
	publish := func(ch string) {
		t.Helper()
		if _, err := c.SendEvent(as(ctx, admin), &pb.Event{ClientID: "admin", Channel: ch, Body: []byte("x")}); err != nil {
			t.Fatal(err)
		}
		if _, err := c.SendEvent(as(ctx, admin), &pb.Event{ClientID: "admin", Channel: ch, Body: []byte("x"), Store: true}); err != nil {
			t.Fatal(err)
		}
	}
	type sub struct {
		name string
		recv func() error
	}
	// subscribe opens an events and an events-store subscription and waits
	// for a first event on each.
	subscribe := func(token, clientID, ch string) []sub {
		t.Helper()
		var subs []sub
		for _, typ := range []pb.Subscribe_SubscribeType{pb.Subscribe_Events, pb.Subscribe_EventsStore} {
			in := &pb.Subscribe{SubscribeTypeData: typ, ClientID: clientID, Channel: ch}
			if typ == pb.Subscribe_EventsStore {
				in.EventsStoreTypeData = pb.Subscribe_StartNewOnly
			}
			s, err := c.SubscribeToEvents(as(ctx, token), in)
			if err != nil {
				t.Fatal(err)
			}
			subs = append(subs, sub{typ.String(), func() error { _, err := s.Recv(); return err }})
		}
		first := make(chan error, len(subs))
		for _, s := range subs {
			go func() { first <- s.recv() }()
		}
		for range subs {
			eventually(t, 5*time.Second, func() error {
				select {
				case err := <-first:
					if err != nil {
						t.Fatalf("first event: %v", err)
					}
					return nil
				default:
					publish(ch)
					time.Sleep(50 * time.Millisecond)
					return errors.New("no event yet")
				}
			})
		}
		return subs
	}
	// ends waits for each subscription to end with want; events published
	// meanwhile must not reach it.
	ends := func(subs []sub, ch string, want outcome) {
		t.Helper()
		for _, s := range subs {
			done := make(chan error, 1)
			go func() {
				for {
					if err := s.recv(); err != nil {
						done <- err
						return
					}
				}
			}()
			select {
			case err := <-done:
				want.check(t, s.name, err)
			case <-time.After(5 * time.Second):
				t.Fatalf("%s: still open", s.name)
			}
		}
	}

	t.Run("grant revoked", func(t *testing.T) {
		subs := subscribe(e.token(t, "alice"), "alice", "live.a")
		writeFile(t, e.dir, "acl.yaml", revokedACL)
		ends(subs, "live.a", outcome{code: codes.PermissionDenied, text: denied})
		outcome{code: codes.PermissionDenied, text: denied}.check(t, "subscribing again",
			rpcs[2].call(as(ctx, e.token(t, "alice")), c, "alice", "live.a"))
		writeFile(t, e.dir, "acl.yaml", liveACL)
	})
	t.Run("static token removed", func(t *testing.T) {
		eventually(t, 5*time.Second, func() error { return rpcs[2].call(as(ctx, carol), c, "carol", "live.b") })
		subs := subscribe(carol, "carol", "live.b")
		writeFile(t, e.dir, "tokens", "# nobody\n")
		// Not a listed token any more, it is verified as a JWT, which it is not.
		ends(subs, "live.b", outcome{code: codes.Unauthenticated, text: authFail + "token is malformed", prefix: true})
	})
	t.Run("JWT expired", func(t *testing.T) {
		// Expired, but within the 30 s of clock skew allowed: valid for 3 s more.
		exp := time.Now().Add(-auth.Leeway + 3*time.Second)
		tok := signed(t, "HS256", jwtSecret, "alice", map[string]any{"exp": exp.Unix(), "iat": exp.Add(-time.Hour).Unix()})
		subs := subscribe(tok, "alice", "live.c")
		time.Sleep(time.Until(exp.Add(auth.Leeway + time.Second)))
		publish("live.c") // the next event finds the token expired
		ends(subs, "live.c", outcome{code: codes.Unauthenticated, text: authFail + "token is expired", prefix: true})
	})
	t.Run("REST WebSocket", func(t *testing.T) {
		conn, code, env := e.wsDial(t, "/subscribe/events?&client_id=alice&channel=live.d&subscribe_type=events", "Bearer "+e.token(t, "alice"))
		if conn == nil {
			t.Fatalf("subscribe: %d %+v", code, env)
		}
		_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		stop := make(chan struct{})
		var wg sync.WaitGroup
		defer func() { close(stop); wg.Wait() }()
		wg.Go(func() { // events keep coming, before and after the revocation
			for {
				select {
				case <-stop:
					return
				case <-time.After(100 * time.Millisecond):
					_, _ = c.SendEvent(as(ctx, admin), &pb.Event{ClientID: "admin", Channel: "live.d", Body: []byte("x")})
				}
			}
		})
		if _, data, err := conn.ReadMessage(); err != nil || strings.Contains(string(data), "is_error") {
			t.Fatalf("first event: %s %v", data, err)
		}
		writeFile(t, e.dir, "acl.yaml", revokedACL)
		defer writeFile(t, e.dir, "acl.yaml", liveACL)
		for {
			_, data, err := conn.ReadMessage()
			if err != nil {
				t.Fatalf("socket closed without the closing frame: %v", err)
			}
			if strings.Contains(string(data), "is_error") {
				want := `"message":"reason ` + denied + `: Error 205: connection was closed by server"`
				if !strings.Contains(string(data), want) {
					t.Fatalf("closing frame %s, want %s", data, want)
				}
				return
			}
		}
	})
}

// tlsServer starts a broker serving TLS with certs, asking clients for a
// certificate per clientAuth ("" asks for none).
func tlsServer(t *testing.T, certs *heraldtest.Certs, clientAuth string) *heraldtest.Server {
	t.Helper()
	o := server.TLSOptions{CertFile: certs.CertFile, KeyFile: certs.KeyFile}
	if clientAuth != "" {
		o.ClientCAFile, o.ClientAuth = certs.CAFile, clientAuth
	}
	return heraldtest.NewServer(t, server.Options{Security: server.SecurityOptions{TLS: o, ReloadInterval: 50 * time.Millisecond}})
}

// pingGRPC pings srv over TLS with tc (nil: plain text).
func pingGRPC(t *testing.T, srv *heraldtest.Server, tc *tls.Config) error {
	t.Helper()
	creds := insecure.NewCredentials()
	if tc != nil {
		creds = credentials.NewTLS(tc)
	}
	conn, err := grpc.NewClient(srv.Addr, grpc.WithTransportCredentials(creds))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	_, err = pb.NewKubemqClient(conn).Ping(ctx, &pb.Empty{})
	return err
}

// pingREST gets /ping over HTTPS with tc.
func pingREST(t *testing.T, srv *heraldtest.Server, tc *tls.Config) error {
	t.Helper()
	hc := &http.Client{Timeout: 3 * time.Second, Transport: &http.Transport{TLSClientConfig: tc}}
	resp, err := hc.Get("https://" + srv.RESTAddr().String() + "/ping")
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return fmt.Errorf("status %d", resp.StatusCode)
	}
	return nil
}

// handshake dials addr with tc and reads once: with TLS 1.3 a refused
// client certificate is only reported then.
func handshake(addr string, tc *tls.Config) error {
	tc = tc.Clone()
	tc.NextProtos = []string{"h2", "http/1.1"} // gRPC refuses a connection without ALPN h2
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 3 * time.Second}, "tcp", addr, tc)
	if err != nil {
		return err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(500 * time.Millisecond))
	if _, err := conn.Read(make([]byte, 1)); err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
		return err
	}
	return nil
}

// TLS on both ports: clients that trust the CA get in; clients that do not,
// plain-text clients and TLS 1.1 do not; ALPN is h2 on gRPC and http/1.1 on
// REST.
func TestSecurityTLS(t *testing.T) {
	certs := heraldtest.NewCerts(t)
	srv := tlsServer(t, certs, "")
	trusting := clientTLS(t, certs.CAFile, "", "")
	if err := pingGRPC(t, srv, trusting); err != nil {
		t.Errorf("gRPC trusting the CA: %v", err)
	}
	if err := pingREST(t, srv, trusting); err != nil {
		t.Errorf("REST trusting the CA: %v", err)
	}
	for name, err := range map[string]error{
		"gRPC without the CA": pingGRPC(t, srv, &tls.Config{}),
		"REST without the CA": pingREST(t, srv, &tls.Config{}),
	} {
		if err == nil || !strings.Contains(err.Error(), "certificate") {
			t.Errorf("%s: %v, want a certificate error", name, err)
		}
	}
	if err := pingGRPC(t, srv, nil); err == nil {
		t.Error("plain-text gRPC: let in")
	}
	if resp, err := http.Get("http://" + srv.RESTAddr().String() + "/ping"); err == nil {
		resp.Body.Close()
		if resp.StatusCode == 200 {
			t.Error("plain-text REST: let in")
		}
	}
	old := clientTLS(t, certs.CAFile, "", "")
	old.MaxVersion = tls.VersionTLS11
	if err := handshake(srv.Addr, old); err == nil {
		t.Error("TLS 1.1: let in")
	}
	for addr, want := range map[string]string{srv.Addr: "h2", srv.RESTAddr().String(): "http/1.1"} {
		tc := clientTLS(t, certs.CAFile, "", "")
		tc.NextProtos = []string{"h2", "http/1.1"}
		conn, err := tls.Dial("tcp", addr, tc)
		if err != nil {
			t.Fatal(err)
		}
		if got := conn.ConnectionState().NegotiatedProtocol; got != want {
			t.Errorf("%s: ALPN %q, want %q", addr, got, want)
		}
		conn.Close()
	}
	// The official SDK with WithCredentials (server verification only).
	ctx := testCtx(t, 20*time.Second)
	c, err := kubemq.NewClient(ctx, kubemq.WithAddress(srv.Host, srv.Port), kubemq.WithClientId("sdk-tls"),
		kubemq.WithTransportType(kubemq.TransportTypeGRPC), kubemq.WithCredentials(certs.CAFile, ""))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Ping(ctx); err != nil {
		t.Errorf("official SDK over TLS: %v", err)
	}
	if _, err := c.QM().SetChannel("tls.q").SetBody([]byte("x")).Send(ctx); err != nil {
		t.Errorf("official SDK send over TLS: %v", err)
	}
}

// mTLS: with a client CA required, a client without a certificate, or with
// one another CA signed, fails during the handshake, on both ports and with
// TLS 1.2 and 1.3; verify-if-given lets the first in, not the second.
func TestSecurityMTLS(t *testing.T) {
	certs := heraldtest.NewCerts(t)
	stranger := heraldtest.NewCerts(t) // another CA, and a client certificate it signed
	for _, mode := range []string{server.ClientAuthRequire, server.ClientAuthVerifyIfGiven} {
		t.Run(mode, func(t *testing.T) {
			srv := tlsServer(t, certs, mode)
			for _, addr := range []string{srv.Addr, srv.RESTAddr().String()} {
				for _, v := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
					what := fmt.Sprintf("%s TLS 1.%d", addr, v-tls.VersionTLS10)
					none := clientTLS(t, certs.CAFile, "", "")
					none.MaxVersion = v
					err := handshake(addr, none)
					want := "handshake failure" // TLS 1.2: the handshake itself fails
					if v == tls.VersionTLS13 {
						want = "certificate required" // the server's alert after the client's Finished
					}
					if mode == server.ClientAuthRequire && (err == nil || !strings.Contains(err.Error(), want)) {
						t.Errorf("%s, no client certificate: %v, want a refused handshake (%s)", what, err, want)
					}
					if mode == server.ClientAuthVerifyIfGiven && err != nil {
						t.Errorf("%s, no client certificate: %v", what, err)
					}
					other := clientTLS(t, certs.CAFile, stranger.ClientCertFile, stranger.ClientKeyFile)
					other.MaxVersion = v
					if err := handshake(addr, other); err == nil {
						t.Errorf("%s, certificate of another CA: let in", what)
					}
					good := clientTLS(t, certs.CAFile, certs.ClientCertFile, certs.ClientKeyFile)
					good.MaxVersion = v
					if err := handshake(addr, good); err != nil {
						t.Errorf("%s, valid client certificate: %v", what, err)
					}
				}
			}
			good := clientTLS(t, certs.CAFile, certs.ClientCertFile, certs.ClientKeyFile)
			if err := pingGRPC(t, srv, good); err != nil {
				t.Errorf("gRPC with a client certificate: %v", err)
			}
			if err := pingREST(t, srv, good); err != nil {
				t.Errorf("REST with a client certificate: %v", err)
			}
			err := pingGRPC(t, srv, clientTLS(t, certs.CAFile, "", ""))
			if mode == server.ClientAuthRequire && err == nil {
				t.Error("gRPC Ping without a client certificate: let in")
			}
		})
	}
}

// Certificates, keys and client CAs are re-read when their files change:
// new connections get the new material without a restart.
func TestSecurityCertificateRotation(t *testing.T) {
	a := heraldtest.NewCerts(t)
	dir := t.TempDir()
	copyTo := func(src, name string) string {
		t.Helper()
		b, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		return writeFile(t, dir, name, string(b))
	}
	live := &heraldtest.Certs{
		CertFile: copyTo(a.CertFile, "tls.crt"), KeyFile: copyTo(a.KeyFile, "tls.key"), CAFile: copyTo(a.CAFile, "clients.pem"),
	}
	srv := tlsServer(t, live, server.ClientAuthRequire)
	withA := clientTLS(t, a.CAFile, a.ClientCertFile, a.ClientKeyFile)
	if err := pingGRPC(t, srv, withA); err != nil {
		t.Fatalf("before rotation: %v", err)
	}

	b := heraldtest.NewCerts(t) // a new CA, server and client certificates
	copyTo(b.KeyFile, "tls.key")
	copyTo(b.CertFile, "tls.crt")
	copyTo(b.CAFile, "clients.pem")
	withB := clientTLS(t, b.CAFile, b.ClientCertFile, b.ClientKeyFile)
	eventually(t, 10*time.Second, func() error {
		if err := pingGRPC(t, srv, withB); err != nil {
			return fmt.Errorf("gRPC after rotation: %w", err)
		}
		return pingREST(t, srv, withB)
	})
	if err := pingGRPC(t, srv, withA); err == nil {
		t.Error("the old CA is still trusted, or the old certificate still served")
	}
}

// Served configuration and logs hold no secret: Options.Redacted replaces
// inline keys and PEMs, and the server logs none of them.
func TestSecurityRedacted(t *testing.T) {
	certs := heraldtest.NewCerts(t)
	read := func(path string) string {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	keyPEM := read(certs.KeyFile)
	logs := &syncBuffer{}
	o := server.Options{Security: server.SecurityOptions{
		TLS:  server.TLSOptions{Cert: read(certs.CertFile), Key: keyPEM, ClientCA: read(certs.CAFile)},
		Auth: server.AuthOptions{JWTAlgorithm: "HS256", JWTKey: jwtSecret, ACL: matrixACL},
	}, Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))}
	srv := heraldtest.NewServer(t, o)
	shown := fmt.Sprintf("%+v", srv.Options().Redacted())
	keyBody := strings.Split(keyPEM, "\n")[1]
	for _, secret := range []string{jwtSecret, keyBody} {
		if strings.Contains(shown, secret) {
			t.Errorf("Redacted shows %q:\n%s", secret, shown)
		}
	}
	r := srv.Options().Redacted().Security
	if r.Auth.JWTKey != "[redacted]" || r.TLS.Key != "[redacted]" || r.Auth.JWTAlgorithm != "HS256" {
		t.Errorf("Redacted: %+v", r)
	}
	if srv.Options().Security.Auth.JWTKey != jwtSecret {
		t.Error("Redacted changed the options it was called on")
	}
	// A failed authentication with the secret as the token: still not logged.
	c := credentials.NewTLS(clientTLS(t, certs.CAFile, certs.ClientCertFile, certs.ClientKeyFile))
	conn, err := grpc.NewClient(srv.Addr, grpc.WithTransportCredentials(c))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_, err = pb.NewKubemqClient(conn).SendEvent(as(testCtx(t, 5*time.Second), jwtSecret), &pb.Event{ClientID: "a", Channel: "b", Body: []byte("x")})
	if status.Code(err) != codes.Unauthenticated {
		t.Fatalf("send: %v", err)
	}
	for _, secret := range []string{jwtSecret, keyBody} {
		if strings.Contains(logs.String(), secret) {
			t.Errorf("the logs contain %q", secret)
		}
	}
	if !strings.Contains(logs.String(), "authentication=") || !strings.Contains(logs.String(), "tls=true") {
		t.Errorf("no security summary logged:\n%s", logs)
	}
}

// DialInProcess reaches a broker that requires client certificates without
// one (memory has no network to protect), but tokens are still checked.
func TestSecurityDialInProcess(t *testing.T) {
	e := newSecEnv(t, matrixACL, withTLS(server.ClientAuthRequire))
	ctx := testCtx(t, 20*time.Second)
	dial := func(token string) *heraldclient.Client {
		opts := []heraldclient.Option{heraldclient.WithAddress(e.srv.Host, e.srv.Port), heraldclient.WithClientId("alice"),
			heraldclient.WithDialer(e.srv.DialInProcess)}
		if token != "" {
			opts = append(opts, heraldclient.WithToken(token))
		}
		c, err := heraldclient.NewClient(ctx, opts...)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Close() })
		return c
	}
	c := dial(e.token(t, "alice"))
	if _, err := c.Ping(ctx); err != nil {
		t.Fatalf("ping: %v", err)
	}
	if _, err := c.QM().SetChannel("ok.inproc").SetBody([]byte("x")).Send(ctx); err != nil {
		t.Errorf("granted send: %v", err)
	}
	if _, err := c.QM().SetChannel("denied.inproc").SetBody([]byte("x")).Send(ctx); status.Code(err) != codes.PermissionDenied {
		t.Errorf("denied send: %v", err)
	}
	if _, err := dial("").QM().SetChannel("ok.inproc").SetBody([]byte("x")).Send(ctx); status.Code(err) != codes.Unauthenticated {
		t.Errorf("send without a token: %v", err)
	}
}

// CORS: no headers unless origins are configured; a listed origin's
// preflight (which carries no token) is answered before authentication and
// allows the Authorization header.
func TestSecurityCORS(t *testing.T) {
	preflight := func(srv *heraldtest.Server, origin string) *http.Response {
		t.Helper()
		req, _ := http.NewRequest(http.MethodOptions, "http://"+srv.RESTAddr().String()+"/queue/send", nil)
		req.Header.Set("Origin", origin)
		req.Header.Set("Access-Control-Request-Method", "POST")
		req.Header.Set("Access-Control-Request-Headers", "authorization,content-type")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	plain := heraldtest.NewServer(t)
	if resp := preflight(plain, "https://app.example"); resp.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("CORS allowed by default: %v", resp.Header)
	}
	e := newSecEnv(t, "", func(_ *testing.T, _ *secEnv, o *server.SecurityOptions) {
		o.CORSOrigins = []string{"https://app.example"}
	})
	resp := preflight(e.srv, "https://app.example")
	if resp.StatusCode != http.StatusNoContent || resp.Header.Get("Access-Control-Allow-Origin") != "https://app.example" ||
		!strings.Contains(strings.ToLower(resp.Header.Get("Access-Control-Allow-Headers")), "authorization") {
		t.Errorf("listed origin: %d %v", resp.StatusCode, resp.Header)
	}
	if resp := preflight(e.srv, "https://evil.example"); resp.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("unlisted origin allowed: %v", resp.Header)
	}
}

// The hooks the HTTP front (port 8080) uses: the TLS configuration of the
// other listeners, and the REST front's token check.
func TestSecurityHTTPFrontHooks(t *testing.T) {
	e := newSecEnv(t, "", withTLS(server.ClientAuthVerifyIfGiven))
	alice := e.token(t, "alice")
	for _, tt := range []struct {
		name, url, header string
		want, wantErr     string
	}{
		{"header", "/api/x", "Bearer " + alice, alice, ""},
		{"query parameter", "/api/stream?token=" + alice, "", alice, ""},
		{"none", "/api/x", "", "", badHeader},
		{"malformed header", "/api/x", "Token " + alice, "", badHeader},
		{"malformed header wins over the query", "/api/x?token=" + alice, "Basic x", "", badHeader},
		{"bad token", "/api/x", "Bearer not-a-jwt", "", authFail + "token is malformed"},
	} {
		r, _ := http.NewRequest("GET", "https://localhost:8080"+tt.url, nil)
		if tt.header != "" {
			r.Header.Set("Authorization", tt.header)
		}
		tok, err := e.srv.AuthenticateHTTP(r)
		if tok != tt.want || (tt.wantErr == "") != (err == nil) || (err != nil && !strings.HasPrefix(err.Error(), tt.wantErr)) {
			t.Errorf("%s: %q %v, want %q %q", tt.name, tok, err, tt.want, tt.wantErr)
		}
		if err != nil && strings.Contains(err.Error(), alice) {
			t.Errorf("%s: the error shows the token", tt.name)
		}
	}
	if tok, err := heraldtest.NewServer(t).AuthenticateHTTP(httptestRequest()); tok != "" || err != nil {
		t.Errorf("authentication off: %q %v", tok, err)
	}

	// An HTTP server on HTTPTLSConfig serves the broker's certificate, asks
	// for client certificates as the broker does, and picks up rotation.
	tc := e.srv.HTTPTLSConfig()
	if tc == nil {
		t.Fatal("HTTPTLSConfig is nil with TLS on")
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, r.TLS.NegotiatedProtocol)
	}), TLSConfig: tc}
	go func() { _ = hs.ServeTLS(lis, "", "") }()
	defer hs.Close()
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: clientTLS(t, e.certs.CAFile, "", ""), ForceAttemptHTTP2: true}}
	resp, err := hc.Get("https://" + lis.Addr().String() + "/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != "h2" {
		t.Errorf("negotiated %q, want h2", body)
	}
	if heraldtest.NewServer(t).HTTPTLSConfig() != nil {
		t.Error("HTTPTLSConfig is not nil with TLS off")
	}
}

func httptestRequest() *http.Request {
	r, _ := http.NewRequest("GET", "http://localhost:8080/", nil)
	return r
}

// Channel management (queries to kubemq.cluster.internal.requests): the
// query needs a grant of its own; creating or deleting a channel needs
// write on it; a listing shows only the channels the requester may read.
func TestSecurityChannelManagement(t *testing.T) {
	e := newSecEnv(t, `rules:
  - {clients: alice, resources: queries, channels: kubemq.cluster.internal.requests, actions: write}
  - {clients: alice, resources: queues, channels: "ok.>", actions: [read, write]}
  - {clients: admin, resources: "*", channels: ">", actions: [read, write]}
`)
	c := rawClient(t, e.srv)
	ctx := testCtx(t, 30*time.Second)
	manage := func(who, op, ch string) (*pb.Response, error) {
		return c.SendRequest(as(ctx, e.token(t, who)), &pb.Request{RequestTypeData: pb.Request_Query, ClientID: who,
			Channel: "kubemq.cluster.internal.requests", Metadata: op, Timeout: 5000,
			Tags: map[string]string{"channel_type": "queues", "channel": ch}})
	}
	if res, err := manage("admin", "create-channel", "denied.mgmt"); err != nil || res.Error != "" {
		t.Fatalf("admin create: %+v %v", res, err)
	}
	if res, err := manage("alice", "create-channel", "ok.mgmt"); err != nil || res.Error != "" || !res.Executed {
		t.Errorf("granted create: %+v %v", res, err)
	}
	for _, op := range []string{"create-channel", "delete-channel"} {
		if res, err := manage("alice", op, "denied.mgmt"); err != nil || res.Error != denied || res.Executed {
			t.Errorf("%s not granted: %+v %v", op, res, err)
		}
	}
	res, err := manage("alice", "list-channels", "")
	if err != nil || res.Error != "" {
		t.Fatalf("list: %+v %v", res, err)
	}
	if !strings.Contains(string(res.Body), `"ok.mgmt"`) || strings.Contains(string(res.Body), "denied.mgmt") {
		t.Errorf("alice's listing: %s", res.Body)
	}
	if res, err := manage("admin", "list-channels", ""); err != nil || !strings.Contains(string(res.Body), "denied.mgmt") {
		t.Errorf("admin's listing: %+v %v", res, err)
	}
	// bob has no grant on the management channel at all.
	if _, err := manage("bob", "list-channels", ""); status.Code(err) != codes.PermissionDenied {
		t.Errorf("bob: %v", err)
	}
}
