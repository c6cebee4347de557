//go:build gnaudit_cuda

package cuda

import (
	_ "embed"
	"fmt"
	"runtime"
	"sync"
	"unsafe"

	// Must initialise before gorgonia.org/cu: turns a missing GPU into a clear message.
	_ "github.com/gnaudit/gnaudit/cuda/internal/precheck"
	"gorgonia.org/cu"
)

//go:embed kernels.ptx
var kernelsPTX string

// kernelNames lists every kernel of kernels.ptx; Open resolves them all.
var kernelNames = []string{
	"sgemm_batched", "im2col", "col2im", "add_channel_bias", "channel_sum",
	"sample_channel_sum", "sample_channel_dot", "relu_fwd", "relu_bwd", "add_inplace",
	"bn_eval_fwd", "bn_eval_bwd", "maxpool_fwd", "maxpool_bwd", "avgpool_fwd",
	"avgpool_bwd", "softmax_xent", "column_moments", "swilk_w", "gather_cols", "row_sumsq",
	"col_sum", "copy_rows", "swap01",
}

// Device is an open CUDA device with gnaudit's kernels loaded. Its methods may
// be called from any goroutine; they serialise on the device.
type Device struct {
	mu   sync.Mutex
	dev  cu.Device
	ctx  cu.CUContext
	mod  cu.Module
	fns  map[string]cu.Function
	info Info
}

// Built reports whether this binary was built with CUDA support.
func Built() bool { return true }

// Open creates a context on device `ordinal` and loads the embedded PTX (the
// driver JIT-compiles it for the device's architecture).
func Open(ordinal int) (*Device, error) {
	n, err := cu.NumDevices()
	if err != nil {
		return nil, fmt.Errorf("cuda: counting devices: %w", err)
	}
	if ordinal < 0 || ordinal >= n {
		return nil, fmt.Errorf("cuda: device %d requested, %d present", ordinal, n)
	}
	d := &Device{fns: map[string]cu.Function{}}
	d.dev, err = cu.GetDevice(ordinal)
	if err != nil {
		return nil, fmt.Errorf("cuda: device %d: %w", ordinal, err)
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	d.ctx, err = d.dev.MakeContext(cu.SchedAuto)
	if err != nil {
		return nil, fmt.Errorf("cuda: creating a context on device %d: %w", ordinal, err)
	}
	d.mod, err = cu.LoadData(kernelsPTX)
	if err != nil {
		d.ctx.Destroy()
		return nil, fmt.Errorf("cuda: loading the embedded PTX: %w", err)
	}
	for _, k := range kernelNames {
		f, err := d.mod.Function(k)
		if err != nil {
			d.ctx.Destroy()
			return nil, fmt.Errorf("cuda: kernel %q: %w", k, err)
		}
		d.fns[k] = f
	}
	d.info.Name, _ = d.dev.Name()
	maj, min, _ := d.dev.ComputeCapability()
	d.info.ComputeCapability = fmt.Sprintf("%d.%d", maj, min)
	d.info.TotalMemory, _ = d.dev.TotalMem()
	d.info.FreeMemory, _, _ = cu.MemInfo()
	d.info.DriverVersion = cu.Version()
	return d, nil
}

// Info describes the device (free memory as of Open).
func (d *Device) Info() Info { return d.info }

// FreeMemory returns the device's free memory now, in bytes.
func (d *Device) FreeMemory() (int64, error) {
	var free int64
	err := d.do(func() (err error) { free, _, err = cu.MemInfo(); return err })
	return free, err
}

// Close releases the context and everything allocated in it.
func (d *Device) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	return d.ctx.Destroy()
}

// do runs f with the device's context current on a locked OS thread.
func (d *Device) do(f func() error) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if err := cu.SetCurrentContext(d.ctx); err != nil {
		return fmt.Errorf("cuda: set context: %w", err)
	}
	return f()
}

// Buffer is device memory holding Len elements of 4 or 8 bytes.
type Buffer struct {
	ptr  cu.DevicePtr
	Len  int
	size int // bytes per element
}

func (b *Buffer) bytes() int64 { return int64(b.Len) * int64(b.size) }

// alloc must run inside do.
func alloc(n, size int) (*Buffer, error) {
	if n <= 0 {
		n = 1
	}
	p, err := cu.MemAlloc(int64(n) * int64(size))
	if err != nil {
		return nil, fmt.Errorf("cuda: allocating %d bytes: %w", int64(n)*int64(size), err)
	}
	return &Buffer{ptr: p, Len: n, size: size}, nil
}

// Alloc allocates n elements of `size` bytes (4: float32/int32, 8: float64), zeroed.
func (d *Device) Alloc(n, size int) (*Buffer, error) {
	var b *Buffer
	err := d.do(func() (err error) {
		b, err = alloc(n, size)
		if err != nil {
			return err
		}
		return cu.MemsetD8(b.ptr, 0, b.bytes())
	})
	return b, err
}

// Free releases a buffer (nil is fine).
func (d *Device) Free(bs ...*Buffer) {
	_ = d.do(func() error {
		for _, b := range bs {
			if b != nil && b.ptr != 0 {
				cu.MemFree(b.ptr)
				b.ptr = 0
			}
		}
		return nil
	})
}

// elem is an element type of device buffers.
type elem interface{ float32 | float64 | int32 }

func sizeOf[T elem]() int {
	var z T
	return int(unsafe.Sizeof(z))
}

// upload copies host data into a new device buffer.
func upload[T elem](d *Device, x []T) (*Buffer, error) {
	var b *Buffer
	err := d.do(func() (err error) {
		if b, err = alloc(len(x), sizeOf[T]()); err != nil || len(x) == 0 {
			return err
		}
		return cu.MemcpyHtoD(b.ptr, unsafe.Pointer(&x[0]), b.bytes())
	})
	return b, err
}

// write copies host data into the start of an existing buffer.
func write[T elem](d *Device, b *Buffer, x []T) error {
	if len(x) > b.Len || b.size != sizeOf[T]() {
		return fmt.Errorf("cuda: write of %d elements of %d bytes into a buffer of %d elements of %d bytes", len(x), sizeOf[T](), b.Len, b.size)
	}
	if len(x) == 0 {
		return nil
	}
	return d.do(func() error { return cu.MemcpyHtoD(b.ptr, unsafe.Pointer(&x[0]), int64(len(x)*sizeOf[T]())) })
}

// read copies the first len(dst) elements of b to the host.
func read[T elem](d *Device, b *Buffer, dst []T) error {
	if len(dst) > b.Len || b.size != sizeOf[T]() {
		return fmt.Errorf("cuda: read of %d elements of %d bytes from a buffer of %d elements of %d bytes", len(dst), sizeOf[T](), b.Len, b.size)
	}
	if len(dst) == 0 {
		return nil
	}
	return d.do(func() error { return cu.MemcpyDtoH(unsafe.Pointer(&dst[0]), b.ptr, int64(len(dst)*sizeOf[T]())) })
}

// UploadF32 copies host data into a new device buffer.
func (d *Device) UploadF32(x []float32) (*Buffer, error) { return upload(d, x) }

// UploadF64 copies host data into a new device buffer.
func (d *Device) UploadF64(x []float64) (*Buffer, error) { return upload(d, x) }

// UploadI32 copies host data into a new device buffer.
func (d *Device) UploadI32(x []int32) (*Buffer, error) { return upload(d, x) }

// Write copies host float32 data into an existing buffer.
func (d *Device) Write(b *Buffer, x []float32) error { return write(d, b, x) }

// WriteI32 copies host int32 data into an existing 4-byte buffer.
func (d *Device) WriteI32(b *Buffer, x []int32) error { return write(d, b, x) }

// DownloadF32 copies a whole float32 buffer back to the host.
func (d *Device) DownloadF32(b *Buffer) ([]float32, error) {
	out := make([]float32, b.Len)
	return out, read(d, b, out)
}

// DownloadF64 copies a whole float64 buffer back to the host.
func (d *Device) DownloadF64(b *Buffer) ([]float64, error) {
	out := make([]float64, b.Len)
	return out, read(d, b, out)
}

// ReadF32 copies the first len(dst) float32 elements of b into dst.
func (d *Device) ReadF32(b *Buffer, dst []float32) error { return read(d, b, dst) }

// ReadF64 copies the first len(dst) float64 elements of b into dst.
func (d *Device) ReadF64(b *Buffer, dst []float64) error { return read(d, b, dst) }

// Zero sets a buffer to zero.
func (d *Device) Zero(b *Buffer) error {
	return d.do(func() error { return cu.MemsetD8(b.ptr, 0, b.bytes()) })
}

// Sync waits for all launched work to finish.
func (d *Device) Sync() error { return d.do(func() error { return cu.Synchronize() }) }

// arg helpers: kernel parameters are passed as pointers to their values.
func pi(v int) unsafe.Pointer     { x := int32(v); return unsafe.Pointer(&x) }
func pl(v int64) unsafe.Pointer   { x := v; return unsafe.Pointer(&x) }
func pf(v float32) unsafe.Pointer { x := v; return unsafe.Pointer(&x) }
func pb(b *Buffer) unsafe.Pointer { x := b.ptr; return unsafe.Pointer(&x) }
func pnull() unsafe.Pointer       { var x cu.DevicePtr; return unsafe.Pointer(&x) }

// launch runs kernel name with the given geometry; it must run inside do.
func (d *Device) launch(name string, grid, block [3]int, shared int, args ...unsafe.Pointer) error {
	f, ok := d.fns[name]
	if !ok {
		return fmt.Errorf("cuda: unknown kernel %q", name)
	}
	if err := f.Launch(grid[0], grid[1], grid[2], block[0], block[1], block[2], shared, cu.Stream{}, args); err != nil {
		return fmt.Errorf("cuda: launching %s: %w", name, err)
	}
	return nil
}

// gridFor returns a 1-D grid-stride geometry for n elements.
func gridFor(n int64) [3]int {
	b := (n + 255) / 256
	if b > 65535*8 {
		b = 65535 * 8
	}
	if b < 1 {
		b = 1
	}
	return [3]int{int(b), 1, 1}
}

var block256 = [3]int{256, 1, 1}
