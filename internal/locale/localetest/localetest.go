// Package localetest finds English that Rapport wrote in text meant for a
// customer of another language: the words of its English catalog and
// English month and weekday names.
package localetest

import (
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode"

	"github.com/rapporthq/rapport/internal/locale"
)

var (
	verbs = regexp.MustCompile(`%(\[\d+\])?[sdvq]`)
	tags  = regexp.MustCompile(`<[^>]*>`)
	urls  = regexp.MustCompile(`https?://[^\s<>"]+`)
)

// EnglishPhrases are the pieces of Rapport's English that must not show
// in text for a customer of lang: each English catalog text that lang's
// catalog says otherwise, cut at its fmt verbs and HTML tags, plus the
// English names of the months and weekdays.
func EnglishPhrases(lang string) []string {
	var out []string
	for _, k := range locale.Keys() {
		en, _ := locale.Text(locale.Default, k)
		if other, ok := locale.Text(lang, k); ok && other == en {
			continue // the same in both (SMS, message)
		}
		for _, piece := range verbs.Split(tags.ReplaceAllString(en, "%s"), -1) {
			piece = strings.TrimFunc(piece, func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) })
			if letters(piece) >= 2 {
				out = append(out, piece)
			}
		}
	}
	for m := time.January; m <= time.December; m++ {
		out = append(out, m.String())
	}
	for d := time.Sunday; d <= time.Saturday; d++ {
		out = append(out, d.String())
	}
	slices.Sort(out)
	return slices.Compact(out)
}

func letters(s string) int {
	n := 0
	for _, r := range s {
		if unicode.IsLetter(r) {
			n++
		}
	}
	return n
}

// EnglishIn lists the phrases of EnglishPhrases(lang) that text holds as
// whole words (HTML tags and links aside: /unsubscribe/ in a link is no
// word to a reader): none for a well translated message.
func EnglishIn(text, lang string) []string {
	text = urls.ReplaceAllString(tags.ReplaceAllString(text, " "), " ")
	var found []string
	for _, p := range EnglishPhrases(lang) {
		if regexp.MustCompile(`(^|[^\pL\pN])` + regexp.QuoteMeta(p) + `($|[^\pL\pN])`).MatchString(text) {
			found = append(found, p)
		}
	}
	return found
}
