// The incident labeler: marks intervals (drag) and points (click) on the metric's series,
// lists them for editing, and saves them in the labels format. All times are UTC.
(() => {
  "use strict";
  const DATA = JSON.parse(document.getElementById("labeler-data").textContent);
  const gd = document.getElementById("chart");
  const preview = document.getElementById("preview");
  const status = document.getElementById("status");
  const tbody = document.querySelector("#incidents tbody");
  const xs = DATA.t;                 // grid times, epoch ms ascending
  const step = DATA.interval * 1000;
  const CLICK_PX = 4;                // a drag shorter than this is a click
  let incidents = DATA.incidents.map((i) => ({ start: i.start, end: i.end, label: i.label || "", point: !!i.point }));
  let selected = null;               // the selected incident object
  let mode = "mark";

  const fmt = (ms) => new Date(ms).toISOString().slice(0, 19).replace("T", " ");
  function parseTime(text) {
    const m = /^(\d{4})-(\d{2})-(\d{2})(?:[ T](\d{2}):(\d{2})(?::(\d{2}))?)?$/.exec(text.trim());
    return m ? Date.UTC(+m[1], +m[2] - 1, +m[3], +(m[4] || 0), +(m[5] || 0), +(m[6] || 0)) : null;
  }
  function duration(ms) {
    const s = Math.round(ms / 1000);
    if (s >= 86400) return `${+(s / 86400).toFixed(1)}d`;
    if (s >= 3600) return `${+(s / 3600).toFixed(1)}h`;
    if (s >= 60) return `${+(s / 60).toFixed(1)}min`;
    return `${s}s`;
  }
  // first grid index with xs[i] >= ms
  function lowerBound(ms) {
    let lo = 0, hi = xs.length;
    while (lo < hi) { const mid = (lo + hi) >> 1; if (xs[mid] < ms) lo = mid + 1; else hi = mid; }
    return lo;
  }
  function nearest(ms) {
    const i = lowerBound(ms);
    if (i === 0) return xs[0];
    if (i === xs.length) return xs[xs.length - 1];
    return ms - xs[i - 1] <= xs[i] - ms ? xs[i - 1] : xs[i];
  }
  const sorted = () => incidents.slice().sort((a, b) => a.start - b.start || a.end - b.end);

  // --- chart ---------------------------------------------------------------------------
  function shapes() {
    return incidents.map((i) => ({
      type: "rect", xref: "x", yref: "paper", y0: 0, y1: 1, layer: "below", line: { width: 0 },
      x0: i.start - step / 2, x1: i.end + step / 2,
      fillcolor: i === selected ? "rgba(220, 38, 38, 0.45)" : "rgba(220, 38, 38, 0.2)",
    }));
  }
  function setMode(next) {
    mode = next;
    document.getElementById("mode-mark").setAttribute("aria-pressed", String(mode === "mark"));
    document.getElementById("mode-zoom").setAttribute("aria-pressed", String(mode === "zoom"));
    Plotly.relayout(gd, { dragmode: mode === "zoom" ? "zoom" : false });
  }
  function plotArea() { return gd.querySelector(".nsewdrag").getBoundingClientRect(); }
  function timeAt(clientX) { return gd._fullLayout.xaxis.p2l(clientX - plotArea().left); }

  let drag = null;
  function onDown(ev) {
    if (mode !== "mark" || ev.button !== 0) return;
    const box = plotArea();
    if (ev.clientX < box.left || ev.clientX > box.right || ev.clientY < box.top || ev.clientY > box.bottom) return;
    drag = { x: ev.clientX, box };
    ev.preventDefault();
  }
  function onMove(ev) {
    if (!drag) return;
    const host = document.getElementById("chart-box").getBoundingClientRect();
    const x = Math.min(Math.max(ev.clientX, drag.box.left), drag.box.right);
    Object.assign(preview.style, {
      display: "block", left: `${Math.min(drag.x, x) - host.left}px`, width: `${Math.abs(x - drag.x)}px`,
      top: `${drag.box.top - host.top}px`, height: `${drag.box.height}px`,
    });
  }
  function onUp(ev) {
    if (!drag) return;
    const start = drag;
    drag = null;
    preview.style.display = "none";
    const x = Math.min(Math.max(ev.clientX, start.box.left), start.box.right);
    if (Math.abs(x - start.x) < CLICK_PX) return clickAt(timeAt(x));
    const a = timeAt(Math.min(start.x, x)), b = timeAt(Math.max(start.x, x));
    const i = lowerBound(a), j = lowerBound(b + 1) - 1;  // the grid points inside the drag
    if (i > j) return say("No data point inside that range.", "error");
    add({ start: xs[i], end: xs[j], label: "", point: false });
  }
  function clickAt(ms) {
    const hit = incidents.find((i) => ms >= i.start - step / 2 && ms <= i.end + step / 2);
    if (hit) { select(hit); return; }
    const at = nearest(ms);
    add({ start: at, end: at, label: "", point: true });
  }
  function add(incident) {
    incidents.push(incident);
    selected = incident;
    render();
    say(`Marked ${incident.point ? "a point at " + fmt(incident.start) : fmt(incident.start) + " → " + fmt(incident.end)}.`, "ok");
  }
  function select(incident) { selected = incident; render(); }
  function remove(incident) {
    incidents = incidents.filter((i) => i !== incident);
    if (selected === incident) selected = null;
    render();
  }
  function focusOn(i) {
    const pad = Math.max(i.end - i.start, 48 * step);
    Plotly.relayout(gd, { "xaxis.range": [i.start - pad, i.end + pad] });
  }

  // --- list ------------------------------------------------------------------------------
  function timeInput(incident, key) {
    const input = document.createElement("input");
    input.value = fmt(incident[key]);
    input.setAttribute("aria-label", key);
    input.addEventListener("change", () => {
      const ms = parseTime(input.value);
      const other = key === "start" ? incident.end : incident.start;
      const ok = ms !== null && (key === "start" ? ms <= other : ms >= other);
      input.classList.toggle("invalid", !ok);
      if (!ok) return say(`Not a valid ${key}: use YYYY-MM-DD HH:MM:SS (UTC), ${key === "start" ? "at or before the end" : "at or after the start"}.`, "error");
      incident[key] = ms;
      incident.point = incident.point && incident.start === incident.end;
      render();
    });
    return input;
  }
  function button(text, action) {
    const b = document.createElement("button");
    b.textContent = text;
    b.addEventListener("click", (ev) => { ev.stopPropagation(); action(); });
    return b;
  }
  function render() {
    Plotly.relayout(gd, { shapes: shapes() });
    tbody.replaceChildren();
    for (const incident of sorted()) {
      const row = tbody.insertRow();
      row.className = incident === selected ? "selected" : "";
      row.addEventListener("click", () => select(incident));
      row.insertCell().append(timeInput(incident, "start"));
      row.insertCell().append(timeInput(incident, "end"));
      row.cells[0].className = row.cells[1].className = "time";
      const d = row.insertCell();
      d.className = "duration";
      d.textContent = incident.point ? "point" : duration(incident.end - incident.start + step);
      const label = document.createElement("input");
      label.value = incident.label;
      label.placeholder = "describe this incident (optional)";
      label.setAttribute("aria-label", "label");
      label.addEventListener("input", () => { incident.label = label.value; });
      row.insertCell().append(label);
      const actions = row.insertCell();
      actions.className = "actions";
      actions.append(button("focus", () => focusOn(incident)), " ", button("remove", () => remove(incident)));
    }
    document.getElementById("empty").style.display = incidents.length ? "none" : "block";
    const total = incidents.reduce((sum, i) => sum + (i.end - i.start + step), 0);
    document.getElementById("summary").textContent =
      `${incidents.length} incident${incidents.length === 1 ? "" : "s"} · ${duration(total)} total`;
  }
  function say(text, kind) { status.textContent = text; status.className = kind || ""; }

  // --- saving ---------------------------------------------------------------------------
  function labelsYaml() {
    const q = (s) => JSON.stringify(s);
    const lines = [`metric: ${q(DATA.metric)}`, "timezone: UTC"];
    const list = sorted();
    lines.push(list.length ? "incidents:" : "incidents: []");
    for (const i of list) {
      const label = i.label.trim() ? `, label: ${q(i.label.trim())}` : "";
      lines.push(i.point && i.start === i.end
        ? `  - {at: ${q(fmt(i.start))}${label}}`
        : `  - {start: ${q(fmt(i.start))}, end: ${q(fmt(i.end))}${label}}`);
    }
    return lines.join("\n") + "\n";
  }
  async function save() {
    const yaml = labelsYaml();
    if (!DATA.save_url) {
      const link = document.createElement("a");
      link.href = URL.createObjectURL(new Blob([yaml], { type: "text/yaml" }));
      link.download = DATA.file_name;
      document.body.append(link);
      link.click();
      link.remove();
      return say(`Downloaded ${DATA.file_name}: put it in ${DATA.target}.`, "ok");
    }
    try {
      const response = await fetch(DATA.save_url, {
        method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ yaml }),
      });
      const answer = await response.json();
      if (!response.ok) return say(answer.error || `Save failed (${response.status}).`, "error");
      say(`Saved ${answer.incidents} incident(s) to ${answer.saved}. Tune with: ${DATA.next}`, "ok");
    } catch (error) {
      say(`Save failed: ${error}. Is the labeler still running?`, "error");
    }
  }

  // --- start ------------------------------------------------------------------------------
  document.getElementById("metric-name").textContent = DATA.metric;
  document.getElementById("interval").textContent = DATA.interval_text;
  document.getElementById("hint").textContent =
    `Drag across the chart to mark an incident, click to mark a point, edit or remove them below. ` +
    `Labels go to ${DATA.target}; then run ${DATA.next}.`;
  document.getElementById("save").textContent = DATA.save_url ? "Save labels" : "Download labels";
  Plotly.newPlot(gd, [{  // WebGL for long series, SVG otherwise
    x: xs, y: DATA.v, type: xs.length > 100000 ? "scattergl" : "scatter", mode: "lines", line: { width: 1.2, color: "#2563eb" },
    hovertemplate: "%{x|%Y-%m-%d %H:%M:%S}<br>%{y}<extra></extra>", connectgaps: false,
  }], {
    margin: { l: 60, r: 20, t: 16, b: 40 }, xaxis: { type: "date" }, showlegend: false,
    dragmode: false, hovermode: "x", shapes: [],
  }, { displaylogo: false, responsive: true, modeBarButtonsToRemove: ["select2d", "lasso2d"] }).then(() => {
    render();
    gd.addEventListener("mousedown", onDown, true);
    window.addEventListener("mousemove", onMove);
    window.addEventListener("mouseup", onUp);
    gd.dataset.ready = "1";
  });
  document.getElementById("mode-mark").addEventListener("click", () => setMode("mark"));
  document.getElementById("mode-zoom").addEventListener("click", () => setMode("zoom"));
  document.getElementById("reset").addEventListener("click", () => Plotly.relayout(gd, { "xaxis.autorange": true, "yaxis.autorange": true }));
  document.getElementById("clear").addEventListener("click", () => { incidents = []; selected = null; render(); });
  document.getElementById("save").addEventListener("click", save);
  document.addEventListener("keydown", (ev) => {
    if (selected && (ev.key === "Delete" || ev.key === "Backspace") && ev.target.tagName !== "INPUT") remove(selected);
    if (ev.key === "Escape") { selected = null; render(); }
  });
})();
