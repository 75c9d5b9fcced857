package hub

import "testing"

func TestDownsample(t *testing.T) {
	t.Parallel()
	pts := make([]Point, 100)
	for i := range pts {
		pts[i] = Point{TimeUS: int64(i * 10), Value: Number(float64(i))}
	}
	cases := []struct {
		name string
		max  int
		want []Bucket
	}{
		{"no limit", 0, nil},
		{"room for all", 100, nil},
		{"four buckets", 4, []Bucket{
			{TimeUS: 0, Value: Number(12), Min: 0, Max: 24, Count: 25},
			{TimeUS: 250, Value: Number(37), Min: 25, Max: 49, Count: 25},
			{TimeUS: 500, Value: Number(62), Min: 50, Max: 74, Count: 25},
			{TimeUS: 750, Value: Number(87), Min: 75, Max: 99, Count: 25},
		}},
	}
	for _, tc := range cases {
		got := Downsample(pts, tc.max)
		if tc.want == nil {
			if len(got) != len(pts) || got[42].TimeUS != 420 || got[42].Count != 1 || got[42].Min != 42 {
				t.Errorf("%s: %d buckets, [42] = %+v", tc.name, len(got), got[42])
			}
			continue
		}
		if len(got) != len(tc.want) {
			t.Fatalf("%s: %d buckets", tc.name, len(got))
		}
		for i := range got {
			if got[i] != tc.want[i] {
				t.Errorf("%s: bucket %d = %+v, want %+v", tc.name, i, got[i], tc.want[i])
			}
		}
	}
	// Gaps leave buckets out; non-numbers keep the last value.
	mixed := []Point{{TimeUS: 0, Value: Text("a")}, {TimeUS: 1, Value: Text("b")}, {TimeUS: 1000, Value: Number(5)}}
	got := Downsample(mixed, 2)
	if len(got) != 2 || got[0].Value.Ext.Text != "b" || got[0].Count != 2 || got[1].Value.F[0] != 5 {
		t.Fatalf("mixed = %+v", got)
	}
	if Downsample(nil, 5) != nil {
		t.Fatal("empty input")
	}
}
