package bench

import (
	"errors"
	"fmt"
	"image/color"
	"os"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// writePlot draws the server's RSS and, when they were sampled, its
// goroutines over the minutes of a soak, one chart above the other, as a
// PNG file.
func writePlot(file string, samples []sample) error {
	var rss, goroutines plotter.XYs
	for _, s := range samples {
		x := s.elapsed.Minutes()
		if s.rss >= 0 {
			rss = append(rss, plotter.XY{X: x, Y: float64(s.rss) / (1 << 20)})
		}
		if s.goroutines >= 0 {
			goroutines = append(goroutines, plotter.XY{X: x, Y: float64(s.goroutines)})
		}
	}
	var charts [][]*plot.Plot
	for _, c := range []struct {
		title, unit string
		xys         plotter.XYs
		color       color.Color
	}{
		{"server RSS", "MiB", rss, color.RGBA{R: 0x1f, G: 0x77, B: 0xb4, A: 0xff}},
		{"server goroutines", "goroutines", goroutines, color.RGBA{R: 0xd6, G: 0x27, B: 0x28, A: 0xff}},
	} {
		if len(c.xys) == 0 {
			continue
		}
		p := plot.New()
		p.Title.Text = c.title
		p.X.Label.Text = "minutes"
		p.Y.Label.Text = c.unit
		p.Y.Min = 0
		line, err := plotter.NewLine(c.xys)
		if err != nil {
			return fmt.Errorf("plot: %w", err)
		}
		line.Color = c.color
		line.Width = vg.Points(1.5)
		p.Add(plotter.NewGrid(), line)
		charts = append(charts, []*plot.Plot{p})
	}
	if len(charts) == 0 {
		return errors.New("plot: no RSS or goroutines were sampled")
	}
	const width, height = 20 * vg.Centimeter, 9 * vg.Centimeter
	img := vgimg.NewWith(vgimg.UseWH(width, height*vg.Length(len(charts))), vgimg.UseDPI(96))
	tiles := draw.Tiles{Rows: len(charts), Cols: 1, PadY: 4 * vg.Millimeter, PadTop: 2 * vg.Millimeter,
		PadBottom: 2 * vg.Millimeter, PadLeft: 2 * vg.Millimeter, PadRight: 4 * vg.Millimeter}
	dc := draw.New(img)
	canvases := plot.Align(charts, tiles, dc)
	for i := range charts {
		charts[i][0].Draw(canvases[i][0])
	}
	f, err := os.Create(file)
	if err != nil {
		return fmt.Errorf("plot: %w", err)
	}
	if _, err := (vgimg.PngCanvas{Canvas: img}).WriteTo(f); err != nil {
		_ = f.Close()
		return fmt.Errorf("plot: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("plot: %w", err)
	}
	return nil
}
