// The metric page: one large chart with axis switch, smoothing, log scale, points, zoom, runs.
(function () {
  "use strict";
  var C = window.MLPCharts;
  var el = document.getElementById("metric-chart");
  if (!el || !C) return;
  var base = el.dataset.seriesBase;
  var key = el.dataset.key;
  var runs = [{ id: el.dataset.runId, name: el.dataset.runName, data: null }];
  (el.dataset.added || "").split(",").filter(Boolean).forEach(function (id) {
    runs.push({ id: id, name: id.slice(0, 8), data: null });
  });
  var controls = document.getElementById("metric-controls");
  var smoothing = document.getElementById("smoothing");
  var smoothingValue = document.getElementById("smoothing-value");
  var logY = document.getElementById("log-y");
  var showPoints = document.getElementById("show-points");
  var label = document.getElementById("axis-label");
  var plot = null;
  var range = null;  // the zoomed x range, in the server's units

  function axis() { return controls.querySelector('input[name="x"]:checked').value; }

  function ema(values) {
    var weight = parseFloat(smoothing.value);
    if (!weight) return values;
    var last = null;
    return values.map(function (v) {
      if (v === null || v === undefined) return v;
      last = last === null ? v : last * weight + v * (1 - weight);
      return last;
    });
  }

  function rangeParams() {
    if (!range) return {};
    if (axis() === "step") return { step_min: Math.floor(range[0]), step_max: Math.ceil(range[1]) };
    return { time_min: Math.floor(range[0]), time_max: Math.ceil(range[1]) };
  }

  function render() {
    if (plot) plot.destroy();
    var current = axis();
    plot = C.draw(el, runs.filter(function (r) { return r.data; }).map(function (r) {
      return { name: r.name, data: r.data };
    }), current, {
      height: 420, band: true, legend: true, logY: logY.checked, points: showPoints.checked,
      transform: ema,
      hooks: { setSelect: [onZoom] },
    });
    label.textContent = "X axis: " + C.AXIS_LABELS[current] + (range ? " (zoomed)" : "");
    el.dataset.axis = current;
  }

  function onZoom(u) {
    if (u.select.width < 5) return;
    var lo = u.posToVal(u.select.left, "x");
    var hi = u.posToVal(u.select.left + u.select.width, "x");
    var current = axis();
    if (current === "time") { lo *= 1000; hi *= 1000; }
    if (current === "relative") {
      // Relative time is measured from each run's start; ask by the main run's timestamps.
      var data = runs[0].data;
      var offset = data && data.timestamp.length ? data.timestamp[0] - data.x[0] : 0;
      lo = lo * 1000 + offset; hi = hi * 1000 + offset;
    }
    range = [lo, hi];
    loadAll();
  }

  function loadAll() {
    var points = Math.min(4000, Math.max(300, el.clientWidth || 800));
    var current = axis();
    var params = rangeParams();
    if (current === "relative" && range) params = { time_min: Math.floor(range[0]), time_max: Math.ceil(range[1]) };
    return Promise.all(runs.map(function (run) {
      return C.fetchSeries(base, run.id, key, current, points, params).then(function (data) {
        run.data = data;
        if (data.run_name) run.name = data.run_name;
      }).catch(function () { run.data = null; });
    })).then(render);
  }

  controls.addEventListener("submit", function (event) { event.preventDefault(); });
  controls.addEventListener("change", function (event) {
    if (event.target.name === "x") { range = null; loadAll(); updateUrl(); return; }
    if (event.target.id === "add-run" && event.target.value) {
      var id = event.target.value;
      if (!runs.some(function (r) { return r.id === id; })) {
        runs.push({ id: id, name: event.target.selectedOptions[0].textContent, data: null });
        updateUrl();
        loadAll();
      }
      event.target.value = "";
      return;
    }
    if (plot) render();
  });
  smoothing.addEventListener("input", function () {
    smoothingValue.textContent = smoothing.value;
    if (plot) render();
  });
  document.getElementById("reset-zoom").addEventListener("click", function () { range = null; loadAll(); });

  function updateUrl() {
    var params = new URLSearchParams(window.location.search);
    params.set("x", axis());
    var added = runs.slice(1).map(function (r) { return r.id; });
    if (added.length) params.set("with", added.join(",")); else params.delete("with");
    history.replaceState(null, "", window.location.pathname + "?" + params.toString());
  }

  loadAll();
})();
