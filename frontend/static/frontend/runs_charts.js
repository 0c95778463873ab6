// The chart view of an experiment: one chart per metric with every shown run overlaid, or each
// group's mean with a band from its min to its max. What is shown lives in the URL.
(function () {
  "use strict";
  var C = window.MLPCharts;
  var source = document.getElementById("charts-spec");
  if (!source || !C) return;
  var spec = JSON.parse(source.textContent);
  var grid = document.getElementById("runs-charts");
  var list = document.getElementById("chart-runs");
  var axisSelect = document.getElementById("x-axis");
  var smoothing = document.getElementById("smoothing");
  var smoothingValue = document.getElementById("smoothing-value");
  var logY = document.getElementById("log-y");
  var chartFilter = document.getElementById("chart-filter");
  var cards = Array.prototype.slice.call(grid.querySelectorAll(".chart-card"));
  var hidden = new Set(spec.hidden);
  var pinned = new Set(spec.pinned);
  var byId = {};
  spec.runs.forEach(function (run) { byId[run.id] = run; });
  var cache = new Map();
  var plots = new Map();

  axisSelect.value = spec.x;
  smoothing.value = String(Math.min(0.99, Math.max(0, parseFloat(spec.smoothing) || 0)));
  smoothingValue.textContent = smoothing.value;
  logY.checked = !!spec.log;

  // In a grouped view a group's colour is its place among the groups, in the runs' order.
  var groupNames = [];
  if (spec.groupBy) {
    spec.runs.forEach(function (run) {
      if (groupNames.indexOf(run.group) === -1) groupNames.push(run.group);
    });
  }
  function runColour(run) {
    return spec.groupBy ? C.colour(groupNames.indexOf(run.group)) : C.colour(run.colour);
  }

  list.querySelectorAll("li").forEach(function (item) {
    var run = byId[item.dataset.runId];
    item.querySelector(".swatch").style.background = runColour(run);
    item.querySelector("input").checked = !hidden.has(run.id);
    if (spec.groupBy) item.querySelector(".group-value").textContent = run.group;
  });

  // Pinned runs head the list and are drawn last (on top of the others) and thicker.
  function showPins() {
    var items = Array.prototype.slice.call(list.querySelectorAll("li"));
    items.forEach(function (item) {
      var on = pinned.has(item.dataset.runId);
      item.classList.toggle("pinned", on);
      item.querySelector("button.pin").setAttribute("aria-pressed", on ? "true" : "false");
    });
    items.sort(function (a, b) {
      return (pinned.has(b.dataset.runId) ? 1 : 0) - (pinned.has(a.dataset.runId) ? 1 : 0)
        || spec.runs.indexOf(byId[a.dataset.runId]) - spec.runs.indexOf(byId[b.dataset.runId]);
    });
    items.forEach(function (item) { list.appendChild(item); });
  }
  showPins();

  function updateUrl() {
    var params = new URLSearchParams(window.location.search);
    function put(name, value, fallback) {
      if (value && value !== fallback) params.set(name, value); else params.delete(name);
    }
    put("x", axisSelect.value, "step");
    put("smooth", smoothing.value, "0");
    put("log", logY.checked ? "1" : "", "");
    put("hide", Array.from(hidden).join(","), "");
    put("pin", Array.from(pinned).join(","), "");
    put("xmin", zoom ? String(zoom[0]) : "", "");
    put("xmax", zoom ? String(zoom[1]) : "", "");
    params.delete("combine");
    Object.keys(combine).forEach(function (key) {
      combine[key].forEach(function (other) { params.append("combine", key + ":" + other); });
    });
    var query = params.toString();
    history.replaceState(null, "", window.location.pathname + (query ? "?" + query : ""));
  }

  function groupLines(runs, gridSpec, weight) {
    var groups = new Map();
    runs.forEach(function (series) {
      var name = byId[series.run_id].group;
      if (!groups.has(name)) groups.set(name, { runs: 0, buckets: new Map() });
      var group = groups.get(name);
      group.runs += 1;
      series.x.forEach(function (x, i) {
        // A value that is not finite comes as null: it has no place in a group's mean or band.
        if (series.last[i] === null) return;
        var b = Math.floor((x - gridSpec.lo) / gridSpec.width);
        if (!group.buckets.has(b)) group.buckets.set(b, { x: 0, values: [] });
        var bucket = group.buckets.get(b);
        bucket.x += x;
        bucket.values.push(series.last[i]);
      });
    });
    var lines = [];
    groups.forEach(function (group, name) {
      var keys = Array.from(group.buckets.keys()).sort(function (a, b) { return a - b; });
      var line = { x: [], y: [], lo: [], hi: [] };
      keys.forEach(function (b) {
        var bucket = group.buckets.get(b);
        var values = bucket.values;
        line.x.push(Math.round(bucket.x / values.length));
        line.y.push(values.reduce(function (s, v) { return s + v; }, 0) / values.length);
        line.lo.push(Math.min.apply(null, values));
        line.hi.push(Math.max.apply(null, values));
      });
      line.y = C.ema(line.y, weight);
      line.label = spec.groupBy + " = " + name + " (" + group.runs + " run" + (group.runs === 1 ? "" : "s") + ")";
      line.color = C.colour(groupNames.indexOf(name));
      line.width = 2;
      lines.push(line);
    });
    return lines;
  }

  var zoom = spec.zoom;  // [lo, hi] in the server's x units, or null
  var resetZoom = document.getElementById("reset-zoom");
  resetZoom.hidden = !zoom;
  var combine = {};  // chart key -> the other keys drawn on it
  spec.combine.forEach(function (pair) {
    if (!spec.keys.includes(pair[0]) || !spec.keys.includes(pair[1])) return;
    (combine[pair[0]] = combine[pair[0]] || []).push(pair[1]);
  });

  function keysOf(card) { return [card.dataset.key].concat(combine[card.dataset.key] || []); }

  function linesOf(key, data, weight, dashed) {
    var shown = data.runs.filter(function (series) { return byId[series.run_id] && !hidden.has(series.run_id); });
    var lines = spec.groupBy && data.grid
      ? groupLines(shown, data.grid, weight)
      : shown.map(function (series) {
        var run = byId[series.run_id];
        var pin = pinned.has(run.id);
        return {
          label: run.name + (pin ? " (pinned)" : ""), color: runColour(run), width: pin ? 3 : 1.5,
          x: series.x, y: C.ema(series.last, weight), nanX: series.nan_x, pinned: pin,
        };
      }).sort(function (a, b) { return (a.pinned ? 1 : 0) - (b.pinned ? 1 : 0); });
    if (dashed) {
      lines.forEach(function (line) {
        line.label += " · " + key;
        line.dash = [6, 4];
        delete line.lo;
        delete line.hi;
      });
    } else if (combine[key] && combine[key].length) {
      lines.forEach(function (line) { line.label += " · " + key; });
    }
    return lines;
  }

  function onSelect(u) {
    if (u.select.width < 5) return;
    var scale = axisSelect.value === "step" ? 1 : 1000;
    var lo = u.posToVal(u.select.left, "x") * scale;
    var hi = u.posToVal(u.select.left + u.select.width, "x") * scale;
    zoom = [Math.floor(lo), Math.ceil(hi)];
    resetZoom.hidden = false;
    updateUrl();
    reloadAll();
  }

  function render(card) {
    var keys = keysOf(card);
    var entries = keys.map(function (key) { return cache.get(key); });
    if (entries.some(function (entry) { return !entry; })) return;
    var weight = parseFloat(smoothing.value) || 0;
    var lines = [];
    entries.forEach(function (entry, i) { lines = lines.concat(linesOf(keys[i], entry.data, weight, i > 0)); });
    if (plots.has(card)) plots.get(card).destroy();
    plots.delete(card);
    var target = card.querySelector(".chart");
    if (!lines.length) {
      target.textContent = "No shown run logged this metric" + (zoom ? " in the zoomed range." : ".");
    } else {
      plots.set(card, C.drawLines(target, lines, entries[0].axis, {
        logY: logY.checked, dragZooms: false, hooks: { setSelect: [onSelect] },
      }));
    }
    card.dataset.lines = String(lines.length);
    card.dataset.keys = keys.join(",");
    card.dataset.state = "drawn";
  }

  // Keys asked for in one turn (the charts that came into view together, and the keys they
  // combine) go in one request, so the server finds the view's runs once for all of them.
  var batch = null;
  function requestBatch(current) {
    var params = new URLSearchParams({ x: current.axis, points: String(current.points) });
    current.keys.forEach(function (key) { params.append("key", key); });
    if (current.zoom) {
      params.set("x_min", String(current.zoom[0]));
      params.set("x_max", String(current.zoom[1]));
    }
    var url = spec.seriesUrl + (spec.seriesUrl.indexOf("?") === -1 ? "?" : "&") + params.toString();
    return C.fetchJson(url).then(function (data) {
      data.charts.forEach(function (chart) {
        cache.set(chart.key, { axis: current.axis, data: chart });
      });
    });
  }

  function fetchKey(key) {
    var axis = axisSelect.value;
    var cached = cache.get(key);
    if (cached && cached.axis === axis) return Promise.resolve(cached);
    var card = grid.querySelector('.chart-card[data-key="' + CSS.escape(key) + '"]');
    var target = card ? card.querySelector(".chart") : grid;
    if (!batch || batch.keys.length >= spec.maxKeys) {
      var current = batch = { keys: [], axis: axis, points: 200, zoom: zoom };
      current.loaded = new Promise(function (resolve) { setTimeout(resolve, 0); }).then(function () {
        if (batch === current) batch = null;
        return requestBatch(current);
      });
    }
    if (batch.keys.indexOf(key) === -1) batch.keys.push(key);
    batch.points = Math.max(batch.points, Math.min(2000, target.clientWidth || 400));
    return batch.loaded.then(function () {
      if (!cache.has(key)) throw new Error("No data for " + key);
      return cache.get(key);
    });
  }

  function load(card) {
    if (!card.dataset.state) card.dataset.state = "loading";
    Promise.all(keysOf(card).map(fetchKey)).then(function () { render(card); }).catch(function () {
      card.querySelector(".chart").textContent = "Could not load this chart.";
      card.dataset.state = "error";
    });
  }

  // Fetch every drawn chart again (a zoom, or new points of running runs), drawing each when
  // its data is in, so the page never goes blank.
  function reloadAll() {
    cache.clear();
    cards.forEach(function (card) {
      if (card.dataset.state === "drawn" || card.dataset.state === "error") load(card);
    });
  }

  function showCombined(card) {
    var caption = card.querySelector("figcaption");
    caption.querySelectorAll(".combined").forEach(function (chip) { chip.remove(); });
    (combine[card.dataset.key] || []).forEach(function (other) {
      var chip = document.createElement("button");
      chip.type = "button";
      chip.className = "small combined";
      chip.dataset.other = other;
      chip.textContent = other + " ×";
      chip.setAttribute("aria-label", "Stop drawing " + other + " on this chart");
      caption.insertBefore(chip, caption.querySelector("select.combine"));
    });
  }
  cards.forEach(showCombined);

  grid.addEventListener("change", function (event) {
    var select = event.target.closest && event.target.closest("select.combine");
    if (!select || !select.value) return;
    var card = select.closest(".chart-card");
    var list = combine[card.dataset.key] = combine[card.dataset.key] || [];
    if (list.indexOf(select.value) === -1) list.push(select.value);
    select.value = "";
    showCombined(card);
    updateUrl();
    load(card);
  });
  grid.addEventListener("click", function (event) {
    var chip = event.target.closest && event.target.closest("button.combined");
    if (!chip) return;
    var card = chip.closest(".chart-card");
    combine[card.dataset.key] = (combine[card.dataset.key] || []).filter(function (k) { return k !== chip.dataset.other; });
    showCombined(card);
    updateUrl();
    render(card);
  });
  resetZoom.addEventListener("click", function () {
    zoom = null;
    resetZoom.hidden = true;
    updateUrl();
    reloadAll();
  });
  if (spec.live) {
    setInterval(function () { if (!document.hidden) reloadAll(); }, 10000);
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

  function redrawAll() {
    cards.forEach(function (card) { if (card.dataset.state === "drawn") render(card); });
  }

  list.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest("button.pin");
    if (!button) return;
    var id = button.closest("li").dataset.runId;
    if (pinned.has(id)) pinned.delete(id); else pinned.add(id);
    showPins();
    updateUrl();
    redrawAll();
  });
  list.addEventListener("change", function (event) {
    var id = event.target.value;
    if (event.target.checked) hidden.delete(id); else hidden.add(id);
    updateUrl();
    redrawAll();
  });
  function setAll(show) {
    list.querySelectorAll("input").forEach(function (box) {
      box.checked = show;
      if (show) hidden.delete(box.value); else hidden.add(box.value);
    });
    updateUrl();
    redrawAll();
  }
  document.getElementById("show-all").addEventListener("click", function () { setAll(true); });
  document.getElementById("hide-all").addEventListener("click", function () { setAll(false); });
  smoothing.addEventListener("input", function () {
    smoothingValue.textContent = smoothing.value;
    updateUrl();
    redrawAll();
  });
  logY.addEventListener("change", function () { updateUrl(); redrawAll(); });
  axisSelect.addEventListener("change", function () {
    zoom = null;
    resetZoom.hidden = true;
    updateUrl();
    cache.clear();
    cards.forEach(function (card) {
      observer.unobserve(card);
      delete card.dataset.state;
    });
    observeAll();
  });
  chartFilter.addEventListener("input", function () {
    var matches = C.matcher(chartFilter.value);
    cards.forEach(function (card) { card.hidden = !matches(card.dataset.key); });
    observeAll();
  });
  // A new filter, sort or grouping keeps how the charts are drawn (not the zoom: other runs).
  document.getElementById("charts-filter").addEventListener("submit", function (event) {
    var form = event.target;
    var current = new URLSearchParams(window.location.search);
    ["x", "smooth", "log", "hide", "pin", "combine"].forEach(function (name) {
      current.getAll(name).forEach(function (value) {
        var input = document.createElement("input");
        input.type = "hidden";
        input.name = name;
        input.value = value;
        form.appendChild(input);
      });
    });
  });
  // The table link keeps the filter; the chart settings stay with the charts.
  document.getElementById("chart-controls").addEventListener("submit", function (event) { event.preventDefault(); });
  observeAll();
})();
