package hub

import (
	"math"
	"strconv"
	"unicode/utf8"

	"google.golang.org/protobuf/encoding/protowire"
)

// MaxStructDepth caps the nesting of a struct value: structs and lists inside
// it, counting the top-level struct as 1.
const MaxStructDepth = 32

// Field numbers of google.protobuf.Struct, Value and ListValue
// (google/protobuf/struct.proto), whose wire form Struct.Encoded holds.
const (
	structFields = 1 // Struct.fields: map<string, Value>, entries {key = 1, value = 2}
	entryKey     = 1
	entryValue   = 2
	valueNull    = 1 // Value.null_value (enum)
	valueNumber  = 2 // Value.number_value (double)
	valueString  = 3 // Value.string_value
	valueBool    = 4 // Value.bool_value
	valueStruct  = 5 // Value.struct_value
	valueList    = 6 // Value.list_value
	listValues   = 1 // ListValue.values
)

// structPath is the path to the element being checked, kept without
// allocating: each level is a key (a slice of the encoded bytes) or a list
// index. It is turned into a string only for an error.
type structPath struct {
	n     int
	keys  [MaxStructDepth * 2][]byte
	index [MaxStructDepth * 2]int // -1 for a key
}

func (p *structPath) push(key []byte, index int) {
	p.keys[p.n], p.index[p.n] = key, index
	p.n++
}

func (p *structPath) pop() { p.n-- }

// String renders the path as ".key[3].other"; a key that is not a plain
// identifier is quoted: `["a.b"]`.
func (p *structPath) String() string {
	var b []byte
	for i := range p.n {
		if p.index[i] >= 0 {
			b = append(b, '[')
			b = strconv.AppendInt(b, int64(p.index[i]), 10)
			b = append(b, ']')
			continue
		}
		k := p.keys[i]
		if plainKey(k) {
			b = append(b, '.')
			b = append(b, k...)
		} else {
			b = append(b, '[')
			b = strconv.AppendQuote(b, string(k))
			b = append(b, ']')
		}
	}
	return string(b)
}

func plainKey(k []byte) bool {
	if len(k) == 0 {
		return false
	}
	for i, c := range k {
		alpha := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_'
		if !alpha && (i == 0 || c < '0' || c > '9') {
			return false
		}
	}
	return true
}

// structError is what CheckStruct finds wrong: where (a path below the value,
// e.g. ".foo[3].bar") and what.
type structError struct {
	path string
	desc string
}

// CheckStruct checks the protobuf wire form of a google.protobuf.Struct
// without decoding it into messages (and without allocating unless it is
// bad): it must parse, every number must be finite (JSON has no NaN or
// Infinity: protojson refuses to encode them, which would fail every JSON
// reader of the value), every string and key valid UTF-8, and structs and lists
// nested at most MaxStructDepth deep. On error it returns the path of the bad
// element below the value (".foo[3].bar", "" for the value itself) and what is
// wrong; ok is true when the value is sound.
func CheckStruct(enc []byte) (path, desc string, ok bool) {
	var p structPath
	if e := checkStruct(enc, &p, 1); e != nil {
		return e.path, e.desc, false
	}
	return "", "", true
}

func fail(p *structPath, desc string) *structError {
	return &structError{path: p.String(), desc: desc}
}

const errMalformed = "is not a well-formed google.protobuf.Struct"

func checkStruct(b []byte, p *structPath, depth int) *structError {
	if depth > MaxStructDepth {
		return fail(p, "nests structs and lists more than 32 deep")
	}
	for len(b) > 0 {
		num, typ, n := consumeTag(b)
		if n < 0 {
			return fail(p, errMalformed)
		}
		b = b[n:]
		if num != structFields || typ != protowire.BytesType {
			// An unknown field: protojson drops it; it must still parse.
			if n = protowire.ConsumeFieldValue(num, typ, b); n < 0 {
				return fail(p, errMalformed)
			}
			b = b[n:]
			continue
		}
		entry, n := protowire.ConsumeBytes(b)
		if n < 0 {
			return fail(p, errMalformed)
		}
		b = b[n:]
		if e := checkEntry(entry, p, depth); e != nil {
			return e
		}
	}
	return nil
}

// checkEntry checks one map entry {key, value} of Struct.fields. The decoder
// merges repeated occurrences of the value, so each is checked; errors name
// the entry by its key (the last one, as the decoder takes it).
func checkEntry(b []byte, p *structPath, depth int) *structError {
	key, hasVal, err := entryKeyOf(b, p)
	if err != nil {
		return err
	}
	if !utf8.Valid(key) {
		return fail(p, "has a key that is not valid UTF-8")
	}
	p.push(key, -1)
	defer p.pop()
	if !hasVal {
		return fail(p, "must be set (null, number, string, bool, struct or list)")
	}
	for len(b) > 0 {
		num, typ, n := consumeTag(b)
		if n < 0 {
			return fail(p, errMalformed)
		}
		b = b[n:]
		if num == entryValue && typ == protowire.BytesType {
			val, m := protowire.ConsumeBytes(b)
			if m < 0 {
				return fail(p, errMalformed)
			}
			if e := checkValue(val, p, depth); e != nil {
				return e
			}
			b = b[m:]
			continue
		}
		if n = protowire.ConsumeFieldValue(num, typ, b); n < 0 {
			return fail(p, errMalformed)
		}
		b = b[n:]
	}
	return nil
}

// entryKeyOf returns the key of a map entry (the last one, as the decoder
// takes it) and whether it has a value.
func entryKeyOf(b []byte, p *structPath) (key []byte, hasVal bool, err *structError) {
	for len(b) > 0 {
		num, typ, n := consumeTag(b)
		if n < 0 {
			return nil, false, fail(p, errMalformed)
		}
		b = b[n:]
		switch {
		case num == entryKey && typ == protowire.BytesType:
			if key, n = protowire.ConsumeBytes(b); n < 0 {
				return nil, false, fail(p, errMalformed)
			}
		case num == entryValue && typ == protowire.BytesType:
			hasVal = true
			n = protowire.ConsumeFieldValue(num, typ, b)
		default:
			n = protowire.ConsumeFieldValue(num, typ, b)
		}
		if n < 0 {
			return nil, false, fail(p, errMalformed)
		}
		b = b[n:]
	}
	return key, hasVal, nil
}

// checkValue checks a google.protobuf.Value: one of its kinds must be set
// (protojson cannot encode a Value without one). A known field with another
// wire type is an unknown field to the decoder, and skipped here too.
func checkValue(b []byte, p *structPath, depth int) *structError {
	set := false
	for len(b) > 0 {
		num, typ, n := consumeTag(b)
		if n < 0 {
			return fail(p, errMalformed)
		}
		b = b[n:]
		switch {
		case num == valueNumber && typ == protowire.Fixed64Type:
			v, m := protowire.ConsumeFixed64(b)
			if m < 0 {
				return fail(p, errMalformed)
			}
			if f := math.Float64frombits(v); math.IsNaN(f) || math.IsInf(f, 0) {
				return fail(p, "must be a finite number")
			}
			n = m
		case num == valueString && typ == protowire.BytesType:
			s, m := protowire.ConsumeBytes(b)
			if m < 0 {
				return fail(p, errMalformed)
			}
			if !utf8.Valid(s) {
				return fail(p, "must be valid UTF-8")
			}
			n = m
		case num == valueStruct && typ == protowire.BytesType:
			s, m := protowire.ConsumeBytes(b)
			if m < 0 {
				return fail(p, errMalformed)
			}
			if e := checkStruct(s, p, depth+1); e != nil {
				return e
			}
			n = m
		case num == valueList && typ == protowire.BytesType:
			s, m := protowire.ConsumeBytes(b)
			if m < 0 {
				return fail(p, errMalformed)
			}
			if e := checkList(s, p, depth+1); e != nil {
				return e
			}
			n = m
		case (num == valueNull || num == valueBool) && typ == protowire.VarintType:
			if _, n = protowire.ConsumeVarint(b); n < 0 {
				return fail(p, errMalformed)
			}
		default:
			if n = protowire.ConsumeFieldValue(num, typ, b); n < 0 {
				return fail(p, errMalformed)
			}
			b = b[n:]
			continue
		}
		set = true
		b = b[n:]
	}
	if !set {
		return fail(p, "must be set (null, number, string, bool, struct or list)")
	}
	return nil
}

// checkList checks a google.protobuf.ListValue.
func checkList(b []byte, p *structPath, depth int) *structError {
	if depth > MaxStructDepth {
		return fail(p, "nests structs and lists more than 32 deep")
	}
	for i := 0; len(b) > 0; {
		num, typ, n := consumeTag(b)
		if n < 0 {
			return fail(p, errMalformed)
		}
		b = b[n:]
		if num != listValues || typ != protowire.BytesType {
			if n = protowire.ConsumeFieldValue(num, typ, b); n < 0 {
				return fail(p, errMalformed)
			}
			b = b[n:]
			continue
		}
		v, m := protowire.ConsumeBytes(b)
		if m < 0 {
			return fail(p, errMalformed)
		}
		b = b[m:]
		p.push(nil, i)
		e := checkValue(v, p, depth)
		p.pop()
		if e != nil {
			return e
		}
		i++
	}
	return nil
}

// consumeTag is protowire.ConsumeTag refusing field numbers the decoder
// refuses (0 and above 2²⁹-1).
func consumeTag(b []byte) (protowire.Number, protowire.Type, int) {
	num, typ, n := protowire.ConsumeTag(b)
	if n >= 0 && !num.IsValid() {
		return 0, 0, -1
	}
	return num, typ, n
}
