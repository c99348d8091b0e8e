// One symbol's session: minute candles (pre-market and after-hours shaded), the journal's levels, volume below.
// Drawn with TradingView's Lightweight Charts (vendored: static/vendor/lightweight-charts/).
import { api, num } from "./api.js";

const NY = "America/New_York";
const HM = new Intl.DateTimeFormat("en-US", { timeZone: NY, hour: "2-digit", minute: "2-digit", hourCycle: "h23" });
const FULL = new Intl.DateTimeFormat("en-US", { timeZone: NY, month: "short", day: "numeric", hour: "2-digit",
                                               minute: "2-digit", hourCycle: "h23" });
const UP = "#2e9d5b";
const DOWN = "#d64545";
const SHADE = "rgba(128, 138, 160, 0.16)";
// the journal's levels: name, colour, dashed (2) or dotted (1)
const LEVELS = [["pre_high", "#7c3aed", 2], ["pre_low", "#7c3aed", 2], ["hod", UP, 2], ["lod", DOWN, 2],
                ["ah_high", "#0284c7", 1], ["ah_low", "#0284c7", 1]];

let chart = null;
let series = null;
let lines = [];

function create(container, legend) {
  const LW = window.LightweightCharts;
  const muted = getComputedStyle(document.documentElement).getPropertyValue("--muted").trim() || "#667085";
  chart = LW.createChart(container, {
    autoSize: true,
    layout: { background: { color: "transparent" }, textColor: muted, fontSize: 11 },
    grid: { vertLines: { visible: false }, horzLines: { color: "rgba(128, 128, 128, 0.15)" } },
    rightPriceScale: { borderVisible: false },
    timeScale: { borderVisible: false, timeVisible: true, secondsVisible: false,
                 tickMarkFormatter: (t) => HM.format(new Date(t * 1000)) },
    localization: { timeFormatter: (t) => FULL.format(new Date(t * 1000)) },
  });
  // a full-height histogram on a hidden scale of its own paints the extended-hours background
  const shade = chart.addSeries(LW.HistogramSeries, { priceScaleId: "shade", priceLineVisible: false,
                                                      lastValueVisible: false, color: SHADE });
  chart.priceScale("shade").applyOptions({ visible: false, scaleMargins: { top: 0, bottom: 0 } });
  const candles = chart.addSeries(LW.CandlestickSeries, { upColor: UP, downColor: DOWN, borderVisible: false,
                                                          wickUpColor: UP, wickDownColor: DOWN });
  const volume = chart.addSeries(LW.HistogramSeries, { priceFormat: { type: "volume" }, priceLineVisible: false,
                                                       lastValueVisible: false }, 1);
  chart.panes()[0].setStretchFactor(3);
  chart.panes()[1].setStretchFactor(1);
  series = { shade, candles, volume };
  chart.subscribeCrosshairMove((param) => {
    const bar = param.seriesData && param.seriesData.get(candles);
    const vol = param.seriesData && param.seriesData.get(volume);
    if (bar) legend.textContent = `${FULL.format(new Date(param.time * 1000))}  O ${bar.open}  H ${bar.high}  ` +
      `L ${bar.low}  C ${bar.close}  V ${num(vol ? vol.value : 0)}`;
  });
}

function levels(row) {
  for (const line of lines) series.candles.removePriceLine(line);
  lines = [];
  for (const [name, color, style] of LEVELS) {
    const price = row ? row[name] : null;
    if (price === null || price === undefined) continue;
    lines.push(series.candles.createPriceLine({ price, color, lineWidth: 1, lineStyle: style,
                                                axisLabelVisible: true, title: name }));
  }
  return lines.length;
}

function clear() {
  for (const s of Object.values(series)) s.setData([]);
  levels(null);
}

/** Draw ``symbol`` on session ``date`` (YYYY-MM-DD); the container's data-ready becomes 1 (or "error"). */
export async function showSession(container, legend, messageEl, symbol, date) {
  if (!window.LightweightCharts) {
    messageEl.textContent = "The chart library did not load.";
    container.dataset.ready = "error";
    return;
  }
  if (!chart) create(container, legend);
  container.dataset.ready = "0";
  messageEl.textContent = "";
  try {
    const query = { symbol, start: date, end: date, every: "1m", session: "all" };
    const [doc, journal] = await Promise.all([api("/bars", { query }),
                                              api("/journal", { query: { symbol, start: date, end: date } })]);
    const session = doc.sessions[0];
    const extended = (t) => session && (t < session.open || t >= session.close);
    series.candles.setData(doc.bars.map((b) => ({ time: b.time, open: b.open, high: b.high, low: b.low,
                                                  close: b.close })));
    series.volume.setData(doc.bars.map((b) => ({ time: b.time, value: b.volume ?? 0,
                                                 color: b.close >= b.open ? `${UP}99` : `${DOWN}99` })));
    series.shade.setData(doc.bars.map((b) => (extended(b.time) ? { time: b.time, value: 1 } : { time: b.time })));
    const row = journal.rows[0] || null;
    const n = levels(row);
    chart.timeScale().fitContent();
    legend.textContent = `${symbol} · ${date}` + (session && session.early_close ? " (early close)" : "") +
      ` · ${num(doc.count)} minute bars` + (row ? ` · day volume ${num(row.day_volume)}` : " · no journal row");
    Object.assign(container.dataset, { ready: "1", bars: String(doc.count), levels: String(n), symbol, date });
  } catch (err) {
    clear();
    messageEl.textContent = err.message;
    container.dataset.ready = "error";
  }
}
