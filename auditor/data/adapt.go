package data

import (
	"fmt"
	"strings"
)

// Spatial policies of [Policy].
const (
	SpatialStrict   = "strict"   // height and width must already match
	SpatialPad      = "pad"      // centred padding with zeros; error when the image is larger
	SpatialPadCrop  = "pad-crop" // centred zero padding of smaller, centred crop of larger dimensions
	SpatialNearest  = "nearest"  // resize, nearest neighbour
	SpatialBilinear = "bilinear" // resize, bilinear
)

// Channel policies of [Policy].
const (
	ChannelsStrict    = "strict"    // channel counts must match
	ChannelsReplicate = "replicate" // a grey image is copied to every channel
)

// Policy says how [Dataset.Adapt] may change a data set's sample shape. The
// zero value is strict on both counts.
type Policy struct {
	Spatial  string `json:"spatial"`  // SpatialStrict (default), SpatialPad, SpatialPadCrop, SpatialNearest, SpatialBilinear
	Channels string `json:"channels"` // ChannelsStrict (default), ChannelsReplicate
}

// Adaptation reports what [Dataset.Adapt] did.
type Adaptation struct {
	From   Shape    `json:"from"`
	To     Shape    `json:"to"`
	Policy Policy   `json:"policy"`
	Steps  []Step   `json:"steps"` // transforms added, in order (none when the shapes matched)
	Notes  []string `json:"notes"` // one sentence per decision
}

// String explains the adaptation in one paragraph.
func (a Adaptation) String() string {
	if len(a.Steps) == 0 {
		return fmt.Sprintf("sample shape %v already matches the model input", a.From)
	}
	return fmt.Sprintf("adapted sample shape %v to %v: %s", a.From, a.To, strings.Join(a.Notes, "; "))
}

// Adapt returns d transformed to the per-sample shape target (a model's
// [C, H, W] input) under policy p, and what it did. Spatial changes come
// before channel replication (cheaper). It does not scale or normalise
// values: those are separate, explicit transforms.
func (d Dataset) Adapt(target Shape, p Policy) (Dataset, Adaptation, error) {
	if p.Spatial == "" {
		p.Spatial = SpatialStrict
	}
	if p.Channels == "" {
		p.Channels = ChannelsStrict
	}
	a := Adaptation{From: d.shape, To: target, Policy: p, Steps: []Step{}, Notes: []string{}}
	fail := func(format string, args ...any) (Dataset, Adaptation, error) {
		return Dataset{}, a, fmt.Errorf("data set %s (%s): sample shape %v, model input %v: %s",
			d.name, d.filesString(), d.shape, target, fmt.Sprintf(format, args...))
	}
	if !target.valid() {
		return fail("invalid target shape")
	}
	out := d
	n0 := len(out.steps)
	in := d.shape
	if in.H != target.H || in.W != target.W {
		var err error
		switch p.Spatial {
		case SpatialStrict:
			return fail("height×width differ and the spatial policy is strict (use pad, pad-crop, nearest or bilinear)")
		case SpatialPad:
			if in.H > target.H || in.W > target.W {
				return fail("the image is larger than the input; padding cannot shrink it (use pad-crop, nearest or bilinear)")
			}
			out, err = out.Pad(target.H, target.W, 0)
			a.Notes = append(a.Notes, fmt.Sprintf("zero-padded %d×%d to %d×%d, centred", in.H, in.W, target.H, target.W))
		case SpatialPadCrop:
			ph, pw := max(in.H, target.H), max(in.W, target.W)
			if ph != in.H || pw != in.W {
				out, err = out.Pad(ph, pw, 0)
				a.Notes = append(a.Notes, fmt.Sprintf("zero-padded %d×%d to %d×%d, centred", in.H, in.W, ph, pw))
			}
			if err == nil && (ph != target.H || pw != target.W) {
				out, err = out.Crop(target.H, target.W)
				a.Notes = append(a.Notes, fmt.Sprintf("centre-cropped %d×%d to %d×%d", ph, pw, target.H, target.W))
			}
		case SpatialNearest, SpatialBilinear:
			out, err = out.Resize(target.H, target.W, p.Spatial)
			a.Notes = append(a.Notes, fmt.Sprintf("resized %d×%d to %d×%d (%s)", in.H, in.W, target.H, target.W, p.Spatial))
		default:
			return fail("unknown spatial policy %q (want strict, pad, pad-crop, nearest or bilinear)", p.Spatial)
		}
		if err != nil {
			return Dataset{}, a, err
		}
	}
	if in.C != target.C {
		switch {
		case p.Channels == ChannelsReplicate && in.C == 1:
			var err error
			if out, err = out.Replicate(target.C); err != nil {
				return Dataset{}, a, err
			}
			a.Notes = append(a.Notes, fmt.Sprintf("replicated the grey channel to %d channels", target.C))
		case p.Channels == ChannelsReplicate:
			return fail("only a 1-channel (grey) image can be replicated, the data has %d channels", in.C)
		case p.Channels == ChannelsStrict:
			return fail("channel counts differ (%d vs %d) and the channel policy is strict (use replicate for grey images)", in.C, target.C)
		default:
			return fail("unknown channel policy %q (want strict or replicate)", p.Channels)
		}
	}
	for _, s := range out.steps[n0:] {
		a.Steps = append(a.Steps, s.record())
	}
	return out, a, nil
}
