package hub

import (
	"math"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"
)

func encodeStruct(t testing.TB, st *structpb.Struct) []byte {
	t.Helper()
	enc, err := proto.Marshal(st)
	if err != nil {
		t.Fatal(err)
	}
	return enc
}

func TestCheckStruct(t *testing.T) {
	t.Parallel()
	num := structpb.NewNumberValue
	list := func(vs ...*structpb.Value) *structpb.Value {
		return structpb.NewListValue(&structpb.ListValue{Values: vs})
	}
	obj := func(kv ...any) *structpb.Value {
		st := &structpb.Struct{Fields: map[string]*structpb.Value{}}
		for i := 0; i < len(kv); i += 2 {
			st.Fields[kv[i].(string)] = kv[i+1].(*structpb.Value)
		}
		return structpb.NewStructValue(st)
	}
	deep := num(1)
	for range MaxStructDepth {
		deep = obj("d", deep)
	}
	tooDeep := obj("d", deep)
	// A value with no kind set: protojson cannot encode it.
	unset := protowire.AppendTag(nil, structFields, protowire.BytesType)
	entry := protowire.AppendTag(nil, entryKey, protowire.BytesType)
	entry = protowire.AppendString(entry, "k")
	entry = protowire.AppendTag(entry, entryValue, protowire.BytesType)
	entry = protowire.AppendBytes(entry, nil)
	unset = protowire.AppendBytes(unset, entry)
	// A key that is not UTF-8.
	badKey := protowire.AppendTag(nil, structFields, protowire.BytesType)
	e2 := protowire.AppendTag(nil, entryKey, protowire.BytesType)
	e2 = protowire.AppendString(e2, "\xff")
	e2 = protowire.AppendTag(e2, entryValue, protowire.BytesType)
	e2 = protowire.AppendBytes(e2, encodeStruct(t, &structpb.Struct{})[:0:0])
	badKey = protowire.AppendBytes(badKey, e2)

	cases := []struct {
		name string
		enc  []byte
		path string // "" and ok when want is ""
		want string
	}{
		{"empty", nil, "", ""},
		{"flat", encodeStruct(t, &structpb.Struct{Fields: map[string]*structpb.Value{"level": num(50), "charging": structpb.NewBoolValue(true), "s": structpb.NewStringValue("é"), "n": structpb.NewNullValue()}}), "", ""},
		{"nested lists", encodeStruct(t, obj("landmarks", list(obj("x", num(0.5)), list(num(1), num(-2)))).GetStructValue()), "", ""},
		{"depth limit", encodeStruct(t, deep.GetStructValue()), "", ""},
		{"nan", encodeStruct(t, obj("a", num(math.NaN())).GetStructValue()), ".a", "finite"},
		{"inf deep", encodeStruct(t, obj("a", list(num(1), obj("b", list(num(2), num(math.Inf(-1)))))).GetStructValue()), ".a[1].b[1]", "finite"},
		{"quoted key", encodeStruct(t, obj("a.b", num(math.Inf(1))).GetStructValue()), `["a.b"]`, "finite"},
		{"too deep", encodeStruct(t, tooDeep.GetStructValue()), "." + strings.TrimSuffix(strings.Repeat("d.", MaxStructDepth), "."), "32 deep"},
		{"unset value", unset, ".k", "must be set"},
		{"bad key", badKey, "", "UTF-8"},
		{"truncated", []byte{0x0a, 0x05, 0x0a, 0x01}, "", "well-formed"},
	}
	for _, tc := range cases {
		path, desc, ok := CheckStruct(tc.enc)
		if tc.want == "" {
			if !ok {
				t.Errorf("%s: refused at %q: %s", tc.name, path, desc)
			}
			continue
		}
		if ok || path != tc.path || !strings.Contains(desc, tc.want) {
			t.Errorf("%s: CheckStruct = %q, %q, %v; want %q, %q", tc.name, path, desc, ok, tc.path, tc.want)
		}
	}
}

// A struct CheckStruct accepts decodes and encodes as JSON; this is what keeps
// JSON Watch streams and recorded payloads from failing (FuzzCheckStruct tries
// many more).
func TestCheckStructAcceptedEncodesAsJSON(t *testing.T) {
	t.Parallel()
	st, err := structpb.NewStruct(map[string]any{"a": []any{1.0, "x", nil, true, map[string]any{"b": math.Copysign(0, -1)}}})
	if err != nil {
		t.Fatal(err)
	}
	checkStructRoundTrip(t, encodeStruct(t, st))
}

func checkStructRoundTrip(t *testing.T, enc []byte) {
	t.Helper()
	if _, _, ok := CheckStruct(enc); !ok {
		return
	}
	var st structpb.Struct
	if err := proto.Unmarshal(enc, &st); err != nil {
		t.Fatalf("accepted struct does not decode: %v", err)
	}
	if _, err := protojson.Marshal(&st); err != nil {
		t.Fatalf("accepted struct does not encode as JSON: %v", err)
	}
}

func TestCheckStructDoesNotAllocate(t *testing.T) {
	st, err := structpb.NewStruct(map[string]any{"level": 50.0, "cells": []any{1.0, map[string]any{"v": 2.0}}})
	if err != nil {
		t.Fatal(err)
	}
	enc := encodeStruct(t, st)
	if n := testing.AllocsPerRun(100, func() { _, _, _ = CheckStruct(enc) }); n != 0 {
		t.Fatalf("CheckStruct allocates %v times", n)
	}
}

func FuzzCheckStruct(f *testing.F) {
	for _, m := range []map[string]any{
		{"level": 50.0, "charging": true},
		{"landmarks": []any{map[string]any{"x": 0.5, "y": 0.25, "v": 0.9}}},
		{"a": []any{nil, "s", []any{1.0, []any{}}}, "b": map[string]any{}},
	} {
		st, err := structpb.NewStruct(m)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(encodeStruct(f, st))
	}
	nan, _ := structpb.NewStruct(map[string]any{"x": math.NaN()})
	f.Add(encodeStruct(f, nan))
	f.Fuzz(func(t *testing.T, enc []byte) {
		checkStructRoundTrip(t, enc)
	})
}
