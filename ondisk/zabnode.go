package ondisk

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/zabcheck/zabcheck/checker"
	"github.com/zabcheck/zabcheck/node/storage"
	"github.com/zabcheck/zabcheck/node/tree"
)

// zabnode's server wraps each tree txn in an envelope before the core
// logs it (node/server/envelope.go): version byte 1, origin uint64, xid
// int32, then the tree encoding. Only the type and path are read from it,
// for reports; the digest covers the whole record, as the state dump's
// hash does.
const (
	envelopeVersion = 1
	envelopeHeader  = 1 + 8 + 4
)

// readZabnode reads dataDir/version-2 with node/storage's read-only
// inspection: the log segments, the floor and the snapshots.
func readZabnode(dataDir string) (checker.NodeDisk, error) {
	var n checker.NodeDisk
	dir := filepath.Join(dataDir, "version-2")
	if _, err := os.Stat(dir); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return n, fmt.Errorf("no version-2 directory: the node never wrote its state")
		}
		return n, err
	}
	rel := func(path string) string { return filepath.Join("version-2", filepath.Base(path)) }

	snaps, err := storage.InspectSnapshots(dir)
	if err != nil {
		return n, err
	}
	var newest int64
	for _, s := range snaps {
		if s.Err != nil {
			// Snapshots are written to a temp file, fsynced, then renamed:
			// a damaged one was damaged after it was whole.
			n.Damage = append(n.Damage, checker.Damage{File: rel(s.Path), Reason: "snapshot does not decode: " + s.Err.Error()})
			continue
		}
		n.Snapshots = append(n.Snapshots, checker.DiskSnapshot{Zxid: int64(s.Zxid), File: rel(s.Path)})
		newest = int64(s.Zxid)
	}
	floor, err := storage.ReadFloor(dir)
	if err != nil {
		return n, err
	}
	if int64(floor) > newest {
		// Compaction and SNAP raise the floor only to a snapshot they
		// keep: above every valid snapshot, the records in between are in
		// no file.
		n.Damage = append(n.Damage, checker.Damage{File: "version-2/log.floor", After: newest,
			Reason: fmt.Sprintf("the log floor %#x is above every valid snapshot: the txns up to it are in no file", floor)})
	}

	segs, err := storage.ListSegments(dir)
	if err != nil {
		return n, err
	}
	for i, path := range segs {
		last := i == len(segs)-1
		s, err := storage.ScanSegment(path, 0)
		if err != nil {
			return n, err
		}
		var after int64
		for _, e := range s.Entries {
			n.Txns = append(n.Txns, zabnodeTxn(rel(path), e))
			after = int64(e.Zxid)
		}
		if len(s.Entries) > 0 && s.Entries[0].Zxid != s.First {
			n.Damage = append(n.Damage, checker.Damage{File: rel(path), Offset: s.Entries[0].Offset, Next: int64(s.Entries[0].Zxid),
				Reason: fmt.Sprintf("the file is named after zxid %#x but its first record is %#x", s.First, s.Entries[0].Zxid)})
		}
		if len(s.Entries) == 0 && !last {
			n.Damage = append(n.Damage, checker.Damage{File: rel(path), Reason: "a segment with no record before later segments"})
			continue
		}
		if s.End == s.Size {
			continue
		}
		d := checker.Damage{File: rel(path), Offset: s.End, After: after, Reason: s.Reason}
		switch {
		case s.MidCorrupt:
			d.Next = int64(s.NextZxid)
		case !last:
			// The log rolls to a new segment only after the old one's
			// records are durable: only the last may end torn.
			d.Reason += "; a later segment exists, so this is no torn tail"
		default:
			d.Torn = true
		}
		n.Damage = append(n.Damage, d)
	}
	return n, nil
}

// zabnodeTxn describes one zabnode record.
func zabnodeTxn(file string, e storage.LogEntry) checker.DiskTxn {
	t := checker.DiskTxn{Zxid: int64(e.Zxid), File: file, Offset: e.Offset, Digest: tree.TxnDigest(e.Data)}
	if len(e.Data) > envelopeHeader && e.Data[0] == envelopeVersion {
		if tx, err := tree.DecodeTxn(e.Data[envelopeHeader:]); err == nil {
			t.Type, t.Path = tx.Kind.String(), tx.Path
		}
	}
	return t
}
