// Time-series charts with uPlot (vendored in web/vendor/uplot, loaded as the global uPlot by
// index.html). Times are UTC, as the summary's buckets are.

import { h } from './dom.js';

const tzDate = (ts) => uPlot.tzDate(new Date(ts * 1000), 'Etc/UTC');

// A bucket's start as "2026-12-07" (days) or "2026-12-07 13:00" (hours).
export function utcLabel(ts, step) {
    return new Date(ts * 1000).toISOString().slice(0, step < 86400 ? 16 : 10).replace('T', ' ');
}

const MONTHS = 'Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec'.split(' ');

// An x tick: "Dec 7" at midnight UTC (or on day charts), else "13:00".
function tickLabel(ts, step) {
    const d = new Date(ts * 1000);
    if (step >= 86400 || (d.getUTCHours() === 0 && d.getUTCMinutes() === 0)) return `${MONTHS[d.getUTCMonth()]} ${d.getUTCDate()}`;
    return String(d.getUTCHours()).padStart(2, '0') + ':' + String(d.getUTCMinutes()).padStart(2, '0');
}

// The colours come from CSS custom properties, so the stylesheet owns them.
function cssVar(name, fallback) {
    const v = getComputedStyle(document.documentElement).getPropertyValue(name).trim();
    return v || fallback;
}

// A chart of one or more series over time. xs: epoch seconds; series: [{label, values, kind:
// 'bars'|'line', scale, fmt}]. Returns a node holding the chart; it follows its width.
export function timeChart(title, xs, series, { height = 220, step = 86400 } = {}) {
    const box = h('div.chart');
    const wrap = h('figure.chart-fig', h('figcaption', title), box);
    const colors = [cssVar('--c1', '#2563eb'), cssVar('--c2', '#dc2626'), cssVar('--c3', '#059669')];
    const barPaths = uPlot.paths && uPlot.paths.bars ? uPlot.paths.bars({ size: [0.7, 60] }) : undefined;
    const scales = { x: { time: true, range: (u, min, max) => [min - step / 2, max + step / 2] } };
    const axes = [{
        stroke: cssVar('--fg-muted', '#555'),
        grid: { stroke: cssVar('--grid', '#e5e7eb') },
        values: (u, splits) => splits.map((ts) => tickLabel(ts, step)),
    }];
    for (const s of series) {
        const scale = s.scale || 'y';
        if (!scales[scale]) {
            scales[scale] = { range: (u, min, max) => [0, max > 0 ? max * 1.1 : 1] };
            axes.push({
                scale,
                side: axes.length === 1 ? 3 : 1,
                stroke: cssVar('--fg-muted', '#555'),
                grid: { show: axes.length === 1, stroke: cssVar('--grid', '#e5e7eb') },
                values: (u, vals) => vals.map((v) => (s.fmt ? s.fmt(v) : String(v))),
                // Wide enough for the longest label (about 7.5 px a character, plus the ticks).
                size: (u, vals) => (vals ? Math.max(...vals.map((v) => String(v).length)) : 4) * 7.5 + 18,
            });
        }
    }
    const opts = {
        width: 600,
        height,
        tzDate,
        scales,
        axes,
        legend: { live: true },
        cursor: { drag: { x: false, y: false } },
        series: [
            { value: (u, v) => (v == null ? '—' : utcLabel(v, step)) },
            ...series.map((s, i) => ({
                label: s.label,
                scale: s.scale || 'y',
                stroke: colors[i % colors.length],
                fill: s.kind === 'bars' ? colors[i % colors.length] + '99' : undefined,
                width: s.kind === 'bars' ? 1 : 2,
                paths: s.kind === 'bars' ? barPaths : undefined,
                points: { show: s.kind !== 'bars' },
                value: (u, v) => (v == null ? '—' : s.fmt ? s.fmt(v) : v),
            })),
        ],
    };
    const plot = new uPlot(opts, [xs, ...series.map((s) => s.values)], box);
    const fit = () => {
        const w = Math.max(260, Math.floor(box.clientWidth));
        if (w && w !== plot.width) plot.setSize({ width: w, height });
    };
    new ResizeObserver(fit).observe(box);
    requestAnimationFrame(fit);
    return wrap;
}
