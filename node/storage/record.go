package storage

import (
	"encoding/binary"
	"hash/crc32"
)

// Record is one transaction in the log.
type Record struct {
	Zxid uint64
	Data []byte
}

// On disk a record is a 16-byte header followed by its data:
//
//	length uint32 (of data) | crc32c uint32 | zxid uint64 | data
//
// The CRC covers the length, the zxid and the data, so a torn or zeroed
// header is caught as well as torn data. Big endian, like ZooKeeper's jute.
const recordHeaderSize = 16

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func recordCRC(hdr []byte, data []byte) uint32 {
	c := crc32.Update(0, castagnoli, hdr[0:4])
	c = crc32.Update(c, castagnoli, hdr[8:16])
	return crc32.Update(c, castagnoli, data)
}

// appendRecord encodes r at the end of buf.
func appendRecord(buf []byte, r Record) []byte {
	var hdr [recordHeaderSize]byte
	binary.BigEndian.PutUint32(hdr[0:4], uint32(len(r.Data)))
	binary.BigEndian.PutUint64(hdr[8:16], r.Zxid)
	binary.BigEndian.PutUint32(hdr[4:8], recordCRC(hdr[:], r.Data))
	buf = append(buf, hdr[:]...)
	return append(buf, r.Data...)
}

// decodeRecord decodes the record at buf[0:]. n is its encoded size; ok is
// false when buf does not start with a whole record of at most maxData bytes
// with a matching CRC. The returned data aliases buf.
func decodeRecord(buf []byte, maxData int) (r Record, n int, ok bool) {
	if len(buf) < recordHeaderSize {
		return Record{}, 0, false
	}
	size := binary.BigEndian.Uint32(buf[0:4])
	if int64(size) > int64(maxData) || int64(size) > int64(len(buf)-recordHeaderSize) {
		return Record{}, 0, false
	}
	n = recordHeaderSize + int(size)
	data := buf[recordHeaderSize:n]
	if binary.BigEndian.Uint32(buf[4:8]) != recordCRC(buf[:recordHeaderSize], data) {
		return Record{}, 0, false
	}
	return Record{Zxid: binary.BigEndian.Uint64(buf[8:16]), Data: data}, n, true
}

// recPos locates a record inside a segment file.
type recPos struct {
	zxid uint64
	off  int64 // offset of the header
}

// scanResult is what scanSegment found in one segment's bytes.
type scanResult struct {
	recs []recPos
	// end is the offset just past the last valid record.
	end int64
	// midCorrupt is true when a valid record follows the first invalid byte
	// at end: the damage is not a torn tail.
	midCorrupt bool
	// reason says what is wrong at end when end < len(buf).
	reason string
}

// scanSegment parses buf as a sequence of records whose zxids must increase
// strictly and exceed prev. It stops at the first invalid record; whether
// that is a torn tail or corruption in the middle is decided by looking for
// any valid record starting after it. A CRC collision at a random offset has
// probability 2^-32 per position, good enough to tell the two apart.
func scanSegment(buf []byte, prev uint64, maxData int) scanResult {
	var res scanResult
	off := 0
	for off < len(buf) {
		r, n, ok := decodeRecord(buf[off:], maxData)
		if !ok {
			res.reason = "bad record (partial, oversized or CRC mismatch)"
			break
		}
		if r.Zxid <= prev {
			// A record with a good CRC out of order is never a torn write.
			res.reason = "zxid out of order"
			res.end = int64(off)
			res.midCorrupt = true
			return res
		}
		res.recs = append(res.recs, recPos{zxid: r.Zxid, off: int64(off)})
		prev = r.Zxid
		off += n
	}
	res.end = int64(off)
	if off < len(buf) {
		for p := off + 1; p+recordHeaderSize <= len(buf); p++ {
			if r, _, ok := decodeRecord(buf[p:], maxData); ok && r.Zxid > prev {
				res.midCorrupt = true
				break
			}
		}
	}
	return res
}
