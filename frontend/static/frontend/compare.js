// The compare page: overlaid metric charts, interactive parallel coordinates, a scatter plot and a
// contour plot. Every run keeps one colour across the page: its place in the compared list. A
// brush on the parallel coordinates picks runs for every view and lives in the URL (?brush=).
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
  // Each card's series are fetched once; a change of brush redraws them without the runs it
  // leaves out.
  var grid = document.getElementById("compare-grid");
  function drawGridCard(card) {
    var shown = card.loaded.filter(function (r) { return r && r.data.x.length && selected(runs[r.index]); });
    C.draw(card.querySelector(".chart"), shown, "step", { legend: true });
    card.dataset.state = "drawn";
    card.dataset.lines = String(shown.length);
  }
  function redrawGrid() {
    if (!grid) return;
    grid.querySelectorAll(".chart-card").forEach(function (card) { if (card.loaded) drawGridCard(card); });
  }
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
            return { name: run.name, color: C.colour(i), data: series, index: i };
          }).catch(function () { return null; });
        })).then(function (loaded) {
          card.loaded = loaded;
          drawGridCard(card);
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
  function shortName(id) { return id.replace(/^(params|metrics)\./, ""); }

  // A scale for the values of one axis: numbers linear, or logarithmic when positive and
  // spread over two decades or more (learning rates); anything else as labelled categories.
  // pos() maps a value to [0, 1]; value() maps a position back (numeric scales only).
  function makeScale(values) {
    var known = values.filter(present);
    var numeric = known.length > 0 && known.every(function (v) { return typeof v === "number"; });
    if (numeric) {
      var lo = Math.min.apply(null, known), hi = Math.max.apply(null, known);
      var log = lo > 0 && hi / lo >= 100;
      var f = log ? Math.log : function (v) { return v; };
      var g = log ? Math.exp : function (v) { return v; };
      return {
        numeric: true, log: log, lo: lo, hi: hi,
        pos: function (v) { return hi === lo ? 0.5 : (f(v) - f(lo)) / (f(hi) - f(lo)); },
        value: function (p) { return hi === lo ? lo : g(f(lo) + p * (f(hi) - f(lo))); },
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
  function rampRgb(t) {
    t = Math.max(0, Math.min(1, t)) * (RAMP.length - 1);
    var i = Math.min(RAMP.length - 2, Math.floor(t)), f = t - i;
    return RAMP[i].map(function (v, k) { return Math.round(v + f * (RAMP[i + 1][k] - v)); });
  }
  function ramp(t) { return "rgb(" + rampRgb(t).join(",") + ")"; }

  function fit(ctx, text, width) {
    if (ctx.measureText(text).width <= width) return text;
    while (text.length > 1 && ctx.measureText(text + "…").width > width) text = text.slice(0, -1);
    return text + "…";
  }

  function sizeCanvas(canvas, height) {
    var width = canvas.clientWidth || 900;
    var ratio = window.devicePixelRatio || 1;
    canvas.width = width * ratio;
    canvas.height = height * ratio;
    canvas.style.height = height + "px";
    var ctx = canvas.getContext("2d");
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    ctx.clearRect(0, 0, width, height);
    ctx.font = "12px system-ui, sans-serif";
    return { ctx: ctx, width: width };
  }

  // --- The brush: axis id -> {min, max} (numbers) or {in: [categories]} ------------------
  // Kept in value space, not in positions on the plot, so a reload, another choice of axes or
  // another set of runs keeps the same meaning.
  var brushes = {};
  Object.keys(data.brush || {}).forEach(function (id) { brushes[id] = data.brush[id]; });

  function inBrush(run, id) {
    var v = valueOf(run, id), brush = brushes[id];
    if (!present(v)) return false;
    if (brush.in) return brush.in.indexOf(String(v)) !== -1;
    var slack = 1e-9 * Math.max(1, Math.abs(brush.min), Math.abs(brush.max));
    return typeof v === "number" && v >= brush.min - slack && v <= brush.max + slack;
  }
  function selected(run) {
    return Object.keys(brushes).every(function (id) { return inBrush(run, id); });
  }
  function brushed() { return Object.keys(brushes).length > 0; }

  // Forms of the page carry its state as hidden inputs, so that submitting one keeps the rest.
  function keepState(name, value) {
    document.querySelectorAll("form.keep-state").forEach(function (form) {
      var own = Array.prototype.some.call(form.elements, function (el) { return el.name === name && el.type !== "hidden"; });
      if (own) return;
      var input = form.querySelector('input[type=hidden][name="' + name + '"]');
      if (!value) { if (input) input.remove(); return; }
      if (!input) {
        input = document.createElement("input");
        input.type = "hidden";
        input.name = name;
        form.appendChild(input);
      }
      input.value = value;
    });
  }
  function remember(values) {
    var params = new URLSearchParams(window.location.search);
    Object.keys(values).forEach(function (name) {
      if (values[name]) params.set(name, values[name]); else params.delete(name);
      keepState(name, values[name]);
    });
    history.replaceState(null, "", window.location.pathname + "?" + params.toString());
  }

  var views = [];  // redrawn when the brushed runs change
  function brushChanged() {
    remember({ brush: brushed() ? JSON.stringify(brushes) : "" });
    views.forEach(function (draw) { draw(); });
  }

  // --- Tables: the columns of brushed-out runs are hidden ---------------------------------
  var clear = document.getElementById("clear-brush");
  function filterTables() {
    var keep = runs.map(selected);
    document.querySelectorAll("table.compare [data-col]").forEach(function (cell) {
      // The difference view's baseline stays: every other column is read against it.
      var out = !keep[parseInt(cell.dataset.col, 10)] && !cell.classList.contains("baseline");
      cell.classList.toggle("brushed-out", out);
    });
    if (clear) clear.hidden = !brushed();
  }
  views.push(filterTables, redrawGrid);
  if (clear) clear.addEventListener("click", function () { brushes = {}; brushChanged(); });

  // --- Parallel coordinates --------------------------------------------------------------
  var canvas = document.getElementById("parallel");
  var status = document.getElementById("parallel-status");
  var spec = data.parallel;
  var axes = spec.params.map(function (key) { return { name: key, id: "params." + key }; });
  if (spec.metric) axes.push({ name: spec.metric, id: "metrics." + spec.metric, metric: true });
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

  // The span of positions a brush covers on an axis, for drawing it.
  function brushSpan(axis) {
    var brush = brushes[axis.id];
    if (brush.in) {
      var ps = brush.in.filter(function (c) { return axis.scale.cats && axis.scale.cats.indexOf(c) !== -1; }).map(axis.scale.pos);
      return ps.length ? [Math.min.apply(null, ps) - 0.02, Math.max.apply(null, ps) + 0.02] : null;
    }
    if (!axis.scale.numeric) return null;
    var clamp = function (p) { return Math.max(0, Math.min(1, p)); };
    var lo = brush.min, hi = brush.max;
    if (axis.scale.log && lo <= 0) lo = axis.scale.lo;
    return [clamp(axis.scale.pos(lo)), clamp(axis.scale.pos(hi))];
  }

  // A brush from a dragged span of positions on an axis.
  function brushFrom(axis, from, to) {
    if (axis.scale.numeric) return { min: axis.scale.value(from), max: axis.scale.value(to) };
    return { in: axis.scale.cats.filter(function (c) { var p = axis.scale.pos(c); return p >= from - 1e-9 && p <= to + 1e-9; }) };
  }

  function drawParallel() {
    if (!canvas || !axes.length || !runs.length) return;
    var g = geometry();
    var ctx = sizeCanvas(canvas, height).ctx;
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
      var span = brushes[axis.id] ? brushSpan(axis) : null;
      if (span) {
        ctx.fillStyle = "rgba(31,95,191,0.18)";
        ctx.strokeStyle = "#1f5fbf";
        var top = g.y(span[1]), bottom = g.y(span[0]);
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
    var hidden = Object.keys(brushes).filter(function (id) {
      return !axes.some(function (axis) { return axis.id === id; });
    });
    status.textContent = brushed()
      ? chosen.length + " of " + runs.length + " runs in the brushed ranges" +
        (hidden.length ? " (also brushed: " + hidden.map(shortName).join(", ") + ")" : "") + "."
      : "";
  }
  views.push(drawParallel);

  if (canvas && axes.length) {
    var drag = null;
    var eventPoint = function (event) {
      var box = canvas.getBoundingClientRect();
      return { x: event.clientX - box.left, y: event.clientY - box.top };
    };
    var toPos = function (y) { return Math.max(0, Math.min(1, 1 - (y - pad.top) / (height - pad.top - pad.bottom))); };
    canvas.addEventListener("mousedown", function (event) {
      var g = geometry(), p = eventPoint(event);
      for (var a = 0; a < axes.length; a++) {
        if (Math.abs(p.x - g.x(a)) <= 14) { drag = { axis: axes[a], from: toPos(p.y), moved: false }; break; }
      }
    });
    window.addEventListener("mousemove", function (event) {
      if (!drag) return;
      var to = toPos(eventPoint(event).y);
      if (Math.abs(to - drag.from) > 0.01) drag.moved = true;
      if (drag.moved) {
        brushes[drag.axis.id] = brushFrom(drag.axis, Math.min(drag.from, to), Math.max(drag.from, to));
        drawParallel();
      }
    });
    window.addEventListener("mouseup", function () {
      if (!drag) return;
      if (!drag.moved) delete brushes[drag.axis.id];  // a click on an axis clears its brush
      drag = null;
      brushChanged();
    });
    window.addEventListener("resize", drawParallel);
  }

  // --- Scatter ---------------------------------------------------------------------------
  var scatter = document.getElementById("scatter");
  var sx = document.getElementById("scatter-x");
  var sy = document.getElementById("scatter-y");
  var plot = null;
  function drawScatter() {
    if (!scatter || !sx.value || !sy.value) return;
    var xScale = makeScale(runs.map(function (run) { return valueOf(run, sx.value); }));
    var lines = [], highlighted = 0;
    runs.forEach(function (run, i) {
      var xv = valueOf(run, sx.value), yv = valueOf(run, sy.value);
      if (!present(xv) || typeof yv !== "number") return;  // NaN or missing: not drawn at 0
      var x = xScale.numeric ? xv : xScale.cats.indexOf(String(xv));
      var inside = selected(run);
      if (inside) highlighted++;
      // Brushed-out runs stay as small grey points, so the brushed ones are seen among them.
      lines.push({
        label: run.name + (inside ? "" : " (brushed out)"),
        color: inside ? C.colour(i) : "rgba(150,150,150,0.55)",
        x: [x], y: [yv], pointSize: inside ? 9 : 6,
      });
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
      xLabel: shortName(sx.value),
      yLabel: shortName(sy.value),
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
    scatter.dataset.highlighted = String(highlighted);
  }
  if (scatter) {
    if (data.scatter.x) sx.value = data.scatter.x;
    if (data.scatter.y) sy.value = data.scatter.y;
    var scatterChanged = function () { remember({ sx: sx.value, sy: sy.value }); drawScatter(); };
    sx.addEventListener("change", scatterChanged);
    sy.addEventListener("change", scatterChanged);
    document.getElementById("scatter-controls").addEventListener("submit", function (e) { e.preventDefault(); });
    views.push(drawScatter);
  }

  // --- Contour ---------------------------------------------------------------------------
  // The runs are points on an x/y plane; the colour metric between them is interpolated by
  // inverse-distance weighting on a grid of the plot's own (log or category) axes, and banded
  // into levels so that equal colours read as contours.
  var contour = document.getElementById("contour");
  var legend = document.getElementById("contour-legend");
  var contourStatus = document.getElementById("contour-status");
  var cx = document.getElementById("contour-x");
  var cy = document.getElementById("contour-y");
  var cz = document.getElementById("contour-z");
  var LEVELS = 10, CELL = 5, MARGIN = 0.05, CONTOUR_HEIGHT = 380;
  var cpad = { left: 64, right: 16, top: 12, bottom: 44 };

  function interpolate(points, u, v) {
    var num = 0, den = 0;
    for (var i = 0; i < points.length; i++) {
      var du = u - points[i].u, dv = v - points[i].v, d2 = du * du + dv * dv;
      if (d2 < 1e-12) return points[i].t;
      var w = 1 / (d2 * d2);  // power 4 of the distance: each run dominates its neighbourhood
      num += w * points[i].t;
      den += w;
    }
    return num / den;
  }

  function band(t) { return Math.min(LEVELS - 1, Math.floor(t * LEVELS)) / (LEVELS - 1); }

  function drawLegend(zScale, zName) {
    legend.innerHTML = "";
    var title = document.createElement("div");
    title.className = "title";
    title.textContent = zName + (zScale.log ? " (log)" : "");
    title.title = title.textContent;
    legend.appendChild(title);
    var bar = document.createElement("div");
    bar.className = "bar";
    var stops = [];
    for (var k = 0; k < LEVELS; k++) {
      var colour = ramp(k / (LEVELS - 1));
      stops.push(colour + " " + (100 * k / LEVELS) + "%", colour + " " + (100 * (k + 1) / LEVELS) + "%");
    }
    bar.style.background = "linear-gradient(to top, " + stops.join(", ") + ")";
    legend.appendChild(bar);
    var top = 28, bottom = CONTOUR_HEIGHT - 40;
    [1, 0.75, 0.5, 0.25, 0].forEach(function (p) {
      if (zScale.hi === zScale.lo && p !== 0.5) return;
      var tick = document.createElement("span");
      tick.className = "tick";
      tick.textContent = label(zScale.value(p));
      tick.style.top = (top + (1 - p) * (bottom - top)) + "px";
      legend.appendChild(tick);
    });
  }

  function drawContour() {
    if (!contour || !cx.value || !cy.value || !cz.value) return;
    var xScale = makeScale(runs.map(function (run) { return valueOf(run, cx.value); }));
    var yScale = makeScale(runs.map(function (run) { return valueOf(run, cy.value); }));
    var points = [], noXY = 0, noZ = 0;
    runs.forEach(function (run, i) {
      var xv = valueOf(run, cx.value), yv = valueOf(run, cy.value), zv = valueOf(run, cz.value);
      if (!present(xv) || !present(yv)) { noXY++; return; }
      if (typeof zv !== "number") { noZ++; return; }  // NaN or not logged: left out, counted
      points.push({ run: run, index: i, x: xv, y: yv, z: zv, inside: selected(run) });
    });
    var sized = sizeCanvas(contour, CONTOUR_HEIGHT), ctx = sized.ctx, width = sized.width;
    // Room on the left for the longest y label (category names), within reason.
    ctx.font = "11px system-ui, sans-serif";
    var widest = yScale.ticks().reduce(function (m, t) { return Math.max(m, ctx.measureText(label(t)).width); }, 0);
    cpad.left = Math.round(Math.min(160, Math.max(40, widest + 12)) + 24);
    var w = width - cpad.left - cpad.right, h = CONTOUR_HEIGHT - cpad.top - cpad.bottom;
    var zScale = makeScale(points.map(function (p) { return p.z; }));
    function px(p) { return cpad.left + (MARGIN + p * (1 - 2 * MARGIN)) * w; }
    function py(p) { return cpad.top + (1 - MARGIN - p * (1 - 2 * MARGIN)) * h; }
    points.forEach(function (p) {
      p.u = MARGIN + xScale.pos(p.x) * (1 - 2 * MARGIN);
      p.v = MARGIN + yScale.pos(p.y) * (1 - 2 * MARGIN);
      p.t = zScale.pos(p.z);
    });
    var field = points.filter(function (p) { return p.inside; });
    if (field.length) {
      var cols = Math.ceil(w / CELL), rows = Math.ceil(h / CELL);
      ctx.save();
      ctx.beginPath();
      ctx.rect(cpad.left, cpad.top, w, h);
      ctx.clip();
      for (var r = 0; r < rows; r++) {
        for (var c = 0; c < cols; c++) {
          var t = interpolate(field, (c + 0.5) * CELL / w, 1 - (r + 0.5) * CELL / h);
          ctx.fillStyle = ramp(band(t));
          ctx.fillRect(cpad.left + c * CELL, cpad.top + r * CELL, CELL + 0.5, CELL + 0.5);
        }
      }
      ctx.restore();
    } else {
      ctx.fillStyle = "#f1f3f6";
      ctx.fillRect(cpad.left, cpad.top, w, h);
    }
    // The plot's frame, ticks and labels; categories are named on their axis.
    ctx.strokeStyle = "#5b6475";
    ctx.lineWidth = 1;
    ctx.strokeRect(cpad.left + 0.5, cpad.top + 0.5, w, h);
    ctx.fillStyle = "#1d2330";
    ctx.font = "11px system-ui, sans-serif";
    var xTicks = xScale.ticks(), xEvery = Math.max(1, Math.ceil(xTicks.length / 10));
    ctx.textAlign = "center";
    xTicks.forEach(function (t, i) {
      if (i % xEvery) return;
      var x = px(xScale.pos(t));
      ctx.fillRect(x, cpad.top + h, 1, 4);
      ctx.fillText(fit(ctx, label(t), Math.max(40, w / Math.min(xTicks.length, 10) - 6)), x, cpad.top + h + 16);
    });
    var yTicks = yScale.ticks(), yEvery = Math.max(1, Math.ceil(yTicks.length / 10));
    ctx.textAlign = "right";
    yTicks.forEach(function (t, i) {
      if (i % yEvery) return;
      var y = py(yScale.pos(t));
      ctx.fillRect(cpad.left - 4, y, 4, 1);
      ctx.fillText(fit(ctx, label(t), cpad.left - 30), cpad.left - 6, y + 4);
    });
    ctx.font = "600 12px system-ui, sans-serif";
    ctx.textAlign = "center";
    ctx.fillText(shortName(cx.value) + (xScale.log ? " (log)" : ""), cpad.left + w / 2, CONTOUR_HEIGHT - 6);
    ctx.save();
    ctx.translate(12, cpad.top + h / 2);
    ctx.rotate(-Math.PI / 2);
    ctx.fillText(shortName(cy.value) + (yScale.log ? " (log)" : ""), 0, 0);
    ctx.restore();
    // The runs: brushed ones as dots in their metric's colour, the others as hollow grey rings.
    points.forEach(function (p) {
      ctx.beginPath();
      ctx.arc(px(xScale.pos(p.x)), py(yScale.pos(p.y)), p.inside ? 5 : 4, 0, 2 * Math.PI);
      if (p.inside) {
        ctx.fillStyle = ramp(p.t);
        ctx.fill();
        ctx.strokeStyle = "#fff";
        ctx.lineWidth = 2;
        ctx.stroke();
        ctx.strokeStyle = "#1d2330";
        ctx.lineWidth = 1;
        ctx.beginPath();
        ctx.arc(px(xScale.pos(p.x)), py(yScale.pos(p.y)), 6.5, 0, 2 * Math.PI);
      } else {
        ctx.strokeStyle = "rgba(90,90,90,0.8)";
        ctx.lineWidth = 1.5;
      }
      ctx.stroke();
    });
    if (points.length) drawLegend(zScale, shortName(cz.value)); else legend.innerHTML = "";
    contour.points = points.map(function (p) {
      return { id: p.run.id, name: p.run.name, x: px(xScale.pos(p.x)), y: py(yScale.pos(p.y)), inside: p.inside };
    });
    contour.contour = {
      x: { name: shortName(cx.value), log: !!xScale.log, categories: xScale.cats || null },
      y: { name: shortName(cy.value), log: !!yScale.log, categories: yScale.cats || null },
      z: { name: shortName(cz.value), log: !!zScale.log, lo: zScale.lo, hi: zScale.hi },
    };
    contour.dataset.state = "drawn";
    contour.dataset.points = String(points.length);
    contour.dataset.highlighted = String(field.length);
    contour.dataset.leftOut = String(noXY + noZ);
    var parts = [points.length + " of " + runs.length + " runs drawn"];
    if (brushed()) parts.push(field.length + " in the brushed ranges make the colour field");
    if (noZ) parts.push(noZ + " left out without a value of " + shortName(cz.value) + " (NaN or not logged)");
    if (noXY) parts.push(noXY + " left out without a value of " + shortName(cx.value) + " or " + shortName(cy.value));
    contourStatus.textContent = parts.join("; ") + ".";
  }
  if (contour) {
    if (data.contour.x) cx.value = data.contour.x;
    if (data.contour.y) cy.value = data.contour.y;
    if (data.contour.z) cz.value = data.contour.z;
    var contourChanged = function () { remember({ cx: cx.value, cy: cy.value, cz: cz.value }); drawContour(); };
    [cx, cy, cz].forEach(function (select) { select.addEventListener("change", contourChanged); });
    // The run under the pointer, named in the canvas's tooltip.
    contour.addEventListener("mousemove", function (event) {
      var box = contour.getBoundingClientRect(), mx = event.clientX - box.left, my = event.clientY - box.top;
      var hit = (contour.points || []).filter(function (p) { return Math.abs(p.x - mx) <= 6 && Math.abs(p.y - my) <= 6; })[0];
      if (!hit) { contour.title = ""; return; }
      var run = runs.filter(function (r) { return r.id === hit.id; })[0];
      contour.title = run.name + "\n" + [cx.value, cy.value, cz.value].map(function (id) {
        return shortName(id) + ": " + label(valueOf(run, id));
      }).join("\n");
    });
    window.addEventListener("resize", drawContour);
    views.push(drawContour);
  }

  views.forEach(function (draw) { draw(); });
})();
