package train

import (
	"encoding/csv"
	"fmt"
	"io"
	"strconv"
)

// CurveHeader is the header of WriteCSV.
var CurveHeader = []string{"step", "epoch", "lr", "loss", "acc", "running_loss", "running_acc", "grad_norm", "clipped", "eval_loss", "eval_acc"}

// WriteCSV writes the loss curve for reports: one row per update (the
// values of StepRecord; step counts the updates done, so row k describes
// update k and the batch loss before it) with the held-out loss and
// accuracy on the rows of the steps where they were measured, empty
// elsewhere. Evaluations at steps without an update (step 0) get a row of
// their own with only step and the evaluation filled in.
func (r *Result) WriteCSV(w io.Writer) error {
	cw := csv.NewWriter(w)
	f := func(x float64) string { return strconv.FormatFloat(x, 'g', -1, 64) }
	if err := cw.Write(CurveHeader); err != nil {
		return fmt.Errorf("train: curve: %w", err)
	}
	evals := map[int]EvalRecord{}
	for _, e := range r.Evals {
		evals[e.Step] = e
	}
	done := map[int]bool{}
	for _, c := range r.Curve {
		done[c.Step] = true
	}
	evalCols := func(step int) []string {
		if e, ok := evals[step]; ok {
			return []string{f(e.Loss), f(e.Acc)}
		}
		return []string{"", ""}
	}
	for _, e := range r.Evals {
		if !done[e.Step] && (len(r.Curve) == 0 || e.Step < r.Curve[0].Step) {
			row := append([]string{strconv.Itoa(e.Step), "", "", "", "", "", "", "", ""}, evalCols(e.Step)...)
			if err := cw.Write(row); err != nil {
				return fmt.Errorf("train: curve: %w", err)
			}
		}
	}
	for _, c := range r.Curve {
		row := []string{strconv.Itoa(c.Step), strconv.Itoa(c.Epoch), f(c.LR), f(c.Loss), f(c.Acc), f(c.RunningLoss), f(c.RunningAcc), f(c.GradNorm), strconv.FormatBool(c.Clipped)}
		if err := cw.Write(append(row, evalCols(c.Step)...)); err != nil {
			return fmt.Errorf("train: curve: %w", err)
		}
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return fmt.Errorf("train: curve: %w", err)
	}
	return nil
}
