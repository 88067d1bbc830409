package natsexec_test

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"reflect"
	"runtime"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/structured-go/nursery/natsexec"
)

// TestCodecRoundTrip encodes values with one codec and decodes them with
// another, as a pool and a worker do, many times and with fresh decoders
// for the later values: each message must decode on its own.
func TestCodecRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		in   func(i int) any
		out  func() any
	}{
		{"int", func(i int) any { return i }, func() any { return new(int) }},
		{"struct with interface", func(i int) any {
			return record{Name: "r", Tags: map[string][]int{"a": {i}}, Any: point{X: i}}
		}, func() any { return new(record) }},
		{"struct", func(i int) any { return sumIn{ID: i, A: i, B: -i} }, func() any { return new(sumIn) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			enc := natsexec.NewCodec()
			for i := range 3 {
				in := tt.in(i)
				for _, dec := range []any{natsexec.NewCodec(), natsexec.NewCodec()} {
					out := tt.out()
					require.NoError(t, natsexec.RoundTrip(enc, dec, in, out), "value %d", i)
					assert.Equal(t, in, deref(out))
				}
			}
		})
	}
}

// heapAfterGC returns the bytes of live heap objects.
func heapAfterGC() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// TestCodecMemoryBound decodes many large values, undecodable ones, and
// values of ever new types with one codec, as a worker does for its
// callers: what the codec keeps stays within its bound.
func TestCodecMemoryBound(t *testing.T) {
	const (
		calls = 300
		size  = 900 << 10
	)
	tests := []struct {
		name string
		msg  func(i int) []byte
	}{
		{"undecodable, new descriptions each", func(i int) []byte {
			// formPrimed, then descriptions that are garbage.
			defs := bytes.Repeat([]byte{byte(i)}, size)
			b := binary.AppendUvarint([]byte{0}, uint64(len(defs)))
			return append(append(b, defs...), 1, 2, 3)
		}},
		{"large values", func(i int) []byte {
			b, err := natsexec.EncodeWire(natsexec.NewCodec(), bytes.Repeat([]byte{byte(i)}, size))
			require.NoError(t, err)
			return b
		}},
		{"a new type each", func(i int) []byte {
			typ := reflect.StructOf([]reflect.StructField{
				{Name: "X", Type: reflect.TypeFor[int]()},
				{Name: fmt.Sprintf("F%d_%s", i, strings.Repeat("n", 1000)), Type: reflect.TypeFor[int]()},
			})
			v := reflect.New(typ).Elem()
			v.Field(0).SetInt(int64(i))
			b, err := natsexec.EncodeWire(natsexec.NewCodec(), v.Interface())
			require.NoError(t, err)
			return b
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dec := natsexec.NewCodec()
			before := heapAfterGC()
			for i := range calls {
				var out struct{ X int }
				natsexec.DecodeWire(dec, tt.msg(i), &out)
			}
			after := heapAfterGC()
			kept, sets := natsexec.CodecKept(dec)
			t.Logf("kept %d bytes in %d sets; heap grew by %d bytes", kept, sets, int64(after)-int64(before))
			assert.LessOrEqual(t, kept, natsexec.MaxKeptBytes)
			// The bound, and as much again for the rest of the process.
			assert.Less(t, int64(after)-int64(before), int64(2*natsexec.MaxKeptBytes), "heap growth")
			runtime.KeepAlive(dec)
		})
	}
}
