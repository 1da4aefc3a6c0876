// Hand-written SVG: one small chart per test, sharing a time axis within a panel; therapy
// periods as bands, the guideline's cut-offs as lines, results set aside in a strip below.
// Shapes as well as colours tell marks apart (Okabe-Ito palette, in app.css).
import { el } from "./views.js";

const NS = "http://www.w3.org/2000/svg";
const WIDTH = 680;
const LEFT = 58;
const RIGHT = 44;
const TOP = 16;
const PLOT = 84;
const STRIP = 20;
const AXIS = 18;
const DAY_MS = 86400000;

function svg(tag, attributes = {}, ...children) {
  const node = document.createElementNS(NS, tag);
  for (const [key, value] of Object.entries(attributes)) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "text") node.textContent = value;
    else node.setAttribute(key, String(value));
  }
  for (const child of children.flat()) if (child) node.append(child);
  return node;
}

const dayMs = (day) => Date.parse(`${day}T00:00:00Z`);

function timeDomain(panel, setAside, data) {
  const times = [];
  for (const series of panel.series) for (const point of series.points) times.push(Date.parse(point.time));
  // B12 therapy sets the axis with the results; other medicines' lanes are clipped to it (a
  // medicine taken for years would otherwise squeeze the results into a corner).
  for (const band of panel.bands) {
    if (band.start) times.push(dayMs(band.start));
    if (band.drawnEnd) times.push(dayMs(band.drawnEnd));
  }
  for (const item of setAside) if (item.day) times.push(dayMs(item.day));
  const today = dayMs(data.today) + DAY_MS;
  const first = Math.min(...times, dayMs(data.windowStart));
  const span = Math.max(today - first, 30 * DAY_MS);
  return [first - span * 0.04, today + span * 0.02];
}

function monthsBetween(start, end) {
  const a = new Date(start);
  const b = new Date(end);
  return (b.getUTCFullYear() - a.getUTCFullYear()) * 12 + b.getUTCMonth() - a.getUTCMonth();
}

const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

function timeTicks([start, end]) {
  const months = Math.max(monthsBetween(start, end), 1);
  const step = [1, 2, 3, 6, 12, 24, 60].find((s) => months / s <= 7) || 120;
  const from = new Date(start);
  // Months counted from year 0, so multiples of 12 are Januaries and of 3 are quarters.
  let index = Math.ceil((from.getUTCFullYear() * 12 + from.getUTCMonth() + 1) / step) * step;
  const ticks = [];
  for (; ticks.length < 20; index += step) {
    const year = Math.floor(index / 12);
    const month = index % 12;
    const at = Date.UTC(year, month, 1);
    if (at > end) break;
    const label = step >= 12 ? String(year) : month === 0 || !ticks.length ? `${MONTHS[month]} ${year}` : MONTHS[month];
    ticks.push([at, label]);
  }
  return ticks;
}

function niceStep(span) {
  const raw = span / 4; // three to five labelled values per chart
  const power = 10 ** Math.floor(Math.log10(raw));
  return [1, 2, 2.5, 5, 10].map((m) => m * power).find((s) => s >= raw) || raw;
}

// The value axis: the results, the cut-offs next to them (the nearest below and above), and
// any other cut-off near enough to be read against; the far ones are named, not drawn.
function valueDomain(series) {
  const values = series.points.map((p) => p.value);
  let low = Math.min(...values);
  let high = Math.max(...values);
  const reach = Math.max(high - low, Math.abs(high) * 0.3);
  const below = series.cutoffs.filter((c) => c.value < low).pop();
  const above = series.cutoffs.find((c) => c.value > high);
  const shown = series.cutoffs.filter((c) => c === below || c === above
    || (c.value >= low - reach && c.value <= high + reach));
  for (const cutoff of shown) {
    low = Math.min(low, cutoff.value);
    high = Math.max(high, cutoff.value);
  }
  if (high === low) {
    high += Math.abs(high) * 0.1 || 1;
    low -= Math.abs(low) * 0.1 || 1;
  }
  const pad = (high - low) * 0.12;
  return { domain: [Math.max(0, low - pad), high + pad], shown, hidden: series.cutoffs.filter((c) => !shown.includes(c)) };
}

function number(value) {
  return Math.abs(value) >= 100 ? String(Math.round(value)) : String(Number(value.toPrecision(3)));
}

function marker(analyte, point, x, y) {
  const label = `${point.reported}${point.shown !== point.reported ? ` (${point.shown})` : ""}, ${point.day}`;
  const common = {
    class: `point kind-${point.kind} status-${point.status}${point.recent ? "" : " old"}`,
    tabindex: 0, role: "img", "aria-label": label, "data-reference": point.reference,
    "data-value": point.value, "data-day": point.day, "data-x": x.toFixed(1), "data-y": y.toFixed(1),
    "data-kind": point.kind, "data-analyte": analyte,
  };
  if (point.kind === "reported") {
    return svg("circle", { ...common, cx: x.toFixed(1), cy: y.toFixed(1), r: 4.5 }, svg("title", { text: label }));
  }
  const d = `M${x.toFixed(1)} ${(y - 6).toFixed(1)} l6 6 l-6 6 l-6 -6 z`;
  return svg("path", { ...common, d }, svg("title", { text: label }));
}

function tooltipLines(series, point) {
  const lines = [
    `${series.display}: ${point.reported} as reported`,
    point.shown !== point.reported ? `${point.shown} in this site's unit` : null,
    `${point.day} (${point.ago})`,
    `Status: ${point.status}${point.recent ? "" : "; older than the window the rules read"}`,
    point.note,
  ];
  return lines.filter(Boolean);
}

function seriesRow(series, context) {
  const { x, ticks, panel, setAside, data, first, tooltip } = context;
  const mine = setAside.filter((item) => item.analyte === series.analyte);
  const strip = mine.length ? STRIP : 0;
  const plot = series.points.length ? PLOT : 0; // set-aside results only: the strip alone
  const height = TOP + plot + strip + AXIS;
  const row = el("div", { class: "series", "data-analyte": series.analyte, id: `series-${series.analyte}` });
  const titleId = `title-${series.analyte}`;
  row.append(el("h3", { class: "series-title", id: titleId }, series.display, " ",
    el("span", { class: "unit", text: `(${series.unit})` })));
  if (!series.points.length && !mine.length) {
    row.classList.add("empty");
    row.append(el("p", { class: "none", text: "No results." }));
    return row;
  }
  const chart = svg("svg", {
    viewBox: `0 0 ${WIDTH} ${height}`, role: "group", "aria-labelledby": titleId, class: "series-chart",
    "data-analyte": series.analyte,
  });
  const right = WIDTH - RIGHT;
  chart.append(svg("defs", {}, svg("pattern", {
    id: `hatch-${series.analyte}`, width: 6, height: 6, patternUnits: "userSpaceOnUse", patternTransform: "rotate(45)",
  }, svg("rect", { width: 6, height: 6, class: "hatch-bg" }), svg("line", { x1: 0, y1: 0, x2: 0, y2: 6, class: "hatch-line" }))));
  if (plot) chart.append(svg("rect", { class: "plot-bg", x: LEFT, y: TOP, width: right - LEFT, height: PLOT }));

  for (const band of plot ? panel.bands : []) {
    if (!band.start || !band.drawnEnd) continue;
    const from = Math.max(x(dayMs(band.start)), LEFT);
    const to = Math.min(x(dayMs(band.drawnEnd) + DAY_MS), right);
    if (to <= from) continue;
    const fill = band.state === "uncertain" ? `url(#hatch-${series.analyte})` : null;
    chart.append(svg("rect", {
      class: `band band-${band.state}`, x: from.toFixed(1), y: TOP, width: (to - from).toFixed(1), height: PLOT, fill,
      "data-reference": band.reference, "data-start": band.start, "data-end": band.drawnEnd, "data-state": band.state,
    }, svg("title", { text: `${band.name}: ${band.start} to ${band.ongoing ? "now" : band.drawnEnd} (${band.state})` })));
  }

  const windowX = x(dayMs(data.windowStart));
  if (plot && windowX > LEFT && windowX < right) {
    chart.append(svg("line", { class: "window", x1: windowX, x2: windowX, y1: TOP, y2: TOP + PLOT }));
    if (first) {
      chart.append(svg("text", { class: "window-label", x: windowX + 3, y: TOP - 4,
        text: `last ${data.recentMonths} months` }));
    }
  }

  if (series.points.length) {
    const { domain: [low, high], shown, hidden } = valueDomain(series);
    const y = (value) => TOP + PLOT - ((value - low) / (high - low)) * PLOT;
    const step = niceStep(high - low);
    for (let tick = Math.ceil(low / step) * step; tick <= high; tick += step) {
      chart.append(svg("line", { class: "grid", x1: LEFT, x2: right, y1: y(tick), y2: y(tick) }));
      chart.append(svg("text", { class: "y-tick", x: LEFT - 5, y: y(tick) + 4, text: number(tick) }));
    }
    for (const cutoff of shown) {
      const at = y(cutoff.value);
      chart.append(svg("line", {
        class: `cutoff${cutoff.severe ? " severe" : ""}`, x1: LEFT, x2: right, y1: at, y2: at,
        "data-key": cutoff.key, "data-value": cutoff.value,
      }, svg("title", { text: `${cutoff.value} ${cutoff.unit}: ${cutoff.text}` })));
      chart.append(svg("text", { class: "cutoff-label", x: right + 4, y: at + 4, text: number(cutoff.value) }));
    }
    if (hidden.length) {
      const words = hidden.map((c) => `${number(c.value)}`).join(", ");
      row.querySelector(".series-title").append(el("span", { class: "off-scale", text: ` cut-offs off the scale: ${words}` }));
    }
    const trend = series.points.filter((p) => p.kind !== "uncorrected")
      .map((p) => `${x(Date.parse(p.time)).toFixed(1)},${y(p.value).toFixed(1)}`);
    if (trend.length > 1) chart.append(svg("polyline", { class: "trend", points: trend.join(" ") }));
    for (const point of series.points) {
      const mark = marker(series.analyte, point, x(Date.parse(point.time)), y(point.value));
      const show = () => tooltip.show(mark, tooltipLines(series, point));
      mark.addEventListener("pointerenter", show);
      mark.addEventListener("focus", show);
      mark.addEventListener("pointerleave", () => tooltip.hide());
      mark.addEventListener("blur", () => tooltip.hide());
      chart.append(mark);
    }
  }

  if (mine.length) {
    const top = TOP + plot + 4;
    chart.append(svg("text", { class: "strip-label", x: LEFT - 5, y: top + 11, text: "set aside" }));
    chart.append(svg("line", { class: "strip", x1: LEFT, x2: right, y1: top + 7, y2: top + 7 }));
    for (const item of mine) {
      if (!item.day) continue;
      const at = x(dayMs(item.day) + DAY_MS / 2);
      const label = `${item.item}, ${item.day}: set aside: ${item.reason}`;
      const cross = svg("path", {
        class: "set-aside-mark", d: `M${(at - 4).toFixed(1)} ${top + 3} l8 8 m0 -8 l-8 8`, tabindex: 0, role: "img",
        "aria-label": label, "data-item": item.item, "data-day": item.day,
      }, svg("title", { text: label }));
      const show = () => tooltip.show(cross, [`Set aside: ${item.item}`, `${item.day} (${item.ago})`, item.reason]);
      cross.addEventListener("pointerenter", show);
      cross.addEventListener("focus", show);
      cross.addEventListener("pointerleave", () => tooltip.hide());
      cross.addEventListener("blur", () => tooltip.hide());
      chart.append(cross);
    }
  }

  const axisY = TOP + plot + strip;
  chart.append(svg("line", { class: "axis", x1: LEFT, x2: right, y1: axisY, y2: axisY }));
  for (const [at, label] of ticks) {
    const tx = x(at);
    chart.append(svg("line", { class: "tick", x1: tx, x2: tx, y1: axisY, y2: axisY + 4 }));
    chart.append(svg("text", { class: "x-tick", x: tx, y: axisY + 15, text: label }));
  }
  row.append(chart);
  return row;
}

const LANE = 22;

// One lane per medicine record, on the panel's time axis: when each was taken.
function medicineLanes(panel, x, ticks, tooltip) {
  const drawn = panel.medicines.filter((m) => m.start && m.drawnEnd);
  if (!drawn.length) return null;
  const height = TOP + drawn.length * LANE + 2;
  const right = WIDTH - RIGHT;
  const lanes = svg("svg", {
    viewBox: `0 0 ${WIDTH} ${height}`, role: "group", "aria-labelledby": `medicines-${panel.key}`,
    class: "medicine-lanes",
  });
  lanes.append(svg("defs", {}, svg("pattern", {
    id: `hatch-lanes-${panel.key}`, width: 6, height: 6, patternUnits: "userSpaceOnUse", patternTransform: "rotate(45)",
  }, svg("line", { x1: 0, y1: 0, x2: 0, y2: 6, class: "hatch-line" }))));
  for (const [at] of ticks) lanes.append(svg("line", { class: "grid", x1: x(at), x2: x(at), y1: TOP - 4, y2: height }));
  drawn.forEach((medicine, index) => {
    const top = TOP + index * LANE;
    const from = Math.max(x(dayMs(medicine.start)), LEFT);
    const to = Math.max(Math.min(x(dayMs(medicine.drawnEnd) + DAY_MS), right), from + 2);
    const label = `${medicine.name} (${medicine.classDisplay}): ${medicine.start} to ${medicine.ongoing ? "now" : medicine.drawnEnd}, ${medicine.state}`;
    const bar = svg("rect", {
      class: `lane lane-${medicine.state} class-${medicine.medicineClass}`, x: from.toFixed(1), y: top + 12,
      width: (to - from).toFixed(1), height: 8, rx: 2, tabindex: 0, role: "img", "aria-label": label,
      fill: medicine.state === "uncertain" ? `url(#hatch-lanes-${panel.key})` : null,
      "data-reference": medicine.reference, "data-class": medicine.medicineClass,
      "data-start": medicine.start, "data-end": medicine.drawnEnd, "data-state": medicine.state,
    }, svg("title", { text: label }));
    const lines = [`${medicine.name}`, `${medicine.classDisplay}; ${medicine.state} (status ${medicine.status})`,
      `From ${medicine.start} (${medicine.startAgo}) to ${medicine.ongoing ? "now" : `${medicine.drawnEnd}`}`, medicine.note]
      .filter(Boolean);
    bar.addEventListener("pointerenter", () => tooltip.show(bar, lines));
    bar.addEventListener("focus", () => tooltip.show(bar, lines));
    bar.addEventListener("pointerleave", () => tooltip.hide());
    bar.addEventListener("blur", () => tooltip.hide());
    const clipped = x(dayMs(medicine.start)) < LEFT;
    const name = `${clipped ? "◂ " : ""}${medicine.name.slice(0, 60)}${clipped ? ` (since ${medicine.start})` : ""}`;
    const textX = Math.min(from, right - 240);
    lanes.append(bar, svg("text", { class: "lane-label", x: textX.toFixed(1), y: top + 9, text: name }));
  });
  const row = el("div", { class: "series medicines" },
    el("h3", { class: "series-title", id: `medicines-${panel.key}`, text: "Medicines on record" }), lanes);
  return row;
}

function makeTooltip(figure) {
  const box = el("div", { class: "tooltip", role: "status", hidden: true });
  return {
    box,
    show(target, lines) {
      box.replaceChildren(...lines.map((line) => el("div", { text: line })));
      box.hidden = false;
      const frame = figure.getBoundingClientRect();
      const mark = target.getBoundingClientRect();
      const left = Math.min(mark.right - frame.left + 8, frame.width - box.offsetWidth - 4);
      box.style.left = `${Math.max(left, 4)}px`;
      box.style.top = `${mark.top - frame.top + mark.height + 6}px`;
    },
    hide() {
      box.hidden = true;
    },
  };
}

// The marks this panel draws, and only those.
function legend(panel, setAside) {
  const points = panel.series.flatMap((series) => series.points);
  const has = (test) => points.some(test);
  const cutoffs = panel.series.filter((series) => series.points.length).flatMap((series) => series.cutoffs);
  const items = [
    has((p) => p.kind === "reported" && p.status !== "preliminary") ? ["circle", "result"] : null,
    has((p) => p.kind === "corrected") ? ["diamond", "calcium corrected for albumin (Payne)"] : null,
    has((p) => p.kind === "uncorrected") ? ["hollow-diamond", "total calcium, not corrected"] : null,
    has((p) => p.status === "preliminary") ? ["hollow", "preliminary result"] : null,
    has((p) => !p.recent) ? ["old", "paler: older than the rules read"] : null,
    cutoffs.some((c) => !c.severe) ? ["cutoff", "cut-off"] : null,
    cutoffs.some((c) => c.severe) ? ["severe", "severe cut-off"] : null,
    panel.bands.length ? ["band", "B12 therapy"] : null,
    panel.medicines.some((m) => m.state === "uncertain") ? ["hatch", "medicine, status uncertain"] : null,
    setAside.length ? ["cross", "set aside"] : null,
  ].filter(Boolean);
  return el("ul", { class: "legend" }, items.map(([kind, text]) => el("li", {},
    el("span", { class: `key key-${kind}`, "aria-hidden": "true" }), text)));
}

export function drawPanel(panel, setAside, data) {
  const figure = el("figure", { class: "chart", "data-panel": panel.key });
  const domain = timeDomain(panel, setAside, data);
  const x = (t) => LEFT + ((t - domain[0]) / (domain[1] - domain[0])) * (WIDTH - RIGHT - LEFT);
  const ticks = timeTicks(domain);
  const tooltip = makeTooltip(figure);
  const firstDrawn = panel.series.find((series) => series.points.length); // carries the window's label
  const lanes = medicineLanes(panel, x, ticks, tooltip);
  if (lanes) figure.append(lanes);
  for (const series of panel.series) {
    figure.append(seriesRow(series, { x, ticks, panel, setAside, data, first: series === firstDrawn, tooltip }));
  }
  figure.append(tooltip.box, el("figcaption", {}, legend(panel, setAside)));
  return figure;
}
