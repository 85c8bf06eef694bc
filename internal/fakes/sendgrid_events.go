package fakes

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"
)

// sgEvents is where the SendGrid fake posts its event webhook.
type sgEvents struct {
	url string
	key *ecdsa.PrivateKey
	*hookSender
}

// PostEvents makes the fake post SendGrid's event webhook to url for every
// message it accepts from now on: "processed", then "delivered", in one
// batch, each with the message's custom_args flattened into the event as
// SendGrid does, and signed as SendGrid signs (ECDSA P-256 over the
// timestamp and the body, in the X-Twilio-Email-Event-Webhook-Signature
// and -Timestamp headers).
//
// Batches are posted in the background. A post that fails (no answer, or
// not a 2xx) is retried as SendGrid retries, which it does for up to 24
// hours: after 100 ms, then waits doubling up to 30 s each, giving up 20
// minutes after the first attempt. Every attempt is signed afresh, with
// the time of that attempt, so a late retry is not refused as stale.
//
// A nil key turns posting off. Turning it off, or calling PostEvents
// again, ends the retries still under way.
func (f *SendGrid) PostEvents(url string, key *ecdsa.PrivateKey) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.events != nil {
		f.events.close()
		f.events = nil
	}
	if key == nil {
		return
	}
	f.events = &sgEvents{url: url, key: key, hookSender: newHookSender(f.retry)}
}

func (f *SendGrid) postEvents(to, providerID string, args map[string]string) {
	f.mu.Lock()
	ev := f.events
	f.mu.Unlock()
	if ev == nil {
		return
	}
	var batch []map[string]any
	for _, kind := range []string{"processed", "delivered"} {
		e := map[string]any{}
		for k, v := range args {
			e[k] = v
		}
		e["email"], e["event"], e["timestamp"] = to, kind, time.Now().Unix()
		e["sg_event_id"], e["sg_message_id"] = randomID(16), providerID+".filter0001.1.0"
		batch = append(batch, e)
	}
	body, _ := json.Marshal(batch)
	ev.send(func() error { return ev.post(body) })
}

// post signs body with the time now and posts it once.
func (ev *sgEvents) post(body []byte) error {
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	sum := sha256.Sum256(append([]byte(ts), body...))
	sig, err := ecdsa.SignASN1(rand.Reader, ev.key, sum[:])
	if err != nil {
		return fmt.Errorf("sign SendGrid event webhook: %w", err)
	}
	req, err := http.NewRequest(http.MethodPost, ev.url, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("SendGrid event webhook: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Twilio-Email-Event-Webhook-Signature", base64.StdEncoding.EncodeToString(sig))
	req.Header.Set("X-Twilio-Email-Event-Webhook-Timestamp", ts)
	return ev.do(req)
}
