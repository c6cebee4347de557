package data

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/gnaudit/gnaudit/auditor/npy"
	"github.com/gnaudit/gnaudit/internal/approx"
)

// idxBytes encodes an IDX file: magic, big-endian dimensions, payload.
func idxBytes(typ byte, dims []int, payload []byte) []byte {
	var b bytes.Buffer
	b.Write([]byte{0, 0, typ, byte(len(dims))})
	for _, d := range dims {
		binary.Write(&b, binary.BigEndian, uint32(d))
	}
	b.Write(payload)
	return b.Bytes()
}

// gz compresses b.
func gz(b []byte) []byte {
	var out bytes.Buffer
	w := gzip.NewWriter(&out)
	w.Write(b)
	w.Close()
	return out.Bytes()
}

// write writes b to dir/name and returns the path.
func write(t *testing.T, dir, name string, b []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// pixelU8 is the pixel value of the generated IDX images.
func pixelU8(k int) byte { return byte((k*37 + 11) % 256) }

func TestReadIDXTypes(t *testing.T) {
	dir := t.TempDir()
	i16 := []int16{-300, 0, 7, 32767}
	i32 := []int32{-70000, 1, 2147483647}
	f32 := []float32{1.5, -2.25, float32(math.Inf(1))}
	f64 := []float64{math.Pi, -1e300}
	enc := func(v any) []byte {
		var b bytes.Buffer
		binary.Write(&b, binary.BigEndian, v)
		return b.Bytes()
	}
	cases := []struct {
		name string
		typ  byte
		dims []int
		data []byte
		want []float64
	}{
		{"u8", IDXUint8, []int{2, 2}, []byte{0, 255, 128, 1}, []float64{0, 255, 128, 1}},
		{"i8", IDXInt8, []int{3}, []byte{0x80, 0x7f, 0xff}, []float64{-128, 127, -1}},
		{"i16", IDXInt16, []int{4}, enc(i16), []float64{-300, 0, 7, 32767}},
		{"i32", IDXInt32, []int{1, 3}, enc(i32), []float64{-70000, 1, 2147483647}},
		{"f32", IDXFloat32, []int{3}, enc(f32), []float64{1.5, -2.25, math.Inf(1)}},
		{"f64", IDXFloat64, []int{2}, enc(f64), []float64{math.Pi, -1e300}},
	}
	for _, c := range cases {
		for _, compressed := range []bool{false, true} {
			b := idxBytes(c.typ, c.dims, c.data)
			name := c.name
			if compressed {
				b, name = gz(b), name+".gz"
			}
			x, err := ReadIDX(write(t, dir, name, b))
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			if x.Type != c.typ || len(x.Dims) != len(c.dims) || x.Len() != len(c.want) {
				t.Fatalf("%s: type %#x dims %v len %d", name, x.Type, x.Dims, x.Len())
			}
			for i, w := range c.want {
				if got := x.At(i); got != w {
					t.Errorf("%s[%d] = %v, want %v", name, i, got, w)
				}
			}
		}
	}
}

func TestReadIDXErrors(t *testing.T) {
	dir := t.TempDir()
	good := idxBytes(IDXUint8, []int{2, 3, 3}, make([]byte, 18))
	gzGood := gz(good)
	corrupt := bytes.Clone(gzGood)
	corrupt[len(corrupt)-5] ^= 0xff // CRC32 of the gzip trailer
	cases := []struct {
		name string
		b    []byte
		want string
	}{
		{"empty", nil, "truncated file while reading the magic number"},
		{"badmagic", append([]byte{1, 0, 8, 3}, good[4:]...), "bad magic number"},
		{"badtype", append([]byte{0, 0, 7, 3}, good[4:]...), "bad magic number"},
		{"nodims", []byte{0, 0, 8, 0}, "bad magic number"},
		{"shortdims", good[:9], "truncated file while reading the dimensions"},
		{"zerodim", idxBytes(IDXUint8, []int{2, 0}, nil), "dimension 1 is zero"},
		{"truncated", good[:len(good)-1], "truncated: 17 data bytes, the header (dimensions [2 3 3]) needs 18"},
		{"trailing", append(bytes.Clone(good), 0), "1 unexpected bytes after the data"},
		{"gz-truncated", gzGood[:len(gzGood)-12], "truncated gzip stream"},
		{"gz-short", gz(good[:len(good)-2]), "truncated: 16 data bytes"},
		{"gz-trailing", gz(append(bytes.Clone(good), 1, 2)), "unexpected bytes after the data"},
		{"gz-crc", corrupt, "gzip"},
		{"huge", idxBytes(IDXFloat64, []int{1 << 20, 1 << 20, 1 << 20}, nil), "announce more than"},
	}
	for _, c := range cases {
		p := write(t, dir, c.name, c.b)
		_, err := ReadIDX(p)
		if err == nil {
			t.Errorf("%s: no error", c.name)
			continue
		}
		if !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), p) {
			t.Errorf("%s: error %q should name the file and contain %q", c.name, err, c.want)
		}
	}
	if _, err := ReadIDX(filepath.Join(dir, "missing")); err == nil {
		t.Error("missing file: no error")
	}
}

// writeMNISTDir writes an MNIST-layout split with n images of h×w and the
// given labels, gzip-compressed.
func writeMNISTDir(t *testing.T, dir, prefix string, h, w int, labels []byte) {
	n := len(labels)
	pix := make([]byte, n*h*w)
	for k := range pix {
		pix[k] = pixelU8(k)
	}
	write(t, dir, prefix+"-images-idx3-ubyte.gz", gz(idxBytes(IDXUint8, []int{n, h, w}, pix)))
	write(t, dir, prefix+"-labels-idx1-ubyte.gz", gz(idxBytes(IDXUint8, []int{n}, labels)))
}

func TestLoadIDX(t *testing.T) {
	dir := t.TempDir()
	labels := []byte{3, 0, 5, 5, 1}
	writeMNISTDir(t, dir, "train", 3, 4, labels)
	d, err := LoadIDX(filepath.Join(dir, "train-images-idx3-ubyte.gz"), filepath.Join(dir, "train-labels-idx1-ubyte.gz"))
	if err != nil {
		t.Fatal(err)
	}
	if d.Len() != 5 || d.Shape() != (Shape{1, 3, 4}) || d.Classes() != 6 {
		t.Fatalf("got %v", d)
	}
	for i := 0; i < 5; i++ {
		if d.Label(i) != int(labels[i]) {
			t.Errorf("label %d = %d", i, d.Label(i))
		}
		s := d.Sample(i, nil)
		for k, v := range s {
			if v != float64(pixelU8(i*12+k)) {
				t.Fatalf("sample %d value %d = %v, want %v", i, k, v, pixelU8(i*12+k))
			}
		}
	}
	// The MNIST directory loader fixes 10 classes and checks labels.
	m, err := LoadMNIST(dir, "train")
	if err != nil || m.Classes() != 10 || m.Len() != 5 {
		t.Fatalf("LoadMNIST: %v %v", m, err)
	}
	if _, err := LoadMNIST(dir, "test"); err == nil || !strings.Contains(err.Error(), "t10k-images-idx3-ubyte") {
		t.Errorf("missing test split: %v", err)
	}
	if _, err := LoadMNIST(dir, "valid"); err == nil {
		t.Error("bad split name: no error")
	}

	// Mismatches name both files.
	bad := t.TempDir()
	im := write(t, bad, "im", idxBytes(IDXUint8, []int{2, 2, 2}, make([]byte, 8)))
	lb3 := write(t, bad, "lb3", idxBytes(IDXUint8, []int{3}, []byte{0, 1, 2}))
	flat := write(t, bad, "flat", idxBytes(IDXUint8, []int{2, 4}, make([]byte, 8)))
	fl := write(t, bad, "fl", idxBytes(IDXFloat32, []int{2}, make([]byte, 8)))
	big := write(t, bad, "big", idxBytes(IDXUint8, []int{2}, []byte{1, 12}))
	for _, c := range []struct {
		im, lb, want string
		classes      int
	}{
		{im, lb3, "has 2 images but", 0},
		{flat, lb3, "3 dimensions [N, H, W]", 0},
		{im, fl, "1-dimensional integer array", 0},
		{im, big, "label 1 is 12, outside the 10 classes", 10},
	} {
		_, err := loadIDX(c.im, c.lb, c.classes, nil)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s + %s: error %v, want %q", c.im, c.lb, err, c.want)
		}
	}
}

// cifarRecordBytes builds record r of a generated CIFAR file: label, then
// pixel (c, y, x) = (r + 3c + 5y + 7x) mod 256.
func cifarRecordBytes(r int, label byte) []byte {
	b := make([]byte, cifarRecord)
	b[0] = label
	for c := 0; c < 3; c++ {
		for y := 0; y < 32; y++ {
			for x := 0; x < 32; x++ {
				b[1+c*1024+y*32+x] = byte((r + 3*c + 5*y + 7*x) % 256)
			}
		}
	}
	return b
}

func TestLoadCIFAR10(t *testing.T) {
	dir := t.TempDir()
	var f1, f2 []byte
	labels := []byte{6, 9, 0, 3, 9}
	for r := 0; r < 3; r++ {
		f1 = append(f1, cifarRecordBytes(r, labels[r])...)
	}
	for r := 3; r < 5; r++ {
		f2 = append(f2, cifarRecordBytes(r, labels[r])...)
	}
	p1 := write(t, dir, "a.bin", f1)
	p2 := write(t, dir, "b.bin", f2)
	d, err := LoadCIFAR10Files(p1, p2)
	if err != nil {
		t.Fatal(err)
	}
	if d.Len() != 5 || d.Shape() != (Shape{3, 32, 32}) || d.Classes() != 10 {
		t.Fatalf("got %v", d)
	}
	for r := 0; r < 5; r++ {
		if d.Label(r) != int(labels[r]) {
			t.Errorf("label %d = %d", r, d.Label(r))
		}
		s := d.Sample(r, nil)
		for _, p := range [][3]int{{0, 0, 0}, {1, 2, 3}, {2, 31, 30}, {0, 17, 5}} {
			c, y, x := p[0], p[1], p[2]
			if got, want := s[c*1024+y*32+x], float64((r+3*c+5*y+7*x)%256); got != want {
				t.Errorf("record %d pixel %v = %v, want %v", r, p, got, want)
			}
		}
	}

	// Directory layout with the official subfolder and class names.
	sub := filepath.Join(dir, "cifar-10-batches-bin")
	os.Mkdir(sub, 0o755)
	write(t, sub, "test_batch.bin", f2)
	names := strings.Join(CIFAR10Classes, "\n") + "\n\n"
	write(t, sub, "batches.meta.txt", []byte(strings.ToUpper(names)))
	td, err := LoadCIFAR10(dir, "test")
	if err != nil {
		t.Fatal(err)
	}
	if td.Len() != 2 || td.ClassNames()[9] != "TRUCK" || td.Label(1) != 9 {
		t.Errorf("test split: %v %v", td, td.ClassNames())
	}
	if _, err := LoadCIFAR10(dir, "train"); err == nil || !strings.Contains(err.Error(), "data_batch_1.bin") {
		t.Errorf("missing train split: %v", err)
	}

	trunc := write(t, dir, "t.bin", f1[:len(f1)-10])
	if _, err := LoadCIFAR10Files(trunc); err == nil || !strings.Contains(err.Error(), "t.bin: size 9209 bytes is not a positive multiple of the 3073-byte record (2 whole records and 3063 bytes left") {
		t.Errorf("truncated: %v", err)
	}
	badLabel := write(t, dir, "l.bin", append(cifarRecordBytes(0, 1), cifarRecordBytes(1, 57)...))
	if _, err := LoadCIFAR10Files(badLabel); err == nil || !strings.Contains(err.Error(), "l.bin: record 1 has label 57") {
		t.Errorf("bad label: %v", err)
	}
}

func TestLoadNPY(t *testing.T) {
	// Fixtures written by numpy (scripts/fixtures/gen_data.py).
	d, err := LoadNPY("testdata/img_f32.npy", "testdata/lab_i64.npy", 0)
	if err != nil {
		t.Fatal(err)
	}
	if d.Len() != 4 || d.Shape() != (Shape{3, 2, 2}) || d.Classes() != 4 {
		t.Fatalf("f32: %v", d)
	}
	for i, y := range []int{3, 0, 2, 1} {
		if d.Label(i) != y {
			t.Errorf("label %d = %d, want %d", i, d.Label(i), y)
		}
		for k, v := range d.Sample(i, nil) {
			if want := 0.5*float64(i*12+k) + 0.125; v != want {
				t.Fatalf("f32 sample %d value %d = %v, want %v", i, k, v, want)
			}
		}
	}
	u, err := LoadNPY("testdata/img_u8.npy", "testdata/lab_u8.npy", 5)
	if err != nil {
		t.Fatal(err)
	}
	if u.Len() != 3 || u.Shape() != (Shape{1, 4, 5}) || u.Classes() != 5 || u.Label(2) != 0 {
		t.Fatalf("u8: %v", u)
	}
	for i := 0; i < 3; i++ {
		for k, v := range u.Sample(i, nil) {
			if want := float64((7 * (i*20 + k)) % 256); v != want {
				t.Fatalf("u8 sample %d value %d = %v, want %v", i, k, v, want)
			}
		}
	}

	dir := t.TempDir()
	// int32 labels with uint8 [N, C, H, W] images, written by our writer.
	i32 := filepath.Join(dir, "i32.npy")
	err = npy.WriteFile(i32, func(w io.Writer) error {
		nw, err := npy.NewWriter(w, npy.Int32, []int{3})
		if err != nil {
			return err
		}
		if err := nw.WriteInt64([]int64{2, 0, 1}); err != nil {
			return err
		}
		return nw.Close()
	})
	if err != nil {
		t.Fatal(err)
	}
	u8img := filepath.Join(dir, "u8.npy")
	err = npy.WriteFile(u8img, func(w io.Writer) error {
		nw, err := npy.NewWriter(w, npy.Uint8, []int{3, 2, 1, 2})
		if err != nil {
			return err
		}
		if err := nw.WriteInt64([]int64{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 255}); err != nil {
			return err
		}
		return nw.Close()
	})
	if err != nil {
		t.Fatal(err)
	}
	q, err := LoadNPY(u8img, i32, 0)
	if err != nil || q.Shape() != (Shape{2, 1, 2}) || q.Classes() != 3 || q.Label(0) != 2 || q.Sample(2, nil)[3] != 255 {
		t.Errorf("int32 labels: %v %v", q, err)
	}
	flab := filepath.Join(dir, "flab.npy")
	if err := npy.WriteFileFloat32(flab, []int{4}, []float32{0, 1, 2, 3}); err != nil {
		t.Fatal(err)
	}
	img2 := filepath.Join(dir, "img2.npy")
	if err := npy.WriteFileFloat32(img2, []int{4, 1, 1, 2, 3}, make([]float32, 24)); err != nil {
		t.Fatal(err)
	}
	// [N, T] int64 token ids load as samples of shape 1×1×T, exactly.
	tok := filepath.Join(dir, "tok.npy")
	if err := npy.WriteFileInt64(tok, []int{4, 3}, []int64{0, 1, 2, 39, 38, 0, 5, 5, 5, 7, 0, 1}); err != nil {
		t.Fatal(err)
	}
	if d, err := LoadNPY(tok, "testdata/lab_i64.npy", 0); err != nil || d.Shape() != (Shape{1, 1, 3}) {
		t.Errorf("token ids: %v %v", d.Shape(), err)
	} else if x := d.Sample(1, nil); len(x) != 3 || x[0] != 39 || x[1] != 38 || x[2] != 0 {
		t.Errorf("token ids of sample 1: %v", x)
	}
	neg := filepath.Join(dir, "neg.npy")
	if err := npy.WriteFileInt64(neg, []int{4}, []int64{0, 1, -1, 2}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		im, lb  string
		classes int
		want    string
	}{
		{"testdata/img_f32.npy", "testdata/lab_u8.npy", 0, "has 4 images (shape [4 3 2 2]) but testdata/lab_u8.npy has 3 labels"},
		{"testdata/img_f32.npy", flab, 0, "labels must have an integer dtype"},
		{"testdata/img_f32.npy", "testdata/img_u8.npy", 0, "labels must have shape [N]"},
		{img2, "testdata/lab_i64.npy", 0, "samples must have shape [N, C, H, W], [N, H, W] or [N, T]"},
		{"testdata/img_f32.npy", neg, 0, "label 2 is -1"},
		{"testdata/img_f32.npy", "testdata/lab_i64.npy", 3, "label 0 is 3, outside the 3 classes"},
		{"testdata/missing.npy", "testdata/lab_i64.npy", 0, "missing.npy"},
	} {
		_, err := LoadNPY(c.im, c.lb, c.classes)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s + %s: error %v, want %q", c.im, c.lb, err, c.want)
		}
	}
}

// TestFashionMNIST checks the loader on Debian's dataset-fashion-mnist files
// (skipped when absent). The reference values were computed with
// /usr/bin/python3 (gzip + struct + numpy) from the same files; when that
// Python is present the first label is also re-read by it here.
func TestFashionMNIST(t *testing.T) {
	if _, err := os.Stat(filepath.Join(DefaultFashionMNISTDir, "train-labels-idx1-ubyte.gz")); err != nil {
		t.Skip("Fashion-MNIST not installed (apt-get install dataset-fashion-mnist)")
	}
	train, err := LoadFashionMNIST("", "train")
	if err != nil {
		t.Fatal(err)
	}
	test, err := LoadFashionMNIST(DefaultFashionMNISTDir, "test")
	if err != nil {
		t.Fatal(err)
	}
	if train.Len() != 60000 || test.Len() != 10000 {
		t.Fatalf("sizes %d / %d, want 60000 / 10000", train.Len(), test.Len())
	}
	for _, d := range []Dataset{train, test} {
		if d.Shape() != (Shape{1, 28, 28}) || d.Classes() != 10 || len(d.ClassNames()) != 10 {
			t.Fatalf("%v", d)
		}
	}
	counts := make([]int, 10)
	for _, y := range train.Labels() {
		counts[y]++ // labels outside 0..9 would have failed the load
	}
	for c, n := range counts {
		if n != 6000 {
			t.Errorf("class %d has %d training samples, want 6000", c, n)
		}
	}
	wantTrain := []int{9, 0, 0, 3, 0, 2, 7, 2, 5, 5}
	wantTest := []int{9, 2, 1, 1, 6, 1, 4, 6, 5, 7}
	for i := range wantTrain {
		if train.Label(i) != wantTrain[i] || test.Label(i) != wantTest[i] {
			t.Errorf("label %d: train %d test %d, want %d %d", i, train.Label(i), test.Label(i), wantTrain[i], wantTest[i])
		}
	}
	sum := func(d Dataset, i int) float64 {
		s := 0.0
		for _, v := range d.Sample(i, nil) {
			s += v
		}
		return s
	}
	if s0, s1 := sum(train, 0), sum(test, 0); s0 != 76247 || s1 != 33456 {
		t.Errorf("pixel sums of image 0: train %v test %v, want 76247 33456", s0, s1)
	}
	row := train.Sample(0, nil)[14*28 : 15*28]
	wantRow := []float64{0, 0, 1, 4, 6, 7, 2, 0, 0, 0, 0, 0, 237, 226, 217, 223, 222, 219, 222, 221, 216, 223, 229, 215, 218, 255, 77, 0}
	for x := range wantRow {
		if row[x] != wantRow[x] {
			t.Fatalf("train image 0 row 14 = %v, want %v", row, wantRow)
		}
	}
	mean, std := train.ChannelStats()
	approx.Abs(t, "train pixel mean against numpy", mean[0], 72.94035223214286, 1e-9)
	if std[0] < 89 || std[0] > 91 {
		t.Errorf("train pixel std %v", std[0])
	}

	if _, err := os.Stat("/usr/bin/python3"); err == nil {
		out, err := exec.Command("/usr/bin/python3", "-c",
			"import gzip,sys;d=gzip.open(sys.argv[1]).read();print(d[8])",
			filepath.Join(DefaultFashionMNISTDir, "train-labels-idx1-ubyte.gz")).Output()
		if err == nil {
			if v, err := strconv.Atoi(strings.TrimSpace(string(out))); err != nil || v != train.Label(0) {
				t.Errorf("python reads first label %q, Go %d", out, train.Label(0))
			}
		}
	}
}
