// Metric charts with uPlot: one per key in a grid, drawn when scrolled into view.
(function () {
  "use strict";
  // Twenty colours that are told apart at a glance, so a sweep's first 20 runs never share one;
  // further runs walk the hue circle by the golden angle.
  var PALETTE = [
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
    "#bcbd22", "#17becf", "#393b79", "#ad494a", "#637939", "#e7ba52", "#7b4173", "#3182bd",
    "#e6550d", "#31a354", "#843c39", "#5254a3",
  ];
  var AXIS_LABELS = { step: "Step", time: "Time", relative: "Relative time (s)" };

  function colour(i) {
    return i < PALETTE.length ? PALETTE[i] : "hsl(" + Math.round((i * 137.508) % 360) + ", 65%, 42%)";
  }

  function fade(color, alpha) {
    if (color.charAt(0) === "#") {
      var n = parseInt(color.slice(1), 16);
      return "rgba(" + (n >> 16) + "," + ((n >> 8) & 255) + "," + (n & 255) + "," + alpha + ")";
    }
    return color.replace("hsl(", "hsla(").replace(")", ", " + alpha + ")");
  }

  function toX(values, axis) {
    // The server sends milliseconds; uPlot's time scale wants seconds.
    return axis === "step" ? values : values.map(function (v) { return v / 1000; });
  }

  function fetchJson(url) {
    return fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) {
        if (!response.ok) throw new Error("HTTP " + response.status);
        return response.json();
      });
  }

  function fetchSeries(base, runId, key, axis, points, range) {
    var params = new URLSearchParams({ key: key, x: axis, points: String(points) });
    Object.keys(range || {}).forEach(function (name) {
      if (range[name] !== null && range[name] !== undefined) params.set(name, String(Math.round(range[name])));
    });
    return fetchJson(base + runId + "/series.json?" + params.toString());
  }

  // The y axis as wide as its longest tick label (uPlot's fixed 50 px cut "61,500" to "1,500").
  function axisSize(self, values, axisIdx, cycleNum) {
    var axis = self.axes[axisIdx];
    if (cycleNum > 1) return axis._size;
    var size = axis.ticks.size + axis.gap;
    var longest = (values || []).reduce(function (a, v) { return v && v.length > a.length ? v : a; }, "");
    if (longest) {
      self.ctx.font = axis.font[0];
      size += self.ctx.measureText(longest).width / (window.devicePixelRatio || 1);
    }
    return Math.ceil(size) + 2;
  }

  function formatValue(v) {
    if (v === null) return "NaN";
    if (v === undefined) return "";
    var a = Math.abs(v);
    return a !== 0 && (a >= 1e6 || a < 1e-4) ? v.toExponential(4) : String(+v.toPrecision(6));
  }

  // The value of series i nearest to data index idx: runs are aligned on the union of their
  // x values, so most of them have no point exactly under the cursor.
  function nearest(column, idx) {
    for (var d = 0; d < 400; d++) {
      if (idx - d >= 0 && column[idx - d] !== undefined) return column[idx - d];
      if (idx + d < column.length && column[idx + d] !== undefined) return column[idx + d];
    }
    return undefined;
  }

  // Values under the cursor, highest first, in a box that follows it.
  function tooltipPlugin(limit, exact) {
    var tip;
    return {
      hooks: {
        init: function (u) {
          tip = document.createElement("div");
          tip.className = "chart-tip";
          tip.hidden = true;
          u.over.appendChild(tip);
          u.over.addEventListener("mouseleave", function () { tip.hidden = true; });
        },
        setCursor: function (u) {
          var idx = u.cursor.idx;
          if (idx === null || idx === undefined || u.cursor.left < 0) { tip.hidden = true; return; }
          var rows = [];
          u.series.forEach(function (s, i) {
            if (i === 0 || !s.show || s.tip === false) return;
            var v = exact ? u.data[i][idx] : nearest(u.data[i], idx);
            if (v !== undefined) rows.push({ label: s.label, color: s._stroke || s.stroke, value: v });
          });
          if (!rows.length) { tip.hidden = true; return; }
          rows.sort(function (a, b) { return (b.value === null ? -Infinity : b.value) - (a.value === null ? -Infinity : a.value); });
          tip.textContent = "";
          var head = document.createElement("div");
          head.className = "chart-tip-x";
          var xv = u.data[0][idx];
          var xText = u.scales.x.time ? new Date(xv * 1000).toISOString().replace("T", " ").slice(0, 19) : formatValue(xv);
          if (u.axes[0].values && typeof u.axes[0].values === "function") xText = u.axes[0].values(u, [xv], 0, 0, 0)[0];
          head.textContent = u.series[0].label + " " + xText;
          tip.appendChild(head);
          rows.slice(0, limit).forEach(function (row) {
            var line = document.createElement("div");
            var swatch = document.createElement("span");
            swatch.className = "swatch";
            swatch.style.background = typeof row.color === "string" ? row.color : "#888";
            var name = document.createElement("span");
            name.textContent = row.label + " ";
            var value = document.createElement("b");
            value.textContent = formatValue(row.value);
            line.append(swatch, name, value);
            tip.appendChild(line);
          });
          if (rows.length > limit) {
            var more = document.createElement("div");
            more.className = "muted";
            more.textContent = "and " + (rows.length - limit) + " more";
            tip.appendChild(more);
          }
          tip.hidden = false;
          var left = u.cursor.left + 14;
          if (left + tip.offsetWidth > u.over.clientWidth) left = Math.max(0, u.cursor.left - tip.offsetWidth - 14);
          tip.style.left = left + "px";
          tip.style.top = Math.max(0, Math.min(u.cursor.top, u.over.clientHeight - tip.offsetHeight)) + "px";
        },
      },
    };
  }

  function ema(values, weight) {
    if (!weight) return values;
    var last = null;
    return values.map(function (v) {
      if (v === null || v === undefined) return v;
      last = last === null ? v : last * weight + v * (1 - weight);
      return last;
    });
  }

  // Lines on one x axis: [{label, color, x, y, nanX, lo, hi, width, tip}], x in the server's
  // units. Runs are aligned on the union of their x values: a run without a point at some x
  // holds `undefined` there, which uPlot joins over; a NaN holds `null`, which it leaves as a
  // gap, so a NaN is never bridged.
  function drawLines(container, lines, axis, options) {
    options = options || {};
    var seen = new Set();
    lines.forEach(function (line) {
      line.x.forEach(function (x) { seen.add(x); });
      (line.nanX || []).forEach(function (x) { seen.add(x); });
    });
    var xs = Array.from(seen).sort(function (a, b) { return a - b; });
    var index = new Map();
    xs.forEach(function (x, i) { index.set(x, i); });
    var data = [toX(xs, axis)];
    var xLabel = options.xLabel || AXIS_LABELS[axis];
    var series = [{ label: xLabel }];
    var bands = [];
    function column(line, values) {
      var out = new Array(xs.length).fill(undefined);
      line.x.forEach(function (x, i) {
        var v = values[i];
        if (options.logY && v !== null && v <= 0) v = undefined;
        out[index.get(x)] = v;
      });
      (line.nanX || []).forEach(function (x) {
        var i = index.get(x);
        if (out[i] === undefined) out[i] = null;
      });
      return out;
    }
    lines.forEach(function (line) {
      data.push(column(line, line.y));
      var main = series.length;
      series.push({
        label: line.label,
        stroke: line.color,
        width: line.width || 1.5,
        dash: line.dash,
        spanGaps: false,
        // A metric logged once has no line to draw, so it needs its point.
        points: { show: !!options.points || line.x.length < 2, size: line.pointSize || 5, fill: line.color },
      });
      if (line.lo && line.hi) {
        data.push(column(line, line.hi));
        data.push(column(line, line.lo));
        series.push({ label: line.label + " max", stroke: fade(line.color, 0.3), width: 1, spanGaps: false, tip: false, points: { show: false } });
        series.push({ label: line.label + " min", stroke: fade(line.color, 0.3), width: 1, spanGaps: false, tip: false, points: { show: false } });
        bands.push({ series: [main + 1, main + 2], fill: fade(line.color, 0.12) });
      }
    });
    var width = Math.max(200, container.clientWidth || 400);
    var xAxis = { label: xLabel };
    if (options.xFormat) xAxis.values = options.xFormat;
    if (options.xSplits) xAxis.splits = options.xSplits;
    var opts = {
      width: width,
      height: options.height || 220,
      scales: { x: { time: axis === "time", distr: options.logX ? 3 : 1 }, y: { distr: options.logY ? 3 : 1 } },
      axes: [xAxis, { size: axisSize, label: options.yLabel }],
      series: series,
      bands: bands,
      legend: { show: !!options.legend && lines.length <= 8 },
      cursor: { drag: { x: true, y: false, setScale: options.dragZooms !== false } },
      hooks: options.hooks || {},
      plugins: [tooltipPlugin(options.tipLimit || 12, !!options.tipExact)],
    };
    container.innerHTML = "";
    var plot = new uPlot(opts, data, container);
    container.dataset.yAxisWidth = String(plot.axes[1]._size);
    container.uplot = plot;
    return plot;
  }

  // One chart; `runs` is [{name, data}] where data holds x/last/min/max/nan_x from the server.
  function draw(container, runs, axis, options) {
    options = options || {};
    return drawLines(container, runs.map(function (run, n) {
      var band = options.band && runs.length === 1;
      return {
        label: run.name,
        color: run.color || colour(n),
        x: run.data.x,
        y: options.transform ? options.transform(run.data.last) : run.data.last,
        nanX: run.data.nan_x || [],
        lo: band ? run.data.min : null,
        hi: band ? run.data.max : null,
      };
    }), axis, options);
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

  window.MLPCharts = {
    fetchSeries: fetchSeries, fetchJson: fetchJson, draw: draw, drawLines: drawLines, matcher: matcher,
    colour: colour, fade: fade, ema: ema, AXIS_LABELS: AXIS_LABELS,
  };

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
  var loaded = new Map();
  var smoothing = document.getElementById("smoothing");
  var smoothingValue = document.getElementById("smoothing-value");
  var logY = document.getElementById("log-y");
  smoothingValue.textContent = smoothing.value;

  function render(card) {
    var entry = loaded.get(card);
    if (!entry) return;
    if (plots.has(card)) plots.get(card).destroy();
    var weight = parseFloat(smoothing.value) || 0;
    plots.set(card, draw(card.querySelector(".chart"), [{ name: card.dataset.key, data: entry.data }], entry.axis, {
      band: true, logY: logY.checked, transform: function (values) { return ema(values, weight); },
    }));
    card.dataset.state = "drawn";
  }

  function load(card) {
    var axis = axisSelect.value;
    var target = card.querySelector(".chart");
    card.dataset.state = "loading";
    var points = Math.min(2000, Math.max(200, target.clientWidth || 400));
    fetchSeries(base, runId, card.dataset.key, axis, points).then(function (data) {
      loaded.set(card, { axis: axis, data: data });
      render(card);
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
    if (parseFloat(smoothing.value)) params.set("smooth", smoothing.value); else params.delete("smooth");
    if (logY.checked) params.set("log", "1"); else params.delete("log");
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
  function redraw() {
    rememberInUrl();
    cards.forEach(function (card) { if (card.dataset.state === "drawn") render(card); });
  }
  smoothing.addEventListener("input", function () { smoothingValue.textContent = smoothing.value; redraw(); });
  logY.addEventListener("change", redraw);
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
