package tree

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"sort"

	"github.com/zabcheck/zabcheck/node/jute"
)

// snapshotMagic and snapshotVersion lead every snapshot.
const (
	snapshotMagic   = "ZTRE"
	snapshotVersion = 1
)

// ErrBadSnapshot is the cause of every snapshot decoding error.
var ErrBadSnapshot = errors.New("malformed snapshot")

// Snapshot serialises the whole tree deterministically: the last applied
// zxid, then the sessions sorted by id, then every znode sorted by path (so a
// parent always precedes its children) with data, ACL and full Stat. The
// ephemeral index and children sets are rebuilt from these on Restore; the
// per-parent sequence counters are the cversions in the Stats.
func (t *Tree) Snapshot() []byte {
	e := jute.NewEncoder(append([]byte(snapshotMagic), snapshotVersion))
	e.Long(t.zxid)
	t.encodeState(e)
	return e.Bytes()
}

// encodeState writes everything replicated except the zxid.
func (t *Tree) encodeState(e *jute.Encoder) {
	ids := t.SessionIDs()
	e.VectorLen(len(ids))
	for _, id := range ids {
		e.Long(id)
		e.Int(t.sessions[id])
	}
	paths := make([]string, 0, len(t.nodes))
	for p := range t.nodes {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	e.VectorLen(len(paths))
	for _, p := range paths {
		n := t.nodes[p]
		e.String(p)
		e.Buffer(n.data)
		jute.EncodeACLs(e, n.acl)
		n.stat.Encode(e)
	}
}

// Digest is the hex SHA-256 of the replicated state (sessions and znodes,
// not the zxid). Replicas that applied the same txns have the same digest,
// whatever order their maps iterate in.
func (t *Tree) Digest() string {
	e := jute.NewEncoder(nil)
	t.encodeState(e)
	sum := sha256.Sum256(e.Bytes())
	return hex.EncodeToString(sum[:])
}

// Restore rebuilds a tree from Snapshot bytes, checking that it is
// consistent (sorted unique paths, parents present and not ephemeral,
// NumChildren and DataLength matching). It never panics.
func Restore(b []byte) (*Tree, error) {
	if len(b) < len(snapshotMagic)+1 || string(b[:len(snapshotMagic)]) != snapshotMagic {
		return nil, fmt.Errorf("restore snapshot: %w: bad magic", ErrBadSnapshot)
	}
	if v := b[len(snapshotMagic)]; v != snapshotVersion {
		return nil, fmt.Errorf("restore snapshot: %w: version %d, want %d", ErrBadSnapshot, v, snapshotVersion)
	}
	d := jute.NewDecoder(b[len(snapshotMagic)+1:])
	t := &Tree{nodes: map[string]*node{}, sessions: map[int64]int32{}, ephemerals: map[int64]map[string]struct{}{}}
	t.zxid = d.Long("snapshot.zxid")
	bad := func(format string, args ...any) (*Tree, error) {
		return nil, fmt.Errorf("restore snapshot: %w: %s", ErrBadSnapshot, fmt.Sprintf(format, args...))
	}
	nSessions := d.VectorLen("snapshot.sessions", 12)
	prevID := int64(0)
	for i := 0; i < nSessions && d.Err() == nil; i++ {
		id := d.Long("session.id")
		timeout := d.Int("session.timeout")
		if i > 0 && id <= prevID {
			return bad("session ids not strictly increasing at %d", id)
		}
		prevID = id
		t.sessions[id] = timeout
	}
	nNodes := d.VectorLen("snapshot.nodes", 4+4+4+jute.StatSize)
	prev := ""
	for i := 0; i < nNodes && d.Err() == nil; i++ {
		p := d.String("node.path")
		n := &node{children: map[string]struct{}{}}
		n.data = d.Buffer("node.data")
		n.acl = jute.DecodeACLs(d, "node.acl")
		n.stat.Decode(d)
		if d.Err() != nil {
			break
		}
		if i == 0 {
			if p != "/" {
				return bad("first node %q is not the root", p)
			}
		} else {
			if p <= prev {
				return bad("path %q not after %q", p, prev)
			}
			if err := ValidatePath(p); err != nil {
				return bad("%v", err)
			}
			parentPath, name := split(p)
			parent, ok := t.nodes[parentPath]
			if !ok {
				return bad("node %q has no parent", p)
			}
			if parent.stat.EphemeralOwner != 0 {
				return bad("node %q under ephemeral %q", p, parentPath)
			}
			parent.children[name] = struct{}{}
		}
		if n.stat.DataLength != int32(len(n.data)) {
			return bad("node %q dataLength %d, data %d bytes", p, n.stat.DataLength, len(n.data))
		}
		if owner := n.stat.EphemeralOwner; owner != 0 {
			if t.ephemerals[owner] == nil {
				t.ephemerals[owner] = map[string]struct{}{}
			}
			t.ephemerals[owner][p] = struct{}{}
		}
		t.nodes[p] = n
		prev = p
	}
	d.End("snapshot")
	if err := d.Err(); err != nil {
		return nil, fmt.Errorf("restore snapshot: %w: %w", ErrBadSnapshot, err)
	}
	if len(t.nodes) == 0 {
		return bad("no root")
	}
	for p, n := range t.nodes {
		if n.stat.NumChildren != int32(len(n.children)) {
			return bad("node %q numChildren %d, has %d", p, n.stat.NumChildren, len(n.children))
		}
	}
	return t, nil
}
