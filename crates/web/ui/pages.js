// The status pages (alerts, rules, targets, service discovery, Alertmanagers, runtime and
// build information, TSDB status, configuration, flags), each rendered from the HTTP API.
"use strict";
(async function () {
  const main = document.getElementById("main");
  const page = document.body.dataset.page;
  const render = {
    "/alerts": async () => {
      const groups = (await api("rules", { type: "alert" })).data.groups;
      const count = { inactive: 0, pending: 0, firing: 0 };
      const parts = [];
      for (const g of groups) for (const r of g.rules) {
        count[r.state] = (count[r.state] || 0) + 1;
        parts.push(el("details", {}, el("summary", {}, badge(r.state), " ", r.name, " ", el("span", { class: "muted" }, "(" + (r.alerts || []).length + " active) — " + g.file + " > " + g.name)),
          el("pre", {}, "alert: " + r.name + "\nexpr: " + r.query + (r.duration ? "\nfor: " + r.duration + "s" : "") +
            "\nlabels: " + JSON.stringify(r.labels || {}) + "\nannotations: " + JSON.stringify(r.annotations || {})),
          (r.alerts || []).length ? table(["Labels", "State", "Active since", "Value"], r.alerts.map((a) => [labelChips(a.labels), badge(a.state), a.activeAt || "", a.value])) : null));
      }
      main.append(el("p", {}, badge("inactive"), " " + count.inactive + "  ", badge("pending"), " " + count.pending + "  ", badge("firing"), " " + count.firing));
      main.append(parts.length ? parts : el("p", { class: "muted" }, "No alerting rules configured."));
    },
    "/rules": async () => {
      const groups = (await api("rules")).data.groups;
      if (!groups.length) main.append(el("p", { class: "muted" }, "No rule groups configured."));
      for (const g of groups) {
        main.append(el("h2", {}, g.name, " ", el("span", { class: "muted" }, g.file + ", every " + g.interval + "s, last evaluation " + ago(g.lastEvaluation) + ", took " + secs(g.evaluationTime))));
        main.append(table(["Rule", "Health", "Last evaluation", "Evaluation time", "Error"], g.rules.map((r) => [
          el("pre", {}, (r.type === "alerting" ? "alert: " : "record: ") + r.name + "\nexpr: " + r.query),
          badge(r.health, r.health === "ok" ? "ok" : r.health === "err" ? "err" : "unknown"), ago(r.lastEvaluation), secs(r.evaluationTime), r.lastError || ""])));
      }
    },
    "/targets": async () => {
      const active = (await api("targets", { state: "active" })).data.activeTargets;
      const pools = {};
      for (const t of active) (pools[t.scrapePool] = pools[t.scrapePool] || []).push(t);
      if (!active.length) main.append(el("p", { class: "muted" }, "No targets."));
      for (const name of Object.keys(pools).sort()) {
        const ts = pools[name];
        const up = ts.filter((t) => t.health === "up").length;
        main.append(el("h2", {}, name, " ", el("span", { class: "muted" }, "(" + up + "/" + ts.length + " up)")));
        main.append(table(["Endpoint", "State", "Labels", "Last scrape", "Scrape duration", "Error"], ts.map((t) => [
          el("a", { href: t.scrapeUrl }, t.scrapeUrl), badge(t.health), labelChips(t.labels), ago(t.lastScrape), secs(t.lastScrapeDuration), t.lastError || ""])));
      }
    },
    "/service-discovery": async () => {
      const d = (await api("targets", { state: "any" })).data;
      const pools = {};
      for (const t of d.activeTargets) (pools[t.scrapePool] = pools[t.scrapePool] || { active: [], dropped: [] }).active.push(t);
      for (const t of d.droppedTargets || []) {
        const name = (t.discoveredLabels || {}).job || "";
        (pools[name] = pools[name] || { active: [], dropped: [] }).dropped.push(t);
      }
      const counts = d.droppedTargetCounts || {};
      for (const name of Object.keys(pools).sort()) {
        const p = pools[name];
        main.append(el("h2", {}, name, " ", el("span", { class: "muted" }, "(" + p.active.length + " active / " + (counts[name] !== undefined ? counts[name] : p.dropped.length) + " dropped)")));
        main.append(table(["Discovered labels", "Target labels"], p.active.map((t) => [labelChips(t.discoveredLabels), labelChips(t.labels)])
          .concat(p.dropped.map((t) => [labelChips(t.discoveredLabels), el("span", { class: "muted" }, "Dropped")]))));
      }
      if (!Object.keys(pools).length) main.append(el("p", { class: "muted" }, "No targets discovered."));
    },
    "/alertmanager-discovery": async () => {
      const d = (await api("alertmanagers")).data;
      main.append(el("h2", {}, "Active Alertmanagers"), table(["Endpoint"], (d.activeAlertmanagers || []).map((a) => [a.url])));
      main.append(el("h2", {}, "Dropped Alertmanagers"), table(["Endpoint"], (d.droppedAlertmanagers || []).map((a) => [a.url])));
    },
    "/status": async () => {
      const [build, runtime] = await Promise.all([api("status/buildinfo"), api("status/runtimeinfo")]);
      main.append(el("h2", {}, "Build information"), kvTable(build.data), el("h2", {}, "Runtime information"), kvTable(runtime.data));
    },
    "/tsdb-status": async () => {
      const d = (await api("status/tsdb")).data;
      main.append(el("h2", {}, "Head"), kvTable(d.headStats || {}));
      for (const [key, title] of [["seriesCountByMetricName", "Top 10 series count by metric names"], ["labelValueCountByLabelName", "Top 10 label names with value count"],
        ["memoryInBytesByLabelName", "Top 10 label names with high memory usage"], ["seriesCountByLabelValuePair", "Top 10 series count by label value pairs"]]) {
        main.append(el("h2", {}, title), table(["Name", "Count"], (d[key] || []).map((e) => [e.name, e.value])));
      }
    },
    "/config": async () => {
      main.append(el("pre", {}, (await api("status/config")).data.yaml));
    },
    "/flags": async () => {
      const flags = (await api("status/flags")).data;
      const filter = el("input", { placeholder: "Filter by flag name or value", size: "40" });
      const holder = el("div", {});
      const draw = () => {
        const f = filter.value.toLowerCase();
        holder.replaceChildren(table(["Flag", "Value"], Object.keys(flags).sort()
          .filter((k) => !f || k.toLowerCase().includes(f) || String(flags[k]).toLowerCase().includes(f))
          .map((k) => [el("code", {}, "--" + k), el("code", {}, flags[k])])));
      };
      filter.addEventListener("input", draw);
      main.append(el("div", { class: "row" }, filter), holder);
      draw();
    },
    "/agent": async () => {
      main.append(el("p", {}, "This Prometheus instance is running in agent mode: it scrapes targets and forwards the samples by remote write; it does not answer queries, evaluate rules or send alerts."));
    },
  };
  try {
    if (render[page]) await render[page]();
  } catch (e) {
    showError(main, e);
  }
})();
