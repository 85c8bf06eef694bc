// Package links makes and checks the signed links Rapport puts in messages
// (a survey, the preference center, unsubscribe): a token carries its
// purpose, its claims and an expiry, sealed with HMAC-SHA256 so it cannot
// be forged or altered, and checked in constant time. Short tokens
// (SignSubject) name a single subject, for links that must fit a text
// message or be typed from a postcard. A token has exactly one spelling:
// it is unpadded base64url decoded strictly, so no two strings verify as
// the same token.
package links

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// b64 is the one encoding tokens are written in: unpadded base64url,
// decoded strictly, so unused trailing bits must be zero and no two
// strings decode to the same bytes.
var b64 = base64.RawURLEncoding.Strict()

// wellFormed reports whether a token holds only the characters tokens are
// made of (base64url and dots). The base64 decoders skip line breaks even
// when strict; this check refuses them and anything else besides.
func wellFormed(token string) bool {
	for i := 0; i < len(token); i++ {
		c := token[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

// Errors from Verify. Both mean "refuse and change nothing".
var (
	ErrInvalid = errors.New("the link is not valid")
	ErrExpired = errors.New("the link has expired")
)

// Signer signs and verifies tokens with one secret.
type Signer struct {
	key []byte
}

// NewSigner returns a signer. The secret must be at least 32 bytes.
func NewSigner(secret []byte) (*Signer, error) {
	if len(secret) < 32 {
		return nil, fmt.Errorf("the link signing secret is %d bytes; use at least 32 (RAPPORT_SECRET)", len(secret))
	}
	return &Signer{key: append([]byte(nil), secret...)}, nil
}

type envelope struct {
	Purpose string          `json:"p"`
	Expires int64           `json:"e"`
	Claims  json.RawMessage `json:"c"`
}

// Sign seals claims for a purpose ("survey") until expires.
func (s *Signer) Sign(purpose string, claims any, expires time.Time) (string, error) {
	c, err := json.Marshal(claims)
	if err != nil {
		return "", fmt.Errorf("sign %s link: %w", purpose, err)
	}
	payload, err := json.Marshal(envelope{Purpose: purpose, Expires: expires.Unix(), Claims: c})
	if err != nil {
		return "", err
	}
	p := b64.EncodeToString(payload)
	return p + "." + b64.EncodeToString(s.mac(p)), nil
}

// Verify checks a token for a purpose and, when it is genuine and current,
// decodes its claims into v.
func (s *Signer) Verify(token, purpose string, now time.Time, v any) error {
	p, sig, ok := strings.Cut(token, ".")
	if !ok || len(token) > 4096 || !wellFormed(token) {
		return ErrInvalid
	}
	got, err := b64.DecodeString(sig)
	if err != nil || !hmac.Equal(got, s.mac(p)) {
		return ErrInvalid
	}
	raw, err := b64.DecodeString(p)
	if err != nil {
		return ErrInvalid
	}
	var env envelope
	if err := json.Unmarshal(raw, &env); err != nil || env.Purpose != purpose {
		return ErrInvalid
	}
	if !now.Before(time.Unix(env.Expires, 0)) {
		return ErrExpired
	}
	if err := json.Unmarshal(env.Claims, v); err != nil {
		return ErrInvalid
	}
	return nil
}

// SignSubject seals a single subject (a customer id) for a purpose until
// expires, as a short token: the subject, the expiry and 96 bits of
// HMAC-SHA256, about 40 characters for a short id.
func (s *Signer) SignSubject(purpose, subject string, expires time.Time) string {
	body := b64.EncodeToString([]byte(subject)) + "." + strconv.FormatInt(expires.Unix(), 36)
	return body + "." + b64.EncodeToString(s.subjectMAC(purpose, body))
}

// VerifySubject checks a token made by SignSubject for a purpose and
// returns its subject.
func (s *Signer) VerifySubject(token, purpose string, now time.Time) (string, error) {
	if len(token) > 512 || strings.Count(token, ".") != 2 || !wellFormed(token) {
		return "", ErrInvalid
	}
	i := strings.LastIndexByte(token, '.')
	body, sig := token[:i], token[i+1:]
	got, err := b64.DecodeString(sig)
	if err != nil || !hmac.Equal(got, s.subjectMAC(purpose, body)) {
		return "", ErrInvalid
	}
	enc, exp, _ := strings.Cut(body, ".")
	subject, err := b64.DecodeString(enc)
	expires, err2 := strconv.ParseInt(exp, 36, 64)
	if err != nil || err2 != nil {
		return "", ErrInvalid
	}
	if !now.Before(time.Unix(expires, 0)) {
		return "", ErrExpired
	}
	return string(subject), nil
}

func (s *Signer) subjectMAC(purpose, body string) []byte {
	m := hmac.New(sha256.New, s.key)
	m.Write([]byte("rapport-subject-v1\x00" + purpose + "\x00"))
	m.Write([]byte(body))
	return m.Sum(nil)[:12]
}

func (s *Signer) mac(payload string) []byte {
	m := hmac.New(sha256.New, s.key)
	m.Write([]byte("rapport-link-v1\x00"))
	m.Write([]byte(payload))
	return m.Sum(nil)
}

// SurveyPurpose is the purpose of satisfaction survey links.
const SurveyPurpose = "survey"

// Survey is what a survey link carries: which survey, for whom, sent by
// which journey run and step.
type Survey struct {
	SurveyID   string `json:"sv"`
	CustomerID string `json:"cu"`
	WorkflowID string `json:"wf"`
	StepID     string `json:"st"`
	// OrderID is the order the survey asks about, if any.
	OrderID string `json:"or,omitempty"`
}

// SurveyID identifies the survey a journey run sends at a step.
func SurveyID(workflowID, stepID string) string {
	sum := sha256.Sum256([]byte("survey#" + workflowID + "#" + stepID))
	return hex.EncodeToString(sum[:10])
}

// PreferencesPurpose is the purpose of preference center links.
const PreferencesPurpose = "preferences"

// PreferenceCenter is what a preference center link made with Sign
// carries. New links are made with SignSubject (the customer id), short
// enough for texts and postcards; both kinds are accepted.
type PreferenceCenter struct {
	CustomerID string `json:"cu"`
}

// UnsubscribePurpose is the purpose of unsubscribe links.
const UnsubscribePurpose = "unsubscribe"

// Unsubscribe is what an unsubscribe link carries: who leaves which topic,
// from a message on which channel, sent by which run.
type Unsubscribe struct {
	CustomerID string `json:"cu"`
	Topic      string `json:"to"`
	Channel    string `json:"ch"`
	WorkflowID string `json:"wf,omitempty"`
}

// ReportPurpose is the purpose of report page links: staff open a
// journey's report page with one (rapport report JOURNEY --open asks the
// API for it with a key holding reports:read).
const ReportPurpose = "report"

// ReportSessionPurpose is the purpose of the signed cookie the report
// page's sign-in form sets: it names the key that signed in, never holds
// the key itself.
const ReportSessionPurpose = "report-session"

// Report is what a report link or a report session carries: the key that
// asked for it (its public id: the page checks the key is still valid and
// holds reports:read at every view) and, for a link, the one journey it
// opens.
type Report struct {
	Journey string `json:"j,omitempty"`
	KeyID   string `json:"k"`
}
