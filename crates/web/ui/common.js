// Helpers shared by every page: API calls and element building. API paths are relative
// (`api/v1/...`), so the pages work under any --web.route-prefix and behind a proxy.
"use strict";
async function api(path, params) {
  const qs = params ? "?" + new URLSearchParams(params).toString() : "";
  let resp;
  try {
    resp = await fetch("api/v1/" + path + qs, { headers: { Accept: "application/json" } });
  } catch (e) {
    throw new Error("request failed: " + e.message);
  }
  const text = await resp.text();
  let body;
  try { body = JSON.parse(text); } catch (e) { throw new Error(resp.status + " " + resp.statusText + ": " + text.trim()); }
  if (body.status !== "success") throw new Error((body.errorType ? body.errorType + ": " : "") + (body.error || resp.statusText));
  return body;
}
function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") e.className = v;
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v);
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}
function table(headers, rows) {
  return el("table", {}, el("thead", {}, el("tr", {}, headers.map((h) => el("th", {}, h)))),
    el("tbody", {}, rows.map((r) => el("tr", {}, r.map((c) => c instanceof Node ? el("td", {}, c) : el("td", {}, c))))));
}
function labelsText(m) {
  const name = m.__name__ || "";
  const rest = Object.keys(m).filter((k) => k !== "__name__").sort().map((k) => k + "=" + JSON.stringify(m[k]));
  return name + "{" + rest.join(", ") + "}";
}
function labelChips(m) {
  return el("span", { class: "labels" }, Object.keys(m || {}).sort().map((k) => el("span", {}, k + "=" + JSON.stringify(m[k]))));
}
function badge(text, cls) { return el("span", { class: "badge " + (cls || text) }, text); }
function showError(target, err) { target.append(el("div", { class: "error" }, String(err.message || err))); }
function ago(ts) {
  if (!ts || ts.startsWith("0001-")) return "never";
  const s = (Date.now() - Date.parse(ts)) / 1000;
  if (!isFinite(s)) return ts;
  if (s < 60) return s.toFixed(1) + "s ago";
  if (s < 3600) return (s / 60).toFixed(1) + "m ago";
  return (s / 3600).toFixed(1) + "h ago";
}
function secs(d) { return d === undefined ? "" : (d * 1000).toFixed(1) + "ms"; }
function kvTable(obj) {
  return table(["Name", "Value"], Object.keys(obj).map((k) => [k, typeof obj[k] === "object" ? JSON.stringify(obj[k]) : String(obj[k])]));
}
