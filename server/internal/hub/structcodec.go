package hub

import (
	"errors"
	"fmt"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"
)

// The one codec of struct payloads: a struct value holds the protobuf wire form of a
// google.protobuf.Struct (what structcheck.go checks) and its top-level keys. Every
// package that makes or reads struct values goes through these two functions.

// EncodeStruct returns the struct value of st.
func EncodeStruct(st *structpb.Struct) (Value, error) {
	enc, err := proto.Marshal(st)
	if err != nil {
		return Value{}, fmt.Errorf("encode struct value: %w", err)
	}
	keys := make([]string, 0, len(st.GetFields()))
	for k := range st.GetFields() {
		keys = append(keys, k)
	}
	return StructValue(Struct{Keys: keys, Encoded: enc}), nil
}

// errNotStruct is DecodeStruct's error for a value of another kind.
var errNotStruct = errors.New("not a struct value")

// DecodeStruct returns the fields of a struct value.
func (v *Value) DecodeStruct() (*structpb.Struct, error) {
	if v.Kind != KindStruct || v.Ext == nil {
		return nil, errNotStruct
	}
	st := new(structpb.Struct)
	if err := proto.Unmarshal(v.Ext.Struct.Encoded, st); err != nil {
		return nil, fmt.Errorf("decode struct value: %w", err)
	}
	return st, nil
}
