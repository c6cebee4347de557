// Package onnx decodes ONNX model files into gnaudit's graph IR (package
// auditor/ir), finds their trainable parameters and summarises them for
// `gnaudit models inspect`. It holds no operator rules: which operators,
// attributes and opsets run, their shapes and their constant evaluation are
// auditor/graph's operator registry (graph.Ops), and the summary's verdict
// comes from the executor (InspectWith, persample.Inspect).
//
// # Decoding: onnx-go and onnxpb
//
// Load and Decode decode with github.com/owulveryck/onnx-go v0.5.0 through
// its public Backend interface, implemented here by a recorder: a gonum
// graph.DirectedWeightedBuilder whose nodes are the values of the ONNX graph
// (they implement onnx-go's Namer and DataCarrier) plus ApplyOperation. onnx-go
// calls ApplyOperation once per node in file order, after adding an edge from
// each output value to each input value weighted by the input's index; the
// recorder keeps every edge (duplicates included, so Mul(x, x) keeps both
// operands) and attributes the edges added since the previous call to the
// current node. From onnx-go the importer takes:
//
//   - each node's operator type, its inputs (from the weighted edges, empty
//     optional inputs "" included) and outputs (the output value nodes),
//   - the node attributes onnx-go converts (int, float, string, their lists,
//     tensors), and
//   - the initializer tensors it decodes (float, double, int32, int64 with at
//     least one element), delivered as gorgonia tensors via SetTensor.
//
// The same bytes are also read with internal/onnxpb (proto.Unmarshal), for
// what onnx-go does not expose or does not handle:
//
//   - opset imports, producer, IR version, node names and domains;
//   - graph inputs, outputs and value_info with their element types and
//     shapes: onnx-go drops symbolic dimensions, rejects non-tensor and
//     float16 types, and allocates a dense tensor for every declared shape
//     (a corrupt shape could exhaust memory), so onnx-go is handed the graph
//     with these types removed;
//   - initializers and tensor attributes onnx-go does not decode correctly:
//     empty tensors ("No data found"), int8/uint8/int16/uint16/uint32/uint64,
//     float16/bfloat16, and bool (onnx-go reads bool raw_data as 8 bytes per
//     element instead of 1);
//   - attributes of kinds onnx-go rejects (graphs, tensor lists, sparse
//     tensors, type protos; they become ir.AttrOther so the executor reports them)
//     or cannot type (IR version 1 files leave the kind unset);
//   - input-less nodes such as Constant, to which onnx-go adds a fake input
//     "<name>/input" that is dropped, and nodes without outputs, for which
//     onnx-go records no edges.
//
// Everything onnx-go records is checked against the protobuf (operator,
// inputs, outputs, attribute kinds, tensor element counts); a disagreement,
// an error or a panic in onnx-go makes the importer read the affected part
// (or, after an error, the remaining nodes) from onnxpb instead.
// DecodeWithReport says which parts came from where.
//
// The result is faithful to the file: nodes in topological order (file order
// among nodes that are ready together; a cycle is an error), every node named
// (an empty name becomes "<OpType>_<index>" with the node's index in the file,
// and a repeated name gets "_<index>" appended), attributes, initializers
// (integer and bool types widened to int64, float16 to float32), the graph
// inputs that are not initializers with their shapes (symbolic dimensions keep
// their names), outputs, the opset of the default domain and the producer.
// A malformed or truncated file is an error naming the file, never a panic.
//
// # Trainable parameters
//
// Model.Trainable lists the float initializers that are learnable
// parameters. The rule is per operator, so it lives in the operator
// registry (auditor/graph: each OpSpec's Params, graph.Trainable), which
// registers it with auditor/ir at start (ir.RegisterParamRule); Decode
// applies it and is an error in a program that does not link auditor/graph.
// An initializer is trainable when, following it forward through
// layout-only operators (Reshape, Identity, Transpose, Unsqueeze, Squeeze,
// Flatten, Cast, Expand; via their data input), it reaches one of these
// slots:
//
//   - Conv (and ConvTranspose) input 1 (weights) or 2 (bias);
//   - Gemm, MatMul or Einsum, any input (a constant operand is a weight or bias);
//   - BatchNormalization (and InstanceNormalization, LayerNormalization)
//     input 1 (scale) or 2 (shift) -- not 3 and 4, the running mean and
//     variance;
//   - PRelu input 1 (slope);
//   - Gather input 0 (an embedding table);
//   - Concat, any input (a learned token concatenated to the sequence,
//     ViT's class token);
//   - Add or Mul, any input, when the tensor has more than one element (a
//     bias added, as CNTK exports it: parameter -> Reshape -> Add, or a
//     scale); a one-element constant there (x*0.5, x+eps) is fixed.
//
// Everything else is not trainable: integer initializers, Reshape shapes,
// Pad pads, Clip min/max, Sub and Div operands (input normalisation),
// BatchNormalization statistics, and the values of Constant nodes.
//
// # Constant folding and support
//
// Shape computations (PyTorch exports x.view(x.size(0), -1) as Shape ->
// Gather -> Unsqueeze -> Concat -> Reshape) are evaluated by the executor
// when it builds the graph for a batch size (auditor/graph's one constant
// folder); what it cannot run, graph.Check reports, and Inspect's summary
// gets that verdict through InspectWith.
package onnx
