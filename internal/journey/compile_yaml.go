package journey

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"gopkg.in/yaml.v3"
)

// yamlParserErrors are the yaml.v3 messages that come from its parser
// rather than its scanner: for these it reports the 0-based line where the
// enclosing list or mapping starts, so one is added.
var yamlParserErrors = []string{
	"did not find expected key", "did not find expected node content",
	"did not find expected ',' or '}'", "did not find expected ',' or ']'",
	"did not find expected '-' indicator", "did not find expected <document start>",
}

// splitLines splits text at YAML line breaks: \r\n, \r or \n.
func splitLines(s string) []string {
	return strings.Split(strings.ReplaceAll(strings.ReplaceAll(s, "\r\n", "\n"), "\r", "\n"), "\n")
}

// quotedStartRe finds a value that starts as a quoted string and goes on
// after the closing quote (`when: "vip" in customer.tags`): YAML reads the
// quoted part as the whole value and cannot read the rest.
var quotedStartRe = regexp.MustCompile(`^(\s*(?:-\s+)?([A-Za-z_][\w-]*):\s+)("[^"\\]*"|'[^']*')(\s*[^\s#].*)$`)

// yamlError reports a YAML syntax error at its line, in words a
// marketer can act on.
func (cc *compilation) yamlError(err error) {
	// A value that starts with a quote is the likeliest cause, and the
	// parser points elsewhere: say what to write instead.
	hinted := false
	for i, l := range cc.lines {
		m := quotedStartRe.FindStringSubmatch(string(l))
		if m == nil {
			continue
		}
		rest, _, _ := strings.Cut(m[4], " #") // a comment is not part of it
		whole := strings.TrimRight(m[3]+rest, " \t")
		cc.errorAt(Pos{i + 1, len([]rune(m[1])) + 1}, fmt.Sprintf(
			"%s starts with a quote, so YAML reads only %s as its value; quote the whole value: %s: '%s'",
			m[2], m[3], m[2], strings.ReplaceAll(whole, "'", "''")))
		hinted = true
	}
	if hinted {
		return
	}
	for _, line := range strings.Split(err.Error(), "\n") {
		line = strings.TrimSpace(line)
		if m := yamlLineRe.FindStringSubmatch(line); m != nil {
			n, _ := strconv.Atoi(m[1])
			msg := "this is not valid YAML: " + m[2]
			if slices.Contains(yamlParserErrors, m[2]) {
				n++
				msg += " in the part that starts here; check indentation, brackets and quotes"
			}
			cc.errorAt(Pos{n, 1}, msg)
			continue
		}
		if line != "" && line != "yaml: unmarshal errors:" {
			cc.errorAt(Pos{1, 1}, "this is not valid YAML: "+strings.TrimPrefix(line, "yaml: "))
		}
	}
}

// oneOf reads a scalar that must be one of choices, the shape every
// enumerated field of a journey has. Anything else is reported at n as
// "<what> "x" is unknown; use <advice>" with the nearest choice as a
// hint, and ok is false.
func oneOf[T ~string](cc *compilation, n *yaml.Node, what string, choices []T, advice string) (v T, ok bool) {
	s, ok := cc.scalar(n, what)
	if !ok {
		return "", false
	}
	if slices.Contains(choices, T(s)) {
		return T(s), true
	}
	names := make([]string, len(choices))
	for i, c := range choices {
		names[i] = string(c)
	}
	cc.errorf(n, "%s %q is unknown; use %s%s", what, s, advice, didYouMean(s, names))
	return "", false
}

// fieldSet is a YAML mapping read with its keys checked.
type fieldSet struct {
	keys   map[string]*yaml.Node
	values map[string]*yaml.Node
	order  []string
	// unknown counts keys that were reported as unknown.
	unknown int
}

// get is the value of key, or nil when the mapping does not have it.
func (fs *fieldSet) get(key string) *yaml.Node { return fs.values[key] }

// require returns the value of key, or reports msg at the mapping and
// returns nil.
func (fs *fieldSet) require(cc *compilation, at *yaml.Node, key, msg string) *yaml.Node {
	if v := fs.values[key]; v != nil {
		return v
	}
	cc.errorf(at, "%s", msg)
	return nil
}

// fields reads a mapping whose keys must be among o's (the table in
// keys.go), reporting anything else: a value that is not a mapping,
// unknown keys (with a suggestion), duplicate keys.
func (cc *compilation) fields(n *yaml.Node, o *object) *fieldSet {
	what, allowed := o.what, o.names()
	n = cc.resolve(n)
	if n == nil {
		return nil
	}
	if n.Kind != yaml.MappingNode {
		if isNull(n) {
			cc.errorf(n, "%s is empty; it needs settings such as %s", what, strings.Join(allowed, ", "))
		} else {
			cc.errorf(n, "%s must be a set of `key: value` settings (%s)", what, strings.Join(allowed, ", "))
		}
		return nil
	}
	fs := &fieldSet{keys: map[string]*yaml.Node{}, values: map[string]*yaml.Node{}}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := cc.resolve(n.Content[i]), n.Content[i+1]
		if k == nil {
			continue
		}
		if k.Kind != yaml.ScalarNode {
			cc.errorf(k, "a key in %s must be a plain word", what)
			continue
		}
		if k.Value == "<<" {
			cc.errorf(k, "merge keys (<<) are not supported in journeys; write the settings out")
			continue
		}
		if prev, dup := fs.keys[k.Value]; dup {
			cc.errorf(k, "%s is set twice in %s (first on line %d); remove one", k.Value, what, prev.Line)
			continue
		}
		if !slices.Contains(allowed, k.Value) {
			fs.unknown++
			if hint := didYouMean(k.Value, allowed); hint != "" {
				cc.errorf(k, "%s has no setting %q%s", what, k.Value, hint)
			} else {
				cc.errorf(k, "%s has no setting %q; it can have %s", what, k.Value, strings.Join(allowed, ", "))
			}
			continue
		}
		fs.keys[k.Value] = k
		fs.values[k.Value] = v
		fs.order = append(fs.order, k.Value)
	}
	return fs
}

// scalar reads a single value (not a list or mapping). An empty value
// counts as missing.
func (cc *compilation) scalar(n *yaml.Node, what string) (string, bool) {
	n = cc.resolve(n)
	if n == nil {
		return "", false
	}
	switch {
	case n.Kind != yaml.ScalarNode:
		cc.errorf(n, "%s must be a single value, not a list or a set of settings", what)
		return "", false
	case isNull(n):
		cc.errorf(n, "%s is empty; give it a value", what)
		return "", false
	}
	return n.Value, true
}

// resolve follows aliases and counts nodes, so an alias bomb cannot make
// the compiler walk forever. It returns nil once the budget is spent.
func (cc *compilation) resolve(n *yaml.Node) *yaml.Node {
	for depth := 0; n != nil && n.Kind == yaml.AliasNode; depth++ {
		if depth > 16 {
			cc.errorf(n, "this alias refers to itself; write the value out")
			return nil
		}
		n = n.Alias
	}
	if n == nil {
		return nil
	}
	cc.nodes++
	if cc.nodes == maxNodes {
		cc.errorf(n, "this journey is too large (more than %d values, counting aliases); split it into several journeys", maxNodes)
	}
	if cc.nodes >= maxNodes {
		return nil
	}
	return n
}

// isNull reports whether n is YAML's null (~, null or nothing).
func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.Tag == "!!null"
}

// pos is where n starts in the source.
func pos(n *yaml.Node) Pos { return Pos{Line: n.Line, Col: n.Column} }

// errorf reports an error at n.
func (cc *compilation) errorf(n *yaml.Node, format string, args ...any) {
	cc.errorAt(pos(n), fmt.Sprintf(format, args...))
}

// warnf reports a warning at n; the plan is still made.
func (cc *compilation) warnf(n *yaml.Node, format string, args ...any) {
	cc.diags = append(cc.diags, Diagnostic{File: cc.file, Pos: pos(n), Severity: Warning, Message: fmt.Sprintf(format, args...)})
}

// errorAt reports an error at p.
func (cc *compilation) errorAt(p Pos, msg string) {
	if p.Line < 1 {
		p.Line = 1
	}
	if p.Col < 1 {
		p.Col = 1
	}
	cc.diags = append(cc.diags, Diagnostic{File: cc.file, Pos: p, Severity: Error, Message: msg})
}

// --- positions inside scalars ---------------------------------------------

// valuePositions maps every rune of a scalar's value to its place in the
// file, following YAML's quoting, escapes, folding and block indentation.
// It returns nil when the value cannot be aligned with the source (then
// positions fall back to the start of the value).
func (cc *compilation) valuePositions(n *yaml.Node) []Pos {
	n = cc.resolve(n)
	if n == nil || n.Line < 1 || n.Line > len(cc.lines) {
		return nil
	}
	line, col := n.Line-1, n.Column-1 // 0-based cursor into cc.lines
	block := n.Style&(yaml.LiteralStyle|yaml.FoldedStyle) != 0
	switch {
	case block:
		line, col = line+1, 0 // content starts on the line after | or >
	case n.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle) != 0:
		col++
	}
	at := func() (rune, bool) {
		if line >= len(cc.lines) {
			return 0, false
		}
		if col >= len(cc.lines[line]) {
			return '\n', true
		}
		return cc.lines[line][col], true
	}
	advance := func(k int) {
		for ; k > 0; k-- {
			if col >= len(cc.lines[line]) {
				line, col = line+1, 0
			} else {
				col++
			}
		}
	}
	isSpace := func(r rune) bool { return r == ' ' || r == '\t' || r == '\n' }
	value := []rune(n.Value)
	out := make([]Pos, 0, len(value))
	for i := 0; i < len(value); {
		r, ok := at()
		if !ok || len(out) > 4*len(value)+16 {
			return nil
		}
		v := value[i]
		switch {
		case r == v && !(n.Style&yaml.DoubleQuotedStyle != 0 && r == '\\'):
			out = append(out, Pos{line + 1, col + 1})
			advance(1)
			i++
		case isSpace(v) && isSpace(r): // folded line break or indentation
			out = append(out, Pos{line + 1, col + 1})
			for r, ok = at(); ok && isSpace(r); r, ok = at() {
				advance(1)
			}
			i++
		case isSpace(r): // indentation at the start of a continued line
			advance(1)
		case r == '\\' && n.Style&yaml.DoubleQuotedStyle != 0:
			out = append(out, Pos{line + 1, col + 1})
			advance(1)
			e, _ := at()
			switch e {
			case 'x':
				advance(3)
			case 'u':
				advance(5)
			case 'U':
				advance(9)
			default:
				advance(1)
			}
			i++
		case r == '\'' && n.Style&yaml.SingleQuotedStyle != 0 && v == '\'':
			out = append(out, Pos{line + 1, col + 1})
			advance(2)
			i++
		default:
			return nil
		}
	}
	return out
}

// exprPos turns a place inside an expression (1-based line, 0-based rune
// column of the value) into a place in the file.
func exprPos(n *yaml.Node, value string, positions []Pos, line, col int) Pos {
	idx := 0
	lines := strings.SplitAfter(value, "\n")
	for i := 0; i < line-1 && i < len(lines); i++ {
		idx += utf8.RuneCountInString(lines[i])
	}
	idx += col
	switch {
	case len(positions) == 0:
		return pos(n)
	case idx < len(positions):
		return positions[idx]
	default:
		last := positions[len(positions)-1]
		return Pos{last.Line, last.Col + 1}
	}
}
