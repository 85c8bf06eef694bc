package api

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/go-json-experiment/json/jsontext"
)

// What the database can store, and what journeys can read: every JSON
// body is held to it before it is decoded (checkStorable), so a value
// PostgreSQL would refuse is answered 400 with its field, never 500, and
// a value stored is one routing can read back.
const (
	// maxScale is the most digits a number may have after its decimal
	// point, counting those an exponent adds (1e-5 has 5): PostgreSQL's
	// numeric, which jsonb keeps numbers in, holds no more (its dscale
	// is 14 bits).
	maxScale = 16383
	// maxExponent bounds the exponent PostgreSQL reads at all, even of a
	// zero (0e1073741823 is refused): INT_MAX/2.
	maxExponent = math.MaxInt32 / 2
)

// checkStorable refuses a JSON body holding a value that cannot be stored
// or read back, naming it by its path (prefix.a.b[2]):
//
//   - a string or key holding the NUL character (\u0000): PostgreSQL text
//     and jsonb cannot hold it;
//   - bytes that are not UTF-8, or a lone UTF-16 surrogate (\ud800
//     without its pair): not text at all;
//   - a number beyond a 64-bit float (about ±1.797e308), which routing
//     reads numbers as (PostgreSQL's own bound, 10^131072, is wider), or
//     with more than maxScale digits after its point, which PostgreSQL
//     refuses.
//
// Strings are checked before a body is decoded (the decoder would put
// U+FFFD in place of what is not UTF-8). Numbers are checked where JSON
// is kept as sent (checkNumbers: an event's data), and by locate where it
// is decoded into any (a customer's attributes), so that a field of a
// type of its own (an amount, a quantity) is refused by its own rules. A
// body that is not JSON passes: the decoder then says where it breaks.
func checkStorable(body []byte, prefix string) *apiError {
	return scanJSON(body, prefix, false)
}

// checkNumbers refuses a number of a decoded body that cannot be stored
// or read back (see checkStorable), naming it.
func checkNumbers(body []byte, prefix string) *apiError {
	return scanJSON(body, prefix, true)
}

// scanJSON checks the strings of body, or its numbers.
func scanJSON(body []byte, prefix string, numbers bool) *apiError {
	dec := jsontext.NewDecoder(bytes.NewReader(body), jsontext.AllowInvalidUTF8(true), jsontext.AllowDuplicateNames(true))
	for {
		kind := dec.PeekKind()
		switch kind {
		case 0:
			return nil // the end, or not JSON (the decoder reports that)
		case '{', '}', '[', ']':
			if _, err := dec.ReadToken(); err != nil {
				return nil
			}
			continue
		}
		raw, err := dec.ReadValue()
		if errors.Is(err, io.EOF) || err != nil {
			return nil
		}
		var why string
		switch {
		case kind == '"' && !numbers:
			why = stringProblem(raw)
		case kind == '0' && numbers:
			why = numberProblem(raw)
		}
		if why == "" {
			continue
		}
		path, isKey := jsonPath(dec, prefix)
		if isKey {
			return badField(path, "has a key that %s", why)
		}
		return badField(path, "%s", why)
	}
}

// jsonPath is where dec stands, as the API names fields (prefix.a.b[2]),
// and whether what was just read is an object's key rather than a value.
func jsonPath(dec *jsontext.Decoder, prefix string) (string, bool) {
	path := prefix
	var tokens []string
	for tok := range dec.StackPointer().Tokens() {
		tokens = append(tokens, tok)
	}
	isKey := false
	for i := 1; i <= dec.StackDepth() && i-1 < len(tokens); i++ {
		kind, length := dec.StackIndex(i)
		tok := tokens[i-1]
		if kind == '[' {
			path += "[" + tok + "]"
			continue
		}
		if i == dec.StackDepth() && length%2 == 1 {
			isKey = true // the name just read is at fault: name its object
			break
		}
		path = join(path, strings.ToValidUTF8(strings.ReplaceAll(tok, "\x00", ""), "?"))
	}
	if path == "" {
		path = "body"
	}
	return path, isKey
}

// stringProblem says what in a JSON string (raw, with its quotes and
// escapes) cannot be stored, or "".
func stringProblem(raw []byte) string {
	s := raw[1 : len(raw)-1]
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == '\\' && i+1 < len(s) && s[i+1] == 'u' && i+6 <= len(s):
			r, ok := hex4(s[i+2 : i+6])
			if !ok {
				return "" // not JSON; the decoder says so
			}
			i += 6
			switch {
			case r == 0:
				return `holds the NUL character (\u0000), which cannot be stored; remove it`
			case utf16.IsSurrogate(r) && r < 0xdc00:
				if i+6 <= len(s) && s[i] == '\\' && s[i+1] == 'u' {
					if low, ok := hex4(s[i+2 : i+6]); ok && low >= 0xdc00 && low <= 0xdfff {
						i += 6
						continue
					}
				}
				return fmt.Sprintf(`holds \u%04x, half of a UTF-16 surrogate pair without its other half, which is not a character; send the pair (such as \ud83d\ude00) or the character itself`, r)
			case utf16.IsSurrogate(r):
				return fmt.Sprintf(`holds \u%04x, half of a UTF-16 surrogate pair without its other half, which is not a character; send the pair (such as \ud83d\ude00) or the character itself`, r)
			}
		case c == '\\':
			i += 2
		case c < utf8.RuneSelf:
			i++
		default:
			r, n := utf8.DecodeRune(s[i:])
			if r == utf8.RuneError && n <= 1 {
				return fmt.Sprintf("is not valid UTF-8 (byte 0x%02x); send text encoded as UTF-8", s[i])
			}
			i += n
		}
	}
	return ""
}

// hex4 reads the four hexadecimal digits of a \u escape.
func hex4(b []byte) (rune, bool) {
	v, err := strconv.ParseUint(string(b), 16, 16)
	return rune(v), err == nil
}

// numberProblem says why a JSON number cannot be stored and read back, or
// "".
func numberProblem(raw []byte) string {
	s := string(raw)
	mantissa, exponent, hasExp := strings.Cut(strings.ToLower(s), "e")
	_, frac, _ := strings.Cut(mantissa, ".")
	exp := int64(0)
	if hasExp {
		e, err := strconv.ParseInt(strings.TrimPrefix(exponent, "+"), 10, 64)
		if err != nil && !errors.Is(err, strconv.ErrRange) {
			return "" // not JSON; the decoder says so
		}
		exp = e // ±MaxInt64 when out of range: refused below
	}
	if exp >= maxExponent || exp <= -maxExponent {
		return fmt.Sprintf("%s has an exponent beyond ±%d; the database cannot store it", short(s), maxExponent-1)
	}
	if _, err := strconv.ParseFloat(s, 64); errors.Is(err, strconv.ErrRange) {
		return fmt.Sprintf("%s is beyond ±%g, the largest number journeys can compute with", short(s), math.MaxFloat64)
	}
	if scale := int64(len(frac)) - exp; scale > maxScale {
		return fmt.Sprintf("%s has %d digits after the decimal point; at most %d can be stored", short(s), scale, maxScale)
	}
	return ""
}

// short shortens a long value for a message.
func short(s string) string {
	if len(s) > 40 {
		return s[:20] + "..." + s[len(s)-12:]
	}
	return s
}

// Limits of text fields, in characters (not bytes), each named in the
// answer that refuses a longer value and listed in docs/api.md and
// docs/openapi.yaml (maxLength).
const (
	maxName        = 200   // a customer's name, an item's or a product's name, a task's assignee or "by"
	maxEmail       = 254   // RFC 5321's longest address
	maxPhone       = 26    // as phoneRe allows
	maxLocale      = 35    // RFC 5646's longest language tag worth keeping
	maxZone        = 64    // IANA time zone names are much shorter
	maxRef         = 128   // ids of things the shop names: orders, products
	maxURL         = 2048  // a product's link or image
	maxOutcome     = 100   // a task's outcome
	maxNotes       = 10000 // a task's notes
	maxTaskNote    = 2000  // one note added to a task
	maxSource      = 100   // where a change came from
	maxShown       = 2000  // evidence: what was shown, a note
	maxIP          = 100   // evidence: an IP address
	maxAgent       = 1000  // evidence: a browser's User-Agent
	maxAddress     = 500   // a suppressed address
	maxReason      = 500   // why an address is suppressed
	maxItems       = 1000  // lines of an order
	maxCaps        = 20    // frequency caps of a customer
	maxPer         = 20    // a cap's duration, such as 7d
	maxParam       = 1000  // a path segment or query parameter
	maxComplements = 100   // complements of a product
)

// text refuses a text field over max characters, and, with oneLine, one
// holding a line break or another control character (they would reshape
// a subject, a header, a text message or a printed address line). It
// returns the value as given.
func text(field, s string, max int, oneLine bool) error {
	if n := utf8.RuneCountInString(s); n > max {
		return badField(field, "is %d characters; at most %s are accepted", n, count(max))
	}
	if oneLine {
		if i := strings.IndexFunc(s, isControl); i >= 0 {
			r, _ := utf8.DecodeRuneInString(s[i:])
			return badField(field, "holds a line break or another control character (U+%04X); it must be one line of text", r)
		}
	}
	return nil
}

// isControl reports whether r breaks a line or is otherwise not text to
// show on one line: C0 and C1 controls (tab included), DEL, and Unicode's
// line and paragraph separators.
func isControl(r rune) bool {
	return unicode.IsControl(r) || r == '\u2028' || r == '\u2029'
}

// count writes a whole number as people read it: 10,000.
func count(n int) string {
	s := strconv.Itoa(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// cleanText makes text from a customer's form or a provider's webhook
// storable, where refusing it would lose what was meant (a comment, an
// SMS reply): bytes that are not UTF-8 become U+FFFD, CR LF and CR become
// "\n", and other control characters (NUL included) are dropped, except
// "\n" and "\t" when lines are kept; without, those become spaces.
func cleanText(s string, keepLines bool) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = strings.NewReplacer("\r\n", "\n", "\r", "\n").Replace(s)
	return strings.Map(func(r rune) rune {
		switch {
		case r == '\n' || r == '\t' || r == '\u2028' || r == '\u2029':
			if keepLines {
				return r
			}
			return ' '
		case isControl(r):
			return -1
		}
		return r
	}, s)
}

// cleanJSON applies cleanText, keeping lines, to every string of a
// decoded JSON value (keys included).
func cleanJSON(v any) any {
	switch v := v.(type) {
	case string:
		return cleanText(v, true)
	case []any:
		for i := range v {
			v[i] = cleanJSON(v[i])
		}
		return v
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, e := range v {
			out[cleanText(k, true)] = cleanJSON(e)
		}
		return out
	}
	return v
}
