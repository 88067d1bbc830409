package natsexec_test

import (
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
