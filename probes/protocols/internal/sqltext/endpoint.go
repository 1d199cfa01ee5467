package sqltext

import "strings"

// Endpoint is a SQL record's endpoint: the statement kind as the method
// and the template after it as the path ("SELECT", "abalance FROM t WHERE
// aid = $1"), so rows read "pgsql SELECT abalance FROM ...". Without a
// kind, the command and the whole template.
func Endpoint(kind, tmpl, cmd string) (method, path string) {
	if kind == "" {
		return cmd, tmpl
	}
	if rest, ok := strings.CutPrefix(tmpl, kind); ok && (rest == "" || rest[0] == ' ') {
		return kind, strings.TrimSpace(rest)
	}
	return kind, tmpl
}
