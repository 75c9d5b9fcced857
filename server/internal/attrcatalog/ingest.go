package attrcatalog

// DefaultHistory is how many points the hub keeps per attribute of a type whose History
// is 0 (numeric and unknown types included).
const DefaultHistory = 500

// ValueKinds are the names Type.Accepts uses (the hub's value kinds).
var ValueKinds = []string{"number", "vector3", "quaternion", "geo", "text", "struct"}
