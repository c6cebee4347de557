// Package audit runs a whole gradient-noise audit (gnaudit audit) and
// re-renders its report (gnaudit report DIR). It brings the other packages
// together; each step is theirs:
//
//	data (auditor/data) ─ load, scale, adapt to the model, normalise
//	model (models zoo or an ONNX file, auditor/onnx)
//	plan (auditor/collect.Plan): memory and time, printed before any work,
//	    refused over --max-memory / --max-time
//	fine-tuning (auditor/train) with a checkpoint at every audit step:
//	    per-sample gradients (Engine: auditor/persample on the CPU, package
//	    cuda in a gnaudit_cuda build) → collect.Collect → noise.Save
//	analyses (plugins/host: built-ins, plugins, --isolate)
//	report (reports: report.json, report.md, plots) → gate (package gate)
//
// # The output directory
//
//	OUT/audit.json                     metadata (Meta): configuration, model, data,
//	                                   fine-tuning curve, checkpoints, status
//	OUT/model.onnx                     the zoo model audited (when built from the zoo)
//	OUT/checkpoints/step-N/model.onnx  the weights at step N (same graph)
//	OUT/checkpoints/step-N/noise/      the noise set of step N (auditor/noise format)
//	OUT/checkpoints/step-N/analyses.json  the analyses' results (per-layer summaries)
//	OUT/dynamics.json, OUT/dynamics.md   the SGD-dynamics stage (with --dynamics)
//	OUT/report.json, OUT/report.md, OUT/plots/
//
// Rerender (gnaudit report DIR) re-renders report.md and its plots from the
// stored report.json: no analysis runs, no gate is evaluated, report.json is
// left as it was. Render rebuilds report.json and report.md from these files
// alone, without computing a gradient (analyses run only where their results
// are missing, or with Reanalyze); with saved results it writes the same
// bytes again. Writing the directory is reports.WriteDir's job.
//
// # Defaults
//
// With no model the audit builds the zoo's alexnet-cifar for the data: the
// data's channels, an input of at least 32×32 (the paper's CIFAR geometry:
// Fashion-MNIST's 1×28×28 is padded with zeros to 1×32×32, so that the last
// feature map is 256×1×1 as in the paper), the data's classes, and
// Config.Seed. With no data it reads Debian's Fashion-MNIST
// (dataset-fashion-mnist, /usr/share/datasets/fashion-mnist). Pixels of the
// 8-bit formats are scaled to [0, 1], then padded, then normalised with the
// training set's per-channel mean and standard deviation. See Defaults for
// the fine-tuning and collection settings.
//
// # Interruption and failures
//
// Cancelling the context (Ctrl-C in gnaudit audit) stops the fine-tuning or
// the collection in progress; the collector's partial set is saved, the
// analyses run on what exists, and the report is rendered and marked partial
// (a banner in report.md, a note in report.json's method notes, status
// "partial" in audit.json). A plugin that crashes, hangs or returns
// malformed results is recorded as failed in the report; the audit goes
// on. Panics are turned into errors.
package audit
