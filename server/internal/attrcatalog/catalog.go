// Package attrcatalog owns the attribute catalogue: for every attribute type the
// platform knows (the types of the original system and those the simulator
// produces), its display label, unit, display precision, value kind, chart, and
// the attribute ids that imply it; plus well-known attribute ids that carry a
// more specific meaning than their type (blood_pressure_sys); and what the hub
// needs to know of a type (ingest.go: the value kinds it accepts, how much history
// it keeps, the ids it is inferred from). It is the one definition of these facts:
// the hub reads them from here, and the web app's catalogue is generated from it
// (server/cmd/attrcatalog writes frontend/src/lib/gen/attributes.ts). It imports no
// other domain.
package attrcatalog

import "slices"

// Kind is the shape of an attribute's values.
type Kind string

// Value kinds.
const (
	KindNumber     Kind = "number"     // one number per measurement
	KindWaveform   Kind = "waveform"   // uniformly sampled numbers, sent in sample blocks
	KindVector3    Kind = "vector3"    // x, y, z
	KindQuaternion Kind = "quaternion" // w, x, y, z
	KindGeo        Kind = "geo"        // a position (latitude, longitude, …)
	KindStruct     Kind = "struct"     // an object with named fields (Fields, in display order)
	KindEvent      Kind = "event"      // discrete events (a button press)
	KindText       Kind = "text"       // text
	KindLandmarks  Kind = "landmarks"  // a pose: a list of body landmarks
)

// Chart is how the app draws an attribute.
type Chart string

// Charts.
const (
	ChartWaveform    Chart = "waveform"    // a scrolling trace of the last seconds
	ChartSparkline   Chart = "sparkline"   // a line of the last minutes
	ChartAxes        Chart = "axes"        // three traces, one per axis
	ChartMap         Chart = "map"         // a position on a map
	ChartOrientation Chart = "orientation" // a rotating body
	ChartFigure      Chart = "figure"      // a stick figure
	ChartGaze        Chart = "gaze"        // a gaze point in the field of view
	ChartEvents      Chart = "events"      // a strip of events
	ChartNone        Chart = "none"        // the value only
)

// Field is one named part of a multi-value reading, in the order it is shown.
type Field struct {
	Key       string `json:"key"`
	Label     string `json:"label"`
	Unit      string `json:"unit"`
	Precision int    `json:"precision"`
}

// Type is one attribute type.
type Type struct {
	// ID is the attribute_type string, e.g. "heartrate".
	ID string `json:"id"`
	// Label is the display name in sentence case, e.g. "Heart rate".
	Label string `json:"label"`
	// Unit is the unit of the values when the sensor declares none ("" for none).
	Unit string `json:"unit"`
	// Precision is the number of decimals shown.
	Precision int `json:"precision"`
	// Kind is the shape of the values.
	Kind Kind `json:"kind"`
	// Chart is how the values are drawn.
	Chart Chart `json:"chart"`
	// Category groups types (health, motion, location, environment, device,
	// activity, eye_tracking, specialty, other).
	Category string `json:"category"`
	// Aliases are attribute ids and type names that mean this type.
	Aliases []string `json:"aliases"`
	// Fields are the parts of a multi-value reading, in display order (x/y/z,
	// latitude/longitude, systolic/diastolic …); empty for single numbers.
	Fields []Field `json:"fields"`

	// What the hub needs (ingest.go); not sent to the web app.

	// Accepts lists the value kinds an attribute of the type accepts (the hub's
	// names: number, vector3, quaternion, geo, text, struct); empty: any kind.
	Accepts []string `json:"-"`
	// History is how many points (samples for waveforms) the hub keeps per attribute
	// of the type at normal load; 0: DefaultHistory.
	History int `json:"-"`
	// Inferred says an attribute first seen in data whose id is the type's id or one
	// of its aliases gets this type (the original's id table), as do the ids in
	// InferredAlso.
	Inferred     bool     `json:"-"`
	InferredAlso []string `json:"-"`
}

// Attribute is a well-known attribute id whose meaning is more specific than its
// type's (e.g. "blood_pressure_sys" of type "blood_pressure").
type Attribute struct {
	ID        string `json:"id"`
	Type      string `json:"type"`
	Label     string `json:"label"`
	Unit      string `json:"unit"`
	Precision int    `json:"precision"`
}

func xyz(unit string, precision int) []Field {
	return []Field{
		{Key: "x", Label: "x", Unit: unit, Precision: precision},
		{Key: "y", Label: "y", Unit: unit, Precision: precision},
		{Key: "z", Label: "z", Unit: unit, Precision: precision},
	}
}

// geoFields are the parts of a position, in display order.
var geoFields = []Field{
	{Key: "latitude", Label: "lat", Unit: "°", Precision: 5},
	{Key: "longitude", Label: "lon", Unit: "°", Precision: 5},
	{Key: "altitude", Label: "alt", Unit: "m", Precision: 0},
	{Key: "accuracy", Label: "±", Unit: "m", Precision: 0},
	{Key: "speed", Label: "speed", Unit: "m/s", Precision: 1},
	{Key: "heading", Label: "heading", Unit: "°", Precision: 0},
}

// Types lists every attribute type, in catalogue order (by category).
var Types = []Type{
	// health
	{ID: "ecg", Accepts: []string{"number"}, History: 2000, Inferred: true, Label: "ECG", Unit: "mV", Precision: 2, Kind: KindWaveform, Chart: ChartWaveform, Category: "health",
		Aliases: []string{"heart", "heartbeat"}},
	{ID: "heartrate", Accepts: []string{"number"}, History: 500, Inferred: true, Label: "Heart rate", Unit: "bpm", Precision: 0, Kind: KindNumber, Chart: ChartSparkline, Category: "health",
		Aliases: []string{"heart_rate", "hr", "bpm"}},
	{ID: "hrv", Accepts: []string{"number", "struct"}, History: 500, Inferred: true, Label: "HRV", Unit: "ms", Precision: 0, Kind: KindStruct, Chart: ChartSparkline, Category: "health",
		Aliases: []string{"heart_rate_variability"},
		Fields: []Field{
			{Key: "rmssd", Label: "RMSSD", Unit: "ms", Precision: 0},
			{Key: "sdnn", Label: "SDNN", Unit: "ms", Precision: 0},
		}},
	{ID: "respiration", Accepts: []string{"number"}, History: 2000, Inferred: true, Label: "Breathing", Unit: "%", Precision: 0, Kind: KindWaveform, Chart: ChartWaveform, Category: "health",
		Aliases: []string{"breathing", "breath"}},
	{ID: "respiratory", Label: "Breathing rate", Unit: "breaths/min", Precision: 1, Kind: KindNumber, Chart: ChartSparkline, Category: "health",
		Aliases: []string{"respiratory_rate"}},
	{ID: "spo2", Accepts: []string{"number"}, History: 64, Label: "SpO₂", Unit: "%", Precision: 0, Kind: KindNumber, Chart: ChartSparkline, Category: "health"},
	{ID: "blood_pressure", Label: "Blood pressure", Unit: "mmHg", Precision: 0, Kind: KindNumber, Chart: ChartSparkline, Category: "health",
		Fields: []Field{
			{Key: "systolic", Label: "sys", Unit: "mmHg", Precision: 0},
			{Key: "diastolic", Label: "dia", Unit: "mmHg", Precision: 0},
		}},
	{ID: "body_temperature", Label: "Body temperature", Unit: "°C", Precision: 1, Kind: KindNumber, Chart: ChartSparkline, Category: "health"},
	{ID: "ppg", Label: "PPG", Unit: "", Precision: 0, Kind: KindWaveform, Chart: ChartWaveform, Category: "health"},
	{ID: "eeg", Label: "EEG", Unit: "µV", Precision: 1, Kind: KindWaveform, Chart: ChartWaveform, Category: "health"},
	{ID: "emg", Label: "EMG", Unit: "mV", Precision: 2, Kind: KindWaveform, Chart: ChartWaveform, Category: "health"},

	// motion
	{ID: "imu", Accepts: []string{"vector3", "struct"}, History: 200, Inferred: true, InferredAlso: []string{"accelerometer", "gyroscope"}, Label: "Motion", Unit: "m/s²", Precision: 2, Kind: KindStruct, Chart: ChartAxes, Category: "motion",
		Aliases: []string{"motion"},
		Fields: []Field{
			{Key: "accelerometer", Label: "acc", Unit: "m/s²", Precision: 2},
			{Key: "gyroscope", Label: "gyro", Unit: "rad/s", Precision: 2},
			{Key: "magnetometer", Label: "mag", Unit: "µT", Precision: 1},
		}},
	{ID: "accelerometer", Accepts: []string{"vector3", "struct"}, History: 200, Label: "Accelerometer", Unit: "m/s²", Precision: 2, Kind: KindVector3, Chart: ChartAxes, Category: "motion",
		Fields: xyz("m/s²", 2)},
	{ID: "gyroscope", Accepts: []string{"vector3", "struct"}, History: 200, Label: "Gyroscope", Unit: "rad/s", Precision: 2, Kind: KindVector3, Chart: ChartAxes, Category: "motion",
		Fields: xyz("rad/s", 2)},
	{ID: "magnetometer", Accepts: []string{"vector3", "struct"}, History: 200, Label: "Magnetometer", Unit: "µT", Precision: 1, Kind: KindVector3, Chart: ChartAxes, Category: "motion",
		Fields: xyz("µT", 1)},
	{ID: "gravity", Accepts: []string{"vector3", "struct"}, Label: "Gravity", Unit: "m/s²", Precision: 2, Kind: KindVector3, Chart: ChartAxes, Category: "motion",
		Fields: xyz("m/s²", 2)},
	{ID: "accelerometer_x", Label: "Acceleration x", Unit: "m/s²", Precision: 2, Kind: KindNumber, Chart: ChartSparkline, Category: "motion"},
	{ID: "accelerometer_y", Label: "Acceleration y", Unit: "m/s²", Precision: 2, Kind: KindNumber, Chart: ChartSparkline, Category: "motion"},
	{ID: "accelerometer_z", Label: "Acceleration z", Unit: "m/s²", Precision: 2, Kind: KindNumber, Chart: ChartSparkline, Category: "motion"},
	{ID: "gyroscope_x", Label: "Rotation x", Unit: "rad/s", Precision: 2, Kind: KindNumber, Chart: ChartSparkline, Category: "motion"},
	{ID: "gyroscope_y", Label: "Rotation y", Unit: "rad/s", Precision: 2, Kind: KindNumber, Chart: ChartSparkline, Category: "motion"},
	{ID: "gyroscope_z", Label: "Rotation z", Unit: "rad/s", Precision: 2, Kind: KindNumber, Chart: ChartSparkline, Category: "motion"},
	{ID: "quaternion", Accepts: []string{"quaternion", "struct"}, History: 100, Label: "Orientation", Unit: "", Precision: 3, Kind: KindQuaternion, Chart: ChartOrientation, Category: "motion",
		Aliases: []string{"orientation_quaternion"},
		Fields: []Field{
			{Key: "w", Label: "w", Precision: 3},
			{Key: "x", Label: "x", Precision: 3},
			{Key: "y", Label: "y", Precision: 3},
			{Key: "z", Label: "z", Precision: 3},
		}},
	{ID: "euler", Accepts: []string{"vector3", "struct"}, History: 100, Label: "Orientation angles", Unit: "°", Precision: 1, Kind: KindStruct, Chart: ChartOrientation, Category: "motion",
		Fields: []Field{
			{Key: "roll", Label: "roll", Unit: "°", Precision: 1},
			{Key: "pitch", Label: "pitch", Unit: "°", Precision: 1},
			{Key: "yaw", Label: "yaw", Unit: "°", Precision: 1},
		}},
	{ID: "heading", Accepts: []string{"number"}, History: 100, Label: "Heading", Unit: "°", Precision: 0, Kind: KindNumber, Chart: ChartSparkline, Category: "motion"},
	{ID: "orientation", Accepts: []string{"number"}, History: 100, Label: "Device orientation", Unit: "", Precision: 0, Kind: KindNumber, Chart: ChartNone, Category: "motion"},
	{ID: "tap", Accepts: []string{"number", "struct"}, History: 64, Label: "Tap", Unit: "", Precision: 0, Kind: KindEvent, Chart: ChartEvents, Category: "motion",
		Fields: []Field{
			{Key: "direction", Label: "direction"},
			{Key: "count", Label: "count"},
		}},
	{ID: "skeleton", Accepts: []string{"struct", "text"}, History: 1, Inferred: true, Label: "Pose", Unit: "", Precision: 3, Kind: KindLandmarks, Chart: ChartFigure, Category: "motion",
		Aliases: []string{"pose_skeleton", "pose", "body_pose"}},

	// location
	{ID: "geolocation", Accepts: []string{"geo", "struct"}, History: 200, Inferred: true, Label: "Location", Unit: "", Precision: 5, Kind: KindGeo, Chart: ChartMap, Category: "location",
		Aliases: []string{"location", "gps"}, Fields: geoFields},
	{ID: "geolocation_lat", Label: "Latitude", Unit: "°", Precision: 5, Kind: KindNumber, Chart: ChartSparkline, Category: "location",
		Aliases: []string{"latitude"}},
	{ID: "geolocation_lng", Label: "Longitude", Unit: "°", Precision: 5, Kind: KindNumber, Chart: ChartSparkline, Category: "location",
		Aliases: []string{"longitude"}},
	{ID: "altitude", Accepts: []string{"number"}, Label: "Altitude", Unit: "m", Precision: 0, Kind: KindNumber, Chart: ChartSparkline, Category: "location",
		Aliases: []string{"geolocation_alt"}},
	{ID: "speed", Accepts: []string{"number"}, Label: "Speed", Unit: "m/s", Precision: 1, Kind: KindNumber, Chart: ChartSparkline, Category: "location"},

	// environment
	{ID: "temperature", Accepts: []string{"number"}, History: 64, Inferred: true, Label: "Temperature", Unit: "°C", Precision: 1, Kind: KindNumber, Chart: ChartSparkline, Category: "environment",
		Aliases: []string{"temp"}},
	{ID: "humidity", Accepts: []string{"number"}, History: 64, Inferred: true, Label: "Humidity", Unit: "%", Precision: 0, Kind: KindNumber, Chart: ChartSparkline, Category: "environment"},
	{ID: "pressure", Accepts: []string{"number"}, History: 64, Inferred: true, Label: "Air pressure", Unit: "hPa", Precision: 0, Kind: KindNumber, Chart: ChartSparkline, Category: "environment",
		Aliases: []string{"barometer"}},
	{ID: "light", Accepts: []string{"number"}, Label: "Light", Unit: "lx", Precision: 0, Kind: KindNumber, Chart: ChartSparkline, Category: "environment"},
	{ID: "sound_level", Label: "Sound level", Unit: "dB", Precision: 0, Kind: KindNumber, Chart: ChartSparkline, Category: "environment"},
	{ID: "proximity", Accepts: []string{"number", "struct"}, Label: "Proximity", Unit: "", Precision: 0, Kind: KindNumber, Chart: ChartSparkline, Category: "environment"},
	{ID: "gas", Accepts: []string{"number", "struct"}, History: 64, Label: "Gas", Unit: "ppm", Precision: 0, Kind: KindStruct, Chart: ChartSparkline, Category: "environment",
		Fields: []Field{
			{Key: "eco2", Label: "eCO₂", Unit: "ppm", Precision: 0},
			{Key: "tvoc", Label: "TVOC", Unit: "ppb", Precision: 0},
		}},
	{ID: "air_quality", Accepts: []string{"number", "struct"}, History: 64, Label: "Air quality", Unit: "ppm", Precision: 0, Kind: KindStruct, Chart: ChartSparkline, Category: "environment",
		Fields: []Field{
			{Key: "eco2", Label: "eCO₂", Unit: "ppm", Precision: 0},
			{Key: "tvoc", Label: "TVOC", Unit: "ppb", Precision: 0},
		}},
	{ID: "color", Accepts: []string{"number", "struct"}, History: 64, Label: "Colour", Unit: "", Precision: 0, Kind: KindStruct, Chart: ChartNone, Category: "environment",
		Fields: []Field{
			{Key: "r", Label: "R"}, {Key: "g", Label: "G"}, {Key: "b", Label: "B"}, {Key: "c", Label: "clear"},
		}},

	// device
	{ID: "battery", Accepts: []string{"number", "struct"}, History: 64, Inferred: true, Label: "Battery", Unit: "%", Precision: 0, Kind: KindStruct, Chart: ChartSparkline, Category: "device",
		Aliases: []string{"battery_level"},
		Fields: []Field{
			{Key: "level", Label: "level", Unit: "%", Precision: 0},
			{Key: "charging", Label: "charging"},
		}},
	{ID: "button", Accepts: []string{"number"}, History: 64, Inferred: true, Label: "Button", Unit: "", Precision: 0, Kind: KindEvent, Chart: ChartEvents, Category: "device",
		Aliases: []string{"buttons"}},
	{ID: "led", Accepts: []string{"number", "struct"}, History: 64, Label: "LED", Unit: "", Precision: 0, Kind: KindStruct, Chart: ChartNone, Category: "device",
		Fields: []Field{{Key: "r", Label: "R"}, {Key: "g", Label: "G"}, {Key: "b", Label: "B"}}},
	{ID: "speaker", Accepts: []string{"number", "struct"}, History: 64, Label: "Speaker", Unit: "Hz", Precision: 0, Kind: KindNumber, Chart: ChartNone, Category: "device"},
	{ID: "microphone", Accepts: []string{"number", "struct"}, History: 64, Label: "Microphone", Unit: "dB", Precision: 0, Kind: KindNumber, Chart: ChartSparkline, Category: "device"},
	{ID: "body_location", Accepts: []string{"number"}, History: 64, Label: "Body location", Unit: "", Precision: 0, Kind: KindNumber, Chart: ChartNone, Category: "device"},
	{ID: "rich_presence", Accepts: []string{"struct"}, History: 64, Inferred: true, Label: "Now playing", Unit: "", Precision: 0, Kind: KindStruct, Chart: ChartNone, Category: "device",
		Aliases: []string{"media", "now_playing"},
		Fields:  []Field{{Key: "title", Label: "title"}, {Key: "artist", Label: "artist"}, {Key: "state", Label: "state"}}},

	// activity
	{ID: "steps", Accepts: []string{"number", "struct"}, History: 64, Label: "Steps", Unit: "steps", Precision: 0, Kind: KindNumber, Chart: ChartSparkline, Category: "activity"},
	{ID: "calories", Accepts: []string{"number"}, Label: "Calories", Unit: "kcal", Precision: 0, Kind: KindNumber, Chart: ChartSparkline, Category: "activity"},
	{ID: "distance", Accepts: []string{"number"}, Label: "Distance", Unit: "m", Precision: 0, Kind: KindNumber, Chart: ChartSparkline, Category: "activity"},

	// eye tracking
	{ID: "eye_gaze", Accepts: []string{"struct"}, History: 300, Inferred: true, Label: "Gaze", Unit: "", Precision: 2, Kind: KindStruct, Chart: ChartGaze, Category: "eye_tracking",
		Aliases: []string{"gaze"},
		Fields: []Field{
			{Key: "x", Label: "x", Precision: 2},
			{Key: "y", Label: "y", Precision: 2},
			{Key: "confidence", Label: "confidence", Precision: 2},
		}},
	{ID: "eye_aperture", Accepts: []string{"number", "struct"}, History: 300, Label: "Eye opening", Unit: "°", Precision: 1, Kind: KindStruct, Chart: ChartSparkline, Category: "eye_tracking",
		Fields: []Field{
			{Key: "left", Label: "left", Unit: "°", Precision: 1},
			{Key: "right", Label: "right", Unit: "°", Precision: 1},
		}},
	{ID: "eye_blink", Accepts: []string{"number"}, History: 200, Label: "Blink", Unit: "", Precision: 0, Kind: KindNumber, Chart: ChartEvents, Category: "eye_tracking"},
	{ID: "eye_worn", Accepts: []string{"number"}, History: 50, Label: "Glasses worn", Unit: "", Precision: 0, Kind: KindNumber, Chart: ChartNone, Category: "eye_tracking"},

	// specialty
	{ID: "buttplug", Label: "Toy", Unit: "", Precision: 2, Kind: KindNumber, Chart: ChartSparkline, Category: "specialty"},
	{ID: "inference_confidence", Label: "Inference confidence", Unit: "", Precision: 2, Kind: KindNumber, Chart: ChartSparkline, Category: "specialty"},

	// realtime only: the newest frame is all that is kept
	{ID: "video_frame", History: 1, Label: "Video frame", Unit: "", Precision: 0, Kind: KindStruct, Chart: ChartNone, Category: "specialty"},
	{ID: "depth_map", History: 1, Label: "Depth map", Unit: "", Precision: 0, Kind: KindStruct, Chart: ChartNone, Category: "specialty"},

	// fallback
	{ID: "numeric", Label: "Value", Unit: "", Precision: 2, Kind: KindNumber, Chart: ChartSparkline, Category: "other"},
}

// Attributes lists well-known attribute ids that say more than their type.
var Attributes = []Attribute{
	{ID: "blood_pressure_sys", Type: "blood_pressure", Label: "Systolic BP", Unit: "mmHg"},
	{ID: "blood_pressure_dia", Type: "blood_pressure", Label: "Diastolic BP", Unit: "mmHg"},
	{ID: "vibrate", Type: "buttplug", Label: "Vibration", Precision: 2},
	{ID: "rotate", Type: "buttplug", Label: "Rotation", Precision: 2},
	{ID: "linear", Type: "buttplug", Label: "Stroke position", Precision: 2},
}

// ByID returns the type with the given id or alias.
func ByID(id string) (Type, bool) {
	for _, t := range Types {
		if t.ID == id || slices.Contains(t.Aliases, id) {
			return t, true
		}
	}
	return Type{}, false
}
