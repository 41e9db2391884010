// A small time-series line chart on a canvas: a fixed window that ends
// now, filled areas, gaps where samples are missing, and a hover tip.

import { h } from './ui.js';
import { time } from './format.js';

export class LineChart {
  // series: [{key, label, color}]; fmt formats a value for axis and tip.
  constructor(series, { windowMs = 5 * 60 * 1000, gapMs = 10000, fmt = String } = {}) {
    this.series = series;
    this.windowMs = windowMs;
    this.gapMs = gapMs;
    this.fmt = fmt;
    this.points = [];
    this.canvas = h('canvas', { role: 'img', 'aria-label': 'message rates' });
    this.tip = h('div.chart-tip', { hidden: true });
    this.el = h('div.chart', this.canvas, this.tip);
    this.hover = null;
    this.resize = new ResizeObserver(() => this.draw());
    this.resize.observe(this.el);
    this.canvas.addEventListener('mousemove', (e) => { this.hover = e.offsetX; this.draw(); });
    this.canvas.addEventListener('mouseleave', () => { this.hover = null; this.draw(); });
  }

  set(points) {
    this.points = points || [];
    this.draw();
  }

  destroy() { this.resize.disconnect(); }

  draw() {
    const c = this.canvas;
    const w = c.clientWidth, hgt = c.clientHeight;
    if (!w || !hgt) return;
    const dpr = window.devicePixelRatio || 1;
    if (c.width !== Math.round(w * dpr) || c.height !== Math.round(hgt * dpr)) {
      c.width = Math.round(w * dpr);
      c.height = Math.round(hgt * dpr);
    }
    const g = c.getContext('2d');
    g.setTransform(dpr, 0, 0, dpr, 0, 0);
    g.clearRect(0, 0, w, hgt);
    const pad = { l: 52, r: 12, t: 10, b: 26 };
    const pw = w - pad.l - pad.r, ph = hgt - pad.t - pad.b;
    const end = this.points.length ? Math.max(Date.now(), this.points[this.points.length - 1].t) : Date.now();
    // The window grows with the history, from 20 samples up to windowMs,
    // so a fresh chart is not a sliver at the right edge.
    const all = this.points;
    let windowMs = this.windowMs;
    if (all.length > 1) {
      const step = (all[all.length - 1].t - all[0].t) / (all.length - 1);
      windowMs = Math.min(this.windowMs, Math.max(20 * step, 10000, end - all[0].t));
    }
    const start = end - windowMs;
    const pts = all.filter((p) => p.t >= start);
    let maxV = 0;
    for (const p of pts) for (const s of this.series) maxV = Math.max(maxV, p[s.key] || 0);
    const top = niceCeil(maxV || 1);
    const x = (t) => pad.l + ((t - start) / windowMs) * pw;
    const y = (v) => pad.t + ph - (v / top) * ph;

    // Grid and axes.
    g.font = '11px system-ui, sans-serif';
    g.textBaseline = 'middle';
    g.lineWidth = 1;
    for (let i = 0; i <= 4; i++) {
      const v = (top * i) / 4, yy = Math.round(y(v)) + 0.5;
      g.strokeStyle = i === 0 ? '#d3d9e4' : '#eef1f6';
      g.beginPath(); g.moveTo(pad.l, yy); g.lineTo(pad.l + pw, yy); g.stroke();
      g.fillStyle = '#98a2b3';
      g.textAlign = 'right';
      g.fillText(this.fmt(v), pad.l - 8, yy);
    }
    g.textAlign = 'center';
    g.textBaseline = 'top';
    const tick = [5e3, 10e3, 15e3, 30e3, 60e3, 120e3, 300e3].find((s) => windowMs / s <= 6) || 600e3;
    for (let t = Math.ceil(start / tick) * tick; t <= end; t += tick) {
      const xx = Math.round(x(t)) + 0.5;
      if (xx < pad.l + 12) continue;
      g.strokeStyle = '#f2f4f7';
      g.beginPath(); g.moveTo(xx, pad.t); g.lineTo(xx, pad.t + ph); g.stroke();
      g.fillStyle = '#98a2b3';
      g.fillText(tick < 60e3 ? time(t) : time(t).slice(0, 5), xx, pad.t + ph + 8);
    }

    // Series: split into runs where samples are contiguous.
    const runs = [];
    let run = [];
    for (const p of pts) {
      if (run.length && p.t - run[run.length - 1].t > this.gapMs) { runs.push(run); run = []; }
      run.push(p);
    }
    if (run.length) runs.push(run);
    for (const s of this.series) {
      for (const r of runs) {
        if (r.length === 1) {
          g.fillStyle = s.color;
          g.beginPath(); g.arc(x(r[0].t), y(r[0][s.key] || 0), 2.5, 0, Math.PI * 2); g.fill();
          continue;
        }
        const grad = g.createLinearGradient(0, pad.t, 0, pad.t + ph);
        grad.addColorStop(0, hexAlpha(s.color, 0.18));
        grad.addColorStop(1, hexAlpha(s.color, 0.01));
        g.beginPath();
        r.forEach((p, i) => (i ? g.lineTo(x(p.t), y(p[s.key] || 0)) : g.moveTo(x(p.t), y(p[s.key] || 0))));
        g.lineTo(x(r[r.length - 1].t), y(0));
        g.lineTo(x(r[0].t), y(0));
        g.closePath();
        g.fillStyle = grad;
        g.fill();
        g.beginPath();
        r.forEach((p, i) => (i ? g.lineTo(x(p.t), y(p[s.key] || 0)) : g.moveTo(x(p.t), y(p[s.key] || 0))));
        g.strokeStyle = s.color;
        g.lineWidth = 2;
        g.lineJoin = 'round';
        g.stroke();
      }
    }

    if (!pts.length) {
      g.fillStyle = '#98a2b3';
      g.textAlign = 'center';
      g.textBaseline = 'middle';
      g.font = '13px system-ui, sans-serif';
      g.fillText('Collecting samples…', pad.l + pw / 2, pad.t + ph / 2);
    }

    // Hover: the nearest sample.
    this.tip.hidden = true;
    if (this.hover !== null && pts.length) {
      let best = pts[0];
      for (const p of pts) if (Math.abs(x(p.t) - this.hover) < Math.abs(x(best.t) - this.hover)) best = p;
      const xx = x(best.t);
      g.strokeStyle = '#98a2b3';
      g.setLineDash([3, 3]);
      g.beginPath(); g.moveTo(xx, pad.t); g.lineTo(xx, pad.t + ph); g.stroke();
      g.setLineDash([]);
      for (const s of this.series) {
        g.fillStyle = '#fff';
        g.strokeStyle = s.color;
        g.lineWidth = 2;
        g.beginPath(); g.arc(xx, y(best[s.key] || 0), 3.5, 0, Math.PI * 2); g.fill(); g.stroke();
      }
      this.tip.textContent = time(best.t) + '  ·  ' + this.series.map((s) => `${s.label} ${this.fmt(best[s.key] || 0)}`).join('  ·  ');
      this.tip.style.left = xx + 'px';
      this.tip.style.top = y(Math.max(...this.series.map((s) => best[s.key] || 0))) + 'px';
      this.tip.hidden = false;
    }
  }
}

function niceCeil(v) {
  const p = Math.pow(10, Math.floor(Math.log10(v)));
  for (const m of [1, 2, 2.5, 5, 10]) if (v <= m * p) return m * p;
  return 10 * p;
}

function hexAlpha(hex, a) {
  const n = parseInt(hex.slice(1), 16);
  return `rgba(${(n >> 16) & 255}, ${(n >> 8) & 255}, ${n & 255}, ${a})`;
}
