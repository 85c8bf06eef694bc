package api

import (
	"bytes"
	"context"
	"encoding"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/rapporthq/rapport/internal/journey"
)

// Limits on what a request may hold. Each is named in the answer that
// refuses a request over it, and listed in docs/api.md.
const (
	// maxDepth is how deeply objects and lists may nest in a body.
	maxDepth = 32
	// maxDataBytes bounds an event's data, as compact JSON.
	maxDataBytes = 32 << 10
	// maxAttributesBytes bounds a customer's attributes, as compact JSON.
	maxAttributesBytes = 16 << 10
	// maxKeys bounds the keys of an event's data and of a customer's
	// attributes (at their top level).
	maxKeys = 100
	// maxFormBody bounds the forms of the public pages.
	maxFormBody = 64 << 10
	// retryAfter is what a 503 asks the caller to wait, in seconds.
	retryAfter = "5"
)

// size writes a byte count as people do: 1 MiB, 32 KiB, 900 bytes.
func size(n int) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}

// tooLarge is the answer to a body over limit.
func tooLarge(limit int) *apiError {
	return &apiError{Status: http.StatusRequestEntityTooLarge,
		Message: fmt.Sprintf("the body is larger than %s, the most this request may carry", size(limit))}
}

// readBody reads at most limit bytes of rd; more is a 413.
func readBody(rd io.Reader, limit int) ([]byte, error) {
	body, err := io.ReadAll(io.LimitReader(rd, int64(limit)+1))
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe):
		return nil, tooLarge(int(mbe.Limit))
	case err != nil:
		return nil, &apiError{Status: http.StatusBadRequest, Message: "could not read the body: " + err.Error()}
	case len(body) > limit:
		return nil, tooLarge(limit)
	}
	return body, nil
}

// checkDepth refuses JSON that nests objects and lists deeper than limit,
// without decoding it: it stops at the first byte past the limit, so a
// body of thousands of brackets costs nothing.
func checkDepth(b []byte, limit int) error {
	depth, inString, escaped := 0, false, false
	for _, c := range b {
		if inString {
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
			continue
		}
		switch c {
		case '"':
			inString = true
		case '{', '[':
			if depth++; depth > limit {
				return &apiError{Status: http.StatusBadRequest,
					Message: fmt.Sprintf("the body nests objects and lists more than %d levels deep, the most accepted", limit)}
			}
		case '}', ']':
			depth--
		}
	}
	return nil
}

// checkObject bounds a free-form object (event data, customer
// attributes): its size as compact JSON and its number of keys.
func checkObject(field string, compact []byte, keys, maxBytes int) error {
	switch {
	case len(compact) > maxBytes:
		return badField(field, "is %s as JSON; at most %s is accepted", size(len(compact)), size(maxBytes))
	case keys > maxKeys:
		return badField(field, "has %d keys; at most %d are accepted", keys, maxKeys)
	}
	return nil
}

var (
	timeType        = reflect.TypeFor[time.Time]()
	rawMessageType  = reflect.TypeFor[json.RawMessage]()
	unmarshalerType = reflect.TypeFor[json.Unmarshaler]()
	textType        = reflect.TypeFor[encoding.TextUnmarshaler]()
)

// locate finds the first value of raw that cannot be decoded into a value
// of type t, and answers with its full path (channels.email.consent,
// items[2].price, occurred_at) and what it must be. encoding/json's own
// errors drop map keys and list indexes from the path, and errors of
// custom decoders (time.Time) have none. raw is valid JSON. It returns nil
// when it finds nothing wrong.
func locate(raw []byte, t reflect.Type, path string) *apiError {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || raw[0] == 'n' { // null leaves any value as it is
		return nil
	}
	at := path
	if at == "" {
		at = "body"
	}
	switch {
	case t == rawMessageType:
		return nil
	case t == timeType:
		var tm time.Time
		if raw[0] != '"' || tm.UnmarshalJSON(raw) != nil {
			return badField(at, "must be an RFC 3339 time such as 2026-11-23T10:00:00Z")
		}
		return nil
	case reflect.PointerTo(t).Implements(unmarshalerType):
		if err := reflect.New(t).Interface().(json.Unmarshaler).UnmarshalJSON(raw); err != nil {
			return badField(at, "%v", err)
		}
		return nil
	case reflect.PointerTo(t).Implements(textType):
		var s string
		if raw[0] != '"' || json.Unmarshal(raw, &s) != nil {
			return mismatch(at, "a string", raw)
		}
		if err := reflect.New(t).Interface().(encoding.TextUnmarshaler).UnmarshalText([]byte(s)); err != nil {
			return badField(at, "%v", err)
		}
		return nil
	}
	switch t.Kind() {
	case reflect.Pointer:
		return locate(raw, t.Elem(), path)
	case reflect.Interface:
		if isNumber(raw) {
			if why := numberProblem(raw); why != "" {
				return badField(at, "%s", why)
			}
		}
		return nil
	case reflect.Struct:
		if raw[0] != '{' {
			return mismatch(at, "an object", raw)
		}
		return eachMember(raw, func(key string, v []byte) *apiError {
			f, ok := fieldFor(t, key)
			if !ok {
				return unknownField(join(path, key), key, jsonNames(t))
			}
			return locate(v, f.Type, join(path, key))
		})
	case reflect.Map:
		if raw[0] != '{' {
			return mismatch(at, "an object", raw)
		}
		return eachMember(raw, func(key string, v []byte) *apiError {
			return locate(v, t.Elem(), join(path, key))
		})
	case reflect.Slice, reflect.Array:
		if t.Elem().Kind() == reflect.Uint8 && t.Kind() == reflect.Slice {
			if raw[0] != '"' {
				return mismatch(at, "a string", raw)
			}
			return nil
		}
		if raw[0] != '[' {
			return mismatch(at, "a list", raw)
		}
		dec := json.NewDecoder(bytes.NewReader(raw))
		if _, err := dec.Token(); err != nil {
			return nil
		}
		for i := 0; dec.More(); i++ {
			var v json.RawMessage
			if err := dec.Decode(&v); err != nil {
				return nil
			}
			if e := locate(v, t.Elem(), fmt.Sprintf("%s[%d]", path, i)); e != nil {
				return e
			}
		}
		return nil
	case reflect.String:
		if raw[0] != '"' {
			return mismatch(at, "a string", raw)
		}
	case reflect.Bool:
		if raw[0] != 't' && raw[0] != 'f' {
			return mismatch(at, "true or false", raw)
		}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		if !isNumber(raw) {
			return mismatch(at, "a whole number", raw)
		}
		if _, err := strconv.ParseInt(string(raw), 10, t.Bits()); err != nil {
			return badField(at, "must be a whole number within range, not %s", raw)
		}
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		if !isNumber(raw) {
			return mismatch(at, "a whole number", raw)
		}
		if _, err := strconv.ParseUint(string(raw), 10, t.Bits()); err != nil {
			return badField(at, "must be a whole number of 0 or more within range, not %s", raw)
		}
	case reflect.Float32, reflect.Float64:
		if !isNumber(raw) {
			return mismatch(at, "a number", raw)
		}
		if _, err := strconv.ParseFloat(string(raw), t.Bits()); err != nil {
			return badField(at, "must be a number within range, not %s", raw)
		}
	}
	return nil
}

// eachMember calls f with each member of a JSON object, in order, until f
// answers an error.
func eachMember(raw []byte, f func(key string, v []byte) *apiError) *apiError {
	dec := json.NewDecoder(bytes.NewReader(raw))
	if _, err := dec.Token(); err != nil {
		return nil
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil
		}
		key, _ := tok.(string)
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil
		}
		if e := f(key, v); e != nil {
			return e
		}
	}
	return nil
}

// fieldFor finds the struct field a JSON key fills, as encoding/json
// does: the exact name first, else one that differs only in case.
func fieldFor(t reflect.Type, key string) (reflect.StructField, bool) {
	fields := jsonFields(t)
	for _, f := range fields {
		if f.name == key {
			return f.StructField, true
		}
	}
	for _, f := range fields {
		if strings.EqualFold(f.name, key) {
			return f.StructField, true
		}
	}
	return reflect.StructField{}, false
}

type namedField struct {
	reflect.StructField
	name string
}

// jsonFields lists the fields of a struct under their JSON names,
// embedded structs' fields included.
func jsonFields(t reflect.Type) []namedField {
	var out []namedField
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, _, _ := strings.Cut(tag, ",")
		ft := f.Type
		if ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		if f.Anonymous && name == "" && ft.Kind() == reflect.Struct {
			out = append(out, jsonFields(ft)...)
			continue
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		out = append(out, namedField{StructField: f, name: name})
	}
	return out
}

func jsonNames(t reflect.Type) []string {
	var names []string
	for _, f := range jsonFields(t) {
		names = append(names, f.name)
	}
	return names
}

func unknownField(path, key string, known []string) *apiError {
	msg := "unknown field; check its spelling against the API reference (docs/api.md, or /v1/openapi.json)"
	if near := closest(key, known); near != "" {
		msg = fmt.Sprintf("unknown field; did you mean %s?", near)
	}
	return badField(path, "%s", msg)
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func isNumber(raw []byte) bool {
	return len(raw) > 0 && (raw[0] == '-' || raw[0] >= '0' && raw[0] <= '9')
}

// mismatch answers a value of the wrong JSON type.
func mismatch(field, want string, raw []byte) *apiError {
	return badField(field, "must be %s, not %s", want, jsonKind(raw))
}

// jsonKind names the kind of a JSON value as a message says it.
func jsonKind(raw []byte) string {
	switch {
	case len(raw) == 0:
		return "nothing"
	case raw[0] == '{':
		return "an object"
	case raw[0] == '[':
		return "a list"
	case raw[0] == '"':
		return "a string"
	case raw[0] == 't' || raw[0] == 'f':
		return "true or false"
	case raw[0] == 'n':
		return "null"
	}
	return "a number"
}

// closest is the candidate a likely typo of s meant (journey.Suggest, the
// compiler's did-you-mean), else one that s begins or is the beginning of,
// or "" when none is near.
func closest(s string, candidates []string) string {
	if best := journey.Suggest(s, candidates); best != "" {
		return best
	}
	for _, c := range candidates {
		if len(s) >= 3 && len(c) >= 3 && (strings.HasPrefix(c, s) || strings.HasPrefix(s, c)) {
			return c
		}
	}
	return ""
}

// unavailable reports whether err means the database cannot be reached
// for now (it is down, restarting, or refusing connections), rather than
// that the request is at fault: such a request is answered 503 and may
// be repeated.
func unavailable(err error) bool {
	if err == nil {
		return false
	}
	var ce *pgconn.ConnectError
	if errors.As(err, &ce) {
		return true
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		// admin_shutdown, crash_shutdown, cannot_connect_now, and the
		// connection_exception class.
		return slices.Contains([]string{"57P01", "57P02", "57P03"}, pe.Code) || strings.HasPrefix(pe.Code, "08")
	}
	var ne net.Error
	switch {
	case pgconn.SafeToRetry(err), pgconn.Timeout(err):
		return true
	case errors.Is(err, context.DeadlineExceeded):
		return true
	case errors.Is(err, pgconn.ErrConnClosed), errors.Is(err, io.ErrUnexpectedEOF):
		return true
	case errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		return true
	case errors.As(err, &ne):
		return true
	}
	return false
}
