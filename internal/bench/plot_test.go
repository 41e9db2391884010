package bench

import (
	"image/png"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestWritePlot(t *testing.T) {
	dir := t.TempDir()
	var samples []sample
	for i := range 20 {
		samples = append(samples, sample{elapsed: time.Duration(i) * 15 * time.Second, rss: int64(40+i) << 20,
			goroutines: int64(100 + i*i%7), openFiles: -1, storeBytes: -1})
	}
	height := func(name string, samples []sample) int {
		t.Helper()
		file := filepath.Join(dir, name)
		if err := writePlot(file, samples); err != nil {
			t.Fatal(err)
		}
		f, err := os.Open(file)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		img, err := png.Decode(f)
		if err != nil {
			t.Fatal(err)
		}
		return img.Bounds().Dy()
	}
	both := height("both.png", samples)
	for i := range samples {
		samples[i].goroutines = -1
	}
	rssOnly := height("rss.png", samples)
	if both < 2*rssOnly-2 || rssOnly < 100 {
		t.Errorf("heights %d with goroutines, %d without: want two charts and one", both, rssOnly)
	}
	for i := range samples {
		samples[i].rss = -1
	}
	if err := writePlot(filepath.Join(dir, "none.png"), samples); err == nil {
		t.Error("a plot of nothing")
	}
}
