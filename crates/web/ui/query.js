// The query page: an expression, a Table tab (instant query) and a Graph tab (range query
// drawn as an SVG line graph). State lives in the URL as g0.expr, g0.tab and g0.range_input.
"use strict";
(function () {
  const main = document.getElementById("main");
  const params = new URLSearchParams(location.search);
  let tab = params.get("g0.tab") === "graph" || params.get("g0.tab") === "0" ? "graph" : "table";
  const expr = el("textarea", { id: "expr", rows: "2", placeholder: "Enter expression (press Shift+Enter for newlines)", spellcheck: "false" });
  expr.value = params.get("g0.expr") || "";
  const range = el("input", { id: "range", size: "6", value: params.get("g0.range_input") || "1h", title: "Range of the graph (e.g. 30m, 1h, 1d)" });
  const time = el("input", { id: "time", type: "datetime-local", step: "1", title: "Evaluation time (empty: now)" });
  const tabTable = el("button", { type: "button", onclick: () => setTab("table") }, "Table");
  const tabGraph = el("button", { type: "button", onclick: () => setTab("graph") }, "Graph");
  const out = el("div", { id: "result" });
  const stats = el("span", { class: "muted" });
  const run = el("button", { type: "button", class: "primary", onclick: () => execute() }, "Execute");
  main.append(
    el("div", { class: "row" }, expr),
    el("div", { class: "row" }, el("span", { class: "tabs" }, tabTable, " ", tabGraph), run,
      el("label", { class: "muted" }, "evaluation time ", time), el("label", { class: "muted range" }, "range ", range), stats),
    out);
  expr.addEventListener("keydown", (e) => { if (e.key === "Enter" && !e.shiftKey) { e.preventDefault(); execute(); } });
  function setTab(t) {
    tab = t;
    tabTable.classList.toggle("on", t === "table");
    tabGraph.classList.toggle("on", t === "graph");
    range.parentElement.style.display = t === "graph" ? "" : "none";
    if (expr.value.trim()) execute();
  }
  function parseDuration(s) {
    const re = /(\d+(?:\.\d+)?)(ms|s|m|h|d|w|y)/g;
    const unit = { ms: 0.001, s: 1, m: 60, h: 3600, d: 86400, w: 604800, y: 31536000 };
    let total = 0, m, matched = "";
    while ((m = re.exec(s)) !== null) { total += parseFloat(m[1]) * unit[m[2]]; matched += m[0]; }
    return matched === s.trim() && total > 0 ? total : null;
  }
  function evalTime() {
    return time.value ? Date.parse(time.value) / 1000 : Date.now() / 1000;
  }
  async function execute() {
    const q = expr.value.trim();
    out.replaceChildren();
    stats.textContent = "";
    const url = new URL(location.href);
    url.searchParams.set("g0.expr", q);
    url.searchParams.set("g0.tab", tab);
    url.searchParams.set("g0.range_input", range.value);
    history.replaceState(null, "", url);
    if (!q) return;
    const started = performance.now();
    try {
      let body;
      if (tab === "table") {
        body = await api("query", { query: q, time: evalTime().toFixed(3) });
      } else {
        const r = parseDuration(range.value);
        if (r === null) throw new Error("invalid range: " + range.value);
        const end = evalTime();
        const step = Math.max(Math.floor(r / 250), 1);
        body = await api("query_range", { query: q, start: (end - r).toFixed(3), end: end.toFixed(3), step: String(step) });
      }
      for (const w of body.warnings || []) out.append(el("div", { class: "warning" }, "Warning: " + w));
      for (const i of body.infos || []) out.append(el("div", { class: "warning" }, "Info: " + i));
      const d = body.data;
      const n = Array.isArray(d.result) ? d.result.length : 1;
      stats.textContent = "Load time: " + Math.round(performance.now() - started) + "ms, result series: " + n;
      out.append(tab === "table" ? renderTable(d) : renderGraph(d));
    } catch (e) {
      showError(out, e);
    }
  }
  function renderTable(d) {
    switch (d.resultType) {
      case "vector":
        if (!d.result.length) return el("p", { class: "muted" }, "Empty query result");
        return table(["Series", "Value"], d.result.map((s) => [el("span", { class: "mono" }, labelsText(s.metric)),
          el("span", { class: "mono" }, s.value ? s.value[1] : "histogram " + JSON.stringify(s.histogram[1]))]));
      case "matrix":
        if (!d.result.length) return el("p", { class: "muted" }, "Empty query result");
        return table(["Series", "Values"], d.result.map((s) => [el("span", { class: "mono" }, labelsText(s.metric)),
          el("span", { class: "mono" }, (s.values || []).map((v) => v[1] + " @" + v[0]).join("\n"))]));
      case "scalar":
      case "string":
        return table(["Type", "Value"], [[d.resultType, el("span", { class: "mono" }, d.result[1])]]);
      default:
        return el("pre", {}, JSON.stringify(d, null, 2));
    }
  }
  const colors = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"];
  function renderGraph(d) {
    if (d.resultType !== "matrix") return el("div", { class: "error" }, "a graph needs a range query result, got " + d.resultType);
    if (!d.result.length) return el("p", { class: "muted" }, "Empty query result");
    const series = d.result.map((s) => ({ metric: s.metric, points: (s.values || []).map((v) => [v[0], parseFloat(v[1])]).filter((p) => isFinite(p[1])) }));
    let minT = Infinity, maxT = -Infinity, minV = Infinity, maxV = -Infinity;
    for (const s of series) for (const [t, v] of s.points) {
      minT = Math.min(minT, t); maxT = Math.max(maxT, t); minV = Math.min(minV, v); maxV = Math.max(maxV, v);
    }
    if (!isFinite(minT)) return el("p", { class: "muted" }, "No finite values to draw");
    if (maxV === minV) { minV -= 1; maxV += 1; }
    if (maxT === minT) { minT -= 1; maxT += 1; }
    const W = 1000, H = 320, L = 70, R = 10, T = 10, B = 28;
    const x = (t) => L + (t - minT) / (maxT - minT) * (W - L - R);
    const y = (v) => T + (1 - (v - minV) / (maxV - minV)) * (H - T - B);
    const NS = "http://www.w3.org/2000/svg";
    const svg = document.createElementNS(NS, "svg");
    svg.setAttribute("class", "graph");
    svg.setAttribute("viewBox", `0 0 ${W} ${H}`);
    svg.setAttribute("preserveAspectRatio", "none");
    const add = (tag, attrs, text) => {
      const e = document.createElementNS(NS, tag);
      for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
      if (text !== undefined) e.textContent = text;
      svg.append(e);
      return e;
    };
    for (let i = 0; i <= 4; i++) {
      const v = minV + (maxV - minV) * i / 4, yy = y(v);
      add("line", { class: "grid", x1: L, x2: W - R, y1: yy, y2: yy });
      add("text", { x: L - 6, y: yy + 4, "text-anchor": "end" }, formatValue(v, (maxV - minV) / 4));
      const t = minT + (maxT - minT) * i / 4;
      add("text", { x: x(t), y: H - 8, "text-anchor": i === 0 ? "start" : i === 4 ? "end" : "middle" }, new Date(t * 1000).toLocaleTimeString());
    }
    const step = d.result.length && d.result[0].values && d.result[0].values.length > 1 ? d.result[0].values[1][0] - d.result[0].values[0][0] : 0;
    const legend = el("ul", { class: "legend" });
    series.forEach((s, i) => {
      const color = colors[i % colors.length];
      let path = "", prev = null;
      for (const [t, v] of s.points) {
        // Break the line where samples are missing.
        path += (prev === null || (step > 0 && t - prev > step * 1.5) ? "M" : "L") + x(t).toFixed(1) + "," + y(v).toFixed(1);
        prev = t;
      }
      add("path", { d: path, fill: "none", stroke: color, "stroke-width": "1.5", "vector-effect": "non-scaling-stroke" });
      const sw = el("i", {});
      sw.style.background = color;
      legend.append(el("li", {}, sw, labelsText(s.metric)));
    });
    return el("div", {}, svg, legend);
  }
  // Enough significant digits to tell ticks `span` apart.
  function formatValue(v, span) {
    if (v === 0) return "0";
    const a = Math.abs(v);
    const digits = Math.min(15, Math.max(3, Math.ceil(Math.log10(a / (span || 1))) + 2));
    return a >= 1e15 || a < 1e-4 ? v.toExponential(digits - 1) : String(Number(v.toPrecision(digits)));
  }
  setTab(tab);
  if (!expr.value.trim()) expr.focus();
})();
