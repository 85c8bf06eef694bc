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
	url    string
	key    *ecdsa.PrivateKey
	client *http.Client
}

// PostEvents makes the fake post SendGrid's event webhook to url for every
// message it accepts from now on: "processed", then "delivered", each with
// the message's custom_args flattened into the event as SendGrid does, and
// signed as SendGrid signs (ECDSA P-256 over the timestamp and the body,
// in the X-Twilio-Email-Event-Webhook-Signature and -Timestamp headers).
// Events are posted in the background and retried a few times, as
// SendGrid retries; a nil key turns posting off.
func (f *SendGrid) PostEvents(url string, key *ecdsa.PrivateKey) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if key == nil {
		f.events = nil
		return
	}
	f.events = &sgEvents{url: url, key: key, client: &http.Client{Timeout: 10 * time.Second}}
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
	go func() {
		for attempt, wait := 0, 100*time.Millisecond; attempt < 5; attempt, wait = attempt+1, wait*2 {
			if ev.post(body) == nil {
				return
			}
			time.Sleep(wait)
		}
	}()
}

func (ev *sgEvents) post(body []byte) error {
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	sum := sha256.Sum256(append([]byte(ts), body...))
	sig, err := ecdsa.SignASN1(rand.Reader, ev.key, sum[:])
	if err != nil {
		return err
	}
	req, err := http.NewRequest(http.MethodPost, ev.url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Twilio-Email-Event-Webhook-Signature", base64.StdEncoding.EncodeToString(sig))
	req.Header.Set("X-Twilio-Email-Event-Webhook-Timestamp", ts)
	resp, err := ev.client.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("event webhook answered %d", resp.StatusCode)
	}
	return nil
}
