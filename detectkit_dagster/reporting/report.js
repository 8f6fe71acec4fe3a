// Draws the chart from the embedded figure and wires the events table to it.
// Only textContent is ever written: no string from the data reaches innerHTML.
(function () {
  "use strict";
  var chart = document.getElementById("chart");
  var status = document.getElementById("chart-status");

  function fail(message) {
    status.textContent = message;
    status.hidden = false;
  }

  if (typeof window.Plotly === "undefined") {
    fail("The chart needs plotly.js, which did not load (" + chart.dataset.plotlySrc +
         "). Keep the report inside its reports folder, or write it self-contained.");
    return;
  }

  // x of a trace: listed, or a start and a step.
  function xOf(trace) {
    if (trace.x) return trace.x;
    return trace.y.map(function (_, i) { return trace.x0 + i * trace.dx; });
  }

  // A band as closed shapes: each run where both bounds exist goes along the upper
  // edge and back along the lower one; runs are separated by null (a new shape).
  function fillBand(band, edge) {
    var xs = xOf(edge), upper = edge.y, lower = edge.customdata, run = [];
    band.x = [];
    band.y = [];
    function close() {
      if (!run.length) return;
      run.forEach(function (i) { band.x.push(xs[i]); band.y.push(upper[i]); });
      run.reverse().forEach(function (i) { band.x.push(xs[i]); band.y.push(lower[i]); });
      band.x.push(null);
      band.y.push(null);
      run = [];
    }
    for (var i = 0; i < upper.length; i++) {
      if (upper[i] === null || lower[i] === null) close(); else run.push(i);
    }
    close();
  }

  // The right axis only makes sense while one of its traces is shown.
  function syncRightAxis() {
    var shown = chart.data.some(function (t) { return t.yaxis === "y2" && t.visible === true; });
    if (shown !== Boolean(chart.layout.yaxis2.visible)) {
      window.Plotly.relayout(chart, {"yaxis2.visible": shown});
    }
  }

  var figure = JSON.parse(document.getElementById("report-figure").textContent);
  var byUid = {};
  figure.data.forEach(function (t) { if (t.uid) byUid[t.uid] = t; });
  figure.data.forEach(function (t) { if (t.meta && t.meta.band_of) fillBand(t, byUid[t.meta.band_of]); });

  window.Plotly.newPlot(chart, figure.data, figure.layout, figure.config).then(function () {
    chart.on("plotly_restyle", syncRightAxis);
    chart.dataset.renderedAt = String(Math.round(window.performance.now()));
  }, function (error) {
    fail("Failed to render the chart: " + error);
  });

  function zoomTo(row) {
    window.Plotly.relayout(chart, {"xaxis.range": [row.dataset.from, row.dataset.to]});
    var previous = document.querySelector("tr.selected");
    if (previous) previous.classList.remove("selected");
    row.classList.add("selected");
    chart.scrollIntoView({behavior: "smooth", block: "nearest"});
  }

  document.querySelectorAll("#events tbody tr[data-from]").forEach(function (row) {
    row.addEventListener("click", function () { zoomTo(row); });
    row.addEventListener("keydown", function (event) {
      if (event.key === "Enter" || event.key === " ") {
        event.preventDefault();
        zoomTo(row);
      }
    });
  });
})();
