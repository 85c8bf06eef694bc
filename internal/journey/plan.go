package journey

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
)

// Purpose says which rules a journey's messages follow.
type Purpose string

const (
	// Marketing messages honour every preference: consent, topics,
	// quiet hours and frequency caps.
	Marketing Purpose = "marketing"
	// Transactional messages (about an order the customer placed) ignore
	// topic opt-outs and frequency caps, never consent to the channel.
	Transactional Purpose = "transactional"
)

// Channel is a way to reach a customer.
type Channel string

// The channels a send step may use.
const (
	Email Channel = "email"
	SMS   Channel = "sms"
	Mail  Channel = "mail"
)

// Channels lists every channel in a stable order.
var Channels = []Channel{Email, SMS, Mail}

// Kind names what a step does.
type Kind string

// The step kinds.
const (
	KindSend   Kind = "send"
	KindWait   Kind = "wait"
	KindBranch Kind = "branch"
	KindExit   Kind = "exit"
)

// Plan is a compiled journey: a plain, serialisable value that is the
// journey workflow's input. A running journey keeps the plan it started
// with, so editing the YAML never changes journeys already under way.
type Plan struct {
	Journey     string  `json:"journey"`
	Description string  `json:"description,omitempty"`
	Purpose     Purpose `json:"purpose"`
	Topic       string  `json:"topic,omitempty"`
	Trigger     Trigger `json:"trigger"`
	ExitWhen    string  `json:"exit_when,omitempty"`
	Steps       []Step  `json:"steps"`
	// Source is the file the plan was compiled from. It is not part of the
	// hash: moving a file does not make a new plan.
	Source string `json:"source,omitempty"`
	// Hash identifies the plan's content; see ComputeHash.
	Hash string `json:"hash"`
}

// Trigger says what starts a journey.
type Trigger struct {
	// Event is the event type that starts the journey, such as order.placed.
	Event string `json:"event"`
	// When is an optional CEL condition over event, customer and order.
	When string `json:"when,omitempty"`
}

// Step is one thing a journey does. Exactly one of Send, Wait, Branch and
// Exit is set, as Kind says.
type Step struct {
	ID     string      `json:"id"`
	Kind   Kind        `json:"kind"`
	Line   int         `json:"line"`
	Send   *SendStep   `json:"send,omitempty"`
	Wait   *WaitStep   `json:"wait,omitempty"`
	Branch *BranchStep `json:"branch,omitempty"`
	Exit   *ExitStep   `json:"exit,omitempty"`
}

// SendStep sends one message through the first channel, in order, that
// reaches the customer.
type SendStep struct {
	Channels []Channel `json:"channels"`
	Template string    `json:"template"`
}

// WaitStep pauses the journey for a while (For), or until an event matching
// UntilEvent arrives or Timeout passes.
type WaitStep struct {
	For        Duration `json:"for,omitzero"`
	UntilEvent string   `json:"until_event,omitempty"`
	Timeout    Duration `json:"timeout,omitzero"`
}

// BranchStep runs the steps of the first case whose condition holds, or
// Otherwise when none does; then the journey continues after the branch.
type BranchStep struct {
	Cases     []Case `json:"cases"`
	Otherwise []Step `json:"otherwise,omitempty"`
}

// Case is one arm of a branch.
type Case struct {
	When  string `json:"when"`
	Steps []Step `json:"steps"`
}

// ExitStep ends the journey.
type ExitStep struct {
	Reason string `json:"reason,omitempty"`
}

// ComputeHash returns the content hash of a plan: the first 16 hex digits of
// the SHA-256 of its JSON form without Source, Hash and line numbers. Equal
// journeys have equal hashes wherever their files live and however they are
// laid out; any change of meaning changes the hash.
func ComputeHash(p *Plan) string {
	b, err := json.Marshal(p)
	if err != nil { // a Plan holds only plain values; this cannot fail
		panic("journey: marshal plan: " + err.Error())
	}
	var c Plan
	if err := json.Unmarshal(b, &c); err != nil {
		panic("journey: copy plan: " + err.Error())
	}
	c.Source, c.Hash = "", ""
	c.Walk(func(s *Step) { s.Line = 0 })
	if b, err = json.Marshal(&c); err != nil {
		panic("journey: marshal plan: " + err.Error())
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:8])
}

// ShortHash is the hash as shown to people: its first 7 digits.
func (p *Plan) ShortHash() string {
	if len(p.Hash) < 7 {
		return p.Hash
	}
	return p.Hash[:7]
}

// Walk calls fn for every step of the plan, depth first in document order,
// including the steps inside branches.
func (p *Plan) Walk(fn func(*Step)) {
	walkSteps(p.Steps, fn)
}

func walkSteps(steps []Step, fn func(*Step)) {
	for i := range steps {
		s := &steps[i]
		fn(s)
		if s.Branch != nil {
			for _, c := range s.Branch.Cases {
				walkSteps(c.Steps, fn)
			}
			walkSteps(s.Branch.Otherwise, fn)
		}
	}
}

// ListensForEvents reports whether a running journey reacts to incoming
// events at all (an exit_when or a wait until_event), so events need to be
// delivered to it.
func (p *Plan) ListensForEvents() bool {
	if p.ExitWhen != "" {
		return true
	}
	listens := false
	p.Walk(func(s *Step) {
		if s.Wait != nil && s.Wait.UntilEvent != "" {
			listens = true
		}
	})
	return listens
}
