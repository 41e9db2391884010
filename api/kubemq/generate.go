// Package kubemqpb holds the Go code generated from kubemq.proto, the KubeMQ
// wire contract. Run `make proto` (or `go generate ./api/kubemq`) to
// regenerate it; the plugin versions are pinned in the Makefile.
package kubemqpb

//go:generate protoc --go_out=. --go_opt=paths=source_relative --go-grpc_out=. --go-grpc_opt=paths=source_relative kubemq.proto

// WireServiceName is the gRPC service name every KubeMQ client calls.
const WireServiceName = "kubemq.kubemq"
