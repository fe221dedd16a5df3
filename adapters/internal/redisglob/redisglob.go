// Package redisglob builds Redis glob-style patterns (SCAN MATCH, PSUBSCRIBE) from literal
// text. It is the one copy the Redis adapters share without importing each other.
package redisglob

import "strings"

// Escape escapes the characters Redis glob patterns treat specially (stringmatchlen: * ? [ ]
// and the escape character itself), so that a key prefix such as `lock[1]:` or `spool*lock:`
// matches only itself.
func Escape(s string) string {
	var b strings.Builder
	b.Grow(len(s) + 4)
	for _, r := range s {
		switch r {
		case '*', '?', '[', ']', '\\':
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// Prefix is the pattern of every key that starts with prefix.
func Prefix(prefix string) string { return Escape(prefix) + "*" }
