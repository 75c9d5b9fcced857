package recording

import (
	"cmp"
	"encoding/binary"
	"errors"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/sensocto/sensocto/server/apirules"
)

const (
	// packsTable holds numbers packed per series and flush.
	packsTable = "measurement_packs"
	// packMaxValues caps the values of one packed row, so rows stay small (about
	// 40 KB at most) and a reader never decodes much more than it needs.
	packMaxValues = 4096
	// packMaxSpanUS caps the time from the first to the last value of a packed row:
	// every row holding values of a range starts at most this long before it, which
	// bounds the index range a reader scans.
	packMaxSpanUS = int64(time.Minute / time.Microsecond)
	// packMinValues is the fewest values packed: a series with fewer in a flush
	// (e.g. 1 Hz data flushed every 250 ms) is written as measurements rows, which
	// are smaller for one value (measured ~135 B against ~200 B on disk).
	packMinValues = 2
)

var packColumns = []string{
	"sensor_id", "attribute_id", "start_time_us", "end_time_us", "count",
	"min_value", "max_value", "sum_value", "times", "numbers",
}

// pack is one packed row: the numbers of one series from one flush, in time order
// (ties in arrival order). times holds, as varints, the count-1 deltas between
// consecutive times (unsigned) and then the count deltas between consecutive
// server-minus-sensor offsets (zigzag, from 0); numbers holds count little-endian
// float64s. start and end are the first and last times; min, max and sum summarise
// the numbers, so a reader can use a row lying wholly in one bucket without decoding.
// The API refuses non-finite numbers; a NaN fed to the recorder anyway is stored
// exactly but left out of the summary (a pack of NaNs only has min +Inf, max -Inf).
type pack struct {
	sensorID, attributeID string
	start, end            int64
	n                     int
	min, max, sum         float64
	times, numbers        []byte
}

// numberAt is a queued number, its arrival order in the batch and its series.
type numberAt struct {
	v      *Value
	seq    int32
	series int32
}

// seriesKey identifies a series.
type seriesKey struct{ sensor, attribute string }

// writeScratch holds the sort orders and packed bytes of one write, reused across
// writes.
type writeScratch struct {
	nums   []numberAt
	sorted []numberAt
	others []*Value // values that are not numbers
	blocks []blockAt
	packs  []pack
	arena  []byte
	offs   []int // per pack: start of times, start of numbers, end

	ids    map[seriesKey]int32
	keys   []seriesKey
	rank   []int32
	starts []int
}

// blockAt is a queued block and the chunk holding its samples.
type blockAt struct {
	c *chunk
	b *blockRef
}

// prepare sorts a batch into packed numbers, other values (and lone numbers, see
// packMinValues) ordered by (sensor, attribute, time) and blocks ordered the same way. The results stay valid until
// the next prepare or reset.
func (s *writeScratch) prepare(b *batch) {
	s.nums, s.others, s.blocks = s.nums[:0], s.others[:0], s.blocks[:0]
	if s.ids == nil {
		s.ids = map[seriesKey]int32{}
	}
	clear(s.ids)
	s.keys = s.keys[:0]
	var (
		seq     int32
		last    = int32(-1)
		lastKey seriesKey
	)
	for _, c := range b.chunks {
		for i := range c.values {
			v := &c.values[i]
			if v.Kind == KindNumber {
				// Consecutive values often share a series: skip the map then.
				if last < 0 || v.SensorID != lastKey.sensor || v.AttributeID != lastKey.attribute {
					lastKey = seriesKey{v.SensorID, v.AttributeID}
					id, ok := s.ids[lastKey]
					if !ok {
						id = int32(len(s.keys)) //nolint:gosec // G115: fewer series than values in a batch
						s.ids[lastKey] = id
						s.keys = append(s.keys, lastKey)
					}
					last = id
				}
				s.nums = append(s.nums, numberAt{v: v, seq: seq, series: last})
				seq++
			} else {
				s.others = append(s.others, v)
			}
		}
		for i := range c.blocks {
			s.blocks = append(s.blocks, blockAt{c: c, b: &c.blocks[i]})
		}
	}
	s.sortNumbers()
	s.pack()
	// Sorted rows make the index take its inserts page by page and keep a series'
	// rows of one flush next to each other in the heap.
	slices.SortFunc(s.others, func(x, y *Value) int {
		if c := compareSeries(x.SensorID, x.AttributeID, y.SensorID, y.AttributeID); c != 0 {
			return c
		}
		return cmp.Compare(x.TimeUS, y.TimeUS)
	})
	slices.SortFunc(s.blocks, func(x, y blockAt) int {
		if c := compareSeries(x.b.SensorID, x.b.AttributeID, y.b.SensorID, y.b.AttributeID); c != 0 {
			return c
		}
		return cmp.Compare(x.b.StartUS, y.b.StartUS)
	})
}

// sortNumbers orders s.nums by (sensor, attribute, time, arrival) without comparing
// strings per value: the few distinct series are sorted by name, the values are
// counting-sorted by series (stable, so arrival order is kept), and each series is
// sorted by time only when it is not already in time order (live data usually is).
func (s *writeScratch) sortNumbers() {
	if len(s.nums) == 0 {
		return
	}
	order := make([]int32, len(s.keys))
	for i := range order {
		order[i] = int32(i) //nolint:gosec // G115: see prepare
	}
	slices.SortFunc(order, func(x, y int32) int {
		return compareSeries(s.keys[x].sensor, s.keys[x].attribute, s.keys[y].sensor, s.keys[y].attribute)
	})
	s.rank = slices.Grow(s.rank[:0], len(s.keys))[:len(s.keys)]
	for r, id := range order {
		s.rank[id] = int32(r) //nolint:gosec // G115: see prepare
	}
	s.starts = slices.Grow(s.starts[:0], len(s.keys)+1)[:len(s.keys)+1]
	clear(s.starts)
	for _, x := range s.nums {
		s.starts[s.rank[x.series]+1]++
	}
	for i := 1; i < len(s.starts); i++ {
		s.starts[i] += s.starts[i-1]
	}
	s.sorted = slices.Grow(s.sorted[:0], len(s.nums))[:len(s.nums)]
	next := append([]int(nil), s.starts[:len(s.keys)]...)
	for _, x := range s.nums {
		r := s.rank[x.series]
		s.sorted[next[r]] = x
		next[r]++
	}
	byTime := func(x, y numberAt) int { return cmp.Compare(x.v.TimeUS, y.v.TimeUS) }
	for r := range s.keys {
		run := s.sorted[s.starts[r]:s.starts[r+1]]
		if !slices.IsSortedFunc(run, byTime) {
			slices.SortStableFunc(run, byTime)
		}
	}
	s.nums, s.sorted = s.sorted, s.nums
}

// reset drops the references to the batch.
func (s *writeScratch) reset() {
	clear(s.nums)
	clear(s.sorted)
	clear(s.others)
	clear(s.blocks)
	clear(s.packs)
}

func compareSeries(s1, a1, s2, a2 string) int {
	if s1 != s2 {
		return strings.Compare(s1, s2)
	}
	return strings.Compare(a1, a2)
}

// pack cuts the sorted numbers into packs: a new one starts with every series, and
// when a pack reaches packMaxValues values or packMaxSpanUS.
func (s *writeScratch) pack() {
	s.packs, s.arena, s.offs = s.packs[:0], s.arena[:0], s.offs[:0]
	nums := s.nums
	for i := 0; i < len(nums); {
		first := nums[i].v
		j := i + 1
		for j < len(nums) && j-i < packMaxValues {
			if nums[j].series != nums[i].series || nums[j].v.TimeUS-first.TimeUS > packMaxSpanUS {
				break
			}
			j++
		}
		if j-i < packMinValues {
			// A lone value is smaller as a measurements row than as a pack.
			for _, x := range nums[i:j] {
				s.others = append(s.others, x.v)
			}
		} else {
			s.packs = append(s.packs, s.encode(nums[i:j]))
		}
		i = j
	}
	// The arena may have moved while growing: point the packs into it now.
	for k := range s.packs {
		o := s.offs[3*k:]
		s.packs[k].times = s.arena[o[0]:o[1]:o[1]]
		s.packs[k].numbers = s.arena[o[1]:o[2]:o[2]]
	}
}

// encode appends one pack's bytes to the arena and returns it without its slices.
func (s *writeScratch) encode(run []numberAt) pack {
	first := run[0].v
	p := pack{sensorID: first.SensorID, attributeID: first.AttributeID, start: first.TimeUS, end: run[len(run)-1].v.TimeUS, n: len(run)}
	p.min, p.max = math.Inf(1), math.Inf(-1)
	a := s.arena
	tOff := len(a)
	for k := 1; k < len(run); k++ {
		a = binary.AppendUvarint(a, uint64(run[k].v.TimeUS-run[k-1].v.TimeUS)) //nolint:gosec // G115: sorted, so non-negative
	}
	var prev int64
	for _, x := range run {
		off := x.v.ServerTimeUS - x.v.TimeUS
		a = binary.AppendVarint(a, off-prev)
		prev = off
	}
	nOff := len(a)
	for _, x := range run {
		f := x.v.Number
		a = binary.LittleEndian.AppendUint64(a, math.Float64bits(f))
		if math.IsNaN(f) { // stored exactly, left out of the summary (SQLite would store NaN as NULL)
			continue
		}
		p.min, p.max = min(p.min, f), max(p.max, f)
		p.sum += f
	}
	s.arena = a
	s.offs = append(s.offs, tOff, nOff, len(a))
	return p
}

var errBadPack = errors.New("malformed packed numbers")

// packDecoder decodes packed rows into reused slices.
type packDecoder struct {
	times, servers []int64
	numbers        []float64
}

// decode fills d.times, d.servers and d.numbers with the n values of a pack starting
// at start.
func (d *packDecoder) decode(start int64, n int, times, numbers []byte) error {
	if n <= 0 || len(numbers) != 8*n {
		return errBadPack
	}
	d.times, d.servers, d.numbers = d.times[:0], d.servers[:0], d.numbers[:0]
	t := start
	d.times = append(d.times, t)
	for range n - 1 {
		delta, k := binary.Uvarint(times)
		if k <= 0 {
			return errBadPack
		}
		times = times[k:]
		t += int64(delta) //nolint:gosec // G115: written from a non-negative int64 difference
		d.times = append(d.times, t)
	}
	var off int64
	for i := range n {
		delta, k := binary.Varint(times)
		if k <= 0 {
			return errBadPack
		}
		times = times[k:]
		off += delta
		d.servers = append(d.servers, d.times[i]+off)
	}
	if len(times) != 0 {
		return errBadPack
	}
	for i := range n {
		d.numbers = append(d.numbers, math.Float64frombits(binary.LittleEndian.Uint64(numbers[8*i:])))
	}
	return nil
}

// blockSummary returns the time of a block's last sample and the min, max and sum
// of its samples.
func blockSummary(start int64, rate float64, samples []float32) (end int64, lo, hi, sum float64) {
	end = apirules.SampleTimeUS(start, len(samples)-1, rate)
	l, h := float32(math.Inf(1)), float32(math.Inf(-1))
	for _, v := range samples {
		if math.IsNaN(float64(v)) { // left out of the summary, like packs
			continue
		}
		l, h = min(l, v), max(h, v)
		sum += float64(v)
	}
	return end, float64(l), float64(h), sum
}
