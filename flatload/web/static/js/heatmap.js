// Completeness: a calendar heatmap per dataset, one cell per day its calendar expects (a session for stocks).
import { el, num } from "./api.js";

const LABELS = { flatfile: "flat file", rest: "REST", suspect: "suspect", failed: "failed", missing: "missing" };
const PLAIN = {
  flatfile: "loaded from the flat file",
  rest: "filled from the REST API (no flat file yet)",
  missing: "not loaded yet",
};
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

function calendar(section, info) {
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
    const cell = el("span", { class: "cell", tabindex: "0", role: "img", title: text, "aria-label": text,
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
    info.textContent = cell.title;
  };
  for (const type of ["mouseover", "focusin", "click"]) cal.addEventListener(type, show);
  return cal;
}

function counts(section) {
  const parts = Object.entries(section.counts).filter(([, n]) => n).map(([k, n]) => `${num(n)} ${LABELS[k] || k}`);
  return parts.join(" · ") || "no days in range";
}

/** Draw one heatmap per dataset section of a gaps document into ``container``. */
export function renderHeatmaps(doc, container, info) {
  container.replaceChildren();
  for (const section of doc.by_dataset) {
    const head = el("h3", {}, section.dataset, el("span", { class: "counts" }, counts(section)));
    const scroll = el("div", { class: "scroll" }, calendar(section, info));
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
