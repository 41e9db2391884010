// Package envelope is the compact binary encoding Herald uses for messages
// inside the engine: a version byte, then fields as varint-prefixed strings,
// byte slices, integers and string maps, in an order each pattern fixes.
// Decoding never panics: truncated or malformed input gives ErrMalformed.
package envelope

import (
	"encoding/binary"
	"errors"
	"sort"
)

// Version is the first byte of every envelope.
const Version = 1

// ErrMalformed reports input that is not a valid envelope.
var ErrMalformed = errors.New("envelope: malformed")

// Writer appends fields to a buffer.
type Writer struct{ buf []byte }

// NewWriter starts an envelope with room for size bytes.
func NewWriter(size int) *Writer {
	w := &Writer{buf: make([]byte, 0, size+16)}
	w.buf = append(w.buf, Version)
	return w
}

// WriterOn starts an envelope in buf's storage (its contents are
// overwritten), for callers that reuse buffers.
func WriterOn(buf []byte) Writer { return Writer{buf: append(buf[:0], Version)} }

// Bytes returns the encoded envelope.
func (w *Writer) Bytes() []byte { return w.buf }

// String appends a string field.
func (w *Writer) String(s string) {
	w.buf = binary.AppendUvarint(w.buf, uint64(len(s)))
	w.buf = append(w.buf, s...)
}

// Blob appends a byte-slice field.
func (w *Writer) Blob(b []byte) {
	w.buf = binary.AppendUvarint(w.buf, uint64(len(b)))
	w.buf = append(w.buf, b...)
}

// Int appends a signed integer field.
func (w *Writer) Int(v int64) { w.buf = binary.AppendVarint(w.buf, v) }

// Bool appends a boolean field.
func (w *Writer) Bool(v bool) {
	if v {
		w.buf = append(w.buf, 1)
	} else {
		w.buf = append(w.buf, 0)
	}
}

// Map appends a string map, keys sorted so equal maps encode equally.
func (w *Writer) Map(m map[string]string) {
	w.buf = binary.AppendUvarint(w.buf, uint64(len(m)))
	if len(m) == 0 {
		return
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		w.String(k)
		w.String(m[k])
	}
}

// Reader reads fields back in the order they were written. After the first
// error every read returns a zero value and Err reports it.
type Reader struct {
	buf []byte
	err error
}

// NewReader checks the version byte and starts reading.
func NewReader(b []byte) *Reader {
	if len(b) == 0 || b[0] != Version {
		return &Reader{err: ErrMalformed}
	}
	return &Reader{buf: b[1:]}
}

// Err returns the first decoding error.
func (r *Reader) Err() error { return r.err }

func (r *Reader) fail() { r.err, r.buf = ErrMalformed, nil }

func (r *Reader) length() int {
	if r.err != nil {
		return 0
	}
	n, k := binary.Uvarint(r.buf)
	if k <= 0 || n > uint64(len(r.buf)-k) {
		r.fail()
		return 0
	}
	r.buf = r.buf[k:]
	return int(n)
}

// String reads a string field.
func (r *Reader) String() string {
	n := r.length()
	if r.err != nil {
		return ""
	}
	s := string(r.buf[:n])
	r.buf = r.buf[n:]
	return s
}

// Blob reads a byte-slice field; it aliases the input. Empty is nil.
func (r *Reader) Blob() []byte {
	n := r.length()
	if r.err != nil || n == 0 {
		return nil
	}
	b := r.buf[:n:n]
	r.buf = r.buf[n:]
	return b
}

// Int reads a signed integer field.
func (r *Reader) Int() int64 {
	if r.err != nil {
		return 0
	}
	v, k := binary.Varint(r.buf)
	if k <= 0 {
		r.fail()
		return 0
	}
	r.buf = r.buf[k:]
	return v
}

// Bool reads a boolean field.
func (r *Reader) Bool() bool {
	if r.err != nil {
		return false
	}
	if len(r.buf) == 0 || r.buf[0] > 1 {
		r.fail()
		return false
	}
	v := r.buf[0] == 1
	r.buf = r.buf[1:]
	return v
}

// Map reads a string map; an empty map is nil.
func (r *Reader) Map() map[string]string {
	n := r.length()
	if r.err != nil || n == 0 {
		return nil
	}
	if n > len(r.buf)/2 { // every pair needs at least two length bytes
		r.fail()
		return nil
	}
	m := make(map[string]string, n)
	for i := 0; i < n && r.err == nil; i++ {
		k := r.String()
		m[k] = r.String()
	}
	if r.err != nil {
		return nil
	}
	return m
}
