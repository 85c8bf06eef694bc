package simulation

import (
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"
)

// outboxMessage is what /dev/outbox.json shows of a message.
type outboxMessage struct {
	Seq        int               `json:"seq"`
	Channel    string            `json:"channel"`
	To         string            `json:"to"`
	CustomerID string            `json:"customer_id"`
	Journey    string            `json:"journey"`
	Step       string            `json:"step"`
	Text       string            `json:"text"`
	Headers    map[string]string `json:"headers"`
}

// watchOutbox follows the dev outbox and lets each customer react to what
// they receive.
func (s *sim) watchOutbox(ctx context.Context) {
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			s.catchUp(ctx)
		}
	}
}

func (s *sim) catchUp(ctx context.Context) {
	s.mu.Lock()
	after := s.lastSeq
	s.mu.Unlock()
	var msgs []outboxMessage
	if err := s.do(ctx, http.MethodGet, fmt.Sprintf("/dev/outbox.json?after=%d", after), nil, &msgs, http.StatusOK); err != nil {
		if ctx.Err() == nil {
			s.fail(fmt.Errorf("simulation: read the outbox: %w", err))
		}
		return
	}
	sort.Slice(msgs, func(i, j int) bool { return msgs[i].Seq < msgs[j].Seq })
	for _, m := range msgs {
		s.mu.Lock()
		s.lastSeq = max(s.lastSeq, m.Seq)
		s.sum.MessagesSeen++
		s.sum.MessagesBy[m.Channel]++
		p := s.customers[m.CustomerID]
		s.mu.Unlock()
		if p != nil && ctx.Err() == nil {
			go s.react(ctx, p, m)
		}
	}
}

var (
	surveyLink = regexp.MustCompile(`https?://\S+/survey/[A-Za-z0-9_.~-]+`)
	httpInList = regexp.MustCompile(`<(https?://[^>]+)>`)
)

// react is a customer reading a message: answering a survey, leaving by
// the unsubscribe link or a STOP reply, or changing their preferences.
func (s *sim) react(ctx context.Context, p *person, m outboxMessage) {
	if m.Channel == "sms" {
		p.mu.Lock()
		p.phone = m.To
		p.mu.Unlock()
	}
	// A moment to read it.
	if !s.sleepDays(ctx, float64(p.intn(12))/24) {
		return
	}
	if link := surveyLink.FindString(m.Text); link != "" && p.intn(100) < 50 {
		score := 1 + p.intn(5)
		form := url.Values{"score": {fmt.Sprint(score)}, "comment": {"simulated answer"}}
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, link, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if err := s.send(req, nil, http.StatusOK, http.StatusConflict, http.StatusGone, http.StatusForbidden); err != nil {
			s.fail(fmt.Errorf("simulation: answer a survey: %w", err))
			return
		}
		s.count(&s.sum.SurveyAnswers)
	}
	switch n := p.intn(100); {
	case n < 4 && m.Channel == "email" && m.Headers["List-Unsubscribe"] != "":
		// The mailbox provider's unsubscribe button: RFC 8058 one-click.
		target := httpInList.FindStringSubmatch(m.Headers["List-Unsubscribe"])
		if target == nil {
			s.fail(fmt.Errorf("simulation: List-Unsubscribe without an https link: %q", m.Headers["List-Unsubscribe"]))
			return
		}
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, target[1], strings.NewReader("List-Unsubscribe=One-Click"))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if err := s.send(req, nil, http.StatusOK); err != nil {
			s.fail(fmt.Errorf("simulation: one-click unsubscribe: %w", err))
			return
		}
		s.changed("one-click unsubscribe")
	case n < 8 && m.Channel == "sms" && strings.Contains(m.Text, "STOP"):
		if err := s.reply(ctx, m.To, []string{"STOP", "stop", "Unsubscribe", "STOPALL"}[p.intn(4)]); err != nil {
			s.fail(fmt.Errorf("simulation: reply STOP: %w", err))
			return
		}
		s.changed("replied STOP")
	case n < 11:
		s.changeMind(ctx, p, m.Channel)
	}
}

// reply is an inbound SMS, delivered to the webhook as Twilio would, with
// its signature.
func (s *sim) reply(ctx context.Context, from, body string) error {
	u := s.api + "/webhooks/twilio/inbound"
	form := url.Values{"From": {from}, "To": {"+15005550006"}, "Body": {body}, "MessageSid": {fmt.Sprintf("SMsim%030d", s.sid.Add(1))}}
	keys := slices.Sorted(func(yield func(string) bool) {
		for k := range form {
			if !yield(k) {
				return
			}
		}
	})
	var b strings.Builder
	b.WriteString(u)
	for _, k := range keys {
		b.WriteString(k + form.Get(k))
	}
	mac := hmac.New(sha1.New, []byte(s.cfg.TwilioAuthToken))
	mac.Write([]byte(b.String()))
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, strings.NewReader(form.Encode()))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Twilio-Signature", base64.StdEncoding.EncodeToString(mac.Sum(nil)))
	return s.send(req, nil, http.StatusOK, http.StatusNoContent)
}

type task struct {
	ID       string   `json:"id"`
	Status   string   `json:"status"`
	Outcomes []string `json:"outcomes"`
}

// workTasks is the staff: each open task is claimed and completed a little
// later, with one of its outcomes.
func (s *sim) workTasks(ctx context.Context) {
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	working := map[string]bool{}
	rng := rand.New(rand.NewPCG(s.cfg.Seed, 1<<40))
	var mu sync.Mutex
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		var list struct {
			Tasks []task `json:"tasks"`
		}
		if err := s.do(ctx, http.MethodGet, "/v1/tasks?status=open,overdue", nil, &list, http.StatusOK); err != nil {
			if ctx.Err() == nil {
				s.fail(fmt.Errorf("simulation: list tasks: %w", err))
			}
			return
		}
		for _, t := range list.Tasks {
			if working[t.ID] {
				continue
			}
			working[t.ID] = true
			mu.Lock()
			delay := float64(rng.IntN(4*24)) / 24
			outcome := "done"
			if len(t.Outcomes) > 0 {
				outcome = t.Outcomes[rng.IntN(len(t.Outcomes))]
			}
			mu.Unlock()
			go func() {
				if !s.sleepDays(ctx, delay) {
					return
				}
				if err := s.do(ctx, http.MethodPost, "/v1/tasks/"+t.ID+"/claim", map[string]any{"assignee": "sim-staff"}, nil, http.StatusOK, http.StatusConflict); err != nil {
					s.fail(fmt.Errorf("simulation: claim a task: %w", err))
					return
				}
				// Conflict: the journey settled it meanwhile (it ended).
				if err := s.do(ctx, http.MethodPost, "/v1/tasks/"+t.ID+"/complete", map[string]any{"outcome": outcome, "notes": "simulated call"}, nil, http.StatusOK, http.StatusConflict, http.StatusNotFound); err != nil {
					s.fail(fmt.Errorf("simulation: complete a task: %w", err))
					return
				}
				s.count(&s.sum.TasksCompleted)
			}()
		}
	}
}

// waitForJourneys returns once no journey is running.
func (s *sim) waitForJourneys(ctx context.Context) error {
	last := -1
	for {
		n, err := s.cfg.Running(ctx)
		if err != nil {
			return fmt.Errorf("simulation: %w", err)
		}
		if n == 0 {
			return nil
		}
		if n != last {
			if n == 1 {
				s.progress("1 journey still running")
			} else {
				s.progress("%d journeys still running", n)
			}
			last = n
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("simulation: %d journeys still running: %w", n, context.Cause(ctx))
		case <-time.After(200 * time.Millisecond):
		}
	}
}
