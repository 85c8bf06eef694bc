package journey

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzCompile feeds the compiler arbitrary bytes: it must never panic (a
// recovered panic shows up as an "internal error" diagnostic), every
// diagnostic must point inside the file, and a plan must survive a JSON round
// trip with its hash intact. The seed corpus is the repository's journeys
// plus testdata/fuzz/FuzzCompile.
func FuzzCompile(f *testing.F) {
	files, _ := filepath.Glob("../../journeys/*.yaml")
	for _, name := range files {
		if b, err := os.ReadFile(name); err == nil {
			f.Add(b)
		}
	}
	f.Add(src("journey: a", "purpose: transactional", "trigger: {event: x}", "steps: [{wait: 1d}]"))
	f.Add(src("journey: a", "trigger: {event: x, when: \"event.data['k'] == 1\"}", "exit_when: |", "  event.type == 'x' &&", "  event.order.total > 3", "steps:", "  - branch:", "    - when: order.gift", "      steps: [{exit: gift}]", "    - otherwise: [{send: {channel: [email, sms], template: t}}]"))
	c := newTestCompiler(f)
	f.Fuzz(func(t *testing.T, in []byte) {
		plan, diags := c.Compile("f.yaml", in)
		lines := len(splitLines(string(in))) + 1
		for _, d := range diags {
			if strings.Contains(d.Message, "internal error") || strings.Contains(d.Message, "could not be checked") {
				t.Fatalf("compiler failed internally: %s", d)
			}
			if d.Pos.Line < 1 || d.Pos.Col < 1 || (utf8.Valid(in) && d.Pos.Line > lines) {
				t.Fatalf("diagnostic outside the file: %s", d)
			}
		}
		if plan == nil {
			if !diags.HasErrors() {
				t.Fatal("no plan and no error")
			}
			return
		}
		if diags.HasErrors() {
			t.Fatal("a plan despite errors")
		}
		b, err := json.Marshal(plan)
		if err != nil {
			t.Fatal(err)
		}
		var back Plan
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatal(err)
		}
		if ComputeHash(&back) != plan.Hash {
			t.Fatalf("hash changed over a JSON round trip")
		}
		_ = plan.Mermaid()
	})
}
