package kinds

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/flowkit/flowkit/element"
)

// The values of CallAPI.Redirects.
const (
	// RedirectsFollow follows up to 10 redirects; a hop to
	// another origin goes without the element's headers. It is the
	// default.
	RedirectsFollow = "follow"
	// RedirectsRefuse follows no redirect: a 3XX answer is the step's
	// outcome, BranchOther.
	RedirectsRefuse = "refuse"
)

// maxRedirects is the most redirects a Call API request follows; one more
// fails the step.
const maxRedirects = 10

// HTTPClientOptions configure NewHTTPClient.
type HTTPClientOptions struct {
	// BlockPrivateAddresses refuses, at connect time, connections to the
	// addresses BlockedAddress names, checking the address each dial goes
	// to (so neither DNS answers, rebinding ones included, nor redirects
	// can reach them). Proxies from the environment are then not used,
	// since the dial would go to the proxy. Defaults to false.
	BlockPrivateAddresses bool
}

// NewHTTPClient returns the engine's default element.HTTPDoer for Call API: an
// *http.Client whose CheckRedirect is CheckRedirect, optionally guarding
// its dials. Call API bounds each request by its own timeout; the
// client's Timeout, 2 minutes (the longest a Call API element may set),
// is a backstop for any other use.
func NewHTTPClient(o HTTPClientOptions) *http.Client {
	d := &net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 32
	if o.BlockPrivateAddresses {
		d.Control = guardDial
		tr.Proxy = nil
	}
	tr.DialContext = d.DialContext
	return &http.Client{Transport: tr, Timeout: maxCallTimeout, CheckRedirect: CheckRedirect}
}

// CheckRedirect is Call API's redirect policy, in the form of
// http.Client.CheckRedirect. For a Call API request it refuses redirects
// when the element says so (the 3XX answer is then returned), fails after
// 10 redirects, refuses a hop to an address BlockPrivateAddresses refuses
// (a literal address or a localhost name; names are left to the dial
// guard), removes the element's headers from a hop to another origin
// (scheme, host and port differ from the first request's) and notes each
// hop for the step's reason. Other requests are followed up to 10
// redirects.
//
// Clients from NewHTTPClient use it, and Call API applies it to an
// element.HTTPDoer that is an *http.Client before the client's own CheckRedirect.
// A host whose element.HTTPDoer is some other type and follows redirects must
// call it from the CheckRedirect of the client it wraps, passing on the
// request's context.
func CheckRedirect(req *http.Request, via []*http.Request) error {
	p, _ := req.Context().Value(redirectKey{}).(*redirectPolicy)
	if p == nil {
		if len(via) > maxRedirects {
			return fmt.Errorf("stopped after %d redirects", maxRedirects)
		}
		return nil
	}
	return p.check(req, via)
}

// redirectKey is the context key of a Call API request's redirectPolicy.
type redirectKey struct{}

// redirectPolicy is how one Call API request treats redirects, and what
// its redirects were. It travels in the request's context, so that the
// client's CheckRedirect finds it whatever wraps the client.
type redirectPolicy struct {
	refuse bool
	block  bool
	drop   []string // header names not sent to another origin
	// bare shows hops by origin alone: the URL starts with a host
	// setting, whose path may hold a secret that a hop elsewhere repeats.
	bare bool

	mu      sync.Mutex
	hops    []string // each hop's URL as reasons show it
	refused string   // the hop not followed, with refuse
}

func (p *redirectPolicy) check(req *http.Request, via []*http.Request) error {
	to := p.show(req.URL)
	if p.refuse {
		p.mu.Lock()
		p.refused = to
		p.mu.Unlock()
		return http.ErrUseLastResponse
	}
	if len(via) > maxRedirects {
		return fmt.Errorf("stopped after %d redirects", maxRedirects)
	}
	// Go's client copies the first request's headers to every hop; the
	// element's headers are meant for the first request's origin.
	if origin(req.URL) != origin(via[0].URL) {
		for _, h := range p.drop {
			req.Header.Del(h)
		}
		to += " (another origin: the element's headers not sent)"
	}
	p.mu.Lock()
	if len(p.hops) < len(via) { // a chained CheckRedirect may call twice
		p.hops = append(p.hops, to)
	}
	p.mu.Unlock()
	if p.block {
		if err := checkHost(req.URL.Hostname()); err != nil {
			return err
		}
	}
	return nil
}

// show returns a hop's URL as reasons show it.
func (p *redirectPolicy) show(u *url.URL) string {
	if p.bare {
		return origin(u)
	}
	return showURL(u)
}

// describe returns what the redirects of the request were, for its
// reason: "" without any.
func (p *redirectPolicy) describe() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.hops) == 0 {
		return ""
	}
	return "redirected to " + strings.Join(p.hops, ", then to ")
}

// withRedirectPolicy returns doer with CheckRedirect applied before its own
// when it is an *http.Client; other doers are returned as they are.
func withRedirectPolicy(doer element.HTTPDoer) element.HTTPDoer {
	cl, ok := doer.(*http.Client)
	if !ok {
		return doer
	}
	own := cl.CheckRedirect
	cp := *cl
	cp.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if err := CheckRedirect(req, via); err != nil || own == nil {
			return err
		}
		err := own(req, via)
		if p, _ := req.Context().Value(redirectKey{}).(*redirectPolicy); p != nil && errors.Is(err, http.ErrUseLastResponse) {
			// The host's client stops here: the hop is not followed.
			p.mu.Lock()
			p.hops = p.hops[:min(len(p.hops), len(via)-1)]
			p.refused = p.show(req.URL)
			p.mu.Unlock()
		}
		return err
	}
	return &cp
}

// origin returns the scheme, host and port of u, as browsers compare
// them.
func origin(u *url.URL) string {
	scheme := strings.ToLower(u.Scheme)
	port := u.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[scheme]
	}
	return scheme + "://" + net.JoinHostPort(strings.TrimSuffix(strings.ToLower(u.Hostname()), "."), port)
}

// showURL returns u as reasons show it: scheme, host and path, no query.
func showURL(u *url.URL) string {
	return u.Scheme + "://" + u.Host + u.EscapedPath()
}

// hasDotSegment reports whether a URL path, percent-decoded (so %2E and
// %2F count as "." and "/", as servers that decode before resolving read
// them), holds a "." or ".." segment.
func hasDotSegment(path string) bool {
	for seg := range strings.SplitSeq(path, "/") {
		if seg == "." || seg == ".." {
			return true
		}
	}
	return false
}

func guardDial(_, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("dial %s: %w", address, ErrAddressBlocked)
	}
	if BlockedAddress(ap.Addr()) {
		return fmt.Errorf("dial %s: %w", address, ErrAddressBlocked)
	}
	return nil
}

// specialRange is a block of addresses BlockedAddress refuses. With
// embeds, the block carries an IPv4 address at that byte offset and the
// verdict is that address's.
type specialRange struct {
	prefix netip.Prefix
	what   string
	embeds int
}

// specialRanges are the blocks of the IANA IPv4 Special-Purpose Address
// Registry (https://www.iana.org/assignments/iana-ipv4-special-registry)
// and the IANA IPv6 Special-Purpose Address Registry
// (https://www.iana.org/assignments/iana-ipv6-special-registry), as
// listed in 2025-06 (RFC 6890 and its updates through RFC 9780), plus
// multicast and the deprecated IPv6 forms that still reach other
// addresses. Blocks the registries mark globally reachable are refused
// too when no HTTP API lives there (anycast services such as AS112, AMT,
// PCP and TURN); the translation and tunnel prefixes that embed an IPv4
// address take that address's verdict.
var specialRanges = func() []specialRange {
	var out []specialRange
	add := func(prefix, what string, embeds int) {
		out = append(out, specialRange{netip.MustParsePrefix(prefix), what, embeds})
	}
	// IPv4 Special-Purpose Address Registry.
	add("0.0.0.0/8", "this network (RFC 791)", 0)
	add("10.0.0.0/8", "private use (RFC 1918)", 0)
	add("100.64.0.0/10", "shared address space, CGNAT (RFC 6598)", 0)
	add("127.0.0.0/8", "loopback (RFC 1122)", 0)
	add("169.254.0.0/16", "link local, cloud metadata (RFC 3927)", 0)
	add("172.16.0.0/12", "private use (RFC 1918)", 0)
	add("192.0.0.0/24", "IETF protocol assignments: DS-Lite, NAT64 discovery, PCP and TURN anycast (RFC 6890)", 0)
	add("192.0.2.0/24", "documentation, TEST-NET-1 (RFC 5737)", 0)
	add("192.31.196.0/24", "AS112-v4 (RFC 7535)", 0)
	add("192.52.193.0/24", "AMT (RFC 7450)", 0)
	add("192.88.99.0/24", "deprecated 6to4 relay anycast (RFC 7526)", 0)
	add("192.168.0.0/16", "private use (RFC 1918)", 0)
	add("192.175.48.0/24", "direct delegation AS112 service (RFC 7534)", 0)
	add("198.18.0.0/15", "benchmarking (RFC 2544)", 0)
	add("198.51.100.0/24", "documentation, TEST-NET-2 (RFC 5737)", 0)
	add("203.0.113.0/24", "documentation, TEST-NET-3 (RFC 5737)", 0)
	add("240.0.0.0/4", "reserved (RFC 1112), limited broadcast 255.255.255.255 (RFC 919)", 0)
	// IPv4 multicast (IANA IPv4 Multicast Address Space Registry).
	add("224.0.0.0/4", "multicast (RFC 5771)", 0)
	// IPv6 Special-Purpose Address Registry.
	add("::/96", "unspecified, loopback and deprecated IPv4-compatible addresses (RFC 4291)", 0)
	add("::ffff:0:0/96", "IPv4-mapped (RFC 4291)", 12)
	add("::ffff:0:0:0/96", "IPv4-translated (RFC 2765)", 12)
	add("64:ff9b::/96", "IPv4-IPv6 translation, NAT64 (RFC 6052)", 12)
	add("64:ff9b:1::/48", "local-use IPv4/IPv6 translation (RFC 8215)", 0)
	add("100::/64", "discard-only (RFC 6666)", 0)
	add("100:0:0:1::/64", "dummy IPv6 prefix (RFC 9780)", 0)
	add("2001::/23", "IETF protocol assignments: benchmarking, ORCHID, AMT, AS112 (RFC 2928)", 0)
	add("2001::/32", "Teredo, which tunnels to an IPv4 address (RFC 4380)", 0)
	add("2001:db8::/32", "documentation (RFC 3849)", 0)
	add("2002::/16", "6to4 (RFC 3056)", 2)
	add("2620:4f:8000::/48", "direct delegation AS112 service (RFC 7534)", 0)
	add("3fff::/20", "documentation (RFC 9637)", 0)
	add("5f00::/16", "segment routing SIDs (RFC 9602)", 0)
	add("fc00::/7", "unique local (RFC 4193)", 0)
	add("fe80::/10", "link-local unicast (RFC 4291)", 0)
	add("fec0::/10", "deprecated site-local (RFC 3879)", 0)
	add("ff00::/8", "multicast (RFC 4291)", 0)
	return out
}()

// BlockedAddress reports whether CallAPIOptions.BlockPrivateAddresses
// refuses ip: an address of the IANA IPv4 and IPv6 Special-Purpose Address
// Registries (private, shared, loopback, link-local, documentation,
// benchmarking, reserved, unique local, discard, IETF protocol
// assignments, Teredo), site-local or multicast, and an IPv4-mapped,
// IPv4-translated, NAT64 (64:ff9b::/96) or 6to4 (2002::/16) address whose
// embedded IPv4 address is one of those. An invalid address is refused.
func BlockedAddress(ip netip.Addr) bool {
	if !ip.IsValid() {
		return true
	}
	ip = ip.WithZone("")
	for _, r := range specialRanges {
		if !r.prefix.Contains(ip) {
			continue
		}
		if r.embeds == 0 {
			return true
		}
		b := ip.As16()
		return BlockedAddress(netip.AddrFrom4([4]byte(b[r.embeds : r.embeds+4])))
	}
	return false
}

// checkHost refuses a literal blocked address or a localhost name.
func checkHost(host string) error {
	h := strings.TrimSuffix(strings.ToLower(host), ".")
	if h == "localhost" || strings.HasSuffix(h, ".localhost") {
		return ErrAddressBlocked
	}
	if ip, err := netip.ParseAddr(strings.Trim(h, "[]")); err == nil && BlockedAddress(ip) {
		return ErrAddressBlocked
	}
	return nil
}
