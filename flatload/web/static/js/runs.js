// Runs: the job being followed (live progress), the start/stop form, recent runs and failed days.
import { api, ApiError, duration, el, mbps, num, setToken, token, when } from "./api.js";

const $ = (id) => document.getElementById(id);
export const ACTIVE = ["queued", "running"];

function errorItem(text, next) {
  return el("li", {}, text, next ? el("span", { class: "next" }, `next: ${next}`) : null);
}

/** Show a job's status document in the Backfill panel. */
export function renderJob(job) {
  const box = $("job");
  const active = ACTIVE.includes(job.status);
  box.dataset.status = job.status;
  box.dataset.jobId = job.job_id;
  const args = job.arguments || {};
  const span = args.start ? `${args.start} → ${args.end}` : args.date ? `refresh ${args.date}` : job.command;
  $("job-title").textContent = `${active ? "Running" : "Last run"}: ${span}`;
  $("job-title").title = job.job_id;
  const badge = $("job-status");
  badge.textContent = job.status;
  badge.dataset.status = job.status;
  const pct = job.progress_pct ?? 0;
  const bar = $("job-progress");
  bar.value = pct;
  bar.dataset.pct = String(pct);
  bar.title = `${pct} %`;
  const eta = active ? ` · ETA ${duration(job.eta_s)}` : "";
  $("job-stats").textContent = `${pct.toFixed(1)} % · ${num(job.days_done)}/${num(job.days_total)} days` +
    (job.days_failed ? ` (${num(job.days_failed)} failed)` : "") +
    ` · ${num(job.rows_per_s)} rows/s · ${mbps(job.bytes_per_s)}${eta}`;
  const busy = [...(job.in_flight || []).map((d) => `${d} loading`),
                ...(job.fetching || []).map((d) => `${d} downloading`)];
  $("job-days").textContent = active ? busy.join(", ") :
    `${when(job.started_at)} · took ${duration(job.elapsed_s)}` +
    (job.exit_code !== null ? ` · exit ${job.exit_code}` : "");
  const errors = job.errors.map((e) => errorItem(`${e.date}: ${e.key}: ${e.error}`, e.hint));
  if (job.message) errors.unshift(errorItem(job.message));
  $("job-errors").replaceChildren(...errors);
  $("job-stop").hidden = !active;
  $("job-stop").disabled = false;
  $("live").textContent = active ? `${job.status} · ${pct.toFixed(0)} %` : "idle";
  $("live").dataset.state = active ? "running" : "idle";
}

/** Show the recent runs and the failed days of a /backfill/recent document. */
export function renderRecent(doc) {
  const rows = doc.jobs.map((j) => {
    const badge = el("span", { class: "badge", dataset: { status: j.status } }, j.status);
    const days = `${num(j.days_done)}/${num(j.days_total)}` + (j.days_failed ? ` · ${num(j.days_failed)}✗` : "");
    const a = j.arguments;
    const span = `${a.start || a.date || ""}` + (a.end && a.end !== a.start ? `…${a.end}` : "");
    const run = el("td", { class: "run", title: j.job_id }, `${j.command} ${span}`);
    return el("tr", { dataset: { jobId: j.job_id, status: j.status } }, el("td", {}, when(j.started_at)), run,
      el("td", {}, days), el("td", {}, duration(j.elapsed_s)), el("td", {}, badge));
  });
  $("runs-table").tBodies[0].replaceChildren(...rows);
  $("runs-note").textContent = doc.note || (doc.jobs.length ? "" : "No runs yet.");
  const failed = doc.failed.map((r) => {
    const span = r.count > 1 ? `${r.first}…${r.last} (${r.count} days)` : r.first;
    const detail = r.detail || "";
    const cut = detail.lastIndexOf(" (");
    // the detail ends with the next step in parentheses: shown apart
    const hinted = cut > 0 && detail.endsWith(")");
    const [what, next] = hinted ? [detail.slice(0, cut), detail.slice(cut + 2, -1)] : [detail, null];
    return errorItem(`${span} · ${r.dataset}: ${what}`, next);
  });
  $("failed-list").replaceChildren(...(failed.length ? failed : [el("li", { class: "none" }, "None.")]));
}

function message(text, kind = "error") {
  const m = $("bf-message");
  m.textContent = text;
  m.dataset.kind = kind;
}

function needToken(err) {
  if (err.status !== 401) return false;
  $("token-label").hidden = false;
  $("bf-token").focus();
  message(token() ? "The token was refused: check it." : "This server needs its token: enter it above.");
  return true;
}

/** Wire the start form and the Stop button; ``follow(jobId)`` is called with each job started. */
export function bindControls(follow) {
  $("bf-token").addEventListener("change", (e) => setToken(e.target.value.trim()));
  $("backfill-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const f = event.target.elements;
    const list = (text) => text.split(/[\s,]+/).filter(Boolean);
    const body = { start: f.start.value, end: f.end.value };
    if (f.datasets.value.trim()) body.datasets = list(f.datasets.value);
    if (f.symbols.value.trim()) body.symbols = list(f.symbols.value);
    $("bf-submit").disabled = true;
    try {
      const job = await api("/backfill", { method: "POST", body });
      message(`Started job ${job.job_id}.`, "ok");
      follow(job.job_id);
    } catch (err) {
      if (!(err instanceof ApiError) || !needToken(err)) message(err.message);
    } finally {
      $("bf-submit").disabled = false;
    }
  });
  $("job-stop").addEventListener("click", async () => {
    const id = $("job").dataset.jobId;
    $("job-stop").disabled = true;
    try {
      await api(`/backfill/${encodeURIComponent(id)}`, { method: "DELETE" });
      message("Stopping: the days in flight finish and are committed (Stop again to abort them).", "ok");
    } catch (err) {
      if (!(err instanceof ApiError) || !needToken(err)) message(err.message);
    } finally {
      $("job-stop").disabled = false;
    }
  });
}
