package ondisk

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/adler32"
	"io/fs"
	"os"
	"path/filepath"
	"slices"

	"github.com/zabcheck/zabcheck/checker"
	"github.com/zabcheck/zabcheck/node/jute"
)

// ZooKeeper's on-disk formats (version 2), as FileTxnLog and FileSnap
// write them; docs/on-disk.md says more.
const (
	zkLogMagic  = 0x5a4b4c47 // "ZKLG"
	zkSnapMagic = 0x5a4b534e // "ZKSN"
	zkVersion   = 2
	// zkFileHeader is FileHeader: magic int, version int, dbid long.
	zkFileHeader = 4 + 4 + 8
	// zkRecordHead is a log record's checksum long and length int.
	zkRecordHead = 8 + 4
	// zkTxnHeader is TxnHeader: clientId long, cxid int, zxid long,
	// time long, type int.
	zkTxnHeader = 8 + 4 + 8 + 8 + 4
	// zkEOR ends every log record.
	zkEOR = 'B'
	// zkMaxRecord bounds a record's length: jute.maxbuffer plus room for
	// the header, the path and a multi's framing.
	zkMaxRecord = jute.MaxPacket
)

// readZooKeeper reads dataDir/version-2: the log.<zxid> and
// snapshot.<zxid> files, named after their first (log) or last processed
// (snapshot) zxid in hex without padding.
func readZooKeeper(dataDir string) (checker.NodeDisk, error) {
	var n checker.NodeDisk
	dir := filepath.Join(dataDir, "version-2")
	if _, err := os.Stat(dir); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return n, fmt.Errorf("no version-2 directory: the node never wrote its state")
		}
		return n, err
	}
	snaps, err := namedFiles(dir, "snapshot.", 0)
	if err != nil {
		return n, err
	}
	for _, s := range snaps {
		rel := filepath.Join("version-2", s.name)
		buf, err := os.ReadFile(filepath.Join(dir, s.name))
		if err != nil {
			return n, err
		}
		if d, ok := checkZKSnapshot(buf); !ok {
			d.File = rel
			n.Damage = append(n.Damage, d)
			continue
		}
		n.Snapshots = append(n.Snapshots, checker.DiskSnapshot{Zxid: s.zxid, File: rel})
	}
	logs, err := namedFiles(dir, "log.", 0)
	if err != nil {
		return n, err
	}
	for _, l := range logs {
		buf, err := os.ReadFile(filepath.Join(dir, l.name))
		if err != nil {
			return n, err
		}
		txns, damage := scanZKLog(filepath.Join("version-2", l.name), buf)
		n.Txns = append(n.Txns, txns...)
		n.Damage = append(n.Damage, damage...)
	}
	return n, nil
}

// scanZKLog reads one transaction log file. The log ends at the first
// record of length zero (the zero padding ZooKeeper preallocates) or at
// the end of the file. A record that does not decode ends it too; it is a
// torn tail when no valid record follows it in the file, corruption when
// one does. ZooKeeper starts a new file after a restart, so any file, not
// only the last, may end torn.
func scanZKLog(file string, buf []byte) ([]checker.DiskTxn, []checker.Damage) {
	if len(buf) < zkFileHeader || allZero(buf[:zkFileHeader]) {
		// Created, then the process died before the header reached the
		// disk.
		return nil, []checker.Damage{{File: file, Torn: true, Reason: "no file header"}}
	}
	d := jute.NewDecoder(buf[:zkFileHeader])
	magic, version := d.Int("FileHeader.magic"), d.Int("FileHeader.version")
	if magic != zkLogMagic || version != zkVersion {
		return nil, []checker.Damage{{File: file, Reason: fmt.Sprintf("file header magic %#x version %d, want %#x (ZKLG) version %d", uint32(magic), version, zkLogMagic, zkVersion)}}
	}
	var txns []checker.DiskTxn
	var after int64
	off := zkFileHeader
	for off < len(buf) {
		t, n, why := zkRecordAt(buf, off)
		if why == "" {
			t.File = file
			txns = append(txns, t)
			after = t.Zxid
			off += n
			continue
		}
		if why == endOfLog && allZero(buf[off:]) {
			break // the preallocated padding
		}
		dmg := checker.Damage{File: file, Offset: int64(off), After: after, Reason: why, Torn: true}
		if next, ok := nextZKRecord(buf, off+1); ok {
			dmg.Torn, dmg.Next = false, next
			if why == endOfLog {
				dmg.Reason = "a record of length zero ends the log here"
			}
		} else if why == endOfLog {
			dmg.Reason = "non-zero bytes in the padding after the last record"
		}
		return txns, []checker.Damage{dmg}
	}
	return txns, nil
}

// endOfLog is zkRecordAt's answer for a record of length zero.
const endOfLog = "end of log"

// zkRecordAt decodes the record at buf[off:]: checksum long, length int,
// that many bytes (TxnHeader, txn, optional TxnDigest), then 'B'. It
// returns the record's size, or why it does not decode.
func zkRecordAt(buf []byte, off int) (checker.DiskTxn, int, string) {
	if len(buf)-off < zkRecordHead {
		return checker.DiskTxn{}, 0, "partial record header"
	}
	sum := binary.BigEndian.Uint64(buf[off:])
	size := int32(binary.BigEndian.Uint32(buf[off+8:]))
	switch {
	case size == 0:
		return checker.DiskTxn{}, 0, endOfLog
	case size < zkTxnHeader || size > zkMaxRecord:
		return checker.DiskTxn{}, 0, fmt.Sprintf("record length %d out of range", size)
	case len(buf)-off-zkRecordHead < int(size)+1:
		return checker.DiskTxn{}, 0, fmt.Sprintf("partial record: length %d, %d bytes left", size, len(buf)-off-zkRecordHead)
	}
	body := buf[off+zkRecordHead : off+zkRecordHead+int(size)]
	if eor := buf[off+zkRecordHead+int(size)]; eor != zkEOR {
		return checker.DiskTxn{}, 0, fmt.Sprintf("end-of-record byte %#x, want 'B'", eor)
	}
	if sum != uint64(adler32.Checksum(body)) {
		return checker.DiskTxn{}, 0, fmt.Sprintf("checksum %#x, the bytes sum to %#x", sum, adler32.Checksum(body))
	}
	t, err := zkTxn(body)
	if err != nil {
		return checker.DiskTxn{}, 0, err.Error()
	}
	t.Offset = int64(off)
	return t, zkRecordHead + int(size) + 1, ""
}

// zkPathTypes are the txn types whose body starts with the znode path
// (CreateTxn, DeleteTxn, SetDataTxn, SetACLTxn, CheckVersionTxn,
// CreateContainer/TTL txns).
var zkPathTypes = map[jute.OpCode]bool{
	jute.OpCreate: true, jute.OpCreate2: true, jute.OpDelete: true, jute.OpSetData: true,
	jute.OpSetACL: true, jute.OpCheck: true, jute.OpCreateContainer: true,
	jute.OpDeleteContainer: true, jute.OpCreateTTL: true,
}

// zkTxn reads a record's TxnHeader, and its path when the txn names one.
func zkTxn(body []byte) (checker.DiskTxn, error) {
	d := jute.NewDecoder(body)
	d.Long("TxnHeader.clientId")
	d.Int("TxnHeader.cxid")
	zxid := d.Long("TxnHeader.zxid")
	d.Long("TxnHeader.time")
	typ := jute.OpCode(d.Int("TxnHeader.type"))
	if err := d.Err(); err != nil {
		return checker.DiskTxn{}, fmt.Errorf("txn header: %w", err)
	}
	sum := sha256.Sum256(zkNormalize(typ, body))
	t := checker.DiskTxn{Zxid: zxid, Type: typ.String(), Digest: hex.EncodeToString(sum[:])}
	if zkPathTypes[typ] {
		if p := d.String("txn.path"); d.Err() == nil {
			t.Path = p
		}
	}
	return t, nil
}

// zkNormalize returns the bytes that identify a txn across nodes. For a
// failed multi (one whose ops include an error txn) ZooKeeper's leader and
// followers may log different op types for the same proposal: seen in
// session 7, the leader's log marked a failed multi's first op (a check)
// as an error op while the followers' logs kept it a check, the op's bytes
// and everything else identical. Replay treats both alike (a multi with an
// error op changes nothing), so the digest of a failed multi counts every
// op as an error op; anything else about it must still agree. Other txns
// are compared byte for byte.
func zkNormalize(typ jute.OpCode, body []byte) []byte {
	if typ != jute.OpMulti || len(body) < zkTxnHeader+4 {
		return body
	}
	d := jute.NewDecoder(body[zkTxnHeader:])
	n := d.Int("MultiTxn.count")
	if d.Err() != nil || n < 0 || int(n) > len(body) {
		return body
	}
	var typeAt []int // offsets in body of each op's type
	failed := false
	for range n {
		typeAt = append(typeAt, zkTxnHeader+d.Offset())
		if jute.OpCode(d.Int("op.type")) == jute.OpError {
			failed = true
		}
		d.Buffer("op.data")
		if d.Err() != nil {
			return body
		}
	}
	if !failed {
		return body
	}
	out := slices.Clone(body)
	for _, at := range typeAt {
		binary.BigEndian.PutUint32(out[at:], uint32(0xffffffff)) // OpError, -1
	}
	return out
}

// nextZKRecord finds the first valid record starting at or after from,
// and its zxid. Zeros cannot pass for a record (length zero ends the
// log), and a random match needs a 32-bit checksum and the 'B' to agree.
func nextZKRecord(buf []byte, from int) (int64, bool) {
	for p := from; p+zkRecordHead+zkTxnHeader+1 <= len(buf); p++ {
		if buf[p+8] == 0 && buf[p+9] == 0 && buf[p+10] == 0 && buf[p+11] == 0 {
			continue // length zero: the common case in the padding
		}
		if t, _, why := zkRecordAt(buf, p); why == "" {
			return t.Zxid, true
		}
	}
	return 0, false
}

func allZero(b []byte) bool {
	for _, x := range b {
		if x != 0 {
			return false
		}
	}
	return true
}

// checkZKSnapshot decodes a snapshot: FileHeader ("ZKSN", 2, dbid), the
// sessions (count, then id long and timeout int each), the ACL cache
// (count, then key long and a vector of ACLs each), the nodes (path
// string, then data buffer, acl long and StatPersisted, until the path
// "/"), then the seal: the Adler32 of every byte before it as a long, and
// "/". ZooKeeper 3.6+ may append a ZxidDigest (zxid long, version int,
// digest long) and a second seal over everything. ZooKeeper writes the
// file in place and falls back to an older snapshot when one does not
// decode, so a snapshot cut short is a torn write; a whole one whose seal
// disagrees was changed after it was written.
func checkZKSnapshot(buf []byte) (checker.Damage, bool) {
	d := jute.NewDecoder(buf)
	torn := func(why string) (checker.Damage, bool) {
		return checker.Damage{Offset: int64(d.Offset()), Torn: true, Reason: "snapshot cut short: " + why}, false
	}
	// cut tells a snapshot that ends early (torn) from one whose bytes
	// decode to nonsense (corrupt).
	cut := func(err error) (checker.Damage, bool) {
		dmg, _ := torn(err.Error())
		var de *jute.DecodeError
		if errors.As(err, &de) {
			dmg.Offset = int64(de.Offset)
		}
		if !errors.Is(err, jute.ErrTruncated) {
			dmg.Torn, dmg.Reason = false, "snapshot does not decode: "+err.Error()
		}
		return dmg, false
	}
	if len(buf) < zkFileHeader || allZero(buf[:zkFileHeader]) {
		return torn("no file header")
	}
	if m, v := d.Int("FileHeader.magic"), d.Int("FileHeader.version"); m != zkSnapMagic || v != zkVersion {
		return checker.Damage{Reason: fmt.Sprintf("snapshot header magic %#x version %d, want %#x (ZKSN) version %d", uint32(m), v, zkSnapMagic, zkVersion)}, false
	}
	d.Long("FileHeader.dbid")
	for i, n := 0, d.VectorLen("sessions", 12); i < n && d.Err() == nil; i++ {
		d.Long("session.id")
		d.Int("session.timeout")
	}
	for i, n := 0, d.VectorLen("acls", 12); i < n && d.Err() == nil; i++ {
		d.Long("acl.key")
		jute.DecodeACLs(d, "acl.list")
	}
	for d.Err() == nil {
		if d.String("node.path") == "/" {
			break
		}
		d.Buffer("node.data")
		d.Long("node.acl")
		for range 4 {
			d.Long("stat.zxids_and_times") // czxid, mzxid, ctime, mtime
		}
		for range 3 {
			d.Int("stat.versions") // version, cversion, aversion
		}
		d.Long("stat.ephemeralOwner")
		d.Long("stat.pzxid")
	}
	if err := d.Err(); err != nil {
		return cut(err)
	}
	if dmg, ok := zkSeal(buf, d); !ok {
		return dmg, false
	}
	if d.Remaining() == 0 {
		return checker.Damage{}, true
	}
	d.Long("digest.zxid")
	if v := d.Int("digest.version"); v < 2 {
		d.String("digest.value")
	} else {
		d.Long("digest.value")
	}
	if err := d.Err(); err != nil {
		return cut(err)
	}
	if dmg, ok := zkSeal(buf, d); !ok {
		return dmg, false
	}
	return checker.Damage{}, true
}

// zkSeal checks a snapshot's seal at d's position: the Adler32 of
// buf[:position], then the path "/".
func zkSeal(buf []byte, d *jute.Decoder) (checker.Damage, bool) {
	at := d.Offset()
	want := uint64(adler32.Checksum(buf[:at]))
	got := uint64(d.Long("seal.checksum"))
	p := d.String("seal.path")
	if err := d.Err(); err != nil {
		return checker.Damage{Offset: int64(at), Torn: true, Reason: "snapshot cut short: " + err.Error()}, false
	}
	if got != want || p != "/" {
		return checker.Damage{Offset: int64(at), Reason: fmt.Sprintf("snapshot seal %#x %q, the bytes before it sum to %#x", got, p, want)}, false
	}
	return checker.Damage{}, true
}
