// The dashboard: wires the panels to the API and keeps them fresh (the followed job every second).
// URL parameters (README, "Dashboard"): dataset, start, end (the heatmap), symbol, date (the session chart).
// Without them the page opens on the store's loaded range and its latest loaded session (opening.js).
import { addMonths, api, isoDate } from "./api.js";
import { showSession } from "./chart.js";
import { latestLoaded, renderHeatmaps } from "./heatmap.js";
import { latestSession, loadedRange, openingSelection, openingSymbol } from "./opening.js";
import { ACTIVE, bindControls, renderJob, renderRecent } from "./runs.js";

const $ = (id) => document.getElementById(id);
const JOB_EVERY_MS = 1000;
const RECENT_EVERY_MS = 5000;
const params = new URLSearchParams(location.search);
const state = { following: null, lastRecent: 0, finished: new Set() };

function option(value, label) {
  const o = document.createElement("option");
  o.value = value;
  o.textContent = label;
  return o;
}

async function loadDatasets() {
  const doc = await api("/datasets");
  $("data-dir").textContent = doc.data_dir;
  const families = [...new Set(doc.datasets.map((d) => d.family))];
  const loaded = doc.datasets.filter((d) => d.loaded.days > 0).map((d) => d.name);
  const select = $("range-dataset");
  select.replaceChildren(...families.map((f) => option(f, f)), ...doc.datasets.map((d) => option(d.name, d.name)));
  if (loaded.length && !loaded.every((n) => n.startsWith("stocks/"))) {
    select.prepend(option(loaded.join(","), "all loaded"));
  }
  select.value = params.get("dataset") || openingSelection(doc, loaded);
  $("dataset-names").replaceChildren(...families.map((f) => option(f, f)),
                                     ...doc.datasets.map((d) => option(d.name, d.name)));
  return doc;
}

/** This page's URL with ``changes`` applied (a null or empty value drops the parameter). */
function pageUrl(changes, hash = "") {
  const url = new URL(location.href);
  for (const [k, v] of Object.entries(changes)) {
    if (v) url.searchParams.set(k, v);
    else url.searchParams.delete(k);
  }
  url.hash = hash;
  return url;
}

/** A heatmap day's link: the same page on that session's chart. */
const dayLink = {
  href: (date) => pageUrl({ date, symbol: $("chart-symbol").value.trim() }, "chart-card").href,
  open(date) {
    $("chart-date").value = date;
    const symbol = $("chart-symbol").value.trim();
    history.pushState({ date, symbol }, "", pageUrl({ date, symbol }));
    drawChart();
    $("chart-card").scrollIntoView({ block: "nearest" });
  },
};

async function loadGaps() {
  const query = { dataset: $("range-dataset").value, start: $("range-start").value, end: $("range-end").value };
  $("heatmaps").dataset.ready = "0";
  try {
    const doc = await api("/gaps", { query });
    renderHeatmaps(doc, $("heatmaps"), $("cell-info"), dayLink);
    $("range-start").value = doc.start;
    $("range-end").value = doc.end;
    for (const id of ["bf-start", "bf-end"]) if (!$(id).value) $(id).value = doc.end;
    const latest = latestLoaded(doc);
    if (!$("chart-date").value && latest) $("chart-date").value = latest;
  } catch (err) {
    $("heatmaps").replaceChildren(err.message);
    $("heatmaps").dataset.ready = "error";
  }
}

function drawChart() {
  const symbol = $("chart-symbol").value.trim();
  const date = $("chart-date").value;
  if (symbol && date) showSession($("chart"), $("chart-legend"), $("chart-message"), symbol, date);
}

async function refreshRecent() {
  state.lastRecent = Date.now();
  const doc = await api("/backfill/recent", { query: { limit: 10 } });
  renderRecent(doc);
  const active = doc.jobs.find((j) => ACTIVE.includes(j.status));
  if (active && state.following !== active.job_id) follow(active.job_id);
  else if (!state.following && doc.jobs.length && $("job").dataset.status === "none") renderJob(doc.jobs[0]);
}

async function pollJob() {
  const id = state.following;
  if (!id) return;
  const job = await api(`/backfill/status/${encodeURIComponent(id)}`);
  if (state.following !== id) return;
  renderJob(job);
  if (!ACTIVE.includes(job.status)) {
    state.following = null;
    state.finished.add(id);
    await refreshRecent();
    await loadGaps();
  }
}

function follow(jobId) {
  if (state.finished.has(jobId)) return;
  state.following = jobId;
  pollJob().catch(() => {});
}

async function tick() {
  try {
    await pollJob();
    if (Date.now() - state.lastRecent >= RECENT_EVERY_MS) await refreshRecent();
  } catch (err) {
    $("live").textContent = `offline: ${err.message}`;
  } finally {
    setTimeout(tick, state.following ? JOB_EVERY_MS : Math.min(JOB_EVERY_MS * 2, RECENT_EVERY_MS));
  }
}

function bindRange() {
  $("range-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const url = new URL(location.href);
    for (const k of ["dataset", "start", "end"]) url.searchParams.set(k, $(`range-${k}`).value);
    history.replaceState(history.state, "", url); // the chart's session stays what Back returns to
    loadGaps();
  });
  for (const b of document.querySelectorAll(".presets button")) {
    b.addEventListener("click", () => {
      const end = $("range-end").value || isoDate(new Date());
      $("range-end").value = end;
      $("range-start").value = addMonths(end, -Number(b.dataset.months));
      $("range-form").requestSubmit();
    });
  }
  $("range-dataset").addEventListener("change", () => $("range-form").requestSubmit());
}

/** The heatmap's range and the chart's session from the URL, else from what the store holds. */
async function opening(datasetsDoc) {
  const [start, end] = [params.get("start"), params.get("end")];
  const range = datasetsDoc && loadedRange(datasetsDoc, $("range-dataset").value);
  if (start || end) { // the URL's range; without an end the server takes the latest complete day
    $("range-start").value = start || addMonths(end, -6);
    $("range-end").value = end || "";
  } else if (range) {
    $("range-start").value = range.start;
    $("range-end").value = range.end;
  } else { // nothing loaded yet: the last six months, for a first backfill
    $("range-start").value = addMonths(isoDate(new Date()), -6);
    $("range-end").value = "";
  }
  const date = params.get("date") || (datasetsDoc && latestSession(datasetsDoc));
  if (date) $("chart-date").value = date; // else loadGaps picks the latest loaded day in range
  if (params.get("symbol")) $("chart-symbol").value = params.get("symbol");
  else if (date) $("chart-symbol").value = await openingSymbol(date).catch(() => $("chart-symbol").value);
}

async function main() {
  bindRange();
  bindControls(follow);
  $("chart-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const shown = { symbol: $("chart-symbol").value.trim(), date: $("chart-date").value };
    history.replaceState(shown, "", pageUrl(shown));
    drawChart();
  });
  window.addEventListener("popstate", (event) => { // back (or forward) over a day opened from the heatmap
    if (!event.state) return;
    $("chart-date").value = event.state.date;
    $("chart-symbol").value = event.state.symbol;
    drawChart();
  });
  const datasetsDoc = await loadDatasets().catch((err) => { $("data-dir").textContent = err.message; });
  await opening(datasetsDoc);
  await loadGaps();
  history.replaceState({ date: $("chart-date").value, symbol: $("chart-symbol").value.trim() }, "");
  drawChart();
  tick();
}

main();
