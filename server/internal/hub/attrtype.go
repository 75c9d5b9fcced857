package hub

import "github.com/sensocto/sensocto/server/internal/attrcatalog"

// Attribute types the hub knows by name. What it knows of each type (the value kinds it
// accepts, its history size, the ids it is inferred from) is in the attribute
// catalogue, package attrcatalog. Unknown types are accepted and stored with the
// default history size.
const (
	TypeNumeric  = "numeric"
	TypeECG      = "ecg"
	TypeSkeleton = "skeleton"
)

// inferByID maps the attribute ids that imply a type, for an attribute first seen in
// data, to that type (attrcatalog: Type.Inferred, Type.InferredAlso).
var inferByID = func() map[string]string {
	m := map[string]string{}
	for _, t := range attrcatalog.Types {
		if !t.Inferred {
			continue
		}
		for _, id := range append(append([]string{t.ID}, t.Aliases...), t.InferredAlso...) {
			m[id] = t.ID
		}
	}
	return m
}()

// InferType returns the attribute type of an attribute first seen in data, as the
// original does, first match wins: the id table (inferByID); then the payload shape:
// a struct with keys level and charging is battery, one with latitude (or a geo
// value) geolocation, one with artist rich_presence, one with landmarks skeleton;
// anything else numeric. A struct
// payload sent as text (e.g. skeleton JSON) is matched by id only.
func InferType(attributeID string, v *Value) string {
	if t, ok := inferByID[attributeID]; ok {
		return t
	}
	switch v.Kind {
	case KindGeo:
		return "geolocation"
	case KindStruct:
		var level, charging, lat, artist, landmarks bool
		for _, k := range v.Ext.Struct.Keys {
			switch k {
			case "level":
				level = true
			case "charging":
				charging = true
			case "latitude":
				lat = true
			case "artist":
				artist = true
			case "landmarks":
				landmarks = true
			}
		}
		switch {
		case level && charging:
			return "battery"
		case lat:
			return "geolocation"
		case artist:
			return "rich_presence"
		case landmarks:
			return "skeleton"
		}
	}
	return TypeNumeric
}

// capacityByType is how many points an attribute's ring keeps at normal load, by
// attribute type (attrcatalog: Type.History, the hot and warm tiers of the original
// folded into one ring).
var capacityByType = func() map[string]int {
	m := map[string]int{}
	for _, t := range attrcatalog.Types {
		if t.History > 0 {
			m[t.ID] = t.History
		}
	}
	return m
}()

// DefaultCapacity is the ring size of types without a history of their own (numeric
// and unknown types).
const DefaultCapacity = attrcatalog.DefaultHistory

// baseCapacity returns the ring size of an attribute type at normal load.
func baseCapacity(attrType string) int {
	if c, ok := capacityByType[attrType]; ok {
		return c
	}
	return DefaultCapacity
}

// minCapacity is the floor of shrinking: 10 for series, 5 for scalars, the
// base itself when it is smaller.
func minCapacity(base int) int {
	switch {
	case base <= 5:
		return base
	case base <= 64:
		return 5
	default:
		return 10
	}
}

// isWaveformType reports whether every sample of the type is delivered and the
// attribute's history keeps compact samples (ecg, respiration).
func isWaveformType(attrType string) bool {
	return attrType == "ecg" || attrType == "respiration"
}

// kindSet is a set of value kinds (bit k for Kind k); the zero set means any
// kind.
type kindSet uint8

func kinds(ks ...Kind) kindSet {
	var s kindSet
	for _, k := range ks {
		s |= 1 << k
	}
	return s
}

// has reports whether the set admits k.
func (s kindSet) has(k Kind) bool { return s == 0 || s&(1<<k) != 0 }

// String lists the kinds, e.g. "number or struct".
func (s kindSet) String() string {
	if s == 0 {
		return "any"
	}
	out := ""
	for k := KindNumber; k <= KindStruct; k++ {
		if s&(1<<k) == 0 {
			continue
		}
		if out != "" {
			out += " or "
		}
		out += k.String()
	}
	return out
}

// kindsByType is what each attribute type accepts (attrcatalog: Type.Accepts, named
// by Kind.String). Types without a list (numeric, the fallback of inference, and
// unknown types) take any kind.
var kindsByType = func() map[string]kindSet {
	byName := map[string]Kind{}
	for k := KindNumber; k <= KindStruct; k++ {
		byName[k.String()] = k
	}
	m := map[string]kindSet{}
	for _, t := range attrcatalog.Types {
		var ks []Kind
		for _, name := range t.Accepts {
			k, ok := byName[name]
			if !ok {
				panic("attrcatalog: type " + t.ID + " accepts unknown value kind " + name)
			}
			ks = append(ks, k)
		}
		if len(ks) > 0 {
			m[t.ID] = kinds(ks...)
		}
	}
	return m
}()

// kindsOf returns the value kinds an attribute type accepts.
func kindsOf(attrType string) kindSet { return kindsByType[attrType] }

// AcceptsKind reports whether an attribute of the type accepts values of the
// kind (every kind for numeric and unknown types).
func AcceptsKind(attrType string, k Kind) bool { return kindsOf(attrType).has(k) }
