package app

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// RAPPORT_TOPICS_FILE names topics per locale; every mistake in it stops
// the process at start with the file and what is wrong.
func TestTopicLabelsFromTheTopicsFile(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, []byte(text), 0o600))
		return p
	}
	good := write("topics.yaml", "reviews:\n  label: {en: Reviews, fr: Avis, fr_ca: Critiques}\nback-in-stock:\n  label:\n    en: Back in stock\n")
	cfg, err := ConfigFromEnv(testEnv(t, map[string]string{"RAPPORT_TOPICS_FILE": good}))
	require.NoError(t, err)
	assert.Equal(t, map[string]map[string]string{
		"reviews":       {"en": "Reviews", "fr": "Avis", "fr-CA": "Critiques"},
		"back-in-stock": {"en": "Back in stock"},
	}, cfg.TopicLabels)

	cfg, err = ConfigFromEnv(testEnv(t, nil))
	require.NoError(t, err)
	assert.Nil(t, cfg.TopicLabels, "no file: Rapport's own names")

	for text, says := range map[string]string{
		"reviews: {label: {klingon!: Reviews}}":                    `reviews.label: "klingon!" is not a locale`,
		"reviews: {label: {}}":                                     "reviews: has no label",
		"reviews: {label: {en: ''}}":                               "reviews.label.en: is empty",
		"reviews: {label: {en: \"a\\nb\"}}":                        "reviews.label.en: must be one line",
		"reviews: {label: {en: " + strings.Repeat("x", 101) + "}}": "reviews.label.en: is longer than 100 characters",
		"Reviews!: {label: {en: Reviews}}":                         `"Reviews!" is not a topic`,
		"reviews: {labels: {en: Reviews}}":                         "field labels not found",
		"reviews: {label: {fr: Avis, fr-fr: Avis, FR: Avis}}":      "reviews.label: names fr twice",
		"- reviews": "expected topics such as",
	} {
		_, err := ConfigFromEnv(testEnv(t, map[string]string{"RAPPORT_TOPICS_FILE": write("bad.yaml", text)}))
		require.Error(t, err, text)
		assert.Contains(t, err.Error(), "RAPPORT_TOPICS_FILE: "+filepath.Join(dir, "bad.yaml"), text)
		assert.Contains(t, err.Error(), says, text)
	}
	_, err = ConfigFromEnv(testEnv(t, map[string]string{"RAPPORT_TOPICS_FILE": filepath.Join(dir, "missing.yaml")}))
	assert.ErrorContains(t, err, "RAPPORT_TOPICS_FILE: ")
	big := write("big.yaml", "# "+strings.Repeat("x", maxTopicsFile))
	_, err = ConfigFromEnv(testEnv(t, map[string]string{"RAPPORT_TOPICS_FILE": big}))
	assert.ErrorContains(t, err, "is larger than 256 KiB")
}
