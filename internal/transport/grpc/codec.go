package grpctransport

import (
	"fmt"

	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// MaxRequestElements bounds the repeated elements of one request message:
// messages of a batch, map entries (tags), sequence numbers, counted at
// every depth. Decoding makes a Go value of a couple of hundred bytes from
// each of them, and an element can take two bytes on the wire, so without
// this bound a 100 MiB request would make the server allocate tens of GiB
// before any handler sees it. A batch of 100,000 messages with a few tags
// each stays well below it.
const MaxRequestElements = 1_000_000

// ErrTooManyElements refuses a request over MaxRequestElements; gRPC reports
// it as status Internal "grpc: failed to unmarshal the received message: …".
type ErrTooManyElements struct{ Max int }

func (e *ErrTooManyElements) Error() string {
	return fmt.Sprintf("request refused: more than %d repeated elements (batch messages, tags, sequence numbers)", e.Max)
}

// guardedCodec is gRPC's proto codec with a count of the repeated elements
// of each received message, made on the wire bytes before they are decoded.
type guardedCodec struct {
	proto encoding.CodecV2
	max   int
}

func newGuardedCodec(max int) *guardedCodec {
	return &guardedCodec{proto: encoding.GetCodecV2("proto"), max: max}
}

func (c *guardedCodec) Name() string { return "proto" }

func (c *guardedCodec) Marshal(v any) (mem.BufferSlice, error) { return c.proto.Marshal(v) }

func (c *guardedCodec) Unmarshal(data mem.BufferSlice, v any) error {
	m, ok := v.(proto.Message)
	if !ok {
		return c.proto.Unmarshal(data, v)
	}
	buf := data.MaterializeToBuffer(mem.DefaultBufferPool())
	defer buf.Free()
	b := buf.ReadOnlyData()
	if CountElements(b, m.ProtoReflect().Descriptor(), c.max) > c.max {
		return &ErrTooManyElements{Max: c.max}
	}
	return proto.Unmarshal(b, m)
}

// CountElements counts the repeated elements of the encoded message b of
// type md, as decoding would create them, and stops once the count passes
// limit (it then returns a number above limit). Malformed input ends the
// count early: proto.Unmarshal reports it. It allocates nothing.
func CountElements(b []byte, md protoreflect.MessageDescriptor, limit int) int {
	n := 0
	countElements(b, md, &n, limit, 0)
	return n
}

// maxCountDepth stops the walk into nested messages (proto.Unmarshal has
// its own, larger, recursion limit).
const maxCountDepth = 64

func countElements(b []byte, md protoreflect.MessageDescriptor, n *int, limit, depth int) {
	if depth > maxCountDepth {
		return
	}
	for len(b) > 0 && *n <= limit {
		num, typ, k := protowire.ConsumeTag(b)
		if k < 0 {
			return
		}
		b = b[k:]
		var fd protoreflect.FieldDescriptor
		if md != nil {
			fd = md.Fields().ByNumber(num)
		}
		if typ != protowire.BytesType {
			k = protowire.ConsumeFieldValue(num, typ, b)
			if k < 0 {
				return
			}
			if fd != nil && fd.IsList() {
				*n++ // an unpacked repeated scalar
			}
			b = b[k:]
			continue
		}
		v, k := protowire.ConsumeBytes(b)
		if k < 0 {
			return
		}
		b = b[k:]
		switch {
		case fd == nil:
			*n++ // unknown fields are kept as bytes; count them all the same
		case fd.IsMap() || (fd.IsList() && fd.Message() != nil):
			*n++
			countElements(v, fd.Message(), n, limit, depth+1)
		case fd.IsList() && (fd.Kind() == protoreflect.StringKind || fd.Kind() == protoreflect.BytesKind):
			*n++
		case fd.IsList(): // packed scalars
			*n += packedLen(v, fd.Kind())
		case fd.Message() != nil: // a single message field: occurrences merge
			countElements(v, fd.Message(), n, limit, depth+1)
		}
	}
}

// packedLen is the number of scalars of kind in a packed field.
func packedLen(v []byte, kind protoreflect.Kind) int {
	switch kind {
	case protoreflect.Fixed32Kind, protoreflect.Sfixed32Kind, protoreflect.FloatKind:
		return len(v) / 4
	case protoreflect.Fixed64Kind, protoreflect.Sfixed64Kind, protoreflect.DoubleKind:
		return len(v) / 8
	}
	n := 0 // varints: one per byte without the continuation bit
	for _, c := range v {
		if c < 0x80 {
			n++
		}
	}
	return n
}
