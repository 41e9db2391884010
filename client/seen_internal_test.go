package client

import "testing"

func TestSeenSeqs(t *testing.T) {
	var s seenSeqs
	if s.has(1) {
		t.Fatal("empty set has 1")
	}
	for _, q := range []uint64{1, 2, 3, 5, 9} {
		s.add(q)
	}
	for q, want := range map[uint64]bool{0: false, 1: true, 3: true, 4: false, 5: true, 6: false, 8: false, 9: true, 10: false} {
		if s.has(q) != want {
			t.Errorf("after 1,2,3,5,9: has(%d) = %v", q, !want)
		}
	}
	s.add(4) // late, behind newer ones
	if !s.has(4) || s.last != 9 {
		t.Fatalf("late 4: has %v, last %d", s.has(4), s.last)
	}
	// The window slides: a position reused by a higher sequence is cleared.
	s.add(9 + seenWindow - 1)
	if !s.has(8+seenWindow) || !s.has(9) || s.has(seenWindow+2) {
		t.Fatalf("window edge: %v %v %v", s.has(8+seenWindow), s.has(9), s.has(seenWindow+2))
	}
	s.add(5 + seenWindow) // reuses the slot of 5: 5 is forgotten, taken as new
	if s.has(5) || !s.has(5+seenWindow) || s.has(6+seenWindow) {
		t.Fatalf("slide: has(5)=%v has(5+W)=%v has(6+W)=%v", s.has(5), s.has(5+seenWindow), s.has(6+seenWindow))
	}
	s.add(100 * seenWindow) // a jump clears everything
	if s.has(8+seenWindow) || !s.has(100*seenWindow) {
		t.Fatal("jump kept old sequences")
	}
	s.add(1) // far below the window: ignored
	if s.has(1) {
		t.Fatal("remembered a sequence below the window")
	}
}
