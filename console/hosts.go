package console

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
)

// defaultHosts are the Hosts a console answers when Options.AllowedHosts
// is empty: the loopback names, which no other site can point its pages
// at.
var defaultHosts = []string{"localhost", "127.0.0.1", "[::1]"}

// hostRule is one entry of Options.AllowedHosts.
type hostRule struct {
	host   string // lower case, without brackets; "" for "*"
	port   string // "" for any port
	suffix bool   // a leading dot: the host and its subdomains
}

// hostRules parses Options.AllowedHosts.
func hostRules(entries []string) ([]hostRule, error) {
	if len(entries) == 0 {
		entries = defaultHosts
	}
	rules := make([]hostRule, 0, len(entries))
	for _, e := range entries {
		if e == "*" {
			rules = append(rules, hostRule{})
			continue
		}
		host, port, ok := splitHost(e)
		suffix := strings.HasPrefix(host, ".")
		host = strings.TrimPrefix(host, ".")
		if !ok || host == "" || strings.ContainsAny(host, "/*@?# ") {
			return nil, fmt.Errorf("console: Options.AllowedHosts entry %q is not a host, host:port, .domain or \"*\"", e)
		}
		rules = append(rules, hostRule{host: host, port: port, suffix: suffix})
	}
	return rules, nil
}

// splitHost splits a Host header into its lower-case host, without the
// brackets of an IPv6 address or a final dot, and its port; ok is false
// when it is malformed.
func splitHost(h string) (host, port string, ok bool) {
	h = strings.ToLower(h)
	if strings.HasPrefix(h, "[") {
		end := strings.IndexByte(h, ']')
		if end < 0 {
			return "", "", false
		}
		host, rest := h[1:end], h[end+1:]
		if rest != "" {
			if !strings.HasPrefix(rest, ":") {
				return "", "", false
			}
			port = rest[1:]
		}
		return host, port, validPort(port)
	}
	if i := strings.LastIndexByte(h, ':'); i >= 0 {
		if strings.Contains(h[:i], ":") { // an IPv6 address needs brackets
			return "", "", false
		}
		h, port = h[:i], h[i+1:]
	}
	return strings.TrimSuffix(h, "."), port, validPort(port)
}

// validPort reports whether p is empty or a port number's digits.
func validPort(p string) bool {
	return len(p) <= 5 && !strings.ContainsFunc(p, func(r rune) bool { return r < '0' || r > '9' })
}

// allows reports whether a request's Host matches a rule.
func allows(rules []hostRule, requestHost string) bool {
	host, port, ok := splitHost(requestHost)
	if !ok || host == "" {
		return false
	}
	return slices.ContainsFunc(rules, func(r hostRule) bool {
		switch {
		case r.host == "":
			return true
		case r.port != "" && r.port != port:
			return false
		case r.suffix:
			return host == r.host || strings.HasSuffix(host, "."+r.host)
		}
		return host == r.host
	})
}

// checkHost refuses requests whose Host header no rule allows.
func checkHost(rules []hostRule, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !allows(rules, r.Host) {
			writeError(w, http.StatusForbidden, fmt.Sprintf("forbidden: the console does not answer to Host %q; the host may add it to console.Options.AllowedHosts", r.Host))
			return
		}
		next.ServeHTTP(w, r)
	})
}
