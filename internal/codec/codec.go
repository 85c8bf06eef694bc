package codec

import (
	"crypto/rand"
	"errors"
	"fmt"
	"strings"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"google.golang.org/protobuf/proto"
)

// Metadata written on encrypted payloads.
const (
	// EncodingEncrypted is the "encoding" metadata value of an encrypted
	// payload; payloads with any other encoding pass through Decode.
	EncodingEncrypted = "binary/encrypted"
	// MetadataKeyID is the metadata key naming the key that sealed a payload.
	MetadataKeyID = "encryption-key-id"
	// MetadataCipher is the metadata key naming the cipher.
	MetadataCipher = "encryption-cipher"
	// CipherAES256GCM is the only MetadataCipher value this codec writes or
	// reads.
	CipherAES256GCM = "AES256-GCM"
)

// nonceSize is the GCM nonce length; tagSize its authentication tag.
const (
	nonceSize = 12
	tagSize   = 16
)

// Errors from Decode, for errors.Is.
var (
	// ErrUnknownKey means a payload names a key that is not in the ring.
	ErrUnknownKey = errors.New("encryption key not in the key ring")
	// ErrDecrypt means a payload failed authentication: it was altered, or
	// the key under its id is not the key that sealed it.
	ErrDecrypt = errors.New("payload failed to decrypt")
)

// Codec is a converter.PayloadCodec that seals each payload with
// AES-256-GCM. Encode marshals the whole payload (metadata and data) with
// proto.Marshal and seals it under the ring's newest key with a random
// 12-byte nonce and the key id as additional authenticated data; the result
// is a payload whose data is nonce || ciphertext || tag and whose metadata
// is encoding: binary/encrypted, encryption-key-id: <id> and
// encryption-cipher: AES256-GCM. Decode opens such payloads with the key
// they name and passes every other payload through unchanged, so histories
// written before encryption was turned on still read. Codec is safe for
// concurrent use.
type Codec struct {
	ring *KeyRing
}

var _ converter.PayloadCodec = (*Codec)(nil)

// NewCodec returns a codec over ring, which must hold at least one key.
func NewCodec(ring *KeyRing) (*Codec, error) {
	if ring.Len() == 0 {
		return nil, fmt.Errorf("payload codec: no keys: set %s or %s", EnvKeys, EnvKeysFile)
	}
	return &Codec{ring: ring}, nil
}

// Encode seals each payload under the newest key. It implements
// converter.PayloadCodec; the payloads given are not modified.
func (c *Codec) Encode(payloads []*commonpb.Payload) ([]*commonpb.Payload, error) {
	id := c.ring.Current()
	aead, ok := c.ring.aead(id)
	if !ok {
		return nil, fmt.Errorf("encrypt payloads: the key ring has no current key")
	}
	out := make([]*commonpb.Payload, len(payloads))
	for i, p := range payloads {
		if p == nil {
			continue
		}
		plain, err := proto.Marshal(p)
		if err != nil {
			return nil, fmt.Errorf("encrypt payload %d of %d: marshal: %w", i+1, len(payloads), err)
		}
		sealed := make([]byte, nonceSize, nonceSize+len(plain)+aead.Overhead())
		if _, err := rand.Read(sealed); err != nil {
			return nil, fmt.Errorf("encrypt payload %d of %d: nonce: %w", i+1, len(payloads), err)
		}
		sealed = aead.Seal(sealed, sealed[:nonceSize], plain, []byte(id))
		out[i] = &commonpb.Payload{
			Metadata: map[string][]byte{
				converter.MetadataEncoding: []byte(EncodingEncrypted),
				MetadataKeyID:              []byte(id),
				MetadataCipher:             []byte(CipherAES256GCM),
			},
			Data: sealed,
		}
	}
	return out, nil
}

// Decode opens each encrypted payload with the key its metadata names and
// returns other payloads as they are. It implements converter.PayloadCodec;
// the payloads given are not modified. Errors wrap ErrUnknownKey or
// ErrDecrypt where those apply.
func (c *Codec) Decode(payloads []*commonpb.Payload) ([]*commonpb.Payload, error) {
	out := make([]*commonpb.Payload, len(payloads))
	for i, p := range payloads {
		if p == nil || string(p.GetMetadata()[converter.MetadataEncoding]) != EncodingEncrypted {
			out[i] = p
			continue
		}
		d, err := c.open(p)
		if err != nil {
			return nil, fmt.Errorf("decrypt payload %d of %d: %w", i+1, len(payloads), err)
		}
		out[i] = d
	}
	return out, nil
}

// open decrypts one binary/encrypted payload.
func (c *Codec) open(p *commonpb.Payload) (*commonpb.Payload, error) {
	md := p.GetMetadata()
	if alg, ok := md[MetadataCipher]; ok && string(alg) != CipherAES256GCM {
		return nil, fmt.Errorf("it is sealed with cipher %q; this codec reads %s only", alg, CipherAES256GCM)
	}
	idBytes, ok := md[MetadataKeyID]
	if !ok || len(idBytes) == 0 {
		return nil, fmt.Errorf("%w: it has no %s metadata", ErrDecrypt, MetadataKeyID)
	}
	id := string(idBytes)
	aead, ok := c.ring.aead(id)
	if !ok {
		return nil, fmt.Errorf("%w: it was sealed with key %q; the ring has %s: add that key to %s or %s (keep old keys after rotating)",
			ErrUnknownKey, id, strings.Join(c.ring.IDs(), ", "), EnvKeys, EnvKeysFile)
	}
	data := p.GetData()
	if len(data) < nonceSize+tagSize {
		return nil, fmt.Errorf("%w: key %q: it is %d bytes, too short to be sealed data", ErrDecrypt, id, len(data))
	}
	plain, err := aead.Open(nil, data[:nonceSize], data[nonceSize:], idBytes)
	if err != nil {
		return nil, fmt.Errorf("%w: key %q: the data was altered, or the key with this id is not the one that sealed it", ErrDecrypt, id)
	}
	var d commonpb.Payload
	if err := proto.Unmarshal(plain, &d); err != nil {
		return nil, fmt.Errorf("key %q: decrypted, but the result is not a payload: %w", id, err)
	}
	return &d, nil
}

// NewDataConverter returns Temporal's default data converter wrapped with
// the codec, for client.Options.DataConverter (and so for workers made from
// that client). ring must hold at least one key.
func NewDataConverter(ring *KeyRing) (converter.DataConverter, error) {
	c, err := NewCodec(ring)
	if err != nil {
		return nil, err
	}
	return converter.NewCodecDataConverter(converter.GetDefaultDataConverter(), c), nil
}

// ClientOptions returns the pieces of client.Options that turn encryption
// on: the data converter from NewDataConverter, and a failure converter that
// moves failure messages and stack traces into an encrypted payload (the
// plain message reads "Encoded failure"), since error text often quotes
// customer data. Set both client.Options.DataConverter and
// client.Options.FailureConverter.
func ClientOptions(ring *KeyRing) (converter.DataConverter, converter.FailureConverter, error) {
	dc, err := NewDataConverter(ring)
	if err != nil {
		return nil, nil, err
	}
	fc := temporal.NewDefaultFailureConverter(temporal.DefaultFailureConverterOptions{
		EncodeCommonAttributes: true,
		DataConverter:          dc,
	})
	return dc, fc, nil
}
