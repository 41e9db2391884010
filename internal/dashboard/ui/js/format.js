// Number, size, time and message-body formatting.

const nf = new Intl.NumberFormat('en-US');

export function num(n) {
  if (n === undefined || n === null || Number.isNaN(n)) return '—';
  return nf.format(n);
}

// compact: 1234 → 1.2k, 3400000 → 3.4M.
export function compact(n) {
  if (n === undefined || n === null) return '—';
  const a = Math.abs(n);
  if (a < 1000) return nf.format(Math.round(n * 10) / 10);
  const units = ['k', 'M', 'G', 'T'];
  let v = n, i = -1;
  while (Math.abs(v) >= 1000 && i < units.length - 1) { v /= 1000; i++; }
  return (Math.abs(v) < 10 ? v.toFixed(1) : Math.round(v)) + units[i];
}

export function bytes(n) {
  if (n === undefined || n === null) return '—';
  if (n < 1024) return n + ' B';
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n / 1024, i = 0;
  while (v >= 1024 && i < units.length - 1) { v /= 1024; i++; }
  return (v < 10 ? v.toFixed(1) : Math.round(v)) + ' ' + units[i];
}

export function rate(n) {
  if (!n) return '0/s';
  return (n < 10 ? (Math.round(n * 10) / 10) : compact(n)) + '/s';
}

export function time(t) {
  if (!t) return '—';
  const d = new Date(t);
  return d.toLocaleTimeString('en-GB', { hour12: false });
}

export function dateTime(t) {
  if (!t) return '—';
  const d = new Date(t);
  const pad = (x) => String(x).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

export function ago(t) {
  if (!t) return 'never';
  const s = Math.round((Date.now() - new Date(t).getTime()) / 1000);
  if (s < 5) return 'just now';
  if (s < 60) return s + ' s ago';
  if (s < 3600) return Math.floor(s / 60) + ' min ago';
  if (s < 86400) return Math.floor(s / 3600) + ' h ago';
  return Math.floor(s / 86400) + ' d ago';
}

export function duration(ms) {
  let s = Math.max(0, Math.floor(ms / 1000));
  const d = Math.floor(s / 86400); s -= d * 86400;
  const h = Math.floor(s / 3600); s -= h * 3600;
  const m = Math.floor(s / 60); s -= m * 60;
  if (d) return `${d}d ${h}h ${m}m`;
  if (h) return `${h}h ${m}m`;
  if (m) return `${m}m ${s}s`;
  return `${s}s`;
}

// Bodies travel as base64. decodeBody tells text from binary.
export function decodeBody(b64) {
  const bin = atob(b64 || '');
  const u8 = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) u8[i] = bin.charCodeAt(i);
  let text = null;
  try { text = new TextDecoder('utf-8', { fatal: true }).decode(u8); } catch { text = null; }
  if (text !== null && /[\u0000-\u0008\u000e-\u001f]/.test(text)) text = null;
  let pretty = null;
  if (text !== null && /^\s*[[{]/.test(text)) {
    try { pretty = JSON.stringify(JSON.parse(text), null, 2); } catch { pretty = null; }
  }
  return { size: u8.length, text, pretty, hex: text === null ? hexDump(u8) : null };
}

export function bodyPreview(b64, max = 120) {
  const b = decodeBody(b64);
  if (b.size === 0) return '(empty)';
  if (b.text === null) return `(${b.size} bytes of binary)`;
  const t = b.text.replace(/\s+/g, ' ');
  return t.length > max ? t.slice(0, max) + '…' : t;
}

function hexDump(u8) {
  const lines = [];
  const n = Math.min(u8.length, 4096);
  for (let off = 0; off < n; off += 16) {
    const row = Array.from(u8.slice(off, Math.min(off + 16, n)));
    const hex = row.map((b) => b.toString(16).padStart(2, '0')).join(' ');
    const asc = row.map((b) => (b >= 32 && b < 127 ? String.fromCharCode(b) : '.')).join('');
    lines.push(off.toString(16).padStart(6, '0') + '  ' + hex.padEnd(48) + ' ' + asc);
  }
  if (u8.length > n) lines.push(`… ${u8.length - n} more bytes`);
  return lines.join('\n');
}

export function encodeText(s) {
  const u8 = new TextEncoder().encode(s);
  let bin = '';
  for (let i = 0; i < u8.length; i += 0x8000) bin += String.fromCharCode.apply(null, u8.subarray(i, i + 0x8000));
  return btoa(bin);
}

// parseTags reads "key=value" pairs, one a line or separated by commas.
export function parseTags(text) {
  const tags = {};
  for (const part of text.split(/[\n,]/)) {
    const item = part.trim();
    if (!item) continue;
    const i = item.indexOf('=');
    if (i <= 0) throw new Error(`tag "${item}" is not key=value`);
    tags[item.slice(0, i).trim()] = item.slice(i + 1).trim();
  }
  return tags;
}

export const typeNames = {
  queues: 'Queues',
  events: 'Events',
  events_store: 'Events store',
  commands: 'Commands',
  queries: 'Queries',
};

export const typeName = (t) => typeNames[t] || t;
