// The compare page: one overlaid chart per metric key, and a parallel-coordinates plot.
(function () {
  "use strict";
  var C = window.MLPCharts;

  var grid = document.getElementById("compare-grid");
  if (grid && C) {
    var base = grid.dataset.seriesBase;
    var ids = grid.dataset.runs.split(",").filter(Boolean);
    var names = grid.dataset.names.split("|");
    var observer = new IntersectionObserver(function (entries) {
      entries.forEach(function (entry) {
        if (!entry.isIntersecting) return;
        observer.unobserve(entry.target);
        var card = entry.target;
        var target = card.querySelector(".chart");
        var points = Math.min(1000, Math.max(200, target.clientWidth || 400));
        Promise.all(ids.map(function (id, i) {
          return C.fetchSeries(base, id, card.dataset.key, "step", points).then(function (data) {
            return { name: names[i] || id.slice(0, 8), data: data };
          }).catch(function () { return null; });
        })).then(function (runs) {
          C.draw(target, runs.filter(function (r) { return r && r.data.x.length; }), "step", { legend: true });
          card.dataset.state = "drawn";
        });
      });
    }, { rootMargin: "200px" });
    grid.querySelectorAll(".chart-card").forEach(function (card) { observer.observe(card); });
  }

  // Parallel coordinates, drawn by hand: one vertical axis per param and the metric last.
  var canvas = document.getElementById("parallel");
  var source = document.getElementById("parallel-data");
  if (!canvas || !source) return;
  var spec = JSON.parse(source.textContent);
  var axes = spec.axes;
  if (!axes.length || !spec.runs.length) return;
  var ratio = window.devicePixelRatio || 1;
  var width = canvas.clientWidth || 900;
  var height = 320;
  canvas.width = width * ratio;
  canvas.height = height * ratio;
  var ctx = canvas.getContext("2d");
  ctx.scale(ratio, ratio);
  var pad = { left: 60, right: 60, top: 30, bottom: 30 };
  var step = axes.length > 1 ? (width - pad.left - pad.right) / (axes.length - 1) : 0;

  // Each axis maps numbers linearly and anything else to evenly spaced categories.
  var scales = axes.map(function (name, a) {
    var values = spec.runs.map(function (r) { return r.values[a]; }).filter(function (v) { return v !== null; });
    var numeric = values.every(function (v) { return typeof v === "number"; });
    if (numeric && values.length) {
      var lo = Math.min.apply(null, values), hi = Math.max.apply(null, values);
      return { numeric: true, lo: lo, hi: hi, pos: function (v) { return hi === lo ? 0.5 : (v - lo) / (hi - lo); } };
    }
    var cats = Array.from(new Set(values.map(String))).sort();
    return { numeric: false, cats: cats, pos: function (v) { return cats.length < 2 ? 0.5 : cats.indexOf(String(v)) / (cats.length - 1); } };
  });
  function y(p) { return pad.top + (1 - p) * (height - pad.top - pad.bottom); }
  function x(a) { return pad.left + a * step; }

  ctx.font = "12px system-ui, sans-serif";
  ctx.fillStyle = "#1d2330";
  ctx.strokeStyle = "#5b6475";
  axes.forEach(function (name, a) {
    ctx.beginPath(); ctx.moveTo(x(a), y(0)); ctx.lineTo(x(a), y(1)); ctx.stroke();
    ctx.textAlign = "center";
    ctx.fillText(name, x(a), pad.top - 12);
    var s = scales[a];
    var top = s.numeric ? String(+s.hi.toPrecision(4)) : (s.cats[s.cats.length - 1] || "");
    var bottom = s.numeric ? String(+s.lo.toPrecision(4)) : (s.cats[0] || "");
    ctx.textAlign = "left";
    ctx.fillText(top, x(a) + 4, y(1) + 4);
    ctx.fillText(bottom, x(a) + 4, y(0));
  });
  var metric = axes.length - 1;
  var metricScale = scales[metric];
  spec.runs.forEach(function (run) {
    var v = run.values[metric];
    var t = metricScale.numeric && v !== null ? metricScale.pos(v) : 0.5;
    ctx.strokeStyle = "hsl(" + Math.round(220 - 200 * t) + ", 70%, 45%)";
    ctx.lineWidth = 1.5;
    ctx.beginPath();
    var started = false;
    run.values.forEach(function (value, a) {
      if (value === null) { started = false; return; }
      var py = y(scales[a].pos(value));
      if (started) ctx.lineTo(x(a), py); else { ctx.moveTo(x(a), py); started = true; }
    });
    ctx.stroke();
  });
  canvas.dataset.state = "drawn";
})();
