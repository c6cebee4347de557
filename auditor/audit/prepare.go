package audit

import (
	"fmt"

	"github.com/gnaudit/gnaudit/auditor/data"
)

// PreparedData is an audit's data as the model sees it.
type PreparedData struct {
	Train, Eval data.Dataset
	// Steps are the preprocessing steps, in order, for a report.
	Steps []string
	// Notes are remarks of the loading (e.g. a missing test split).
	Notes []string
	// ZooInput is the input [C, H, W] of a zoo model for these samples
	// (set when PrepareData was called without an input shape).
	ZooInput [3]int
}

// PrepareData loads cfg.Data and preprocesses it (cfg.Preprocess) for a
// model whose one-sample input shape is in and which has classes
// outputs, exactly as an audit does before fine-tuning; other commands
// (gnaudit dynamics) use it to see the same samples. With in nil the data
// is prepared for the zoo model the audit would build for it (see
// PreparedData.ZooInput) and classes is not checked. Errors are
// *InputError.
func PrepareData(cfg Config, in []int, classes int) (*PreparedData, error) {
	raw, err := loadData(cfg.Data, cfg.Seed)
	if err != nil {
		return nil, inputErr(err)
	}
	var target data.Shape
	var zoo [3]int
	if in == nil {
		zoo = zooInput(raw.train.Shape())
		in = zoo[:]
		classes = raw.train.Classes()
	}
	switch len(in) {
	case 3:
		target = data.Shape{C: in[0], H: in[1], W: in[2]}
	case 2:
		target = data.Shape{C: 1, H: in[0], W: in[1]}
	default:
		target = raw.train.Shape()
	}
	prep, err := preprocess(raw, cfg.Preprocess, target)
	if err != nil {
		return nil, inputErr(err)
	}
	shape := append([]int{1}, in...)
	if err := prep.train.Check(shape, classes); err != nil {
		return nil, inputErr(fmt.Errorf("data %s: %w", raw.train.Name(), err))
	}
	return &PreparedData{Train: prep.train, Eval: prep.eval, Steps: prep.steps, Notes: raw.notes, ZooInput: zoo}, nil
}
