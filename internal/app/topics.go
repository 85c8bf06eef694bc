package app

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"

	"gopkg.in/yaml.v3"

	"github.com/rapporthq/rapport/internal/locale"
)

// Bounds of RAPPORT_TOPICS_FILE.
const (
	maxTopicsFile  = 256 << 10
	maxTopics      = 200
	maxTopicLabel  = 100
	maxTopicLocale = 50
)

// topicRe is what a journey's topic may be (as the compiler checks it).
var topicRe = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,63}$`)

// topicSettings is one topic of RAPPORT_TOPICS_FILE.
type topicSettings struct {
	// Label names the topic to customers, by locale: {en: Reviews, fr: Avis}.
	Label map[string]string `yaml:"label"`
}

// readTopicLabels reads RAPPORT_TOPICS_FILE: the names customers see for
// topics, per locale,
//
//	reviews:
//	  label: {en: Reviews, fr: Avis}
//
// returned by topic, then normalised locale (fr-CA). Every mistake names
// the file and what is wrong.
func readTopicLabels(path string) (map[string]map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("RAPPORT_TOPICS_FILE: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxTopicsFile+1))
	if err != nil {
		return nil, fmt.Errorf("RAPPORT_TOPICS_FILE: %w", err)
	}
	if len(b) > maxTopicsFile {
		return nil, fmt.Errorf("RAPPORT_TOPICS_FILE: %s is larger than %d KiB", path, maxTopicsFile>>10)
	}
	labels, err := parseTopicLabels(b)
	if err != nil {
		return nil, fmt.Errorf("RAPPORT_TOPICS_FILE: %s: %w", path, err)
	}
	return labels, nil
}

func parseTopicLabels(b []byte) (map[string]map[string]string, error) {
	var raw map[string]topicSettings
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&raw); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%w (expected topics such as `reviews: {label: {en: Reviews, fr: Avis}}`)", err)
	}
	if len(raw) > maxTopics {
		return nil, fmt.Errorf("names %d topics; at most %d are accepted", len(raw), maxTopics)
	}
	out := map[string]map[string]string{}
	for topic, t := range raw {
		if !topicRe.MatchString(topic) {
			return nil, fmt.Errorf("%q is not a topic: use lowercase letters, digits, dashes or underscores, as journeys do", topic)
		}
		if len(t.Label) == 0 {
			return nil, fmt.Errorf("%s: has no label; write `label: {en: ..., fr: ...}`", topic)
		}
		if len(t.Label) > maxTopicLocale {
			return nil, fmt.Errorf("%s.label: names %d locales; at most %d are accepted", topic, len(t.Label), maxTopicLocale)
		}
		out[topic] = map[string]string{}
		for l, text := range t.Label {
			norm, err := locale.Normalize(l)
			if err != nil {
				return nil, fmt.Errorf("%s.label: %w", topic, err)
			}
			field := topic + ".label." + l
			text = strings.TrimSpace(text)
			switch {
			case text == "":
				return nil, fmt.Errorf("%s: is empty", field)
			case !utf8.ValidString(text):
				return nil, fmt.Errorf("%s: is not UTF-8", field)
			case utf8.RuneCountInString(text) > maxTopicLabel:
				return nil, fmt.Errorf("%s: is longer than %d characters", field, maxTopicLabel)
			case strings.IndexFunc(text, unicode.IsControl) >= 0:
				return nil, fmt.Errorf("%s: must be one line of text", field)
			}
			if _, dup := out[topic][norm]; dup {
				return nil, fmt.Errorf("%s.label: names %s twice", topic, norm)
			}
			out[topic][norm] = text
		}
	}
	return out, nil
}
