package codec

import (
	"bytes"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	commonpb "go.temporal.io/api/common/v1"
	failurepb "go.temporal.io/api/failure/v1"
	"go.temporal.io/sdk/converter"
	"google.golang.org/protobuf/proto"
)

// ring builds a key ring of test keys named k1, k2, ... filled with the
// given bytes, oldest first.
func ring(t *testing.T, fills ...byte) *KeyRing {
	t.Helper()
	keys := make([]Key, len(fills))
	for i, b := range fills {
		keys[i] = Key{ID: "k" + string(rune('0'+b)), Secret: secret(b)}
	}
	r, err := NewKeyRing(keys...)
	require.NoError(t, err)
	return r
}

func newCodec(t *testing.T, r *KeyRing) *Codec {
	t.Helper()
	c, err := NewCodec(r)
	require.NoError(t, err)
	return c
}

// plain is a payload as the default converter makes it.
func plain(t *testing.T, v any) *commonpb.Payload {
	t.Helper()
	p, err := converter.GetDefaultDataConverter().ToPayload(v)
	require.NoError(t, err)
	return p
}

// assertSameKey checks that key id holds the same secret in both rings:
// what one seals, the other opens.
func assertSameKey(t *testing.T, a, b *KeyRing, id string) {
	t.Helper()
	ca, cb := newCodec(t, a), newCodec(t, b)
	enc, err := ca.Encode([]*commonpb.Payload{plain(t, "x")})
	require.NoError(t, err)
	require.Equal(t, id, string(enc[0].Metadata[MetadataKeyID]))
	_, err = cb.Decode(enc)
	require.NoError(t, err)
}

func TestRoundTrip(t *testing.T) {
	c := newCodec(t, ring(t, 1))
	in := []*commonpb.Payload{plain(t, "ada@example.com"), plain(t, map[string]int{"n": 3}), plain(t, nil)}
	snapshot := make([]*commonpb.Payload, len(in))
	for i, p := range in {
		snapshot[i] = proto.Clone(p).(*commonpb.Payload)
	}

	enc, err := c.Encode(in)
	require.NoError(t, err)
	require.Len(t, enc, len(in))
	for i, p := range enc {
		assert.Equal(t, EncodingEncrypted, string(p.Metadata[converter.MetadataEncoding]))
		assert.Equal(t, "k1", string(p.Metadata[MetadataKeyID]))
		assert.Equal(t, CipherAES256GCM, string(p.Metadata[MetadataCipher]))
		m, _ := proto.Marshal(in[i])
		assert.Len(t, p.Data, nonceSize+len(m)+tagSize, "nonce || ciphertext || tag")
		assert.True(t, proto.Equal(snapshot[i], in[i]), "Encode must not modify its input")
	}

	dec, err := c.Decode(enc)
	require.NoError(t, err)
	require.Len(t, dec, len(in))
	for i := range in {
		assert.True(t, proto.Equal(in[i], dec[i]), "payload %d", i)
	}
}

func TestEncodeUsesFreshNonces(t *testing.T) {
	c := newCodec(t, ring(t, 1))
	p := plain(t, "same")
	a, err := c.Encode([]*commonpb.Payload{p})
	require.NoError(t, err)
	b, err := c.Encode([]*commonpb.Payload{p})
	require.NoError(t, err)
	assert.NotEqual(t, a[0].Data[:nonceSize], b[0].Data[:nonceSize])
	assert.NotEqual(t, a[0].Data, b[0].Data)
}

func TestCiphertextHoldsNoPlaintext(t *testing.T) {
	c := newCodec(t, ring(t, 1))
	p := plain(t, map[string]string{"email": "ada@example.com"})
	require.Contains(t, string(p.Data), "ada@example.com")
	enc, err := c.Encode([]*commonpb.Payload{p})
	require.NoError(t, err)
	wire, err := proto.Marshal(enc[0])
	require.NoError(t, err)
	assert.False(t, bytes.Contains(wire, []byte("ada@example.com")), "the encoded payload must not hold the plaintext")
	assert.False(t, bytes.Contains(wire, []byte("json/plain")), "nor the inner encoding")
}

func TestRotation(t *testing.T) {
	old := newCodec(t, ring(t, 1))
	rotated := newCodec(t, ring(t, 1, 2))

	enc, err := old.Encode([]*commonpb.Payload{plain(t, "before rotation")})
	require.NoError(t, err)
	require.Equal(t, "k1", string(enc[0].Metadata[MetadataKeyID]))
	dec, err := rotated.Decode(enc)
	require.NoError(t, err, "a ring that still holds k1 reads what k1 sealed")
	assert.True(t, proto.Equal(plain(t, "before rotation"), dec[0]))

	enc2, err := rotated.Encode([]*commonpb.Payload{plain(t, "after rotation")})
	require.NoError(t, err)
	assert.Equal(t, "k2", string(enc2[0].Metadata[MetadataKeyID]), "new payloads use the newest key")
	dec2, err := rotated.Decode(enc2)
	require.NoError(t, err)
	assert.True(t, proto.Equal(plain(t, "after rotation"), dec2[0]))

	// Mixed batches decode, each with its own key.
	both, err := rotated.Decode([]*commonpb.Payload{enc[0], enc2[0]})
	require.NoError(t, err)
	assert.True(t, proto.Equal(plain(t, "before rotation"), both[0]))
	assert.True(t, proto.Equal(plain(t, "after rotation"), both[1]))
}

func TestUnknownKey(t *testing.T) {
	enc, err := newCodec(t, ring(t, 2)).Encode([]*commonpb.Payload{plain(t, "x")})
	require.NoError(t, err)
	_, err = newCodec(t, ring(t, 1, 3)).Decode([]*commonpb.Payload{plain(t, "plain"), enc[0]})
	require.Error(t, err)
	assert.ErrorIs(t, err, ErrUnknownKey)
	assert.Equal(t, `decrypt payload 2 of 2: encryption key not in the key ring: it was sealed with key "k2"; the ring has k1, k3: add that key to RAPPORT_CODEC_KEYS or RAPPORT_CODEC_KEYS_FILE (keep old keys after rotating)`, err.Error())
}

func TestSameIDOtherSecret(t *testing.T) {
	enc, err := newCodec(t, ring(t, 1)).Encode([]*commonpb.Payload{plain(t, "x")})
	require.NoError(t, err)
	other, err := NewKeyRing(Key{ID: "k1", Secret: secret(9)})
	require.NoError(t, err)
	_, err = newCodec(t, other).Decode(enc)
	assert.ErrorIs(t, err, ErrDecrypt)
}

func TestTampered(t *testing.T) {
	r := ring(t, 1, 2)
	c := newCodec(t, r)
	enc, err := c.Encode([]*commonpb.Payload{plain(t, "ada@example.com")})
	require.NoError(t, err)
	orig := enc[0]
	clone := func() *commonpb.Payload { return proto.Clone(orig).(*commonpb.Payload) }

	for name, p := range map[string]*commonpb.Payload{
		"flipped ciphertext byte": func() *commonpb.Payload {
			p := clone()
			p.Data[nonceSize+2] ^= 0x01
			return p
		}(),
		"flipped nonce byte": func() *commonpb.Payload {
			p := clone()
			p.Data[0] ^= 0x80
			return p
		}(),
		"flipped tag byte": func() *commonpb.Payload {
			p := clone()
			p.Data[len(p.Data)-1] ^= 0x01
			return p
		}(),
		"truncated": func() *commonpb.Payload {
			p := clone()
			p.Data = p.Data[:len(p.Data)-1]
			return p
		}(),
		"key id swapped to another key in the ring": func() *commonpb.Payload {
			p := clone()
			p.Metadata[MetadataKeyID] = []byte("k1")
			return p
		}(),
	} {
		t.Run(name, func(t *testing.T) {
			_, err := c.Decode([]*commonpb.Payload{p})
			require.Error(t, err)
			assert.ErrorIs(t, err, ErrDecrypt)
			assert.Contains(t, err.Error(), "decrypt payload 1 of 1: payload failed to decrypt: key ")
			assert.Contains(t, err.Error(), "the data was altered, or the key with this id is not the one that sealed it")
		})
	}

	short := clone()
	short.Data = short.Data[:10]
	_, err = c.Decode([]*commonpb.Payload{short})
	assert.ErrorIs(t, err, ErrDecrypt)
	assert.EqualError(t, err, `decrypt payload 1 of 1: payload failed to decrypt: key "k2": it is 10 bytes, too short to be sealed data`)

	noID := clone()
	delete(noID.Metadata, MetadataKeyID)
	_, err = c.Decode([]*commonpb.Payload{noID})
	assert.EqualError(t, err, "decrypt payload 1 of 1: payload failed to decrypt: it has no encryption-key-id metadata")

	otherCipher := clone()
	otherCipher.Metadata[MetadataCipher] = []byte("AES128-CBC")
	_, err = c.Decode([]*commonpb.Payload{otherCipher})
	assert.EqualError(t, err, `decrypt payload 1 of 1: it is sealed with cipher "AES128-CBC"; this codec reads AES256-GCM only`)

	// The untouched payload still opens.
	_, err = c.Decode([]*commonpb.Payload{orig})
	require.NoError(t, err)
}

func TestDecodePassesPlainPayloadsThrough(t *testing.T) {
	c := newCodec(t, ring(t, 1))
	zlib := &commonpb.Payload{Metadata: map[string][]byte{converter.MetadataEncoding: []byte("binary/zlib")}, Data: []byte{1, 2, 3}}
	noMeta := &commonpb.Payload{Data: []byte("raw")}
	in := []*commonpb.Payload{plain(t, "ada@example.com"), plain(t, nil), zlib, noMeta}
	out, err := c.Decode(in)
	require.NoError(t, err)
	require.Len(t, out, len(in))
	for i := range in {
		assert.Same(t, in[i], out[i], "payload %d passes through unchanged", i)
	}
}

func TestNewCodecNeedsKeys(t *testing.T) {
	_, err := NewCodec(nil)
	require.EqualError(t, err, "payload codec: no keys: set RAPPORT_CODEC_KEYS or RAPPORT_CODEC_KEYS_FILE")
	_, err = NewCodec(&KeyRing{})
	require.Error(t, err)
	_, err = NewDataConverter(nil)
	require.Error(t, err)
	_, _, err = ClientOptions(nil)
	require.Error(t, err)
}

func TestDataConverter(t *testing.T) {
	dc, err := NewDataConverter(ring(t, 1))
	require.NoError(t, err)

	type contact struct {
		Email string `json:"email"`
	}
	p, err := dc.ToPayload(contact{Email: "ada@example.com"})
	require.NoError(t, err)
	assert.Equal(t, EncodingEncrypted, string(p.Metadata[converter.MetadataEncoding]))
	assert.NotContains(t, string(p.Data), "ada@example.com")
	var got contact
	require.NoError(t, dc.FromPayload(p, &got))
	assert.Equal(t, "ada@example.com", got.Email)

	// A history written before encryption was turned on still reads.
	var s string
	require.NoError(t, dc.FromPayload(plain(t, "from before"), &s))
	assert.Equal(t, "from before", s)
}

func TestClientOptionsEncryptFailures(t *testing.T) {
	dc, fc, err := ClientOptions(ring(t, 1))
	require.NoError(t, err)
	require.NotNil(t, dc)

	f := fc.ErrorToFailure(errors.New("cannot reach ada@example.com"))
	require.NotNil(t, f)
	wire, err := proto.Marshal(f)
	require.NoError(t, err)
	assert.False(t, bytes.Contains(wire, []byte("ada@example.com")), "failure messages are encrypted")
	assert.Equal(t, "Encoded failure", f.GetMessage())
	assert.Equal(t, EncodingEncrypted, string(f.GetEncodedAttributes().GetMetadata()[converter.MetadataEncoding]))

	back := fc.FailureToError(proto.Clone(f).(*failurepb.Failure))
	assert.Contains(t, back.Error(), "cannot reach ada@example.com")
}
