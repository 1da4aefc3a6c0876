// The redirect URI and the app itself: finish the sign-in, read the patient's records from
// the FHIR server with the token (kept in this module only), have the service read them with
// its guideline engine (the resources go there, the token never does), and draw the answer.
import { drawPanel } from "./chart.js";
import { AppProblem, FhirReader, completeLaunch, mayRead, readConfig } from "./smart.js";
import {
  banner, el, findingsList, setAsideTable, seriesTable, setStatus, showProblem, medicinesTable,
} from "./views.js";

const config = readConfig();
const OPTIONAL = {
  medicationRequests: "MedicationRequest",
  medicationStatements: "MedicationStatement",
  conditions: "Condition",
};
const RETRYABLE = new Set(["fhir-timeout", "fhir-error", "fhir-unreachable", "service-error"]);
let session = null;

function focusOf(appContext) {
  // The card's appContext: {"topic", "panel", "analyte"}; anything else is ignored.
  try {
    const value = JSON.parse(appContext || "null");
    return value && typeof value === "object" ? value : {};
  } catch {
    return {};
  }
}

async function optional(key, type, reader, query, unavailable) {
  if (!mayRead(session.scope, type, "s")) {
    unavailable[key] = `access to ${type} records was not granted`;
    return null;
  }
  try {
    const { bundle, complete } = await reader.search(type, query);
    if (!complete) unavailable[key] = "incomplete: more pages than the app reads";
    return bundle;
  } catch (problem) {
    if (problem.kind !== "fhir-refused") throw problem;
    unavailable[key] = `the FHIR server refused to give ${type} records`;
    return null;
  }
}

async function readRecords() {
  if (session.expiresAt !== null && Date.now() > session.expiresAt) throw new AppProblem("session-expired");
  if (!mayRead(session.scope, "Observation", "s")) {
    throw new AppProblem("scopes-denied", session.scope.trim() || "nothing");
  }
  const reader = new FhirReader(session, config.timeoutMs);
  const patientId = session.patient;
  const unavailable = {};
  const codes = config.loincs.map((code) => `http://loinc.org|${code}`).join(",");
  const readPatient = async () => {
    if (!mayRead(session.scope, "Patient", "r")) {
      unavailable.patient = "access to the Patient record was not granted";
      return null;
    }
    try {
      return await reader.read(`Patient/${encodeURIComponent(patientId)}`);
    } catch (problem) {
      if (problem.kind !== "fhir-refused") throw problem;
      unavailable.patient = "the FHIR server refused to give the Patient record";
      return null;
    }
  };
  const readObservations = async () => {
    const { bundle, complete } = await reader.search("Observation", { patient: patientId, code: codes, _count: "200" });
    if (!complete) unavailable.observations = "incomplete: more pages than the app reads";
    return bundle;
  };
  const [patient, observations, ...others] = await Promise.all([
    readPatient(),
    readObservations(),
    ...Object.entries(OPTIONAL).map(([key, type]) => optional(key, type, reader, { patient: patientId, _count: "200" }, unavailable)),
  ]);
  const resources = { patient, observations };
  Object.keys(OPTIONAL).forEach((key, index) => {
    resources[key] = others[index];
  });
  return { patientId, resources, unavailable };
}

async function askService(records) {
  let response;
  try {
    response = await fetch(config.chartUrl, {
      method: "POST",
      headers: { "Content-Type": "application/json", Accept: "application/json" },
      body: JSON.stringify(records),
      credentials: "omit",
      cache: "no-store",
    });
  } catch {
    throw new AppProblem("service-error", "the service could not be reached");
  }
  let answer = null;
  try {
    answer = await response.json();
  } catch {
    answer = null;
  }
  if (!response.ok || !answer) {
    const issue = answer && Array.isArray(answer.issue) ? answer.issue[0] : null;
    throw new AppProblem("service-error", (issue && issue.diagnostics) || `HTTP ${response.status}`);
  }
  return answer;
}

function header(chart, patient) {
  const parts = [el("h1", { text: "Results over time" })];
  if (session.needPatientBanner) parts.push(banner(patient));
  parts.push(el("p", {
    class: "asof",
    text: `As of ${chart.today}. Values in this site's units. The rules read results from the last ${chart.recentMonths} months (since ${chart.windowStart}).`,
  }));
  const notices = chart.unavailable.map((item) => `Not read: ${item.key} (${item.reason}).`);
  if (chart.deceased) notices.unshift("The chart records that this patient has died: no findings are given.");
  if (notices.length) parts.push(el("ul", { class: "notices" }, notices.map((text) => el("li", { text }))));
  return el("header", { class: "app-header" }, parts);
}

function panelView(panel, setAside, chart, index) {
  const mine = setAside.filter((item) => item.panel === panel.key);
  const figure = drawPanel(panel, mine, chart);
  const tables = el("div", { class: "tables", hidden: true }, seriesTable(panel), medicinesTable(panel));
  const showChart = el("button", { type: "button", class: "view-switch", "aria-pressed": "true", text: "Chart" });
  const showTable = el("button", { type: "button", class: "view-switch", "aria-pressed": "false", text: "Table" });
  const choose = (table) => {
    figure.hidden = table;
    tables.hidden = !table;
    showChart.setAttribute("aria-pressed", String(!table));
    showTable.setAttribute("aria-pressed", String(table));
  };
  showChart.addEventListener("click", () => choose(false));
  showTable.addEventListener("click", () => choose(true));
  return el("section", {
    class: "panel", role: "tabpanel", id: `panel-${panel.key}`, "aria-labelledby": `tab-${panel.key}`,
    "data-panel": panel.key, hidden: index !== 0,
  },
  el("div", { class: "toolbar", role: "group", "aria-label": "Show as" }, showChart, showTable),
  figure, tables, setAsideTable(mine));
}

function tabs(panels) {
  const list = el("div", { class: "tabs", role: "tablist", "aria-label": "Results" });
  const buttons = panels.map((panel, index) => el("button", {
    type: "button", role: "tab", id: `tab-${panel.key}`, "aria-controls": `panel-${panel.key}`,
    "aria-selected": String(index === 0), tabindex: index === 0 ? 0 : -1, "data-panel": panel.key, text: panel.title,
  }));
  const select = (chosen) => {
    for (const button of buttons) {
      const on = button === chosen;
      button.setAttribute("aria-selected", String(on));
      button.tabIndex = on ? 0 : -1;
      document.getElementById(button.getAttribute("aria-controls")).hidden = !on;
    }
  };
  buttons.forEach((button, index) => {
    button.addEventListener("click", () => select(button));
    button.addEventListener("keydown", (event) => {
      const step = { ArrowRight: 1, ArrowLeft: -1 }[event.key];
      if (!step) return;
      const next = buttons[(index + step + buttons.length) % buttons.length];
      select(next);
      next.focus();
      event.preventDefault();
    });
  });
  list.append(...buttons);
  return { list, select: (key) => select(buttons.find((b) => b.dataset.panel === key) || buttons[0]) };
}

function noResults(chart) {
  const main = document.getElementById("main");
  main.dataset.state = "problem";
  const section = el("section", { class: "problem", "data-problem": "no-results", role: "alert" },
    el("h1", { text: "No results to chart" }),
    el("p", { class: "what", text: "The EHR holds no results of vitamin B12, active B12, MMA, homocysteine, calcium, albumin, magnesium, potassium or sodium for this patient, and no B12 therapy." }),
    el("p", { class: "todo" }, el("strong", { text: "What to do: " }),
      "if these tests are indicated, order them in the EHR; what the service says about this patient now is listed below."));
  main.replaceChildren(section, findingsList(chart.findings));
}

function render(chart, patient) {
  const hasTherapy = chart.panels.some((panel) => panel.bands.length);  // B12 therapy alone is worth a chart
  if (!chart.hasResults && !hasTherapy) {
    noResults(chart);
    return;
  }
  const main = document.getElementById("main");
  const { list, select } = tabs(chart.panels);
  const views = chart.panels.map((panel, index) => panelView(panel, chart.setAside, chart, index));
  main.replaceChildren(header(chart, patient),
    el("div", { class: "layout" }, el("div", { class: "charts" }, list, ...views), findingsList(chart.findings)));
  main.dataset.state = "done";
  const focus = focusOf(session.appContext);
  if (typeof focus.panel === "string") select(focus.panel);
  const row = typeof focus.analyte === "string" ? document.getElementById(`series-${focus.analyte}`) : null;
  if (row) {
    row.classList.add("focused");
    row.scrollIntoView({ block: "nearest" });
  }
}

async function show() {
  try {
    setStatus("Reading the patient's results…");
    const records = await readRecords();
    setStatus("Working out the chart…");
    render(await askService(records), records.resources.patient);
  } catch (error) {
    const problem = error instanceof AppProblem ? error : new AppProblem("unexpected", String(error && error.message));
    showProblem(problem, RETRYABLE.has(problem.kind) ? () => show() : null);
  }
}

async function start() {
  try {
    session = await completeLaunch(config);
  } catch (error) {
    showProblem(error instanceof AppProblem ? error : new AppProblem("unexpected", String(error && error.message)));
    return;
  }
  await show();
}

start();
