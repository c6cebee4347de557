package grpcplugin

import (
	"fmt"
	"math"

	"github.com/gnaudit/gnaudit/auditor/noise"
	"github.com/gnaudit/gnaudit/plugins"
	pb "github.com/gnaudit/gnaudit/plugins/grpcplugin/internal/proto"
)

// DefaultChunkBytes is the default payload of one streamed message: well
// under gRPC's default 4 MiB message limit.
const DefaultChunkBytes = 1 << 20

// maxChunkBytes caps the chunk size a peer may ask for.
const maxChunkBytes = 3 << 20

// maxArrayLen bounds an array a peer announces, so a malformed total cannot
// make the receiver allocate without bound (2^27 doubles = 1 GiB).
const maxArrayLen = 1 << 27

func clampChunk(n int64) int {
	switch {
	case n <= 0:
		return DefaultChunkBytes
	case n < 64:
		return 64
	case n > maxChunkBytes:
		return maxChunkBytes
	}
	return int(n)
}

func toInt64s(xs []int) []int64 {
	out := make([]int64, len(xs))
	for i, x := range xs {
		out[i] = int64(x)
	}
	return out
}

func toInts(xs []int64) []int {
	out := make([]int, len(xs))
	for i, x := range xs {
		out[i] = int(x)
	}
	return out
}

func setInfoToPB(s plugins.SetInfo) *pb.SetInfo {
	return &pb.SetInfo{
		Version: int64(s.Version), Model: s.Model, Step: int64(s.Step), Seed: s.Seed,
		Pool: int64(s.Pool), Batches: int64(s.Batches), BatchSizes: toInt64s(s.BatchSizes), Layers: int64(s.Layers),
		DataSize: int64(s.DataSize),
	}
}

func setInfoFromPB(s *pb.SetInfo) plugins.SetInfo {
	if s == nil {
		return plugins.SetInfo{}
	}
	return plugins.SetInfo{
		Version: int(s.Version), Model: s.Model, Step: int(s.Step), Seed: s.Seed,
		Pool: int(s.Pool), Batches: int(s.Batches), BatchSizes: toInts(s.BatchSizes), Layers: int(s.Layers),
		DataSize: int(max(0, s.DataSize)),
	}
}

func descToPB(d plugins.Description) *pb.Description {
	out := &pb.Description{Name: d.Name, Version: d.Version, Summary: d.Summary, Needs: d.Needs}
	for _, p := range d.Params {
		out.Params = append(out.Params, &pb.Param{Name: p.Name, Type: string(p.Type), Default: p.Default, Doc: p.Doc})
	}
	return out
}

func descFromPB(d *pb.Description) plugins.Description {
	out := plugins.Description{Name: d.GetName(), Version: d.GetVersion(), Summary: d.GetSummary(), Needs: d.GetNeeds()}
	for _, p := range d.GetParams() {
		out.Params = append(out.Params, plugins.Param{Name: p.Name, Type: plugins.ParamType(p.Type), Default: p.Default, Doc: p.Doc})
	}
	return out
}

// sendLayer streams one layer: LayerBegin, Moments chunks, Matrix chunks.
func sendLayer(send func(*pb.RunRequest) error, index int, l *noise.Layer, chunkBytes int) error {
	nc := len(l.Coords)
	if err := send(&pb.RunRequest{Msg: &pb.RunRequest_LayerBegin{LayerBegin: &pb.LayerBegin{
		Index: int64(index), Name: l.Name, Parameter: l.Parameter, Kind: l.Kind, Shape: toInt64s(l.Shape),
		Size: int64(l.Size), Coords: int64(nc), TraceCov: l.TraceCov, GradNormSq: l.GradNormSq, Overlap: l.Overlap,
	}}}); err != nil {
		return err
	}
	per := max(1, chunkBytes/48) // coord + 5 doubles per coordinate
	for off := 0; off < nc; off += per {
		end := min(nc, off+per)
		c := &pb.MomentsChunk{Offset: int64(off), Coords: toInt64s(l.Coords[off:end]),
			Mean: l.Mean[off:end], S2: l.S2[off:end], S3: l.S3[off:end], S4: l.S4[off:end], A3: l.A3[off:end]}
		if err := send(&pb.RunRequest{Msg: &pb.RunRequest_Moments{Moments: c}}); err != nil {
			return err
		}
	}
	per = max(1, chunkBytes/4)
	for k, m := range l.MiniBatch {
		for off := 0; off < len(m); off += per {
			end := min(len(m), off+per)
			c := &pb.MatrixChunk{BatchSizeIndex: int64(k), Offset: int64(off), Values: m[off:end]}
			if err := send(&pb.RunRequest{Msg: &pb.RunRequest_Matrix{Matrix: c}}); err != nil {
				return err
			}
		}
	}
	return nil
}

// layerAssembler rebuilds a noise.Layer from its chunks on the plugin side.
type layerAssembler struct {
	info   plugins.SetInfo
	index  int
	layer  *noise.Layer
	filled int   // coordinates received
	mfill  []int // values received per matrix
	prior  *valueAssembler
}

func newLayerAssembler(info plugins.SetInfo, b *pb.LayerBegin) (*layerAssembler, error) {
	nc := b.Coords
	if nc < 0 || nc > maxArrayLen || (b.Size > 0 && nc > b.Size) {
		return nil, fmt.Errorf("layer %q: invalid number of tested coordinates %d (size %d)", b.Parameter, nc, b.Size)
	}
	if int64(info.Batches)*nc > maxArrayLen {
		return nil, fmt.Errorf("layer %q: %d×%d mini-batch matrix too large", b.Parameter, info.Batches, nc)
	}
	n := int(nc)
	l := &noise.Layer{
		Name: b.Name, Parameter: b.Parameter, Kind: b.Kind, Shape: toInts(b.Shape), Size: int(b.Size),
		Coords: make([]int, n), Mean: make([]float64, n), S2: make([]float64, n), S3: make([]float64, n),
		S4: make([]float64, n), A3: make([]float64, n), TraceCov: b.TraceCov, GradNormSq: b.GradNormSq,
		Overlap: b.Overlap, MiniBatch: make([][]float32, len(info.BatchSizes)),
	}
	for k := range l.MiniBatch {
		l.MiniBatch[k] = make([]float32, info.Batches*n)
	}
	return &layerAssembler{info: info, index: int(b.Index), layer: l, mfill: make([]int, len(info.BatchSizes)),
		prior: newValueAssembler()}, nil
}

func (a *layerAssembler) moments(c *pb.MomentsChunk) error {
	n := len(c.Coords)
	if c.Offset != int64(a.filled) || a.filled+n > len(a.layer.Coords) {
		return fmt.Errorf("layer %q: moments chunk at offset %d (+%d), expected offset %d of %d", a.layer.Parameter, c.Offset, n, a.filled, len(a.layer.Coords))
	}
	if len(c.Mean) != n || len(c.S2) != n || len(c.S3) != n || len(c.S4) != n || len(c.A3) != n {
		return fmt.Errorf("layer %q: moments chunk at offset %d has arrays of unequal lengths", a.layer.Parameter, c.Offset)
	}
	l := a.layer
	for i, x := range c.Coords {
		l.Coords[a.filled+i] = int(x)
	}
	copy(l.Mean[a.filled:], c.Mean)
	copy(l.S2[a.filled:], c.S2)
	copy(l.S3[a.filled:], c.S3)
	copy(l.S4[a.filled:], c.S4)
	copy(l.A3[a.filled:], c.A3)
	a.filled += n
	return nil
}

func (a *layerAssembler) matrix(c *pb.MatrixChunk) error {
	k := int(c.BatchSizeIndex)
	if c.BatchSizeIndex < 0 || k >= len(a.mfill) {
		return fmt.Errorf("layer %q: matrix chunk for batch-size index %d of %d", a.layer.Parameter, c.BatchSizeIndex, len(a.mfill))
	}
	m := a.layer.MiniBatch[k]
	if c.Offset != int64(a.mfill[k]) || a.mfill[k]+len(c.Values) > len(m) {
		return fmt.Errorf("layer %q, batch size %d: matrix chunk at offset %d (+%d), expected offset %d of %d", a.layer.Parameter, a.info.BatchSizes[k], c.Offset, len(c.Values), a.mfill[k], len(m))
	}
	copy(m[a.mfill[k]:], c.Values)
	a.mfill[k] += len(c.Values)
	return nil
}

func (a *layerAssembler) done() (*plugins.LayerInput, error) {
	l := a.layer
	if a.filled != len(l.Coords) {
		return nil, fmt.Errorf("layer %q: received %d of %d coordinates", l.Parameter, a.filled, len(l.Coords))
	}
	for k, f := range a.mfill {
		if f != len(l.MiniBatch[k]) {
			return nil, fmt.Errorf("layer %q, batch size %d: received %d of %d mini-batch noise values", l.Parameter, a.info.BatchSizes[k], f, len(l.MiniBatch[k]))
		}
	}
	prior, err := a.prior.results(l.Parameter)
	if err != nil {
		return nil, fmt.Errorf("layer %q: prior values: %w", l.Parameter, err)
	}
	return &plugins.LayerInput{Index: a.index, Layer: l, Prior: prior}, nil
}

// sendValues streams values of one section, splitting arrays into chunks.
func sendValues(send func(*pb.ValueChunk) error, section pb.Section, analysis string, vs []plugins.Value, chunkBytes int) error {
	per := max(1, chunkBytes/8)
	for _, v := range vs {
		base := func() *pb.ValueChunk {
			return &pb.ValueChunk{Section: section, Analysis: analysis, Key: v.Key, BatchSize: int64(v.BatchSize)}
		}
		switch v.Kind {
		case plugins.KindNumber:
			c := base()
			c.Value = &pb.ValueChunk_Number{Number: v.Number}
			if err := send(c); err != nil {
				return err
			}
		case plugins.KindHistogram:
			if v.Hist == nil {
				return fmt.Errorf("value %q: nil histogram", v.Key)
			}
			c := base()
			c.Value = &pb.ValueChunk_Histogram{Histogram: &pb.Histogram{Edges: v.Hist.Edges, Counts: v.Hist.Counts,
				Underflow: v.Hist.Underflow, Overflow: v.Hist.Overflow, Nan: v.Hist.NaN}}
			if err := send(c); err != nil {
				return err
			}
		case plugins.KindArray:
			n := len(v.Array)
			for off := 0; off == 0 || off < n; off += per {
				end := min(n, off+per)
				c := base()
				c.Value = &pb.ValueChunk_Array{Array: &pb.ArrayChunk{Offset: int64(off), Total: int64(n), Values: v.Array[off:end]}}
				if err := send(c); err != nil {
					return err
				}
			}
		default:
			return fmt.Errorf("value %q: unknown kind %v", v.Key, v.Kind)
		}
	}
	return nil
}

type valueID struct {
	section  pb.Section
	analysis string
	key      string
	b        int
}

// valueAssembler collects value chunks into values, keeping the order of
// first appearance.
type valueAssembler struct {
	order  []valueID
	vals   map[valueID]*plugins.Value
	filled map[valueID]int
	count  int
}

func newValueAssembler() *valueAssembler {
	return &valueAssembler{vals: map[valueID]*plugins.Value{}, filled: map[valueID]int{}}
}

func (a *valueAssembler) add(c *pb.ValueChunk) error {
	if c.Section != pb.Section_PER_COORDINATE && c.Section != pb.Section_LAYER_SUMMARY && c.Section != pb.Section_MODEL_SUMMARY {
		return fmt.Errorf("value %q: invalid section %v", c.Key, c.Section)
	}
	if c.BatchSize < 0 || c.BatchSize > math.MaxInt32 {
		return fmt.Errorf("value %q: invalid batch size %d", c.Key, c.BatchSize)
	}
	id := valueID{c.Section, c.Analysis, c.Key, int(c.BatchSize)}
	v, seen := a.vals[id]
	switch x := c.Value.(type) {
	case *pb.ValueChunk_Number:
		if seen {
			return fmt.Errorf("value %q (batch size %d) sent twice", c.Key, c.BatchSize)
		}
		a.put(id, plugins.Num(c.Key, int(c.BatchSize), x.Number))
	case *pb.ValueChunk_Histogram:
		if seen {
			return fmt.Errorf("value %q (batch size %d) sent twice", c.Key, c.BatchSize)
		}
		h := x.Histogram
		if h == nil {
			return fmt.Errorf("value %q: empty histogram", c.Key)
		}
		a.put(id, plugins.Hist(c.Key, int(c.BatchSize), &plugins.Histogram{Edges: h.Edges, Counts: h.Counts,
			Underflow: h.Underflow, Overflow: h.Overflow, NaN: h.Nan}))
	case *pb.ValueChunk_Array:
		ch := x.Array
		if ch == nil {
			return fmt.Errorf("value %q: empty array chunk", c.Key)
		}
		if !seen {
			if ch.Offset != 0 || ch.Total < 0 || ch.Total > maxArrayLen {
				return fmt.Errorf("value %q: first array chunk at offset %d of %d", c.Key, ch.Offset, ch.Total)
			}
			a.put(id, plugins.Arr(c.Key, int(c.BatchSize), make([]float64, ch.Total)))
			v = a.vals[id]
		} else if v.Kind != plugins.KindArray || int64(len(v.Array)) != ch.Total {
			return fmt.Errorf("value %q (batch size %d) sent twice", c.Key, c.BatchSize)
		}
		f := a.filled[id]
		if ch.Offset != int64(f) || f+len(ch.Values) > len(v.Array) {
			return fmt.Errorf("value %q: array chunk at offset %d (+%d), expected offset %d of %d", c.Key, ch.Offset, len(ch.Values), f, len(v.Array))
		}
		copy(v.Array[f:], ch.Values)
		a.filled[id] = f + len(ch.Values)
	default:
		return fmt.Errorf("value %q has no content", c.Key)
	}
	return nil
}

func (a *valueAssembler) put(id valueID, v plugins.Value) {
	a.order = append(a.order, id)
	a.vals[id] = &v
	a.count++
}

func (a *valueAssembler) complete() error {
	if a.count > plugins.MaxValues*3 {
		return fmt.Errorf("%d values, more than the limit", a.count)
	}
	for _, id := range a.order {
		v := a.vals[id]
		if v.Kind == plugins.KindArray && a.filled[id] != len(v.Array) {
			return fmt.Errorf("value %q (batch size %d): received %d of %d array entries", id.key, id.b, a.filled[id], len(v.Array))
		}
	}
	return nil
}

// section returns the values of one section (and analysis) in order.
func (a *valueAssembler) section(s pb.Section, analysis string) []plugins.Value {
	var out []plugins.Value
	for _, id := range a.order {
		if id.section == s && id.analysis == analysis {
			out = append(out, *a.vals[id])
		}
	}
	return out
}

// results groups prior values by analysis into layer results.
func (a *valueAssembler) results(parameter string) (map[string]*plugins.LayerResult, error) {
	if err := a.complete(); err != nil {
		return nil, err
	}
	out := map[string]*plugins.LayerResult{}
	for _, id := range a.order {
		if id.section == pb.Section_MODEL_SUMMARY {
			continue
		}
		if _, ok := out[id.analysis]; !ok {
			out[id.analysis] = &plugins.LayerResult{
				Parameter:     parameter,
				PerCoordinate: a.section(pb.Section_PER_COORDINATE, id.analysis),
				Summary:       a.section(pb.Section_LAYER_SUMMARY, id.analysis),
			}
		}
	}
	return out, nil
}
