// The compare page: overlaid metric charts, interactive parallel coordinates and a scatter plot.
// Every run keeps one colour across the page: its place in the compared list.
(function () {
  "use strict";
  var C = window.MLPCharts;
  var source = document.getElementById("compare-data");
  if (!source || !C) return;
  var data = JSON.parse(source.textContent);
  var runs = data.runs;

  document.querySelectorAll(".swatch[data-colour]").forEach(function (swatch) {
    swatch.style.background = C.colour(parseInt(swatch.dataset.colour, 10));
  });

  // --- Metrics over steps ----------------------------------------------------------------
  var grid = document.getElementById("compare-grid");
  if (grid) {
    var base = grid.dataset.seriesBase;
    var observer = new IntersectionObserver(function (entries) {
      entries.forEach(function (entry) {
        if (!entry.isIntersecting) return;
        observer.unobserve(entry.target);
        var card = entry.target;
        var target = card.querySelector(".chart");
        var points = Math.min(1000, Math.max(200, target.clientWidth || 400));
        Promise.all(runs.map(function (run, i) {
          if (!(card.dataset.key in run.metrics)) return null;
          return C.fetchSeries(base, run.id, card.dataset.key, "step", points).then(function (series) {
            return { name: run.name, color: C.colour(i), data: series };
          }).catch(function () { return null; });
        })).then(function (loaded) {
          C.draw(target, loaded.filter(function (r) { return r && r.data.x.length; }), "step", { legend: true });
          card.dataset.state = "drawn";
        });
      });
    }, { rootMargin: "200px" });
    grid.querySelectorAll(".chart-card").forEach(function (card) { observer.observe(card); });
  }

  function valueOf(run, id) {
    if (id.indexOf("params.") === 0) return run.params[id.slice(7)];
    if (id.indexOf("metrics.") === 0) return run.metrics[id.slice(8)];
    return undefined;
  }
  function present(v) { return v !== null && v !== undefined; }

  // A scale for the values of one axis: numbers linear, or logarithmic when positive and
  // spread over two decades or more (learning rates); anything else as labelled categories.
  function makeScale(values) {
    var known = values.filter(present);
    var numeric = known.length > 0 && known.every(function (v) { return typeof v === "number"; });
    if (numeric) {
      var lo = Math.min.apply(null, known), hi = Math.max.apply(null, known);
      var log = lo > 0 && hi / lo >= 100;
      var f = log ? Math.log : function (v) { return v; };
      return {
        numeric: true, log: log, lo: lo, hi: hi,
        pos: function (v) { return hi === lo ? 0.5 : (f(v) - f(lo)) / (f(hi) - f(lo)); },
        ticks: function () {
          if (hi === lo) return [lo];
          if (log) {
            var out = [];
            for (var e = Math.ceil(Math.log10(lo) - 1e-9); e <= Math.floor(Math.log10(hi) + 1e-9); e++) out.push(Math.pow(10, e));
            return out.length >= 2 ? out : [lo, hi];
          }
          return [0, 0.25, 0.5, 0.75, 1].map(function (t) { return lo + t * (hi - lo); });
        },
      };
    }
    var cats = Array.from(new Set(known.map(String))).sort();
    return {
      numeric: false, cats: cats,
      pos: function (v) { return cats.length < 2 ? 0.5 : cats.indexOf(String(v)) / (cats.length - 1); },
      ticks: function () { return cats; },
    };
  }

  function label(v) {
    if (typeof v !== "number") return String(v);
    var a = Math.abs(v);
    return a !== 0 && (a >= 1e5 || a < 1e-3) ? v.toExponential(1) : String(+v.toPrecision(4));
  }

  // Viridis, sampled: dark blue for the lowest metric, yellow for the highest.
  var RAMP = [[68, 1, 84], [59, 82, 139], [33, 145, 140], [94, 201, 98], [253, 231, 37]];
  function ramp(t) {
    t = Math.max(0, Math.min(1, t)) * (RAMP.length - 1);
    var i = Math.min(RAMP.length - 2, Math.floor(t)), f = t - i;
    var c = RAMP[i].map(function (v, k) { return Math.round(v + f * (RAMP[i + 1][k] - v)); });
    return "rgb(" + c.join(",") + ")";
  }

  function fit(ctx, text, width) {
    if (ctx.measureText(text).width <= width) return text;
    while (text.length > 1 && ctx.measureText(text + "…").width > width) text = text.slice(0, -1);
    return text + "…";
  }

  // --- Parallel coordinates --------------------------------------------------------------
  var canvas = document.getElementById("parallel");
  var status = document.getElementById("parallel-status");
  var spec = data.parallel;
  var axes = spec.params.map(function (key) { return { name: key, id: "params." + key }; });
  if (spec.metric) axes.push({ name: spec.metric, id: "metrics." + spec.metric, metric: true });
  var brushes = {};
  var height = 340;
  var pad = { left: 56, right: 120, top: 44, bottom: 24 };
  axes.forEach(function (axis) {
    axis.scale = makeScale(runs.map(function (run) { return valueOf(run, axis.id); }));
  });
  var metricAxis = spec.metric ? axes[axes.length - 1] : null;

  function geometry() {
    var width = canvas.clientWidth || 900;
    var step = axes.length > 1 ? (width - pad.left - pad.right) / (axes.length - 1) : 0;
    return {
      width: width, step: step,
      x: function (a) { return pad.left + a * step; },
      y: function (p) { return pad.top + (1 - p) * (height - pad.top - pad.bottom); },
    };
  }

  function selected(run) {
    return Object.keys(brushes).every(function (a) {
      var v = valueOf(run, axes[a].id);
      if (!present(v)) return false;
      var p = axes[a].scale.pos(v);
      return p >= brushes[a][0] - 1e-9 && p <= brushes[a][1] + 1e-9;
    });
  }

  function drawParallel() {
    if (!canvas || !axes.length || !runs.length) return;
    var g = geometry();
    var ratio = window.devicePixelRatio || 1;
    canvas.width = g.width * ratio;
    canvas.height = height * ratio;
    canvas.style.height = height + "px";
    var ctx = canvas.getContext("2d");
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    ctx.clearRect(0, 0, g.width, height);
    ctx.font = "12px system-ui, sans-serif";
    var chosen = runs.filter(selected);
    function line(run, color, width) {
      ctx.strokeStyle = color;
      ctx.lineWidth = width;
      ctx.beginPath();
      var started = false;
      axes.forEach(function (axis, a) {
        var v = valueOf(run, axis.id);
        if (!present(v)) { started = false; return; }  // NaN or missing: no point, never 0
        var py = g.y(axis.scale.pos(v));
        if (started) ctx.lineTo(g.x(a), py); else { ctx.moveTo(g.x(a), py); started = true; }
      });
      ctx.stroke();
    }
    runs.forEach(function (run) { if (chosen.indexOf(run) === -1) line(run, "rgba(150,150,150,0.35)", 1); });
    chosen.forEach(function (run) {
      var v = metricAxis ? valueOf(run, metricAxis.id) : null;
      var color = metricAxis && present(v) && metricAxis.scale.numeric ? ramp(metricAxis.scale.pos(v)) : "#5b6475";
      line(run, color, 2);
    });
    // Axes, their names (shortened to the room between axes) and labelled ticks.
    axes.forEach(function (axis, a) {
      var x = g.x(a);
      ctx.strokeStyle = "#5b6475";
      ctx.lineWidth = 1;
      ctx.beginPath(); ctx.moveTo(x, g.y(0)); ctx.lineTo(x, g.y(1)); ctx.stroke();
      ctx.fillStyle = "#1d2330";
      ctx.textAlign = "center";
      var room = axes.length > 1 ? Math.max(40, g.step - 8) : 200;
      ctx.font = "600 12px system-ui, sans-serif";
      ctx.fillText(fit(ctx, axis.name + (axis.scale.log ? " (log)" : ""), room), x, pad.top - 22);
      ctx.font = "11px system-ui, sans-serif";
      ctx.textAlign = a === axes.length - 1 && axes.length > 1 ? "right" : "left";
      var ticks = axis.scale.ticks();
      var every = Math.max(1, Math.ceil(ticks.length / 10));
      ticks.forEach(function (t, i) {
        if (i % every) return;
        var py = g.y(axis.scale.pos(t));
        ctx.fillStyle = "#5b6475";
        ctx.fillRect(x - 3, py, 6, 1);
        ctx.fillStyle = "#1d2330";
        ctx.fillText(fit(ctx, label(t), Math.max(30, g.step / 2 - 8)), ctx.textAlign === "right" ? x - 6 : x + 6, py + 4);
      });
      if (brushes[a]) {
        ctx.fillStyle = "rgba(31,95,191,0.18)";
        ctx.strokeStyle = "#1f5fbf";
        var top = g.y(brushes[a][1]), bottom = g.y(brushes[a][0]);
        ctx.fillRect(x - 8, top, 16, bottom - top);
        ctx.strokeRect(x - 8, top, 16, bottom - top);
      }
    });
    // The colour scale of the metric.
    if (metricAxis && metricAxis.scale.numeric) {
      var bx = g.width - pad.right + 56, top = g.y(1), bottom = g.y(0);
      for (var py = top; py < bottom; py++) {
        ctx.fillStyle = ramp(1 - (py - top) / (bottom - top));
        ctx.fillRect(bx, py, 12, 1);
      }
      ctx.fillStyle = "#1d2330";
      ctx.textAlign = "left";
      ctx.fillText(label(metricAxis.scale.hi), bx + 16, top + 8);
      ctx.fillText(label(metricAxis.scale.lo), bx + 16, bottom);
    }
    canvas.dataset.state = "drawn";
    canvas.dataset.selected = String(chosen.length);
    canvas.parallel = axes.map(function (axis) {
      return { name: axis.name, log: !!axis.scale.log, categories: axis.scale.cats || null };
    });
    status.textContent = Object.keys(brushes).length
      ? chosen.length + " of " + runs.length + " runs in the brushed ranges."
      : "";
  }

  if (canvas && axes.length) {
    var drag = null;
    function eventPoint(event) {
      var box = canvas.getBoundingClientRect();
      return { x: event.clientX - box.left, y: event.clientY - box.top };
    }
    function toPos(g, y) { return Math.max(0, Math.min(1, 1 - (y - pad.top) / (height - pad.top - pad.bottom))); }
    canvas.addEventListener("mousedown", function (event) {
      var g = geometry(), p = eventPoint(event);
      for (var a = 0; a < axes.length; a++) {
        if (Math.abs(p.x - g.x(a)) <= 14) { drag = { axis: a, from: toPos(g, p.y), moved: false }; break; }
      }
    });
    window.addEventListener("mousemove", function (event) {
      if (!drag) return;
      var g = geometry(), to = toPos(g, eventPoint(event).y);
      if (Math.abs(to - drag.from) > 0.01) drag.moved = true;
      if (drag.moved) { brushes[drag.axis] = [Math.min(drag.from, to), Math.max(drag.from, to)]; drawParallel(); }
    });
    window.addEventListener("mouseup", function () {
      if (!drag) return;
      if (!drag.moved) delete brushes[drag.axis];
      drag = null;
      drawParallel();
    });
    window.addEventListener("resize", drawParallel);
    drawParallel();
  }

  // --- Scatter ---------------------------------------------------------------------------
  var scatter = document.getElementById("scatter");
  var sx = document.getElementById("scatter-x");
  var sy = document.getElementById("scatter-y");
  var plot = null;
  function drawScatter() {
    if (!scatter || !sx.value || !sy.value) return;
    var xScale = makeScale(runs.map(function (run) { return valueOf(run, sx.value); }));
    var lines = [];
    runs.forEach(function (run, i) {
      var xv = valueOf(run, sx.value), yv = valueOf(run, sy.value);
      if (!present(xv) || typeof yv !== "number") return;  // NaN or missing: not drawn at 0
      var x = xScale.numeric ? xv : xScale.cats.indexOf(String(xv));
      lines.push({ label: run.name, color: C.colour(i), x: [x], y: [yv], pointSize: 9 });
    });
    if (plot) plot.destroy();
    plot = null;
    if (!lines.length) {
      scatter.textContent = "No compared run has both values.";
      return;
    }
    var drawn = lines.length;
    if (!xScale.numeric && xScale.cats.length === 1) {
      // uPlot needs an x range: one category sits in the middle of [-1, 1].
      lines.push({ label: "", color: "rgba(0,0,0,0)", x: [-1, 1], y: [undefined, undefined] });
    }
    plot = C.drawLines(scatter, lines, "step", {
      height: 320,
      xLabel: sx.value.replace(/^(params|metrics)\./, ""),
      yLabel: sy.value.replace(/^metrics\./, ""),
      logX: !!xScale.log,
      tipExact: true,
      // A categorical x: one tick per category, labelled with it.
      xFormat: xScale.numeric ? null : function (u, values) {
        return values.map(function (v) { return Number.isInteger(v) && xScale.cats[v] !== undefined ? xScale.cats[v] : ""; });
      },
      xSplits: xScale.numeric ? null : function () { return xScale.cats.map(function (c, i) { return i; }); },
    });
    scatter.dataset.state = "drawn";
    scatter.dataset.points = String(drawn);
    var params = new URLSearchParams(window.location.search);
    params.set("sx", sx.value);
    params.set("sy", sy.value);
    history.replaceState(null, "", window.location.pathname + "?" + params.toString());
  }
  if (scatter) {
    if (data.scatter.x) sx.value = data.scatter.x;
    if (data.scatter.y) sy.value = data.scatter.y;
    sx.addEventListener("change", drawScatter);
    sy.addEventListener("change", drawScatter);
    document.getElementById("scatter-controls").addEventListener("submit", function (e) { e.preventDefault(); });
    drawScatter();
  }
})();
