package client

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
	"google.golang.org/grpc/codes"

	kubemqpb "github.com/heraldmq/herald/api/kubemq"
)

// maxRESTAnswer bounds the answers and WebSocket frames the REST transport
// reads: a 100 MiB message, base64 encoded, with room for the rest of the
// JSON (the server's own body limit is 140 MiB).
const maxRESTAnswer = 160 << 20

// restTransport speaks the KubeMQ REST and WebSocket API (Herald's and
// KubeMQ's port 9090). Requests and answers are the wire messages of
// package kubemqpb run through encoding/json (PascalCase keys, omitempty,
// bytes as base64), answers come in the envelope {"is_error","message",
// "data"}; subscriptions, the events stream and queue transactions are
// WebSockets whose text frames are the same JSON.
//
// Unlike kubemq-go v1.9.0's REST transport it loses nothing: events-store
// streams send pb.Event with Store set, ids are kept, responses carry
// Executed and Error, QueuesInfo sends its filter (?QueueName=), and the
// subscription parameters are URL-escaped.
type restTransport struct {
	c      *Client
	base   *url.URL // http or https, path without a trailing slash
	ws     *url.URL // the same with ws or wss
	token  string
	http   *http.Client
	dialer *websocket.Dialer
	// down is set when a request or dial could not reach the server and
	// cleared by the next answer.
	down atomic.Bool
}

func (t *restTransport) markDown() { t.down.Store(true) }

func (t *restTransport) state() ConnState {
	if t.down.Load() {
		return StateReconnecting
	}
	return StateConnected
}

// newRESTTransport builds the REST transport of c from its options; it
// does not contact the server.
func newRESTTransport(o *Options, c *Client) (*restTransport, error) {
	base, err := url.Parse(strings.TrimSpace(o.restURI))
	if err != nil || base.Host == "" {
		return nil, invalidArgument("invalid address uri: want http://host:port or https://host:port")
	}
	ws := *base
	switch strings.ToLower(base.Scheme) {
	case "http":
		ws.Scheme = "ws"
	case "https":
		ws.Scheme = "wss"
	default:
		return nil, invalidArgument(fmt.Sprintf("invalid address uri scheme %q: want http or https", base.Scheme))
	}
	for _, u := range []*url.URL{base, &ws} {
		u.Path, u.RawPath = strings.TrimRight(u.Path, "/"), ""
		u.RawQuery, u.Fragment = "", ""
	}
	tlsConf, err := restTLS(o, base.Scheme == "https")
	if err != nil {
		return nil, err
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = tlsConf
	tr.MaxIdleConnsPerHost = 32
	return &restTransport{
		c: c, base: base, ws: &ws, token: o.authToken,
		http: &http.Client{Transport: tr},
		dialer: &websocket.Dialer{
			Proxy: http.ProxyFromEnvironment, HandshakeTimeout: 10 * time.Second, TLSClientConfig: tlsConf,
			ReadBufferSize: 16 << 10, WriteBufferSize: 16 << 10,
		},
	}, nil
}

// restTLS is the TLS configuration of WithCredentials, WithCertificate
// and WithMTLS for an https URI; nil (system roots) when none is set.
func restTLS(o *Options, https bool) (*tls.Config, error) {
	if !o.isSecured {
		return nil, nil
	}
	if !https {
		return nil, invalidArgument("client: TLS credentials are set but the REST uri is not https://")
	}
	return clientTLS(o)
}

// address returns base with path and query.
func address(base *url.URL, path string, query url.Values) string {
	u := *base
	u.Path += path
	u.RawQuery = query.Encode()
	return u.String()
}

func (t *restTransport) authorize(h http.Header) {
	if t.token != "" {
		h.Set("Authorization", "Bearer "+t.token)
	}
}

// restEnvelope is the answer of every REST route; router errors (404, 405,
// 413) use {"error_code","message"} instead.
type restEnvelope struct {
	IsError   bool            `json:"is_error"`
	Message   string          `json:"message"`
	Data      json.RawMessage `json:"data"`
	ErrorCode int             `json:"error_code"`
}

// The gRPC codes Herald's gRPC front gives the errors that the REST front
// answers with HTTP 400: Internal for events, requests and subscriptions,
// Unknown for the queue calls. REST errors get the same code, so that
// status.Code(err) does not depend on the transport.
const (
	restCodeDefault = codes.Internal
	restCodeQueues  = codes.Unknown
)

// restError is the *Error for a REST answer that failed with HTTP status
// and the server's text msg.
func restError(status int, msg string, code codes.Code) error {
	switch status {
	case 0, http.StatusBadRequest, http.StatusOK: // 0: a WebSocket frame
	case http.StatusUnauthorized:
		code = codes.Unauthenticated
	case http.StatusForbidden:
		code = codes.PermissionDenied
	case http.StatusNotFound, http.StatusMethodNotAllowed:
		code = codes.Unimplemented
	case http.StatusRequestEntityTooLarge:
		code = codes.ResourceExhausted
	case http.StatusServiceUnavailable, http.StatusBadGateway, http.StatusGatewayTimeout:
		code = codes.Unavailable
	case http.StatusInternalServerError:
		code = codes.Internal
	default:
		code = codes.Unknown
	}
	if msg == "" {
		msg = fmt.Sprintf("HTTP %d %s", status, http.StatusText(status))
	}
	return &Error{Code: code, HTTPStatus: status, Message: msg, kinds: kindsOf(code, msg)}
}

// decodeAnswer reads an HTTP answer: the envelope's data on success, the
// *Error otherwise.
func decodeAnswer(status int, body []byte, code codes.Code) (json.RawMessage, error) {
	var env restEnvelope
	if err := json.Unmarshal(body, &env); err != nil {
		text := strings.TrimSpace(string(body))
		if len(text) > 512 {
			text = text[:512] + "…"
		}
		if status == http.StatusOK {
			return nil, &Error{Code: codes.Internal, HTTPStatus: status, Message: "client: REST answer is not a KubeMQ envelope: " + text}
		}
		return nil, restError(status, text, code)
	}
	if env.IsError || status != http.StatusOK || env.ErrorCode != 0 {
		return nil, restError(status, env.Message, code)
	}
	return env.Data, nil
}

// netError is the *Error for a call that failed without an answer: its
// context ended (as gRPC reports it), or the server could not be reached
// (codes.Unavailable).
func (t *restTransport) netError(ctx context.Context, err error) error {
	closed := t.c.closed.Load()
	if ctxErr := ctx.Err(); ctxErr != nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		if ctxErr == nil {
			ctxErr = err
		}
		return contextError(ctxErr, err, closed)
	}
	t.down.Store(true)
	out := &Error{Code: codes.Unavailable, Message: err.Error(), kinds: kindsOf(codes.Unavailable, err.Error()), cause: err}
	if closed {
		out.kinds = append(out.kinds, ErrClientClosed)
	}
	return out
}

// restCall sends in (nil: no body) with method to path and decodes the
// envelope's data into a new T; code is the gRPC code of the route's
// errors (see restCodeDefault).
func restCall[T any](ctx context.Context, t *restTransport, method, path string, query url.Values, in any, code codes.Code) (*T, error) {
	if t.c.closed.Load() {
		return nil, ErrClientClosed
	}
	ctx, cancel := t.c.linked(ctx)
	defer cancel()
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return nil, invalidArgument("client: cannot encode the request: " + err.Error())
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, address(t.base, path, query), body)
	if err != nil {
		return nil, invalidArgument("client: " + err.Error())
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	t.authorize(req.Header)
	resp, err := t.http.Do(req)
	if err != nil {
		return nil, t.netError(ctx, err)
	}
	t.down.Store(false)
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxRESTAnswer))
	if err != nil {
		return nil, t.netError(ctx, err)
	}
	data, err := decodeAnswer(resp.StatusCode, raw, code)
	if err != nil {
		return nil, err
	}
	out := new(T)
	if len(data) == 0 || bytes.Equal(data, []byte("null")) {
		return out, nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return nil, &Error{Code: codes.Internal, HTTPStatus: resp.StatusCode, Message: "client: cannot decode the REST answer: " + err.Error(), cause: err}
	}
	return out, nil
}

func (t *restTransport) ping(ctx context.Context) (*kubemqpb.PingResult, error) {
	return restCall[kubemqpb.PingResult](ctx, t, http.MethodGet, "/ping", nil, nil, restCodeDefault)
}

func (t *restTransport) sendEvent(ctx context.Context, e *kubemqpb.Event) (*kubemqpb.Result, error) {
	return restCall[kubemqpb.Result](ctx, t, http.MethodPost, "/send/event", nil, e, restCodeDefault)
}

func (t *restTransport) sendRequest(ctx context.Context, r *kubemqpb.Request) (*kubemqpb.Response, error) {
	return restCall[kubemqpb.Response](ctx, t, http.MethodPost, "/send/request", nil, r, restCodeDefault)
}

func (t *restTransport) sendResponse(ctx context.Context, r *kubemqpb.Response) error {
	_, err := restCall[kubemqpb.Empty](ctx, t, http.MethodPost, "/send/response", nil, r, restCodeDefault)
	return err
}

func (t *restTransport) sendQueueMessage(ctx context.Context, m *kubemqpb.QueueMessage) (*kubemqpb.SendQueueMessageResult, error) {
	return restCall[kubemqpb.SendQueueMessageResult](ctx, t, http.MethodPost, "/queue/send", nil, m, restCodeQueues)
}

func (t *restTransport) sendQueueMessagesBatch(ctx context.Context, b *kubemqpb.QueueMessagesBatchRequest) (*kubemqpb.QueueMessagesBatchResponse, error) {
	return restCall[kubemqpb.QueueMessagesBatchResponse](ctx, t, http.MethodPost, "/queue/send_batch", nil, b, restCodeQueues)
}

func (t *restTransport) receiveQueueMessages(ctx context.Context, r *kubemqpb.ReceiveQueueMessagesRequest) (*kubemqpb.ReceiveQueueMessagesResponse, error) {
	return restCall[kubemqpb.ReceiveQueueMessagesResponse](ctx, t, http.MethodPost, "/queue/receive", nil, r, restCodeQueues)
}

func (t *restTransport) ackAllQueueMessages(ctx context.Context, r *kubemqpb.AckAllQueueMessagesRequest) (*kubemqpb.AckAllQueueMessagesResponse, error) {
	return restCall[kubemqpb.AckAllQueueMessagesResponse](ctx, t, http.MethodPost, "/queue/ack_all", nil, r, restCodeQueues)
}

// queuesInfo sends the filter as the QueueName query parameter, which
// Herald reads, and as the JSON body of the GET, where KubeMQ reads it (an
// HTTP stack between may drop a GET body; the parameter stays).
func (t *restTransport) queuesInfo(ctx context.Context, r *kubemqpb.QueuesInfoRequest) (*kubemqpb.QueuesInfoResponse, error) {
	var q url.Values
	if r.QueueName != "" {
		q = url.Values{"QueueName": {r.QueueName}}
	}
	return restCall[kubemqpb.QueuesInfoResponse](ctx, t, http.MethodGet, "/queue/info", q, r, restCodeQueues)
}

func (t *restTransport) raw() (kubemqpb.KubemqClient, error) {
	return nil, fmt.Errorf("client: GetGRPCRawClient: %w", ErrNotSupportedOverREST)
}

// close drops the idle HTTP connections; calls in flight and WebSockets end
// with the client's life, which Close ends first.
func (t *restTransport) close() error {
	t.http.CloseIdleConnections()
	return nil
}
