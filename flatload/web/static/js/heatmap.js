// Completeness: a calendar heatmap per dataset, one cell per day its calendar expects (a session for stocks).
// A day the session chart can draw (stocks minute bars loaded) is a link to it (?date=…#chart-card); the page
// opens it in place.
import { el, num } from "./api.js";

const LABELS = { flatfile: "flat file", rest: "REST", suspect: "suspect", failed: "failed", missing: "missing" };
const PLAIN = {
  flatfile: "loaded from the flat file",
  rest: "filled from the REST API (no flat file yet)",
  missing: "not loaded yet",
};
/** The dataset the session chart draws, and its states that hold bars to draw. */
const CHART_DATASET = "stocks/minute_aggs";
const CHARTABLE = new Set(["flatfile", "rest"]);
const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
const DAY_MS = 86400000;

function parse(iso) {
  return new Date(`${iso}T00:00:00Z`);
}

function weekday(d) {
  return (d.getUTCDay() + 6) % 7; // Monday = 0
}

function reasons(section) {
  const out = {};
  for (const f of section.failed || []) out[f.date] = f.reason;
  for (const s of section.suspect || []) out[s.date] = s.reason;
  return out;
}

function describe(dataset, date, state, reason) {
  const why = reason || PLAIN[state] || "";
  return `${date} · ${dataset} · ${LABELS[state] || state}${why ? `: ${why}` : ""}`;
}

function plainClick(event) {
  return event.button === 0 && !(event.metaKey || event.ctrlKey || event.shiftKey || event.altKey);
}

function calendar(section, info, link) {
  const dates = Object.keys(section.days).sort();
  const cal = el("div", { class: "cal", role: "group", "aria-label": `${section.dataset} days` });
  if (!dates.length) return cal;
  const first = parse(dates[0]);
  const monday0 = first.getTime() - weekday(first) * DAY_MS;
  const rows = [...new Set(dates.map((d) => weekday(parse(d))))].sort();
  const why = reasons(section);
  const labels = [];
  for (const date of dates) {
    const d = parse(date);
    const col = Math.floor((d.getTime() - monday0) / (7 * DAY_MS)) + 1;
    const month = d.getUTCMonth();
    if (!labels.length || labels[labels.length - 1].month !== month) labels.push({ month, col });
    const state = section.days[date];
    const text = describe(section.dataset, date, state, why[date]);
    const linked = link && link.chartable.has(date);
    const cell = linked
      ? el("a", { class: "cell", href: link.href(date), title: `${text} · open its session chart`,
                  "aria-label": `${text}: open its session chart`, dataset: { date, state } })
      : el("span", { class: "cell", tabindex: "0", role: "img", title: text, "aria-label": text,
                     dataset: { date, state } });
    cell.style.gridColumn = String(col);
    cell.style.gridRow = String(rows.indexOf(weekday(d)) + 2);
    cal.append(cell);
  }
  // a month label needs three columns: one squeezed by the next month's (a range starting late in a month) goes
  labels.forEach((l, i) => {
    if (i + 1 < labels.length && labels[i + 1].col - l.col < 3) return;
    const label = el("span", { class: "month" }, MONTHS[l.month]);
    label.style.gridColumn = `${l.col} / span 3`;
    cal.append(label);
  });
  const show = (event) => {
    const cell = event.target.closest(".cell");
    if (!cell) return;
    cal.querySelectorAll(".cell.selected").forEach((c) => c.classList.remove("selected"));
    cell.classList.add("selected");
    info.textContent = describe(section.dataset, cell.dataset.date, cell.dataset.state, why[cell.dataset.date]);
    if (event.type === "click" && cell.tagName === "A" && plainClick(event)) {
      event.preventDefault(); // the page draws the session in place (a modified click opens a new tab)
      link.open(cell.dataset.date);
    }
  };
  for (const type of ["mouseover", "focusin", "click"]) cal.addEventListener(type, show);
  return cal;
}

function counts(section) {
  const parts = Object.entries(section.counts).filter(([, n]) => n).map(([k, n]) => `${num(n)} ${LABELS[k] || k}`);
  return parts.join(" · ") || "no days in range";
}

/** Draw one heatmap per dataset section of a gaps document into ``container``. ``link``: ``{href(date),
 *  open(date)}`` makes each day with data a link to its session chart (``open`` shows it in place). */
export function renderHeatmaps(doc, container, info, link = null) {
  container.replaceChildren();
  const minute = doc.by_dataset.find((s) => s.dataset === CHART_DATASET);
  const chartable = new Set(Object.entries(minute ? minute.days : {}).filter(([, st]) => CHARTABLE.has(st))
    .map(([d]) => d));
  link = link && { ...link, chartable };
  for (const section of doc.by_dataset) {
    const head = el("h3", {}, section.dataset, el("span", { class: "counts" }, counts(section)));
    const scroll = el("div", { class: "scroll" }, calendar(section, info, link));
    container.append(el("div", { class: "heatmap", dataset: { dataset: section.dataset } }, head, scroll));
  }
  if (doc.note) container.append(el("p", { class: "muted small" }, doc.note));
  container.dataset.ready = "1";
  container.dataset.sessions = String(doc.sessions);
}

/** The latest day that some dataset has loaded (for the chart's default date), or null. */
export function latestLoaded(doc) {
  const loaded = Object.entries(doc.days).filter(([, s]) => s === "flatfile" || s === "rest").map(([d]) => d);
  return loaded.sort().pop() || null;
}
