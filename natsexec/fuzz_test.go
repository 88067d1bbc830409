package natsexec_test

import (
	"bytes"
	"encoding/binary"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/structured-go/nursery/natsexec"
	"github.com/structured-go/nursery/subprocess"
)

// decodeTargets returns one pointer of each type the fuzzed values are
// decoded into.
func decodeTargets() []any {
	return []any{new(int), new(string), new([]byte), new(sumIn), new(record), new(subprocess.WireError), new(any)}
}

// FuzzDecode feeds arbitrary wire forms to a codec, as a hostile client
// would to a worker: decoding fails or succeeds, but never panics, and
// the codec keeps within its memory bound.
func FuzzDecode(f *testing.F) {
	enc := natsexec.NewCodec()
	for _, v := range []any{
		42, "text", []byte{1, 2, 3}, sumIn{ID: 1, A: 2, B: 3},
		record{Name: "r", Tags: map[string][]int{"a": {1}}, Any: point{X: 1}},
		*subprocess.NewWireError(natsexec.ErrTooLarge),
	} {
		b, err := natsexec.EncodeWire(enc, v)
		require.NoError(f, err)
		f.Add(b)
	}
	f.Add([]byte{})
	f.Add([]byte{0, 0})
	f.Add([]byte{1})
	dec := natsexec.NewCodec() // shared, as a worker's is
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, v := range decodeTargets() {
			natsexec.DecodeWire(dec, b, v)
			natsexec.DecodeWire(natsexec.NewCodec(), b, v)
		}
		kept, _ := natsexec.CodecKept(dec)
		assert.LessOrEqual(t, kept, natsexec.MaxKeptBytes)
	})
}

// FuzzRoundTrip encodes values with one codec and decodes them with
// another, one fresh and one long-lived: they arrive unchanged.
func FuzzRoundTrip(f *testing.F) {
	f.Add(1, "a", []byte("x"), "k")
	f.Add(-1<<40, "", []byte{}, "")
	enc, dec := natsexec.NewCodec(), natsexec.NewCodec()
	f.Fuzz(func(t *testing.T, n int, s string, b []byte, k string) {
		in := record{Name: s, Tags: map[string][]int{k: {n}}, Any: point{X: n}}
		for _, d := range []any{dec, natsexec.NewCodec()} {
			var out record
			require.NoError(t, natsexec.RoundTrip(enc, d, in, &out))
			assert.Equal(t, in, out)
			var outIn sumIn
			require.NoError(t, natsexec.RoundTrip(enc, d, sumIn{ID: n, A: len(s), B: len(b)}, &outIn))
			assert.Equal(t, sumIn{ID: n, A: len(s), B: len(b)}, outIn)
			var outB []byte
			require.NoError(t, natsexec.RoundTrip(enc, d, b, &outB))
			assert.True(t, bytes.Equal(b, outB))
		}
	})
}

// FuzzMessages feeds arbitrary messages to the parsers of pools and
// workers: they never panic, and a heartbeat they accept names a valid
// token and claims a capacity and an interval within bounds.
func FuzzMessages(f *testing.F) {
	f.Add(natsexec.ForgeHeartbeat("tok", "name", 4, time.Second, false, nil))
	f.Add(natsexec.ForgeHeartbeat("tok", "name", 4, time.Second, true, []byte("secret")))
	f.Add(natsexec.HeartbeatV0("tok", "name", 4))
	f.Add(natsexec.CallMsg("natsexectest.noop", 1))
	v := natsexec.ProtocolVersion
	f.Add(natsexec.Message(v, natsexec.KindResult, []byte{3, 0, 1}))
	f.Add(natsexec.Message(v, natsexec.KindPing, nil))
	f.Add(natsexec.Message(v+1, natsexec.KindCall, []byte("later")))
	f.Add(natsexec.Message(v-1, natsexec.KindCall, []byte("earlier")))
	renew := binary.AppendUvarint(append([]byte{3}, "tok"...), 2)
	renew = append(binary.AppendUvarint(renew, 1), 22)
	renew = append(renew, "AAAAAAAAAAAAAAAAAAAAAA"...)
	renew = append(binary.AppendUvarint(renew, 2), 22)
	renew = append(renew, "BBBBBBBBBBBBBBBBBBBBBB"...)
	f.Add(natsexec.Message(v, 6, renew))
	f.Add(natsexec.Message(v, 2, append([]byte{29}, "_I.x.1.AAAAAAAAAAAAAAAAAAAAAA"...)))
	f.Fuzz(func(t *testing.T, b []byte) {
		hb, err := natsexec.ParseMessage(b)
		if err != nil || hb == nil {
			return
		}
		assert.True(t, natsexec.ValidToken(hb.Token), "token %q", hb.Token)
		assert.LessOrEqual(t, len(hb.Name), 256)
		assert.True(t, 1 <= hb.Capacity && hb.Capacity <= natsexec.MaxConcurrency, "capacity %d", hb.Capacity)
		assert.True(t, 0 < hb.Interval && hb.Interval <= natsexec.MaxHeartbeat, "interval %v", hb.Interval)
	})
}
