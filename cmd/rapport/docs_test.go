package main

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// docFiles are the documents a reader follows: the README, docs/ and the
// guides kept next to what they describe.
func docFiles(t *testing.T) []string {
	t.Helper()
	files := []string{"../../README.md", "../../journeys/README.md", "../../deploy/README.md"}
	more, err := filepath.Glob("../../docs/*.md")
	require.NoError(t, err)
	require.NotEmpty(t, more, "docs/ has pages")
	return append(files, more...)
}

var (
	linkRe    = regexp.MustCompile(`\]\(([^)\s]+)\)`)
	headingRe = regexp.MustCompile("(?m)^#{1,6} (.+)$")
	// commandRe finds `rapport X` and `go run ./cmd/rapport X` with an
	// optional second word (a subcommand, or an argument).
	commandRe = regexp.MustCompile(`(?:go run \./cmd/rapport|(?:^|[\s` + "`" + `|(])rapport) ([a-z][a-z-]*)(?: ([a-z][a-z-]*))?`)
)

// anchors are the GitHub anchors of a Markdown file's headings.
func anchors(text string) map[string]bool {
	out := map[string]bool{}
	inFence := false
	for _, line := range strings.Split(text, "\n") {
		if strings.HasPrefix(line, "```") {
			inFence = !inFence
		}
		if m := headingRe.FindStringSubmatch(line); m != nil && !inFence {
			s := strings.ToLower(strings.TrimSpace(m[1]))
			s = regexp.MustCompile(`[^\p{L}\p{N}_\- ]`).ReplaceAllString(s, "")
			out[strings.ReplaceAll(s, " ", "-")] = true
		}
	}
	return out
}

// TestDocsLinksResolve: every relative link in the README and docs/ names
// a file or folder that exists and, into a Markdown file, a heading it
// has.
func TestDocsLinksResolve(t *testing.T) {
	for _, f := range docFiles(t) {
		data, err := os.ReadFile(f)
		require.NoError(t, err)
		for _, m := range linkRe.FindAllStringSubmatch(string(data), -1) {
			target := m[1]
			if regexp.MustCompile(`^[a-z]+:`).MatchString(target) {
				continue
			}
			path, frag, _ := strings.Cut(target, "#")
			dest := f
			if path != "" {
				dest = filepath.Join(filepath.Dir(f), path)
			}
			info, err := os.Stat(dest)
			if !assert.NoError(t, err, "%s: link %s: no such file", f, target) {
				continue
			}
			if frag != "" && !info.IsDir() && strings.HasSuffix(dest, ".md") {
				text, err := os.ReadFile(dest)
				require.NoError(t, err)
				assert.True(t, anchors(string(text))[frag], "%s: link %s: %s has no heading with that anchor", f, target, dest)
			}
		}
	}
}

// TestDocsCommandsExist: every `rapport X` the README and docs/ show is a
// command, and `rapport X --help` (and `rapport X Y --help` for a
// command's subcommand) succeeds.
func TestDocsCommandsExist(t *testing.T) {
	seen := map[string]bool{}
	for _, f := range docFiles(t) {
		data, err := os.ReadFile(f)
		require.NoError(t, err)
		for _, m := range commandRe.FindAllStringSubmatch(string(data), -1) {
			root := newRootCmd()
			cmd, _, err := root.Find([]string{m[1]})
			if err != nil || cmd == root {
				t.Errorf("%s: `rapport %s` is not a command", f, m[1])
				continue
			}
			args := []string{m[1]}
			if m[2] != "" && cmd.HasSubCommands() {
				sub, _, err := root.Find([]string{m[1], m[2]})
				assert.NoError(t, err, "%s: `rapport %s %s`", f, m[1], m[2])
				if err == nil && sub != cmd {
					args = append(args, m[2])
				} else if sub == cmd {
					t.Errorf("%s: `rapport %s %s`: %s has no subcommand %q", f, m[1], m[2], m[1], m[2])
				}
			}
			seen[strings.Join(args, " ")] = true
		}
	}
	names := make([]string, 0, len(seen))
	for n := range seen {
		names = append(names, n)
	}
	sort.Strings(names)
	require.Greater(t, len(names), 20, "the docs show the commands")
	for _, n := range names {
		root := newRootCmd()
		var out bytes.Buffer
		root.SetOut(&out)
		root.SetErr(&out)
		root.SetArgs(append(strings.Fields(n), "--help"))
		assert.NoError(t, root.Execute(), "rapport %s --help", n)
		assert.Contains(t, out.String(), "Usage:", "rapport %s --help prints its usage", n)
	}
	t.Logf("%d commands shown in the docs, each answering --help: %s", len(names), strings.Join(names, ", "))
}
