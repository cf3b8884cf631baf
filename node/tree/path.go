package tree

import (
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/zabcheck/zabcheck/node/jute"
)

// PathError says why a path is invalid. It unwraps to jute.ZBADARGUMENTS,
// the code ZooKeeper answers for a bad path.
type PathError struct {
	Path   string
	Reason string
}

func (e *PathError) Error() string { return fmt.Sprintf("invalid path %q: %s", e.Path, e.Reason) }

// Unwrap lets errors.Is(err, jute.ZBADARGUMENTS) match.
func (e *PathError) Unwrap() error { return jute.ZBADARGUMENTS }

// ValidatePath applies ZooKeeper's PathUtils.validatePath: absolute, no
// trailing slash except the root, no empty, "." or ".." components, no NUL
// and none of the control or reserved characters ZooKeeper refuses.
func ValidatePath(p string) error {
	bad := func(reason string) error { return &PathError{Path: p, Reason: reason} }
	switch {
	case p == "":
		return bad("empty")
	case p[0] != '/':
		return bad("must start with /")
	case p == "/":
		return nil
	case p[len(p)-1] == '/':
		return bad("must not end with /")
	case !utf8.ValidString(p):
		return bad("not valid UTF-8")
	}
	for i, comp := range strings.Split(p[1:], "/") {
		switch comp {
		case "":
			return bad(fmt.Sprintf("empty component %d", i+1))
		case ".", "..":
			return bad(fmt.Sprintf("relative component %q", comp))
		}
	}
	for _, r := range p {
		switch {
		case r == 0:
			return bad("NUL character")
		case r > 0 && r < 0x20, r >= 0x7f && r <= 0x9f:
			return bad(fmt.Sprintf("control character %U", r))
		case r >= 0xd800 && r <= 0xf8ff, r >= 0xfff0 && r <= 0xffff:
			return bad(fmt.Sprintf("reserved character %U", r))
		}
	}
	return nil
}

// split returns the parent path and the last component of a valid non-root
// path ("/a" -> "/", "a").
func split(p string) (parent, name string) {
	i := strings.LastIndexByte(p, '/')
	if i <= 0 {
		return "/", p[i+1:]
	}
	return p[:i], p[i+1:]
}
