package telemetry

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
)

// A record in a segment is
//
//	length  uint32  big-endian, of the payload
//	crc     uint32  CRC-32C of seq and payload
//	seq     uint64  big-endian, one more than the record before
//	payload [length]byte
//
// and a zero header (or the end of the file) ends a segment's records.
const (
	recordHeader   = 16
	maxRecordBytes = MaxEventBytes + 1024
)

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// errCorrupt marks a record that fails its checks.
var errCorrupt = errors.New("corrupt record")

// appendRecord appends one record to b.
func appendRecord(b []byte, seq uint64, payload []byte) []byte {
	b = appendUnnumbered(b, payload)
	numberRecords(b[len(b)-recordHeader-len(payload):], seq)
	return b
}

// appendUnnumbered appends a record whose seq and crc numberRecords fills
// in later.
func appendUnnumbered(b []byte, payload []byte) []byte {
	var h [recordHeader]byte
	binary.BigEndian.PutUint32(h[0:4], uint32(len(payload)))
	b = append(b, h[:]...)
	return append(b, payload...)
}

// numberRecords gives the records in b consecutive seqs from first, with
// their checksums, and returns how many there are.
func numberRecords(b []byte, first uint64) int {
	n := 0
	for len(b) >= recordHeader {
		size := int(binary.BigEndian.Uint32(b[0:4]))
		binary.BigEndian.PutUint64(b[8:16], first+uint64(n))
		crc := crc32.Update(0, crcTable, b[8:16])
		crc = crc32.Update(crc, crcTable, b[recordHeader:recordHeader+size])
		binary.BigEndian.PutUint32(b[4:8], crc)
		b = b[recordHeader+size:]
		n++
	}
	return n
}

// recordReadBuffer is the read buffer of a segment's reader: a few typical
// records per read; a record larger than it is read straight into the
// reader's own buffer. (A 64 KiB buffer, kept by every open cursor, was
// most of an idle pipeline's heap.)
const recordReadBuffer = 16 << 10

// scanSegment reads a segment's records and returns the size of its valid
// prefix and the seq of its last valid record (first-1 if none). An error
// is the disk's, not a record's: then where the records end is not known.
func scanSegment(f io.Reader, first uint64) (size int64, last uint64, err error) {
	r := newRecordReader(bufio.NewReaderSize(f, recordReadBuffer), first)
	for {
		if _, _, err := r.next(); err != nil {
			if err == io.EOF || errors.Is(err, errCorrupt) {
				err = nil
			}
			return r.off, r.want - 1, err
		}
	}
}

// A recordReader reads records from one segment, checking each.
type recordReader struct {
	r    io.Reader
	off  int64  // offset of the next record
	want uint64 // seq the next record must have
	hdr  [recordHeader]byte
	buf  []byte
}

func newRecordReader(r io.Reader, first uint64) *recordReader {
	return &recordReader{r: r, want: first}
}

// next returns the next record's seq and payload (valid until the next
// call). io.EOF means a clean end; errCorrupt a record that is torn or
// fails its checks, at offset off.
func (rr *recordReader) next() (uint64, []byte, error) {
	n, err := io.ReadFull(rr.r, rr.hdr[:])
	if err == io.EOF || err == nil && rr.hdr == [recordHeader]byte{} {
		return 0, nil, io.EOF // the end, or the zeros a segment is filled with
	}
	if err != nil && err != io.ErrUnexpectedEOF {
		return 0, nil, err // the disk failed to read: not the record's fault
	}
	if err != nil {
		return 0, nil, fmt.Errorf("%w at offset %d: header cut after %d bytes", errCorrupt, rr.off, n)
	}
	size := binary.BigEndian.Uint32(rr.hdr[0:4])
	seq := binary.BigEndian.Uint64(rr.hdr[8:16])
	if size > maxRecordBytes {
		return 0, nil, fmt.Errorf("%w at offset %d: length %d", errCorrupt, rr.off, size)
	}
	if cap(rr.buf) < int(size) {
		rr.buf = make([]byte, size)
	}
	payload := rr.buf[:size]
	if _, err := io.ReadFull(rr.r, payload); err != nil {
		if err != io.ErrUnexpectedEOF && err != io.EOF {
			return 0, nil, err
		}
		return 0, nil, fmt.Errorf("%w at offset %d: payload cut", errCorrupt, rr.off)
	}
	crc := crc32.Update(0, crcTable, rr.hdr[8:16])
	crc = crc32.Update(crc, crcTable, payload)
	if crc != binary.BigEndian.Uint32(rr.hdr[4:8]) {
		return 0, nil, fmt.Errorf("%w at offset %d: checksum mismatch", errCorrupt, rr.off)
	}
	if seq != rr.want {
		return 0, nil, fmt.Errorf("%w at offset %d: seq %d, want %d", errCorrupt, rr.off, seq, rr.want)
	}
	rr.off += recordHeader + int64(size)
	rr.want++
	return seq, payload, nil
}
