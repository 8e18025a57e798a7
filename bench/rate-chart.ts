import type { RateSeries } from './emulator-sampler.js';

/** What the chart shows around the series. */
export interface RateChartOptions {
  readonly title: string;
  /** The account's quota (a dashed line). */
  readonly quota: number;
  /** The exporter's configured rate (a dotted line). */
  readonly configured: number;
}

const WIDTH = 900;
const HEIGHT = 360;
const PAD = { left: 50, right: 20, top: 40, bottom: 70 };

/**
 * Calls per second over time as a standalone SVG (no dependencies): the exporter's and the app's
 * answered calls, the app's throttled calls, the app's bursts shaded, the quota and the configured
 * rate as lines.
 */
export function rateChart(series: RateSeries, options: RateChartOptions): string {
  const seconds = series.exporter.length;
  const top = Math.ceil((options.quota + 5) / 5) * 5;
  const x = (t: number) => PAD.left + (t / Math.max(1, seconds)) * (WIDTH - PAD.left - PAD.right);
  const y = (v: number) => HEIGHT - PAD.bottom - (v / top) * (HEIGHT - PAD.top - PAD.bottom);
  const path = (values: readonly number[]) => values.map((v, t) => `${t === 0 ? 'M' : 'L'}${x(t + 0.5).toFixed(1)},${y(v).toFixed(1)}`).join(' ');
  const parts: string[] = [];
  parts.push(`<rect width="${WIDTH}" height="${HEIGHT}" fill="white"/>`);
  for (const [from, to] of series.bursts) {
    parts.push(`<rect x="${x(from).toFixed(1)}" y="${PAD.top}" width="${(x(to) - x(from)).toFixed(1)}" height="${HEIGHT - PAD.top - PAD.bottom}" fill="#fde8c8"/>`);
  }
  for (let v = 0; v <= top; v += 5) {
    parts.push(`<line x1="${PAD.left}" x2="${WIDTH - PAD.right}" y1="${y(v)}" y2="${y(v)}" stroke="#eee"/>`);
    parts.push(`<text x="${PAD.left - 6}" y="${y(v) + 4}" text-anchor="end" font-size="11">${v}</text>`);
  }
  const step = seconds > 120 ? 30 : 10;
  for (let t = 0; t <= seconds; t += step) {
    parts.push(`<text x="${x(t)}" y="${HEIGHT - PAD.bottom + 16}" text-anchor="middle" font-size="11">${t}</text>`);
  }
  parts.push(`<text x="${(PAD.left + WIDTH - PAD.right) / 2}" y="${HEIGHT - PAD.bottom + 32}" text-anchor="middle" font-size="12">seconds</text>`);
  parts.push(`<text x="14" y="${(PAD.top + HEIGHT - PAD.bottom) / 2}" text-anchor="middle" font-size="12" transform="rotate(-90 14 ${(PAD.top + HEIGHT - PAD.bottom) / 2})">calls/s</text>`);
  parts.push(`<line x1="${PAD.left}" x2="${WIDTH - PAD.right}" y1="${y(options.quota)}" y2="${y(options.quota)}" stroke="#444" stroke-dasharray="6 4"/>`);
  parts.push(`<line x1="${PAD.left}" x2="${WIDTH - PAD.right}" y1="${y(options.configured)}" y2="${y(options.configured)}" stroke="#1f77b4" stroke-dasharray="2 3"/>`);
  const lines: [string, readonly number[], string][] = [
    ['exporter, answered', series.exporter, '#1f77b4'],
    ['app, answered', series.app, '#2ca02c'],
    ['app, throttled', series.appThrottled, '#d62728'],
    ['exporter, throttled', series.exporterThrottled, '#9467bd'],
  ];
  for (const [, values, color] of lines) parts.push(`<path d="${path(values)}" fill="none" stroke="${color}" stroke-width="1.6"/>`);
  parts.push(`<text x="${PAD.left}" y="22" font-size="14" font-weight="bold">${escape(options.title)}</text>`);
  const legend: [string, string, string][] = [
    ...lines.map(([label, , color]): [string, string, string] => [label, color, '']),
    [`quota ${options.quota}/s`, '#444', '6 4'],
    [`configured ${options.configured}/s`, '#1f77b4', '2 3'],
    ['app bursting', '#fde8c8', 'box'],
  ];
  legend.forEach(([label, color, dash], i) => {
    const lx = PAD.left + (i % 4) * 200;
    const ly = HEIGHT - 22 + Math.floor(i / 4) * 14 - 6;
    if (dash === 'box') parts.push(`<rect x="${lx}" y="${ly - 8}" width="18" height="10" fill="${color}"/>`);
    else parts.push(`<line x1="${lx}" x2="${lx + 18}" y1="${ly - 3}" y2="${ly - 3}" stroke="${color}" stroke-width="2"${dash ? ` stroke-dasharray="${dash}"` : ''}/>`);
    parts.push(`<text x="${lx + 24}" y="${ly + 1}" font-size="11">${escape(label)}</text>`);
  });
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${HEIGHT}" viewBox="0 0 ${WIDTH} ${HEIGHT}" font-family="sans-serif">\n${parts.join('\n')}\n</svg>\n`;
}

function escape(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}
