package reports

// Machine is the CPU and BLAS the gradients were computed with: speed
// depends on them, and so do the last digits of every sum (the order of
// the products differs between BLAS kernels).
type Machine struct {
	CPU  string `json:"cpu"`  // model name, family and model number
	BLAS string `json:"blas"` // "openblas" or "gonum"
	// BLASCore is the OpenBLAS core ("Cooperlake", "Haswell", …) and
	// BLASCoreSource how it was chosen: "openblas" (its detection),
	// "gnaudit" (switched at start), "OPENBLAS_CORETYPE" (the user).
	BLASCore       string `json:"blas_core,omitempty"`
	BLASCoreSource string `json:"blas_core_source,omitempty"`
}
