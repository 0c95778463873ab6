// Metric charts with uPlot: one per key in a grid, drawn when scrolled into view.
(function () {
  "use strict";
  var COLORS = ["#1f5fbf", "#d1495b", "#2a9d8f", "#e9a03b", "#7b2cbf", "#3d5a80", "#8d6e63", "#00a6ed"];
  var AXIS_LABELS = { step: "Step", time: "Time", relative: "Relative time (s)" };

  function toX(values, axis) {
    // The server sends milliseconds; uPlot's time scale wants seconds.
    return axis === "step" ? values : values.map(function (v) { return v / 1000; });
  }

  function fetchSeries(base, runId, key, axis, points, range) {
    var params = new URLSearchParams({ key: key, x: axis, points: String(points) });
    Object.keys(range || {}).forEach(function (name) {
      if (range[name] !== null && range[name] !== undefined) params.set(name, String(Math.round(range[name])));
    });
    return fetch(base + runId + "/series.json?" + params.toString(), {
      credentials: "same-origin", headers: { Accept: "application/json" },
    }).then(function (response) {
      if (!response.ok) throw new Error("HTTP " + response.status);
      return response.json();
    });
  }

  // One chart; `runs` is [{name, data}] where data holds x/last/min/max arrays from the server.
  function draw(container, runs, axis, options) {
    options = options || {};
    var xs = [];
    var seen = {};
    runs.forEach(function (run) {
      toX(run.data.x, axis).forEach(function (x) { if (!seen[x]) { seen[x] = true; xs.push(x); } });
    });
    xs.sort(function (a, b) { return a - b; });
    var index = {};
    xs.forEach(function (x, i) { index[x] = i; });
    var data = [xs];
    var series = [{ label: AXIS_LABELS[axis] }];
    var bands = [];
    runs.forEach(function (run, n) {
      var color = COLORS[n % COLORS.length];
      var own = toX(run.data.x, axis);
      var columns = options.band && runs.length === 1 ? ["last", "min", "max"] : ["last"];
      columns.forEach(function (column) {
        var values = new Array(xs.length).fill(null);
        var source = column === "last" && options.transform ? options.transform(run.data.last) : run.data[column];
        own.forEach(function (x, i) { values[index[x]] = source[i]; });
        data.push(values);
        series.push({
          label: column === "last" ? run.name : run.name + " " + column,
          stroke: column === "last" ? color : "rgba(31,95,191,0.25)",
          width: column === "last" ? 1.5 : 1,
          spanGaps: true,
          // A metric logged once has no line to draw, so it needs its point.
          points: { show: column === "last" && (!!options.points || own.length < 2), size: 5 },
        });
      });
      if (columns.length === 3) bands.push({ series: [3, 2], fill: "rgba(31,95,191,0.08)" });
    });
    var width = Math.max(200, container.clientWidth || 400);
    var opts = {
      width: width,
      height: options.height || 220,
      scales: { x: { time: axis === "time" }, y: { distr: options.logY ? 3 : 1 } },
      axes: [{ label: AXIS_LABELS[axis] }, {}],
      series: series,
      bands: bands,
      legend: { show: runs.length > 1 || !!options.legend },
      cursor: { drag: { x: true, y: false } },
      hooks: options.hooks || {},
    };
    container.innerHTML = "";
    return new uPlot(opts, data, container);
  }

  // A case-insensitive substring, or with a leading ^ a prefix; never a regular expression,
  // which a crafted link could make backtrack for minutes (frontend/views/runs.py, key_matcher).
  function matcher(query) {
    var needle = query.trim().toLowerCase();
    if (needle.charAt(0) === "^") {
      var prefix = needle.slice(1);
      return function (key) { return key.toLowerCase().indexOf(prefix) === 0; };
    }
    return function (key) { return key.toLowerCase().indexOf(needle) !== -1; };
  }

  window.MLPCharts = { fetchSeries: fetchSeries, draw: draw, matcher: matcher, AXIS_LABELS: AXIS_LABELS };

  // The Model metrics / System metrics tab.
  var grid = document.getElementById("chart-grid");
  if (!grid) return;
  var base = grid.dataset.seriesUrl.replace(/[^/]+\/series\.json$/, "");
  var runId = grid.dataset.runId;
  var filter = document.getElementById("metric-filter");
  var axisSelect = document.getElementById("x-axis");
  var count = document.getElementById("chart-count");
  var empty = document.getElementById("no-charts");
  var cards = Array.prototype.slice.call(grid.querySelectorAll(".chart-card"));
  var plots = new Map();

  function load(card) {
    var axis = axisSelect.value;
    var target = card.querySelector(".chart");
    card.dataset.state = "loading";
    var points = Math.min(2000, Math.max(200, target.clientWidth || 400));
    fetchSeries(base, runId, card.dataset.key, axis, points).then(function (data) {
      if (plots.has(card)) plots.get(card).destroy();
      plots.set(card, draw(target, [{ name: card.dataset.key, data: data }], axis, { band: true }));
      card.dataset.state = "drawn";
    }).catch(function () {
      target.textContent = "Could not load this chart.";
      card.dataset.state = "error";
    });
  }

  var observer = new IntersectionObserver(function (entries) {
    entries.forEach(function (entry) {
      if (entry.isIntersecting && !entry.target.hidden) {
        observer.unobserve(entry.target);
        load(entry.target);
      }
    });
  }, { rootMargin: "200px" });

  function observeAll() {
    cards.forEach(function (card) {
      if (!card.hidden && !card.dataset.state) observer.observe(card);
    });
  }

  function rememberInUrl() {
    var params = new URLSearchParams(window.location.search);
    if (filter.value) params.set("q", filter.value); else params.delete("q");
    if (axisSelect.value !== "step") params.set("x", axisSelect.value); else params.delete("x");
    var query = params.toString();
    history.replaceState(null, "", window.location.pathname + (query ? "?" + query : ""));
  }

  function applyFilter() {
    var matches = matcher(filter.value);
    var shown = 0;
    cards.forEach(function (card) {
      card.hidden = !matches(card.dataset.key);
      if (!card.hidden) shown += 1;
    });
    count.textContent = shown + " of " + cards.length + " charts";
    empty.hidden = shown !== 0;
    rememberInUrl();
    observeAll();
  }

  filter.addEventListener("input", applyFilter);
  axisSelect.addEventListener("change", function () {
    rememberInUrl();
    cards.forEach(function (card) {
      if (card.dataset.state === "drawn" || card.dataset.state === "error") {
        delete card.dataset.state;
        observer.unobserve(card);
      }
    });
    observeAll();
  });
  applyFilter();
})();
