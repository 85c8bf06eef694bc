package money

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestUnmarshalAcceptsNumbersAndDecimalStrings(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{`48.00`, "48.00"},
		{`"48.00"`, "48.00"},
		{`48`, "48"},
		{`"48"`, "48"},
		{`48.0`, "48.0"},
		{`0.1`, "0.1"},
		{`"12.345"`, "12.345"},
		{`4.8e1`, "48"},
		{`-3.50`, "-3.50"},
		{`"999999999999999.999999"`, "999999999999999.999999"},
	} {
		var a Amount
		if err := json.Unmarshal([]byte(tc.in), &a); err != nil {
			t.Errorf("%s: %v", tc.in, err)
			continue
		}
		if a.String() != tc.want {
			t.Errorf("%s read as %s, want %s", tc.in, a, tc.want)
		}
		out, _ := json.Marshal(a)
		if string(out) != tc.want {
			t.Errorf("%s written as %s, want %s", tc.in, out, tc.want)
		}
	}
}

func TestUnmarshalRefusesWhatIsNotAnAmount(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{`"48,00"`, `"48,00" is not an amount; give a number (48.0) or a decimal string ("48.00")`},
		{`"£48"`, `"£48" is not an amount`},
		{`"4.8e1"`, `"4.8e1" is not an amount`},
		{`" 48"`, `" 48" is not an amount`},
		{`""`, `"" is not an amount`},
		{`true`, `true is not an amount`},
		{`{}`, `{} is not an amount`},
		{`"NaN"`, `"NaN" is not an amount`},
		{`1e400`, `1e400 is out of range`},
		{`0.0000001`, `0.0000001 is out of range`},
		{`"1234567890123456"`, `"1234567890123456" is out of range`},
		{`"` + strings.Repeat("9", 100) + `"`, `is not an amount`},
	} {
		var a Amount
		err := json.Unmarshal([]byte(tc.in), &a)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%.40s: got %v, want an error with %q", tc.in, err, tc.want)
		}
	}
}

func TestArithmeticIsExact(t *testing.T) {
	// 0.1 + 0.2 is 0.30000000000000004 in binary floating point.
	sum := MustParse("0.1").Add(MustParse("0.2"))
	if !sum.Equal(MustParse("0.3")) || sum.String() != "0.3" {
		t.Errorf("0.1 + 0.2 = %s", sum)
	}
	if got := MustParse("4.25").Mul(3).String(); got != "12.75" {
		t.Errorf("4.25 × 3 = %s", got)
	}
	if got := MustParse("48").WithScale(2).String(); got != "48.00" {
		t.Errorf("48 with 2 places = %s", got)
	}
	if got := FromMinor(4800, 2).String(); got != "48.00" {
		t.Errorf("4800 minor units = %s", got)
	}
	if MustParse("48").Cmp(MustParse("48.00")) != 0 || MustParse("-1").Sign() != -1 || !MustParse("0.00").IsZero() {
		t.Error("comparisons are wrong")
	}
}

func TestScanValue(t *testing.T) {
	var a Amount
	if err := a.Scan("12.345"); err != nil || a.String() != "12.345" {
		t.Fatalf("scan: %v %s", err, a)
	}
	if err := a.Scan([]byte("48.00")); err != nil || a.String() != "48.00" {
		t.Fatalf("scan bytes: %v %s", err, a)
	}
	if err := a.Scan(3.5); err == nil {
		t.Error("scanned a float")
	}
	if v, _ := MustParse("48.00").Value(); v != "48.00" {
		t.Errorf("value %v", v)
	}
}

func TestExponent(t *testing.T) {
	for code, want := range map[string]int{"EUR": 2, "GBP": 2, "JPY": 0, "KWD": 3, "CLF": 4, "ZZZ": 2, "": 2} {
		if got := Exponent(code); got != want {
			t.Errorf("%q: %d, want %d", code, got, want)
		}
	}
}

func TestFormat(t *testing.T) {
	for _, tc := range []struct{ amount, code, locale, want string }{
		{"48", "GBP", "en-GB", "£48.00"},
		{"48.00", "EUR", "de-DE", "48,00\u00a0€"},
		{"4800", "JPY", "ja-JP", "¥4,800"},
		{"4800", "JPY", "en-GB", "¥4,800"},
		{"1234567.5", "USD", "en-US", "$1,234,567.50"},
		{"1234567.5", "EUR", "de-DE", "1.234.567,50\u00a0€"},
		{"1234.5", "EUR", "fr-FR", "1\u202f234,50\u00a0€"},
		{"1234.5", "EUR", "es-ES", "1234,50\u00a0€"},
		{"12345.5", "EUR", "es-ES", "12.345,50\u00a0€"},
		{"48", "EUR", "nl-NL", "€\u00a048,00"},
		{"48", "USD", "en-CA", "US$48.00"},
		{"48", "CAD", "en-CA", "$48.00"},
		{"48", "CAD", "en-GB", "CA$48.00"},
		{"48", "CHF", "de-CH", "CHF\u00a048.00"},
		{"12.345", "KWD", "en-GB", "KWD\u00a012.345"},
		{"48", "GBP", "", "£48.00"},
		{"48", "GBP", "not a locale", "£48.00"},
		{"-3.5", "GBP", "en-GB", "-£3.50"},
		{"10", "eur", "de", "10,00\u00a0€"},
		{"0.005", "EUR", "en", "€0.01"},
		{"-0.001", "EUR", "en", "€0.00"},
	} {
		if got := Format(MustParse(tc.amount), tc.code, tc.locale); got != tc.want {
			t.Errorf("%s %s %s: %q, want %q", tc.amount, tc.code, tc.locale, got, tc.want)
		}
	}
}
