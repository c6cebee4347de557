# gnaudit — build, test, demo. See README.md.
GO        ?= go
BIN       ?= bin/gnaudit
GOFLAGS   ?=
# Default test run: well under 15 minutes on 2 cores.
TEST_TIMEOUT ?= 20m

.PHONY: all build build-openblas build-purego test vet fmt demo bench clean proto proto-tools ptx build-cuda vet-cuda

all: build

# The fast build where it can: OpenBLAS (cgo) when Debian's libopenblas-dev
# and gcc are installed, else pure Go, saying so (scripts/build.sh).
# BLAS=gonum forces pure Go, BLAS=openblas fails without OpenBLAS.
BLAS ?= auto
build:
	@GO="$(GO)" GOFLAGS="$(GOFLAGS)" BLAS="$(BLAS)" ./scripts/build.sh $(BIN)

# OpenBLAS or fail, as bin/gnaudit-openblas (cgo; needs Debian's libopenblas-dev).
build-openblas:
	@GO="$(GO)" GOFLAGS="$(GOFLAGS)" BLAS=openblas ./scripts/build.sh bin/gnaudit-openblas

# Pure Go (gonum's BLAS), runs anywhere, as bin/gnaudit-purego.
build-purego:
	@GO="$(GO)" GOFLAGS="$(GOFLAGS)" BLAS=gonum ./scripts/build.sh bin/gnaudit-purego

vet:
	$(GO) vet ./...

fmt:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

test: fmt vet staticcheck
	$(GO) test -timeout $(TEST_TIMEOUT) ./...

demo:
	./scripts/demo.sh

# staticcheck (settings in staticcheck.conf), installed into bin/ from the Go
# module proxy; STATICCHECK_FLAGS="-tags openblas" checks the OpenBLAS build.
STATICCHECK_VERSION ?= v0.8.2
STATICCHECK_FLAGS   ?=
.PHONY: staticcheck
staticcheck:
	GOBIN=$(CURDIR)/bin $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)
	bin/staticcheck $(STATICCHECK_FLAGS) ./...

# The docs-commands test: every shell command of README.md and docs/*.md, run
# after the set-up on tiny audits, and the docs' CI workflow through
# actionlint (cmd/gnaudit/docs_test.go says how; a few minutes, so not in
# make test; .ci/run runs it).
ACTIONLINT_VERSION ?= v1.7.12
.PHONY: test-docs actionlint
actionlint:
	GOBIN=$(CURDIR)/bin $(GO) install github.com/rhysd/actionlint/cmd/actionlint@$(ACTIONLINT_VERSION)
test-docs: actionlint
	GNAUDIT_DOCS_TEST=1 $(GO) test -count=1 -timeout 40m -run 'TestDocsCommands|TestCIWorkflow|TestDocBlocksParse|TestArchitectureNamesEveryPackage' ./cmd/gnaudit

clean:
	rm -rf bin

# Regenerate committed protobuf code (Debian's protobuf-compiler + Go plugins).
PROTOC_GEN_GO_VERSION      ?= v1.36.6
PROTOC_GEN_GO_GRPC_VERSION ?= v1.3.0
proto-tools:
	GOBIN=$(CURDIR)/bin $(GO) install google.golang.org/protobuf/cmd/protoc-gen-go@$(PROTOC_GEN_GO_VERSION)
	GOBIN=$(CURDIR)/bin $(GO) install google.golang.org/grpc/cmd/protoc-gen-go-grpc@$(PROTOC_GEN_GO_GRPC_VERSION)

proto: proto-tools
	cd internal/onnxpb && PATH=$(CURDIR)/bin:$$PATH protoc --go_out=. --go_opt=paths=source_relative onnx.proto
	cd plugins/grpcplugin/internal/proto && PATH=$(CURDIR)/bin:$$PATH protoc --go_out=. --go_opt=paths=source_relative --go-grpc_out=. --go-grpc_opt=paths=source_relative analysis.proto

# Regenerate the committed PyTorch reference fixtures in testdata/torch/ (needs
# Debian's /usr/bin/python3 with torch 1.13 + functorch and onnx 1.12; not run by test).
.PHONY: fixtures fixtures-torch fixtures-normality
fixtures: fixtures-torch fixtures-normality
fixtures-torch: ; /usr/bin/python3 scripts/fixtures/gen_torch.py
# Modern-family fixtures in testdata/modern (torch 1.13 + torchvision 0.14; not run by test).
.PHONY: fixtures-modern
fixtures-modern: ; /usr/bin/python3 scripts/fixtures/gen_modern.py
# Normality-test fixtures in auditor/stats/testdata (R, r-cran-nortest, scipy, mpmath; not run by test).
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

# gorgonia with a patch for its quadratic graph building and Compile, used
# through go.mod's replace directive (third_party/README.md):
# `make third-party` re-creates third_party/gorgonia from the module proxy
# and third_party/gorgonia.patch; `make third-party-check` fails unless the
# committed copy is exactly that.
.PHONY: third-party third-party-check
third-party:
	GO="$(GO)" ./third_party/gorgonia.sh
third-party-check:
	GO="$(GO)" ./third_party/gorgonia.sh --check
