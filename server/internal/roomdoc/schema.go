package roomdoc

import (
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"math"
	"reflect"
	"regexp"
	"strings"

	"github.com/automerge/automerge-go"

	"github.com/sensocto/sensocto/server/internal/apperr"
)

// SchemaVersion is the value of the document's "schema" key (docs/room-document.md).
const SchemaVersion = 1

// Section names: the document's top-level keys.
const (
	keySchema      = "schema"
	keyNotes       = "notes"
	keySettings    = "settings"
	keyMedia       = "media"
	keyViewer      = "viewer"
	keyWhiteboard  = "whiteboard"
	keyAnnotations = "annotations"
)

// Models are the 3D viewer's model choices.
var Models = []string{"heart", "torso", "cube", "torus-knot"}

// Caps on scalar strings and numbers (docs/room-document.md).
const (
	maxURLLen      = 2048
	maxIDLen       = 64
	maxLabelLen    = 500
	maxRate        = 4.0
	minRate        = 0.1
	maxStrokeWidth = 50.0
	maxCoordinate  = 1e4
)

var (
	colourRe = regexp.MustCompile(`^#[0-9a-fA-F]{6}$`)
	idRe     = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)
	sensorRe = regexp.MustCompile(`^[A-Za-z0-9_.:-]{1,128}$`)
)

// newSkeleton writes the empty document every room starts from. The server writes it
// once, when the room's document is first created, so that every peer edits the same
// objects (two peers creating "notes" each would create two competing Text objects).
func newSkeleton() (*automerge.Doc, error) {
	doc := automerge.New()
	root := doc.RootMap()
	set := func(m *automerge.Map, k string, v any) error {
		if err := m.Set(k, v); err != nil {
			return fmt.Errorf("skeleton %s: %w", k, err)
		}
		return nil
	}
	if err := set(root, keySchema, int64(SchemaVersion)); err != nil {
		return nil, err
	}
	if err := set(root, keyNotes, automerge.NewText("")); err != nil {
		return nil, err
	}
	settings := automerge.NewMap()
	if err := set(root, keySettings, settings); err != nil {
		return nil, err
	}
	if err := set(settings, "locked", automerge.NewMap()); err != nil {
		return nil, err
	}
	media := automerge.NewMap()
	if err := set(root, keyMedia, media); err != nil {
		return nil, err
	}
	for k, v := range map[string]any{"source": "", "playing": false, "position": 0.0, "refTime": int64(0), "rate": 1.0, "controller": "", "request": ""} {
		if err := set(media, k, v); err != nil {
			return nil, err
		}
	}
	viewer := automerge.NewMap()
	if err := set(root, keyViewer, viewer); err != nil {
		return nil, err
	}
	for k, v := range map[string]any{"model": Models[0], "controller": "", "request": ""} {
		if err := set(viewer, k, v); err != nil {
			return nil, err
		}
	}
	camera := automerge.NewMap()
	if err := set(viewer, "camera", camera); err != nil {
		return nil, err
	}
	if err := set(camera, "position", []any{0.0, 0.0, 5.0}); err != nil {
		return nil, err
	}
	if err := set(camera, "target", []any{0.0, 0.0, 0.0}); err != nil {
		return nil, err
	}
	wb := automerge.NewMap()
	if err := set(root, keyWhiteboard, wb); err != nil {
		return nil, err
	}
	if err := set(wb, "strokes", automerge.NewList()); err != nil {
		return nil, err
	}
	if err := set(root, keyAnnotations, automerge.NewList()); err != nil {
		return nil, err
	}
	if _, err := doc.Commit("room document skeleton"); err != nil {
		return nil, fmt.Errorf("commit skeleton: %w", err)
	}
	return doc, nil
}

// control is the state of a controlled section (media player, 3D viewer).
type control struct {
	controller string
	request    string
	// fields are the controlled values (everything but controller and request), as
	// compared between two states.
	fields map[string]any
}

// state is what the rights checks compare between the document before and after a
// peer's changes. It is read from the whole document by inspect, which also checks the
// schema; the room keeps the state of its current document.
type state struct {
	media, viewer control
	settings      any
	locked        map[string]bool
	notesHash     uint64
	notesLen      int
	strokes       map[string]item
	annotations   map[string]item
}

// item is a whiteboard stroke or an annotation: who wrote it and a fingerprint of its
// contents (items are immutable once written).
type item struct {
	author string
	hash   uint64
}

// schemaError is a value of the wrong type or out of range: InvalidArgument.
func schemaError(path, format string, args ...any) error {
	return apperr.InvalidArgument("sync_message", path+": "+fmt.Sprintf(format, args...))
}

// inspect checks the whole document against the schema and caps, and reads its state.
func inspect(doc *automerge.Doc, lim Limits) (*state, error) {
	root, err := doc.RootMap().Values()
	if err != nil {
		return nil, fmt.Errorf("read document: %w", err)
	}
	st := &state{locked: map[string]bool{}}
	for k := range root {
		switch k {
		case keySchema, keyNotes, keySettings, keyMedia, keyViewer, keyWhiteboard, keyAnnotations:
		default:
			return nil, schemaError(k, "unknown section (the document has schema, notes, settings, media, viewer, whiteboard, annotations)")
		}
	}
	if v := root[keySchema]; v == nil || v.Kind() != automerge.KindInt64 && v.Kind() != automerge.KindUint64 && v.Kind() != automerge.KindFloat64 {
		return nil, schemaError(keySchema, "must be the number %d", SchemaVersion)
	} else if n, _ := number(v); n != SchemaVersion {
		return nil, schemaError(keySchema, "must be the number %d", SchemaVersion)
	}
	if err := st.readNotes(root[keyNotes], lim); err != nil {
		return nil, err
	}
	if err := st.readSettings(root[keySettings]); err != nil {
		return nil, err
	}
	if st.media, err = readMedia(root[keyMedia]); err != nil {
		return nil, err
	}
	if st.viewer, err = readViewer(root[keyViewer]); err != nil {
		return nil, err
	}
	if st.strokes, err = readStrokes(root[keyWhiteboard], lim); err != nil {
		return nil, err
	}
	if st.annotations, err = readAnnotations(root[keyAnnotations], lim); err != nil {
		return nil, err
	}
	return st, nil
}

func (st *state) readNotes(v *automerge.Value, lim Limits) error {
	if v == nil || v.Kind() != automerge.KindText {
		return schemaError(keyNotes, "must be collaborative text (Automerge Text)")
	}
	s, err := v.Text().Get()
	if err != nil {
		return fmt.Errorf("read notes: %w", err)
	}
	n := len([]rune(s))
	if n > lim.MaxNotesChars {
		return schemaError(keyNotes, "%d characters is over the cap of %d", n, lim.MaxNotesChars)
	}
	h := fnv.New64a()
	_, _ = h.Write([]byte(s))
	st.notesHash, st.notesLen = h.Sum64(), n
	return nil
}

func (st *state) readSettings(v *automerge.Value) error {
	if v == nil || v.Kind() != automerge.KindMap {
		return schemaError(keySettings, "must be a map")
	}
	vals, err := v.Map().Values()
	if err != nil {
		return fmt.Errorf("read settings: %w", err)
	}
	for k, sv := range vals {
		if k != "locked" {
			return schemaError(keySettings+"."+k, "unknown setting")
		}
		if sv.Kind() != automerge.KindMap {
			return schemaError("settings.locked", "must be a map")
		}
		locked, err := sv.Map().Values()
		if err != nil {
			return fmt.Errorf("read settings: %w", err)
		}
		for sec, lv := range locked {
			switch sec {
			case keyNotes, keyWhiteboard, keyAnnotations:
			default:
				return schemaError("settings.locked."+sec, "only notes, whiteboard and annotations can be locked")
			}
			if lv.Kind() != automerge.KindBool {
				return schemaError("settings.locked."+sec, "must be true or false")
			}
			st.locked[sec] = lv.Bool()
		}
	}
	st.settings = v.Interface()
	return nil
}

// number reads an Automerge number: JS writes integers as int and others as float64.
func number(v *automerge.Value) (float64, bool) {
	switch v.Kind() {
	case automerge.KindInt64:
		return float64(v.Int64()), true
	case automerge.KindUint64:
		return float64(v.Uint64()), true
	case automerge.KindFloat64:
		f := v.Float64()
		return f, !math.IsNaN(f) && !math.IsInf(f, 0)
	default:
		return 0, false
	}
}

// field checks one value of a map; a missing value (void) is allowed unless required.
type fieldCheck func(path string, v *automerge.Value) (any, error)

func scalarString(maxLen int, valid func(string) bool, what string) fieldCheck {
	return func(path string, v *automerge.Value) (any, error) {
		if v.Kind() == automerge.KindText {
			return nil, schemaError(path, "must be a plain (immutable) string, not collaborative text")
		}
		if v.Kind() != automerge.KindStr {
			return nil, schemaError(path, "must be a string")
		}
		s := v.Str()
		if len(s) > maxLen {
			return nil, schemaError(path, "%d bytes is over the cap of %d", len(s), maxLen)
		}
		if valid != nil && !valid(s) {
			return nil, schemaError(path, "must be %s", what)
		}
		return s, nil
	}
}

func numberIn(lo, hi float64) fieldCheck {
	return func(path string, v *automerge.Value) (any, error) {
		f, ok := number(v)
		if !ok || f < lo || f > hi {
			return nil, schemaError(path, "must be a number from %g to %g", lo, hi)
		}
		return f, nil
	}
}

func boolean(path string, v *automerge.Value) (any, error) {
	if v.Kind() != automerge.KindBool {
		return nil, schemaError(path, "must be true or false")
	}
	return v.Bool(), nil
}

func vector3(path string, v *automerge.Value) (any, error) {
	if v.Kind() != automerge.KindList {
		return nil, schemaError(path, "must be a list of 3 numbers")
	}
	vals, err := v.List().Values()
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if len(vals) != 3 {
		return nil, schemaError(path, "must be a list of 3 numbers")
	}
	out := make([]float64, 3)
	for i, e := range vals {
		f, ok := number(e)
		if !ok || math.Abs(f) > maxCoordinate {
			return nil, schemaError(path, "must be a list of 3 numbers within ±%g", maxCoordinate)
		}
		out[i] = f
	}
	return out, nil
}

func userID(path string, v *automerge.Value) (any, error) {
	return scalarString(maxIDLen, nil, "")(path, v)
}

// readMap checks a map against its fields; unknown keys are refused. Required keys
// must be present.
func readMap(path string, v *automerge.Value, fields map[string]fieldCheck, required ...string) (map[string]any, error) {
	if v == nil || v.Kind() != automerge.KindMap {
		return nil, schemaError(path, "must be a map")
	}
	vals, err := v.Map().Values()
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	out := make(map[string]any, len(vals))
	for k, fv := range vals {
		check, ok := fields[k]
		if !ok {
			return nil, schemaError(path+"."+k, "unknown field")
		}
		got, err := check(path+"."+k, fv)
		if err != nil {
			return nil, err
		}
		out[k] = got
	}
	for _, k := range required {
		if _, ok := out[k]; !ok {
			return nil, schemaError(path+"."+k, "is required")
		}
	}
	return out, nil
}

func mediaURL(s string) bool {
	return s == "" || strings.HasPrefix(s, "https://") || strings.HasPrefix(s, "http://") || strings.HasPrefix(s, "/")
}

func toControl(vals map[string]any) control {
	c := control{fields: map[string]any{}}
	for k, v := range vals {
		switch k {
		case "controller":
			c.controller, _ = v.(string)
		case "request":
			c.request, _ = v.(string)
		default:
			c.fields[k] = v
		}
	}
	return c
}

func readMedia(v *automerge.Value) (control, error) {
	vals, err := readMap(keyMedia, v, map[string]fieldCheck{
		"source":     scalarString(maxURLLen, mediaURL, "an http(s) URL or a path on this server"),
		"playing":    boolean,
		"position":   numberIn(0, 1e7),
		"refTime":    numberIn(0, 1e14),
		"rate":       numberIn(minRate, maxRate),
		"controller": userID,
		"request":    userID,
	})
	if err != nil {
		return control{}, err
	}
	return toControl(vals), nil
}

func readViewer(v *automerge.Value) (control, error) {
	vals, err := readMap(keyViewer, v, map[string]fieldCheck{
		"model": scalarString(maxIDLen, func(s string) bool {
			for _, m := range Models {
				if s == m {
					return true
				}
			}
			return false
		}, "one of "+strings.Join(Models, ", ")),
		"camera": func(path string, v *automerge.Value) (any, error) {
			return readMap(path, v, map[string]fieldCheck{"position": vector3, "target": vector3}, "position", "target")
		},
		"controller": userID,
		"request":    userID,
	})
	if err != nil {
		return control{}, err
	}
	return toControl(vals), nil
}

// fingerprint hashes an item's values in key order.
func fingerprint(vals map[string]any, keys []string) uint64 {
	h := fnv.New64a()
	var buf [8]byte
	for _, k := range keys {
		_, _ = h.Write([]byte(k))
		switch x := vals[k].(type) {
		case string:
			_, _ = h.Write([]byte{1})
			_, _ = h.Write([]byte(x))
		case []byte:
			_, _ = h.Write([]byte{2})
			_, _ = h.Write(x)
		case float64:
			binary.LittleEndian.PutUint64(buf[:], math.Float64bits(x))
			_, _ = h.Write(buf[:])
		case nil:
			_, _ = h.Write([]byte{0})
		}
		_, _ = h.Write([]byte{0xff})
	}
	return h.Sum64()
}

var strokeKeys = []string{"id", "author", "color", "width", "points"}

func readStrokes(v *automerge.Value, lim Limits) (map[string]item, error) {
	if v == nil || v.Kind() != automerge.KindMap {
		return nil, schemaError(keyWhiteboard, "must be a map")
	}
	wb, err := v.Map().Values()
	if err != nil {
		return nil, fmt.Errorf("read whiteboard: %w", err)
	}
	for k := range wb {
		if k != "strokes" {
			return nil, schemaError("whiteboard."+k, "unknown field")
		}
	}
	sv := wb["strokes"]
	if sv == nil || sv.Kind() != automerge.KindList {
		return nil, schemaError("whiteboard.strokes", "must be a list")
	}
	list, err := sv.List().Values()
	if err != nil {
		return nil, fmt.Errorf("read strokes: %w", err)
	}
	if len(list) > lim.MaxStrokes {
		return nil, schemaError("whiteboard.strokes", "%d strokes is over the cap of %d", len(list), lim.MaxStrokes)
	}
	out := make(map[string]item, len(list))
	maxBytes := lim.MaxStrokePoints * 8
	for i, s := range list {
		path := fmt.Sprintf("whiteboard.strokes[%d]", i)
		vals, err := readMap(path, s, map[string]fieldCheck{
			"id":     scalarString(maxIDLen, idRe.MatchString, "1 to 64 letters, digits, _ or -"),
			"author": userID,
			"color":  scalarString(7, colourRe.MatchString, "a colour #rrggbb"),
			"width":  numberIn(0.5, maxStrokeWidth),
			"points": func(path string, v *automerge.Value) (any, error) {
				if v.Kind() != automerge.KindBytes {
					return nil, schemaError(path, "must be bytes (little-endian float32 x,y pairs)")
				}
				b := v.Bytes()
				if len(b) == 0 || len(b)%8 != 0 || len(b) > maxBytes {
					return nil, schemaError(path, "must hold 1 to %d points of two little-endian float32 each", lim.MaxStrokePoints)
				}
				return b, nil
			},
		}, strokeKeys...)
		if err != nil {
			return nil, err
		}
		id := vals["id"].(string) //nolint:errcheck,forcetypeassert // readMap checked the kind
		if _, dup := out[id]; dup {
			return nil, schemaError(path+".id", "%q is used by another stroke", id)
		}
		out[id] = item{author: vals["author"].(string), hash: fingerprint(vals, strokeKeys)} //nolint:errcheck,forcetypeassert // as above
	}
	return out, nil
}

var annotationKeys = []string{"id", "author", "sensorId", "attributeId", "from", "to", "text"}

func readAnnotations(v *automerge.Value, lim Limits) (map[string]item, error) {
	if v == nil || v.Kind() != automerge.KindList {
		return nil, schemaError(keyAnnotations, "must be a list")
	}
	list, err := v.List().Values()
	if err != nil {
		return nil, fmt.Errorf("read annotations: %w", err)
	}
	if len(list) > lim.MaxAnnotations {
		return nil, schemaError(keyAnnotations, "%d annotations is over the cap of %d", len(list), lim.MaxAnnotations)
	}
	out := make(map[string]item, len(list))
	for i, a := range list {
		path := fmt.Sprintf("annotations[%d]", i)
		vals, err := readMap(path, a, map[string]fieldCheck{
			"id":          scalarString(maxIDLen, idRe.MatchString, "1 to 64 letters, digits, _ or -"),
			"author":      userID,
			"sensorId":    scalarString(128, sensorRe.MatchString, "a sensor id"),
			"attributeId": scalarString(128, nil, ""),
			"from":        numberIn(0, 1e14),
			"to":          numberIn(0, 1e14),
			"text":        scalarString(maxLabelLen, nil, ""),
		}, "id", "author", "sensorId", "from", "to", "text")
		if err != nil {
			return nil, err
		}
		if vals["to"].(float64) < vals["from"].(float64) { //nolint:errcheck,forcetypeassert // readMap checked the kind
			return nil, schemaError(path+".to", "must not be before from")
		}
		id := vals["id"].(string) //nolint:errcheck,forcetypeassert // as above
		if _, dup := out[id]; dup {
			return nil, schemaError(path+".id", "%q is used by another annotation", id)
		}
		out[id] = item{author: vals["author"].(string), hash: fingerprint(vals, annotationKeys)} //nolint:errcheck,forcetypeassert // as above
	}
	return out, nil
}

// denied is a change the peer may not make: PermissionDenied, naming the field.
func denied(path, format string, args ...any) error {
	return apperr.PermissionDenied("sync_message: %s: %s", path, fmt.Sprintf(format, args...))
}

// checkRights refuses a transition from before to after that user (with access) may
// not make: controlled fields of another controller, control taken from someone else,
// sections whose feature is off, sections locked for members, the settings (owner and
// admins only), strokes and annotations written in another's name or changed after
// they were written.
func checkRights(before, after *state, user string, acc Access) error {
	if err := checkControl(keyMedia, before.media, after.media, user, acc.Features.MediaPlayback, "shared media playback"); err != nil {
		return err
	}
	if err := checkControl(keyViewer, before.viewer, after.viewer, user, acc.Features.Object3D, "the shared 3D viewer"); err != nil {
		return err
	}
	manager := acc.Role >= RoleAdmin
	if !reflect.DeepEqual(before.settings, after.settings) && !manager {
		return denied(keySettings, "only the room's owner and admins change the settings")
	}
	locked := func(sec string) bool { return before.locked[sec] && !manager }
	if before.notesHash != after.notesHash && locked(keyNotes) {
		return denied(keyNotes, "the notes are locked for members")
	}
	if err := checkItems("whiteboard.strokes", before.strokes, after.strokes, user, locked(keyWhiteboard), acc.Features.Whiteboard, "the whiteboard"); err != nil {
		return err
	}
	return checkItems(keyAnnotations, before.annotations, after.annotations, user, locked(keyAnnotations), true, "annotations")
}

func checkControl(path string, b, a control, user string, enabled bool, what string) error {
	changed := !reflect.DeepEqual(b.fields, a.fields)
	if !enabled && (changed || b.controller != a.controller || b.request != a.request) {
		return denied(path, "%s is off in this room", what)
	}
	if b.controller != a.controller {
		switch b.controller {
		case user: // the controller releases or grants
			if a.controller != "" && a.controller != b.request {
				return denied(path+".controller", "the controller may only release control or grant it to the member who requested it")
			}
		case "": // free control may be taken, by oneself only
			if a.controller != user {
				return denied(path+".controller", "free control can only be taken for oneself")
			}
		default:
			return denied(path+".controller", "another member has control; request it instead")
		}
	}
	if changed && b.controller != user && (b.controller != "" || a.controller != user) {
		for k := range a.fields {
			if !reflect.DeepEqual(a.fields[k], b.fields[k]) {
				return denied(path+"."+k, "only the controller changes it")
			}
		}
		return denied(path, "only the controller changes it")
	}
	if b.request != a.request {
		switch {
		case a.request == user: // one may request control for oneself
		case a.request == "" && (b.request == user || b.controller == user || a.controller == b.request):
			// the requester withdraws, the controller declines, or control was granted
		default:
			return denied(path+".request", "control can only be requested for oneself")
		}
	}
	return nil
}

func checkItems(path string, before, after map[string]item, user string, locked, enabled bool, what string) error {
	if !enabled || locked {
		if !reflect.DeepEqual(before, after) {
			if !enabled {
				return denied(path, "%s is off in this room", what)
			}
			return denied(path, "%s: locked for members", what)
		}
		return nil
	}
	for id, it := range after {
		old, ok := before[id]
		switch {
		case !ok && it.author != user:
			return denied(path, "item %q: the author must be the writer (%s)", id, user)
		case ok && old != it:
			return denied(path, "item %q: items cannot be changed once written (delete it and add a new one)", id)
		}
	}
	return nil
}
