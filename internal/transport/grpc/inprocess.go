package grpctransport

import (
	"context"
	"net"

	"google.golang.org/grpc/credentials"
)

// In-process connections reach the gRPC front through memory, for clients
// in the same process (the HTTP front's dashboard). They skip TLS, which
// has nothing to protect there, and nothing else: calls on them carry a
// token and are authorized like any other.

// inProcessBuffer is the size of each direction of an in-process pipe.
const inProcessBuffer = 1 << 20

// inProcessConn marks a connection accepted from the in-process listener.
type inProcessConn struct{ net.Conn }

type inProcessListener struct{ net.Listener }

func (l inProcessListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &inProcessConn{c}, nil
}

// serveInProcess serves the in-process listener until Shutdown.
func (s *Server) serveInProcess() {
	_ = s.grpc.Serve(inProcessListener{countedListener{s.inproc, s.obs}})
}

// DialInProcess connects to this server through memory; addr is ignored.
// Give it to a client as its dialer (client.WithDialer), without TLS.
func (s *Server) DialInProcess(ctx context.Context, _ string) (net.Conn, error) {
	return s.inproc.DialContext(ctx)
}

// inProcessCreds is the server's TLS credentials, skipped for in-process
// connections.
type inProcessCreds struct {
	credentials.TransportCredentials
}

type inProcessAuthInfo struct{ credentials.CommonAuthInfo }

func (inProcessAuthInfo) AuthType() string { return "in-process" }

func (c inProcessCreds) ServerHandshake(conn net.Conn) (net.Conn, credentials.AuthInfo, error) {
	if _, ok := conn.(*inProcessConn); ok {
		return conn, inProcessAuthInfo{credentials.CommonAuthInfo{SecurityLevel: credentials.NoSecurity}}, nil
	}
	return c.TransportCredentials.ServerHandshake(conn)
}

func (c inProcessCreds) Clone() credentials.TransportCredentials {
	return inProcessCreds{c.TransportCredentials.Clone()}
}
