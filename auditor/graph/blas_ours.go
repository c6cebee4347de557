package graph

import "github.com/gnaudit/gnaudit/auditor/internal/sgemm"

// ourSgemm is auditor/internal/sgemm's single-threaded Sgemm, for the
// float32 products useOurSgemm routes to it (OpenBLAS build; in the
// pure-Go build gorgonia.WhichBLAS is sgemm's already).
var ourSgemm = sgemm.Serial
