package hub

// Attribute types the hub knows by name (protocol-and-model.md §2.3). Unknown
// types are accepted and stored with the default history size.
const (
	TypeNumeric  = "numeric"
	TypeECG      = "ecg"
	TypeSkeleton = "skeleton"
)

// inferByID is the id table of protocol-and-model.md §1.4: exact attribute ids
// and the type they imply.
var inferByID = map[string]string{
	"battery": "battery", "battery_level": "battery",
	"geolocation": "geolocation", "location": "geolocation", "gps": "geolocation",
	"button": "button", "buttons": "button",
	"ecg": "ecg", "heart": "ecg", "heartbeat": "ecg",
	"heartrate": "heartrate", "heart_rate": "heartrate", "hr": "heartrate", "bpm": "heartrate",
	"imu": "imu", "accelerometer": "imu", "gyroscope": "imu", "motion": "imu",
	"respiration": "respiration", "breathing": "respiration", "breath": "respiration",
	"hrv": "hrv", "heart_rate_variability": "hrv",
	"eye_gaze": "eye_gaze", "gaze": "eye_gaze",
	"temperature": "temperature", "temp": "temperature",
	"humidity": "humidity",
	"pressure": "pressure", "barometer": "pressure",
	"rich_presence": "rich_presence", "media": "rich_presence", "now_playing": "rich_presence",
	"skeleton": "skeleton", "pose_skeleton": "skeleton", "pose": "skeleton", "body_pose": "skeleton",
}

// InferType returns the attribute type of an attribute first seen in data, as
// the original does (protocol-and-model.md §1.4), first match wins: the id
// table; then the payload shape: a struct with keys level and charging is
// battery, one with latitude (or a geo value) geolocation, one with artist
// rich_presence, one with landmarks skeleton; anything else numeric. A struct
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

// Capacity classes: how many points an attribute's ring keeps at normal load,
// by attribute type (protocol-and-model.md §1.9, with the hot and warm tiers of
// the original folded into one ring), and the floor it never shrinks below.
var capacityByType = map[string]int{
	// waveforms: several seconds at 100–512 Hz
	"ecg": 2000, "respiration": 2000,
	"heartrate": 500, "hr": 500, "hrv": 500,
	"eye_gaze": 300, "eye_aperture": 300, "eye_blink": 200, "eye_worn": 50,
	"geolocation": 200, "imu": 200, "accelerometer": 200, "gyroscope": 200, "magnetometer": 200,
	"quaternion": 100, "euler": 100, "heading": 100, "orientation": 100,
	// scalars
	"battery": 64, "button": 64, "temperature": 64, "humidity": 64, "pressure": 64,
	"spo2": 64, "gas": 64, "air_quality": 64, "steps": 64, "tap": 64, "led": 64,
	"speaker": 64, "microphone": 64, "color": 64, "body_location": 64, "rich_presence": 64,
	// realtime only
	"skeleton": 1, "video_frame": 1, "depth_map": 1,
}

// DefaultCapacity is the ring size of types not in the table (numeric and
// unknown types).
const DefaultCapacity = 500

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

var (
	numberOnly   = kinds(KindNumber)
	numberStruct = kinds(KindNumber, KindStruct)
	structOnly   = kinds(KindStruct)
	vec3Struct   = kinds(KindVec3, KindStruct)
)

// kindsByType is what each known attribute type accepts, from the payloads of
// protocol-and-model.md §2.3 (docs in the repository: README "Attribute types"):
// scalars are numbers; types whose payload is an object ({rmssd, sdnn},
// {level, charging}…) also take a struct, and the readings that have a typed
// value take it (vector3, quaternion, geo). Types not listed (numeric, the
// fallback of inference, and unknown types) take any kind.
var kindsByType = map[string]kindSet{
	// waveforms and scalars
	"ecg": numberOnly, "respiration": numberOnly,
	"heartrate": numberOnly, "hr": numberOnly, "spo2": numberOnly,
	"temperature": numberOnly, "humidity": numberOnly, "pressure": numberOnly,
	"light": numberOnly, "altitude": numberOnly, "speed": numberOnly,
	"heading": numberOnly, "orientation": numberOnly, "body_location": numberOnly,
	"calories": numberOnly, "distance": numberOnly, "button": numberOnly,
	"eye_blink": numberOnly, "eye_worn": numberOnly,
	// a number or an object
	"hrv": numberStruct, "battery": numberStruct, "eye_aperture": numberStruct,
	"tap": numberStruct, "gas": numberStruct, "air_quality": numberStruct,
	"color": numberStruct, "led": numberStruct, "speaker": numberStruct,
	"microphone": numberStruct, "steps": numberStruct, "proximity": numberStruct,
	// objects
	"eye_gaze": structOnly, "rich_presence": structOnly,
	"skeleton": kinds(KindStruct, KindText), // the browser sends its JSON as text
	// typed readings
	"imu":           vec3Struct, // {accelerometer, gyroscope} or a flat x, y, z
	"accelerometer": vec3Struct, "gyroscope": vec3Struct, "magnetometer": vec3Struct, "gravity": vec3Struct,
	"euler":       vec3Struct, // {roll, pitch, yaw}
	"quaternion":  kinds(KindQuat, KindStruct),
	"geolocation": kinds(KindGeo, KindStruct),
}

// kindsOf returns the value kinds an attribute type accepts.
func kindsOf(attrType string) kindSet { return kindsByType[attrType] }

// AcceptsKind reports whether an attribute of the type accepts values of the
// kind (every kind for numeric and unknown types).
func AcceptsKind(attrType string, k Kind) bool { return kindsOf(attrType).has(k) }
