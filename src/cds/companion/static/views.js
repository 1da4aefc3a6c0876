// The page around the charts: problems in plain words, the findings, tables, tabs.
// Everything from the chart or the EHR is set as text, never parsed as HTML.

export function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attributes)) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "text") node.textContent = value;
    else if (key === "class") node.className = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

const REOPEN = "Open the app again from the patient's chart in the EHR.";

// kind -> [title, what happened, what to do]; {detail} is filled in from the problem.
const PROBLEMS = {
  "discovery-failed": [
    "The EHR could not be reached",
    "The app could not read the FHIR server's SMART configuration ({detail}).",
    `Check that the EHR is working, then try again. ${REOPEN} If it keeps happening, tell your EHR administrator.`,
  ],
  "no-pkce": [
    "The EHR's sign-in is not safe enough for this app",
    "The EHR's authorization server does not offer PKCE with S256, which this app requires to sign in safely from a browser.",
    "Tell your EHR administrator; the app cannot be used with this server until it supports PKCE (S256).",
  ],
  "auth-server-not-allowed": [
    "The EHR's sign-in server is not permitted",
    "The FHIR server sends sign-ins to {detail}, which is not on this site's list of servers the app may use. Nothing was sent there.",
    "Tell your EHR administrator: that server has to be added to the setting smart_allowed_servers.",
  ],
  denied: [
    "Access was not granted",
    "The EHR did not let the app read this patient's records ({detail}).",
    `${REOPEN} Allow access when asked; if you cannot, ask your EHR administrator whether the app is permitted for your role.`,
  ],
  "authorization-error": [
    "The EHR could not sign the app in",
    "The EHR's authorization server answered with an error ({detail}).",
    `${REOPEN} If it happens again, tell your EHR administrator and quote the error above.`,
  ],
  "scopes-denied": [
    "The EHR did not allow the app to read results",
    "Access was granted without permission to read laboratory results (Observation), which the chart is made of. Granted: {detail}.",
    "Ask your EHR administrator to grant the app patient/Observation.rs (read and search), then open it again.",
  ],
  "state-mismatch": [
    "This sign-in cannot be completed",
    "The answer from the EHR does not belong to a sign-in started in this browser tab: it was already used, the tab changed, or the sign-in took more than 10 minutes.",
    REOPEN,
  ],
  "no-session": [
    "Nothing to show yet",
    "This page was opened directly or reloaded. The app holds its access to the EHR only while the page is open and never stores it, so a reload ends it.",
    REOPEN,
  ],
  "token-refused": [
    "The EHR did not complete the sign-in",
    "The EHR's token server refused the sign-in ({detail}).",
    `${REOPEN} If it happens again, tell your EHR administrator.`,
  ],
  "no-patient": [
    "No patient was chosen",
    "The EHR signed the app in without naming a patient, so there is no chart to show.",
    "Open the app from a patient's chart, or choose a patient when the EHR asks.",
  ],
  "session-expired": [
    "Your session has ended",
    "The EHR no longer accepts the app's access: it expired or was withdrawn. Nothing was changed in the chart.",
    `${REOPEN} You will be signed in again.`,
  ],
  "fhir-refused": [
    "The FHIR server refused to give the results",
    "It answered {detail}: the app's access does not cover these records.",
    "Ask your EHR administrator to check the app's permissions. The cards in the EHR still work.",
  ],
  "fhir-error": [
    "The FHIR server could not give the results",
    "It answered {detail}.",
    "Try again in a moment; if it keeps happening, tell your EHR administrator.",
  ],
  "fhir-timeout": [
    "The FHIR server did not answer in time",
    "No answer came within {detail} seconds, so the results could not be read.",
    "Try again; if the EHR is slow at the moment, wait a minute first.",
  ],
  "fhir-unreachable": [
    "The FHIR server could not be reached",
    "The browser could not connect to the FHIR server ({detail}).",
    "Check the network connection and try again; if it keeps happening, tell your EHR administrator.",
  ],
  "service-error": [
    "The chart could not be worked out",
    "The results were read, but the service answered: {detail}.",
    "Try again; if it keeps happening, tell your EHR administrator. Nothing was stored.",
  ],
  unexpected: [
    "Something went wrong in the app",
    "The app stopped unexpectedly ({detail}).",
    `${REOPEN} If it happens again, tell your EHR administrator.`,
  ],
};

export function showProblem(problem, retry = null) {
  const [title, what, todo] = PROBLEMS[problem.kind] || PROBLEMS.unexpected;
  const detail = problem.detail || "no further detail";
  const main = document.getElementById("main");
  main.dataset.state = "problem";
  const section = el("section", { class: "problem", "data-problem": problem.kind, role: "alert" },
    el("h1", { text: title }),
    el("p", { class: "what", text: what.replace("{detail}", detail) }),
    el("p", { class: "todo" }, el("strong", { text: "What to do: " }), todo));
  if (retry) {
    section.append(el("p", {}, el("button", { type: "button", class: "retry", onclick: retry, text: "Try again" })));
  }
  main.replaceChildren(section);
  document.title = `Results over time: ${title}`;
  const heading = section.querySelector("h1");
  heading.tabIndex = -1;
  heading.focus();
}

export function setStatus(text) {
  const main = document.getElementById("main");
  let status = document.getElementById("status");
  if (!status) {
    status = el("p", { class: "status", id: "status", role: "status" });
    main.replaceChildren(status);
  }
  main.dataset.state = "working";
  status.textContent = text;
}

const INDICATOR_WORDS = { critical: "Critical", warning: "Warning", info: "Info" };

export function findingsList(findings) {
  const section = el("aside", { class: "findings", "aria-labelledby": "findings-title" },
    el("h2", { id: "findings-title", text: "What the service says now" }));
  if (!findings.length) {
    section.append(el("p", { class: "none", text: "No findings: nothing in these results calls for a card." }));
    return section;
  }
  section.append(el("ul", {}, findings.map((finding) => el("li", {
    class: `finding finding-${finding.indicator}`, "data-topic": finding.topic, "data-indicator": finding.indicator,
  }, el("span", { class: "indicator", text: INDICATOR_WORDS[finding.indicator] || finding.indicator }),
  el("span", { class: "summary", text: finding.summary })))));
  section.append(el("p", { class: "note", text: "The same rules as the EHR's cards, applied to the results read now." }));
  return section;
}

export function banner(patient) {
  if (!patient || patient.resourceType !== "Patient") return null;
  const name = (Array.isArray(patient.name) ? patient.name : [])[0] || {};
  const words = name.text || [...(Array.isArray(name.given) ? name.given : []), name.family].filter(Boolean).join(" ");
  const parts = [words || "Name not recorded"];
  if (typeof patient.birthDate === "string") parts.push(`born ${patient.birthDate}`);
  if (typeof patient.gender === "string") parts.push(patient.gender);
  return el("p", { class: "banner", id: "patient-banner", text: parts.join(" · ") });
}

function cell(text, header = false) {
  return el(header ? "th" : "td", header ? { scope: "col", text } : { text: text ?? "" });
}

function table(caption, headings, rows, attributes = {}) {
  return el("table", attributes,
    el("caption", { text: caption }),
    el("thead", {}, el("tr", {}, headings.map((h) => cell(h, true)))),
    el("tbody", {}, rows));
}

export function seriesTable(panel) {
  const rows = [];
  for (const series of panel.series) {
    for (const point of [...series.points].reverse()) {
      const site = point.shown === point.reported ? "same" : point.shown;
      rows.push(el("tr", { "data-reference": point.reference, "data-analyte": series.analyte },
        el("th", { scope: "row", text: series.display }),
        cell(`${point.day} (${point.ago})`), cell(point.reported), cell(site),
        cell(point.status), cell(point.note || (point.recent ? "" : "older than the window"))));
    }
  }
  if (!rows.length) return el("p", { class: "none", text: "No results to list." });
  return table(`${panel.title}: every result, newest first`,
    ["Test", "Date", "As reported", "In this site's unit", "Status", "Note"], rows, { class: "results" });
}

export function medicinesTable(panel) {
  if (!panel.medicines.length) return null;
  const rows = panel.medicines.map((medicine) => el("tr", { "data-reference": medicine.reference },
    el("th", { scope: "row", text: medicine.name }),
    cell(medicine.classDisplay),
    cell(medicine.start ? `${medicine.start} (${medicine.startAgo})` : "not recorded"),
    cell(medicine.ongoing ? "ongoing" : medicine.end ? `${medicine.end} (${medicine.endAgo})` : "not recorded"),
    cell(medicine.state), cell(medicine.note || "")));
  return table("Medicines on record", ["Medicine", "Kind", "From", "To", "State", "Note"], rows, { class: "medicines" });
}

export function setAsideTable(items) {
  if (!items.length) return null;
  const rows = items.map((item) => el("tr", { "data-item": item.item, "data-analyte": item.analyte },
    el("th", { scope: "row", text: item.display }),
    cell(item.day ? `${item.day} (${item.ago})` : "date unknown"),
    cell(item.item), cell(item.reason)));
  return table("Results set aside (not used by the rules), and why",
    ["Test", "Date", "Result", "Why set aside"], rows, { class: "set-aside" });
}
