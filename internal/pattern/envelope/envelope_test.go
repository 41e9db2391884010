package envelope

import (
	"bytes"
	"maps"
	"testing"
)

func TestRoundTrip(t *testing.T) {
	w := NewWriter(0)
	w.String("id-1")
	w.Blob([]byte{0, 1, 2})
	w.Blob(nil)
	w.Int(-42)
	w.Bool(true)
	w.Map(map[string]string{"b": "2", "a": "1"})
	w.Map(nil)
	r := NewReader(w.Bytes())
	if got := r.String(); got != "id-1" {
		t.Fatalf("string %q", got)
	}
	if got := r.Blob(); !bytes.Equal(got, []byte{0, 1, 2}) {
		t.Fatalf("blob %v", got)
	}
	if got := r.Blob(); got != nil {
		t.Fatalf("empty blob %v", got)
	}
	if got := r.Int(); got != -42 {
		t.Fatalf("int %d", got)
	}
	if !r.Bool() {
		t.Fatal("bool")
	}
	if got := r.Map(); !maps.Equal(got, map[string]string{"a": "1", "b": "2"}) {
		t.Fatalf("map %v", got)
	}
	if got := r.Map(); got != nil {
		t.Fatalf("empty map %v", got)
	}
	if r.Err() != nil {
		t.Fatal(r.Err())
	}
}

func TestMapEncodingIsDeterministic(t *testing.T) {
	m := map[string]string{"x": "1", "y": "2", "z": "3", "w": "4"}
	w1, w2 := NewWriter(0), NewWriter(0)
	w1.Map(m)
	w2.Map(maps.Clone(m))
	if !bytes.Equal(w1.Bytes(), w2.Bytes()) {
		t.Fatal("equal maps encode differently")
	}
}

func TestMalformed(t *testing.T) {
	for _, b := range [][]byte{nil, {}, {2}, {Version, 0x80}, {Version, 5, 'a'}, {Version, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}} {
		r := NewReader(b)
		_ = r.String()
		_ = r.Blob()
		_ = r.Map()
		if r.Err() == nil {
			t.Errorf("%v decoded without error", b)
		}
	}
}

// FuzzReader feeds arbitrary bytes to every read: no panic, and after an
// error every read returns a zero value.
func FuzzReader(f *testing.F) {
	w := NewWriter(0)
	w.String("id")
	w.Blob([]byte("body"))
	w.Map(map[string]string{"k": "v"})
	w.Int(7)
	w.Bool(true)
	f.Add(w.Bytes())
	f.Add([]byte{Version, 3, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		r := NewReader(b)
		_ = r.String()
		_ = r.Blob()
		_ = r.Map()
		_ = r.Int()
		_ = r.Bool()
		if r.Err() != nil && (r.String() != "" || r.Blob() != nil || r.Map() != nil || r.Int() != 0) {
			t.Fatal("reads after an error must return zero values")
		}
	})
}
