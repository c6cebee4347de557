# gnaudit — build, test, demo. See README.md.
GO        ?= go
BIN       ?= bin/gnaudit
GOFLAGS   ?=
# Default test run: well under 15 minutes on 2 cores.
TEST_TIMEOUT ?= 20m

.PHONY: all build build-openblas test vet fmt demo bench clean proto proto-tools ptx build-cuda vet-cuda

all: build

build:
	$(GO) build $(GOFLAGS) -o $(BIN) ./cmd/gnaudit

# OpenBLAS-backed build (cgo; needs Debian's libopenblas-dev).
build-openblas:
	@[ -e /usr/include/x86_64-linux-gnu/openblas-pthread/cblas.h ] || [ -e /usr/include/cblas.h ] || echo "note: install Debian's libopenblas-dev for this build"
	$(GO) build $(GOFLAGS) -tags openblas -o bin/gnaudit-openblas ./cmd/gnaudit

vet:
	$(GO) vet ./...

fmt:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

test: fmt vet
	$(GO) test -timeout $(TEST_TIMEOUT) ./...

demo:
	./scripts/demo.sh

clean:
	rm -rf bin

# Regenerate committed protobuf code (Debian's protobuf-compiler + Go plugins).
PROTOC_GEN_GO_VERSION      ?= v1.36.6
PROTOC_GEN_GO_GRPC_VERSION ?= v1.3.0
proto-tools:
	GOBIN=$(CURDIR)/bin $(GO) install google.golang.org/protobuf/cmd/protoc-gen-go@$(PROTOC_GEN_GO_VERSION)
	GOBIN=$(CURDIR)/bin $(GO) install google.golang.org/grpc/cmd/protoc-gen-go-grpc@$(PROTOC_GEN_GO_GRPC_VERSION)

proto: proto-tools
	cd auditor/onnxpb && PATH=$(CURDIR)/bin:$$PATH protoc --go_out=. --go_opt=paths=source_relative onnx.proto
	cd plugins/proto && PATH=$(CURDIR)/bin:$$PATH protoc --go_out=. --go_opt=paths=source_relative --go-grpc_out=. --go-grpc_opt=paths=source_relative analysis.proto

# Regenerate the committed PyTorch reference fixtures in testdata/torch/ (needs
# Debian's /usr/bin/python3 with torch 1.13 + functorch and onnx 1.12; not run by test).
.PHONY: fixtures fixtures-torch fixtures-normality
fixtures: fixtures-torch fixtures-normality
fixtures-torch: ; /usr/bin/python3 scripts/fixtures/gen_torch.py
# Modern-family fixtures in testdata/modern (torch 1.13 + torchvision 0.14; not run by test).
.PHONY: fixtures-modern
fixtures-modern: ; /usr/bin/python3 scripts/fixtures/gen_modern.py
# Normality-test fixtures in plugins/stats/testdata (R, r-cran-nortest, scipy, mpmath; not run by test).
fixtures-normality:
	/usr/bin/Rscript scripts/fixtures/gen_swilk.R
	/usr/bin/python3 scripts/fixtures/gen_swilk_scipy.py
	/usr/bin/python3 scripts/fixtures/gen_normtest.py

# GPU path (build tag gnaudit_cuda; not "cuda", which switches on gorgonia's cuDNN engine): needs cuda.h and nvcc from Debian's nvidia-cuda-toolkit
# (non-free). The PTX is committed; `make ptx` regenerates it.
NVCC ?= nvcc
ptx:
	$(NVCC) -ptx -arch=compute_70 -O3 -o cuda/kernels.ptx cuda/kernels/kernels.cu

build-cuda:
	$(GO) build $(GOFLAGS) -tags gnaudit_cuda -o bin/gnaudit-cuda ./cmd/gnaudit

vet-cuda:
	$(GO) vet -tags gnaudit_cuda ./...
