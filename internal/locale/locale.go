// Package locale says things in the customer's language: Rapport's own
// sentences from a message catalog (messages/*.yaml, one file per
// language), and dates, months, weekdays and percentages from CLDR's data
// (github.com/go-playground/locales), never from tables of our own.
//
// A locale falls back along a chain: fr-CA, then fr, then en. Words come
// from the first locale of the chain with a catalog; dates follow the same
// language, in the most specific CLDR form the chain has (en-GB writes "4
// December 2026", en and en-US "December 4, 2026", fr "4 décembre
// 2026"). A customer whose language has no catalog reads English, with
// dates written the international English way (CLDR's en-001: "4 December
// 2026"), not the American one.
package locale

import (
	"fmt"
	"strings"
	"time"

	"github.com/go-playground/locales"
	"github.com/go-playground/locales/en"
	"github.com/go-playground/locales/en_001"
	"github.com/go-playground/locales/en_AU"
	"github.com/go-playground/locales/en_CA"
	"github.com/go-playground/locales/en_GB"
	"github.com/go-playground/locales/en_IE"
	"github.com/go-playground/locales/en_IN"
	"github.com/go-playground/locales/en_NZ"
	"github.com/go-playground/locales/en_US"
	"github.com/go-playground/locales/en_ZA"
	"github.com/go-playground/locales/fr"
	"github.com/go-playground/locales/fr_BE"
	"github.com/go-playground/locales/fr_CA"
	"github.com/go-playground/locales/fr_CH"
	"github.com/go-playground/locales/fr_LU"
	"golang.org/x/text/language"
)

// Default is the last locale of every chain: what Rapport says when it
// knows no better.
const Default = "en"

// maxLocale bounds the locale text looked at; a longer one is no locale.
const maxLocale = 35

// Chain is the locales to try for a customer's locale, most specific
// first, always ending with Default: fr-CA gives fr-CA, fr, en; fr gives
// fr, en; "" or a value that is no locale gives en. Locales are written
// language-REGION (fr-CA), whatever case or separator (fr_ca) was given.
func Chain(locale string) []string {
	own := own(locale)
	if len(own) == 0 || own[len(own)-1] != Default {
		own = append(own, Default)
	}
	return own
}

// own is the chain of the locale itself, without the default.
func own(locale string) []string {
	if locale == "" || len(locale) > maxLocale {
		return nil
	}
	tag, err := language.Parse(strings.ReplaceAll(locale, "_", "-"))
	if err != nil {
		return nil
	}
	base, _, region := tag.Raw() // a script (zh-Hant-TW) says nothing our catalogs need
	if base.String() == "und" {
		return nil
	}
	var out []string
	if region.String() != "ZZ" {
		out = append(out, base.String()+"-"+region.String())
	}
	return append(out, base.String())
}

// Lang is the language Rapport writes to a customer of that locale: the
// first of its chain with a catalog (fr for fr-CA; en for de-DE while
// there is no German catalog). It is what an HTML page's lang says.
func Lang(locale string) string {
	for _, l := range Chain(locale) {
		if _, ok := catalogs[l]; ok {
			return l
		}
	}
	return Default
}

// translators are the CLDR locales Rapport writes dates in, by
// language-REGION or language: those of the languages it has a catalog
// for.
var translators = map[string]locales.Translator{}

func init() {
	for _, t := range []locales.Translator{
		en.New(), en_001.New(), en_AU.New(), en_CA.New(), en_GB.New(), en_IE.New(), en_IN.New(), en_NZ.New(), en_US.New(), en_ZA.New(),
		fr.New(), fr_BE.New(), fr_CA.New(), fr_CH.New(), fr_LU.New(),
	} {
		translators[strings.ReplaceAll(t.Locale(), "_", "-")] = t
	}
}

// international is how English is written to a customer whose own
// language Rapport does not speak.
const international = "en-001"

// cldr finds the CLDR data for a locale: the most specific of its chain
// in the language Rapport writes to it.
func cldr(locale string) locales.Translator {
	lang := Lang(locale)
	for _, l := range own(locale) {
		if t, ok := translators[l]; ok && strings.HasPrefix(l, lang) {
			return t
		}
	}
	if o := own(locale); len(o) > 0 && o[len(o)-1] == lang {
		return translators[lang]
	}
	return translators[international]
}

// Date writes a day the way the locale does, in CLDR's long form: "4
// December 2026" (en-GB, and languages without a catalog), "December 4,
// 2026" (en, en-US), "4 décembre 2026" (fr).
func Date(t time.Time, locale string) string {
	return cldr(locale).FmtDateLong(t)
}

// FullDate is Date with the weekday: "Friday, 4 December 2026",
// "vendredi 4 décembre 2026".
func FullDate(t time.Time, locale string) string {
	return cldr(locale).FmtDateFull(t)
}

// Month names a month in the locale: "December", "décembre".
func Month(m time.Month, locale string) string {
	return cldr(locale).MonthWide(m)
}

// Weekday names a day of the week in the locale: "Friday", "vendredi".
func Weekday(d time.Weekday, locale string) string {
	return cldr(locale).WeekdayWide(d)
}

// Percent writes a percentage (15 for 15%) with the given decimal places
// the locale's way: "15%", "12.5%", "15 %" (fr, with a no-break space).
func Percent(p float64, places int, locale string) string {
	if places < 0 {
		places = 0
	}
	return cldr(locale).FmtPercent(p, uint64(places))
}

// Normalize writes a locale the way Chain does (fr-CA for fr_ca), or
// fails for a value that is no locale.
func Normalize(locale string) (string, error) {
	own := own(locale)
	if len(own) == 0 {
		return "", fmt.Errorf("%q is not a locale such as fr or fr-CA", locale)
	}
	return own[0], nil
}
