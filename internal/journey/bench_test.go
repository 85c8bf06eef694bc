package journey

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// BenchmarkCompile compiles each shipped journey: parse, check every CEL
// expression, build and hash the plan.
func BenchmarkCompile(b *testing.B) {
	c, err := NewCompiler(Options{})
	if err != nil {
		b.Fatal(err)
	}
	files, err := filepath.Glob("../../journeys/*.yaml")
	if err != nil || len(files) == 0 {
		b.Fatalf("no journeys: %v", err)
	}
	for _, f := range files {
		src, err := os.ReadFile(f)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(filepath.Base(f), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, diags := c.Compile(f, src); diags.HasErrors() {
					b.Fatal(diags.Error())
				}
			}
		})
	}
}

// BenchmarkEvalAudience evaluates the win-back audience for one customer,
// as an audience run does for each candidate SQL cannot decide alone.
func BenchmarkEvalAudience(b *testing.B) {
	e, err := NewEnv()
	if err != nil {
		b.Fatal(err)
	}
	c := Customer{ID: "c_1", Country: "GB", OrdersCount: 3, DaysSinceLastOrder: 120, Tags: []string{"tea"}}
	b.ReportAllocs()
	for b.Loop() {
		if ok, err := e.EvalAudience("days_since_last_order >= 90 && orders_count >= 1", c, time.Time{}); err != nil || !ok {
			b.Fatal(ok, err)
		}
	}
}
