package fakecloudwatch

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"sort"
	"time"
)

// A minimal CBOR (RFC 8949) decoder and encoder, enough for the Smithy
// RPCv2 CBOR requests of the CloudWatch metrics client: maps with text keys,
// arrays, text and byte strings, integers, floats, booleans, null, and the
// epoch-time tag 1.

var errCBOR = errors.New("malformed CBOR")

type cborDecoder struct {
	b     []byte
	depth int
}

func decodeCBOR(b []byte) (any, error) {
	d := &cborDecoder{b: b}
	v, err := d.value()
	if err != nil {
		return nil, err
	}
	if len(d.b) != 0 {
		return nil, fmt.Errorf("%w: %d bytes after the value", errCBOR, len(d.b))
	}
	return v, nil
}

func (d *cborDecoder) head() (major, info byte, arg uint64, indefinite bool, err error) {
	if len(d.b) == 0 {
		return 0, 0, 0, false, fmt.Errorf("%w: unexpected end", errCBOR)
	}
	ib := d.b[0]
	d.b = d.b[1:]
	major, info = ib>>5, ib&0x1f
	switch {
	case info < 24:
		return major, info, uint64(info), false, nil
	case info == 31:
		return major, info, 0, true, nil
	case info > 27:
		return 0, 0, 0, false, fmt.Errorf("%w: reserved additional info %d", errCBOR, info)
	}
	n := 1 << (info - 24)
	if len(d.b) < n {
		return 0, 0, 0, false, fmt.Errorf("%w: unexpected end", errCBOR)
	}
	switch n {
	case 1:
		arg = uint64(d.b[0])
	case 2:
		arg = uint64(binary.BigEndian.Uint16(d.b))
	case 4:
		arg = uint64(binary.BigEndian.Uint32(d.b))
	case 8:
		arg = binary.BigEndian.Uint64(d.b)
	}
	d.b = d.b[n:]
	return major, info, arg, false, nil
}

func (d *cborDecoder) value() (any, error) {
	d.depth++
	defer func() { d.depth-- }()
	if d.depth > 64 {
		return nil, fmt.Errorf("%w: nested too deep", errCBOR)
	}
	if d.atBreak() {
		return nil, fmt.Errorf("%w: unexpected break", errCBOR)
	}
	major, info, arg, indef, err := d.head()
	if err != nil {
		return nil, err
	}
	switch major {
	case 0:
		return arg, nil
	case 1:
		return -1 - int64(arg), nil
	case 2, 3:
		return d.text(major, arg, indef)
	case 4:
		return d.array(arg, indef)
	case 5:
		return d.object(arg, indef)
	case 6:
		return d.tagged(arg)
	case 7:
		return simple(info, arg, indef)
	}
	return nil, fmt.Errorf("%w: major type %d", errCBOR, major)
}

// atBreak reports whether the next byte is a break (0xff).
func (d *cborDecoder) atBreak() bool { return len(d.b) > 0 && d.b[0] == 0xff }

// endOf reports whether an item of an indefinite container is its break
// (and consumes it).
func (d *cborDecoder) endOf(indef bool) bool {
	if indef && d.atBreak() {
		d.b = d.b[1:]
		return true
	}
	return false
}

// text decodes a byte string (major 2) or a text string (major 3).
func (d *cborDecoder) text(major byte, arg uint64, indef bool) (any, error) {
	var out []byte
	if indef {
		for !d.endOf(true) {
			chunk, err := d.value()
			if err != nil {
				return nil, err
			}
			switch c := chunk.(type) {
			case []byte:
				out = append(out, c...)
			case string:
				out = append(out, c...)
			default:
				return nil, fmt.Errorf("%w: bad string chunk", errCBOR)
			}
		}
	} else {
		if arg > uint64(len(d.b)) {
			return nil, fmt.Errorf("%w: string longer than the data", errCBOR)
		}
		out = d.b[:arg]
		d.b = d.b[arg:]
	}
	if major == 3 {
		return string(out), nil
	}
	return append([]byte(nil), out...), nil
}

func (d *cborDecoder) array(arg uint64, indef bool) (any, error) {
	var out []any
	for i := uint64(0); indef || i < arg; i++ {
		if d.endOf(indef) {
			break
		}
		if !indef && arg > uint64(len(d.b)) {
			return nil, fmt.Errorf("%w: array longer than the data", errCBOR)
		}
		v, err := d.value()
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

func (d *cborDecoder) object(arg uint64, indef bool) (any, error) {
	out := map[string]any{}
	for i := uint64(0); indef || i < arg; i++ {
		if d.endOf(indef) {
			break
		}
		if !indef && arg > uint64(len(d.b)) {
			return nil, fmt.Errorf("%w: map longer than the data", errCBOR)
		}
		k, err := d.value()
		if err != nil {
			return nil, err
		}
		ks, ok := k.(string)
		if !ok {
			return nil, fmt.Errorf("%w: map key of type %T", errCBOR, k)
		}
		v, err := d.value()
		if err != nil {
			return nil, err
		}
		out[ks] = v
	}
	return out, nil
}

// tagged decodes a tagged item; tag 1 (epoch time) becomes a time.Time.
func (d *cborDecoder) tagged(tag uint64) (any, error) {
	v, err := d.value()
	if err != nil || tag != 1 {
		return v, err
	}
	switch t := v.(type) {
	case uint64:
		return time.Unix(int64(t), 0).UTC(), nil
	case int64:
		return time.Unix(t, 0).UTC(), nil
	case float64:
		sec, frac := math.Modf(t)
		return time.Unix(int64(sec), int64(math.Round(frac*1e9))).UTC(), nil
	}
	return nil, fmt.Errorf("%w: epoch time of type %T", errCBOR, v)
}

// simple decodes major type 7: false, true, null, undefined and floats.
func simple(info byte, arg uint64, indef bool) (any, error) {
	switch {
	case indef:
		return nil, fmt.Errorf("%w: unexpected break", errCBOR)
	case arg == 20:
		return false, nil
	case arg == 21:
		return true, nil
	case arg == 22, arg == 23:
		return nil, nil
	}
	switch info {
	case 25:
		return float64(halfToFloat(uint16(arg))), nil
	case 26:
		return float64(math.Float32frombits(uint32(arg))), nil
	case 27:
		return math.Float64frombits(arg), nil
	}
	return nil, fmt.Errorf("%w: simple value %d", errCBOR, arg)
}

func halfToFloat(h uint16) float32 {
	sign := uint32(h>>15) << 31
	exp := (h >> 10) & 0x1f
	mant := uint32(h & 0x3ff)
	switch exp {
	case 0: // subnormal
		v := float32(mant) * float32(math.Pow(2, -24))
		if sign != 0 {
			v = -v
		}
		return v
	case 31:
		return math.Float32frombits(sign | 0x7f800000 | mant<<13)
	}
	return math.Float32frombits(sign | uint32(exp+112)<<23 | mant<<13)
}

// encodeCBORMap encodes a map of text keys to text values.
func encodeCBORMap(m map[string]string) []byte {
	b := appendCBORHead(nil, 5, uint64(len(m)))
	for k, v := range m {
		b = appendCBORHead(b, 3, uint64(len(k)))
		b = append(b, k...)
		b = appendCBORHead(b, 3, uint64(len(v)))
		b = append(b, v...)
	}
	return b
}

func appendCBORHead(b []byte, major byte, n uint64) []byte {
	switch {
	case n < 24:
		return append(b, major<<5|byte(n))
	case n <= 0xff:
		return append(b, major<<5|24, byte(n))
	case n <= 0xffff:
		return binary.BigEndian.AppendUint16(append(b, major<<5|25), uint16(n))
	case n <= 0xffffffff:
		return binary.BigEndian.AppendUint32(append(b, major<<5|26), uint32(n))
	}
	return binary.BigEndian.AppendUint64(append(b, major<<5|27), n)
}

// encodeCBOR encodes what the fake answers: maps of text keys (in sorted
// order), arrays, text, float64 (as doubles), integers, booleans, nil, and
// time.Time (tag 1, epoch seconds as a double).
func encodeCBOR(b []byte, v any) []byte {
	switch x := v.(type) {
	case nil:
		return append(b, 0xf6)
	case bool:
		if x {
			return append(b, 0xf5)
		}
		return append(b, 0xf4)
	case string:
		return append(appendCBORHead(b, 3, uint64(len(x))), x...)
	case int:
		if x < 0 {
			return appendCBORHead(b, 1, uint64(-1-x))
		}
		return appendCBORHead(b, 0, uint64(x))
	case float64:
		return binary.BigEndian.AppendUint64(append(b, 0xfb), math.Float64bits(x))
	case time.Time:
		return encodeCBOR(append(b, 0xc1), float64(x.UnixNano())/1e9)
	case []any:
		b = appendCBORHead(b, 4, uint64(len(x)))
		for _, e := range x {
			b = encodeCBOR(b, e)
		}
		return b
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		b = appendCBORHead(b, 5, uint64(len(x)))
		for _, k := range keys {
			b = encodeCBOR(encodeCBOR(b, k), x[k])
		}
		return b
	}
	panic(fmt.Sprintf("fakecloudwatch: cannot encode %T", v))
}
