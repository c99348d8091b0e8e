// Where the page opens when its URL does not say: on what the store holds, not on the calendar's today.
// (A store of 2024 data opened on "the six months before today" showed only grey days and no chart.)
import { addMonths, api } from "./api.js";

/** The longest range the heatmap opens on by itself, in months before the latest loaded day. */
const OPEN_MONTHS = 12;
/** The chart's symbol when the URL names none, if the store has it that day. */
const FIRST_CHOICE = "SPY";

function chosen(datasetsDoc, selection) {
  const names = (selection || "").split(",");
  return datasetsDoc.datasets.filter((d) => names.includes(d.name) || names.includes(d.family));
}

/** The loaded range of the selected datasets (a family, a name, or names joined by commas): from the first
 *  day loaded (at most OPEN_MONTHS before the last) to the last one; null when none is loaded. */
export function loadedRange(datasetsDoc, selection) {
  const loaded = chosen(datasetsDoc, selection).map((d) => d.loaded).filter((l) => l.days > 0 && l.last);
  if (!loaded.length) return null;
  const end = loaded.map((l) => l.last).sort().pop();
  const first = loaded.map((l) => l.first).sort()[0];
  const start = [first, addMonths(end, -OPEN_MONTHS)].sort().pop(); // ISO dates sort as dates: the later one
  return { start, end };
}

/** The latest session the chart can draw (stocks minute bars loaded), or null. */
export function latestSession(datasetsDoc) {
  const minute = datasetsDoc.datasets.find((d) => d.name === "stocks/minute_aggs");
  return (minute && minute.loaded.days > 0 && minute.loaded.last) || null;
}

/** Which dataset selection the page opens on: stocks, unless the store holds other datasets only. */
export function openingSelection(datasetsDoc, loadedNames) {
  const stocksLoaded = chosen(datasetsDoc, "stocks").some((d) => d.loaded.days > 0);
  return stocksLoaded || !loadedNames.length ? "stocks" : loadedNames.join(",");
}

/** SPY when the journal has it on ``date``, else the journal's first symbol that day, else SPY. */
export async function openingSymbol(date) {
  const spy = await api("/journal", { query: { symbol: FIRST_CHOICE, start: date, end: date, limit: 1 } });
  if (spy.rows.length) return FIRST_CHOICE;
  const any = await api("/journal", { query: { start: date, end: date, limit: 1 } });
  return any.rows.length ? any.rows[0].symbol : FIRST_CHOICE;
}
