package cpu

import "testing"

// A freed buffer comes back from Zeros cleared and from FromHost overwritten, is never
// handed out twice, and the freed tensor is left empty so a use after Free fails loudly.
func TestBufferPoolReuse(t *testing.T) {
	e := New()
	a := e.FromHost([]float32{1, 2, 3, 4, 5}, 5)
	first := &a.Data[0]
	e.Free(a)
	if a.Data != nil {
		t.Fatal("Free left Data set")
	}
	e.Free(a) // a second Free of the same tensor is a no-op, not a second pool entry
	b := e.Zeros(5)
	if &b.Data[0] != first {
		t.Fatal("Zeros did not reuse the freed buffer of the same length")
	}
	for i, v := range b.Data {
		if v != 0 {
			t.Fatalf("reused buffer not cleared: [%d] = %g", i, v)
		}
	}
	c := e.Zeros(5)
	if &c.Data[0] == &b.Data[0] {
		t.Fatal("one buffer handed out twice")
	}
	d := e.Zeros(4) // another length never takes the 5-element buffer
	e.Free(b)
	if len(d.Data) != 4 {
		t.Fatalf("len %d", len(d.Data))
	}
	f := e.FromHost([]float32{9, 8, 7, 6, 5}, 5)
	if f.Data[0] != 9 || f.Data[4] != 5 || len(f.Data) != 5 {
		t.Fatalf("FromHost on a reused buffer: %v", f.Data)
	}
}

// Empty hands out a recycled buffer as it is (no clear), or NaN-filled under PoisonEmpty.
func TestEmpty(t *testing.T) {
	e := New()
	a := e.FromHost([]float32{1, 2, 3, 4, 5, 6, 7}, 7)
	e.Free(a)
	b := e.Empty(7)
	if len(b.Data) != 7 || b.Data[6] != 7 {
		t.Fatalf("Empty(7) after freeing a 7-element tensor: %v, want the recycled values", b.Data)
	}
	e.Free(b)
	PoisonEmpty = true
	defer func() { PoisonEmpty = false }()
	c := e.Empty(7)
	for i, v := range c.Data {
		if v == v {
			t.Fatalf("PoisonEmpty: [%d] = %g, want NaN", i, v)
		}
	}
}
