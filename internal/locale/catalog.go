package locale

import (
	"embed"
	"fmt"
	"path"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"
)

// The catalog: every sentence Rapport itself writes to customers (in
// messages, footers and its pages), one YAML file per language under
// messages/, key: text. English (en.yaml) is complete by definition; a
// test holds every other file to the same keys and the same fmt verbs.
//
//go:embed messages/*.yaml
var messageFiles embed.FS

// catalogs holds the texts by locale, then key.
var catalogs = map[string]map[string]string{}

func init() {
	entries, err := messageFiles.ReadDir("messages")
	if err != nil {
		panic(err)
	}
	for _, e := range entries {
		b, err := messageFiles.ReadFile(path.Join("messages", e.Name()))
		if err != nil {
			panic(err)
		}
		m := map[string]string{}
		if err := yaml.Unmarshal(b, &m); err != nil {
			panic(fmt.Sprintf("internal/locale/messages/%s: %v", e.Name(), err))
		}
		catalogs[strings.TrimSuffix(e.Name(), ".yaml")] = m
	}
	if catalogs[Default] == nil {
		panic("internal/locale/messages: no " + Default + ".yaml")
	}
}

// Locales lists the locales with a catalog, sorted.
func Locales() []string {
	out := make([]string, 0, len(catalogs))
	for l := range catalogs {
		out = append(out, l)
	}
	slices.Sort(out)
	return out
}

// Keys lists the catalog's keys (English's), sorted.
func Keys() []string {
	out := make([]string, 0, len(catalogs[Default]))
	for k := range catalogs[Default] {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// Text is a catalog's own text for a key, unformatted, and whether that
// locale's file has it (no fallback).
func Text(locale, key string) (string, bool) {
	s, ok := catalogs[locale][key]
	return s, ok
}

// T says a catalog sentence in the customer's locale, along the chain
// (fr-CA, fr, en), formatted with args as fmt does when there are any.
// A key no catalog has is a bug: it comes back as "!key".
func T(locale, key string, args ...any) string {
	for _, l := range Chain(locale) {
		if s, ok := catalogs[l][key]; ok {
			if len(args) == 0 {
				return s
			}
			return fmt.Sprintf(s, args...)
		}
	}
	return "!" + key
}

// Has reports whether some catalog on the locale's chain has the key.
func Has(locale, key string) bool {
	for _, l := range Chain(locale) {
		if _, ok := catalogs[l][key]; ok {
			return true
		}
	}
	return false
}

// Words are the catalog's texts under a prefix ("center."), keyed
// without it, in the customer's locale along the chain: for pages that
// take their words from a map.
func Words(locale, prefix string) map[string]string {
	out := map[string]string{}
	chain := Chain(locale)
	for i := len(chain) - 1; i >= 0; i-- {
		for k, s := range catalogs[chain[i]] {
			if rest, ok := strings.CutPrefix(k, prefix); ok {
				out[rest] = s
			}
		}
	}
	return out
}
