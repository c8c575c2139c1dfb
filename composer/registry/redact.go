package registry

import "strings"

// RedactEndpoint is an endpoint (or any URL) as a message may quote it:
// the password of its userinfo, or a userinfo without one (a token, most
// often), replaced by "xxxxx". It works on the text, so that an endpoint
// that does not parse is redacted too.
func RedactEndpoint(s string) string {
	i := strings.Index(s, "://")
	if i < 0 {
		return s
	}
	rest := s[i+3:]
	end := strings.IndexAny(rest, "/?#")
	if end < 0 {
		end = len(rest)
	}
	at := strings.LastIndex(rest[:end], "@")
	if at < 0 {
		return s
	}
	user := "xxxxx"
	if c := strings.Index(rest[:at], ":"); c >= 0 {
		user = rest[:c+1] + "xxxxx"
	}
	return s[:i+3] + user + rest[at:]
}
