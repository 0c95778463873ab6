// Live refresh of the runs table while runs are in progress. The rows are updated in place, not
// re-rendered, so ticked boxes, expanded child runs and the scroll position survive a refresh.
(function () {
  "use strict";
  var INTERVAL = 5000;
  var busy = false;

  function table() { return document.getElementById("runs-table"); }

  function topRows(tbody) {
    return Array.prototype.filter.call(tbody.children, function (row) {
      return row.dataset && row.dataset.runId && !row.classList.contains("child-row");
    });
  }

  // The row's child rows, which follow it once expanded.
  function childRows(row) {
    var found = [];
    var next = row.nextElementSibling;
    while (next && next.classList.contains("child-row")) { found.push(next); next = next.nextElementSibling; }
    return found;
  }

  function updateRow(old, fresh) {
    old.className = fresh.className;
    var cells = old.children;
    var freshCells = fresh.children;
    if (cells.length !== freshCells.length) {
      // The columns changed: take the new cells but keep the tick.
      var ticked = old.querySelector('input[name="runs"]').checked;
      old.innerHTML = fresh.innerHTML;
      old.querySelector('input[name="runs"]').checked = ticked;
      return;
    }
    for (var i = 1; i < cells.length; i++) {
      var button = cells[i].querySelector("button.expand");
      var freshButton = freshCells[i].querySelector("button.expand");
      if (button && button.getAttribute("aria-expanded") === "true") {
        // Expanded: its child rows are on the page; only the count may change.
        if (freshButton) button.textContent = freshButton.textContent;
        continue;
      }
      if (cells[i].innerHTML !== freshCells[i].innerHTML) {
        cells[i].innerHTML = freshCells[i].innerHTML;
        if (window.htmx) window.htmx.process(cells[i]);
      }
    }
  }

  function apply(html) {
    var current = table();
    var doc = new DOMParser().parseFromString(html, "text/html");
    var fresh = doc.getElementById("runs-table");
    if (!current || !fresh) return;
    var tbody = current.querySelector("table.runs tbody");
    var freshBody = fresh.querySelector("table.runs tbody");
    if (!tbody || !freshBody) return;
    var existing = {};
    topRows(tbody).forEach(function (row) { existing[row.dataset.runId] = row; });
    var ordered = [];
    topRows(freshBody).forEach(function (freshRow) {
      var id = freshRow.dataset.runId;
      var row = existing[id];
      if (row) {
        updateRow(row, freshRow);
        delete existing[id];
      } else {
        row = document.importNode(freshRow, true);
        if (window.htmx) window.htmx.process(row);
      }
      ordered.push(row);
    });
    // Runs no longer in the page's query leave with their child rows.
    Object.keys(existing).forEach(function (id) {
      childRows(existing[id]).forEach(function (child) { child.remove(); });
      existing[id].remove();
    });
    // Put the rows in the new order, each followed by its expanded child rows.
    var anchor = null;
    ordered.forEach(function (row) {
      var children = row.parentNode ? childRows(row) : [];
      var before = anchor ? anchor.nextSibling : tbody.firstChild;
      if (row !== before) tbody.insertBefore(row, before);
      anchor = row;
      children.forEach(function (child) {
        tbody.insertBefore(child, anchor.nextSibling);
        anchor = child;
      });
    });
    var empty = tbody.querySelector("td.empty");
    if (empty && ordered.length) empty.parentNode.remove();
    var pager = current.querySelector("nav.pager");
    var freshPager = fresh.querySelector("nav.pager");
    if (pager && freshPager && pager.innerHTML !== freshPager.innerHTML) {
      pager.innerHTML = freshPager.innerHTML;
      if (window.htmx) window.htmx.process(pager);
    }
    if (!fresh.dataset.liveUrl) {
      // Nothing is running any more: stop, and say so.
      delete current.dataset.liveUrl;
      var toggle = document.getElementById("live-refresh");
      if (toggle) toggle.closest("label").textContent = "All runs have ended.";
    }
    current.dataset.refreshes = String((parseInt(current.dataset.refreshes, 10) || 0) + 1);
  }

  function tick() {
    var current = table();
    var toggle = document.getElementById("live-refresh");
    if (busy || !current || !current.dataset.liveUrl || !toggle || !toggle.checked || document.hidden) return;
    busy = true;
    fetch(current.dataset.liveUrl, {
      credentials: "same-origin",
      headers: { "HX-Request": "true", "HX-Target": "runs" },
    }).then(function (response) {
      if (!response.ok) throw new Error("HTTP " + response.status);
      return response.text();
    }).then(apply).catch(function () { /* the next tick tries again */ }).then(function () { busy = false; });
  }

  setInterval(tick, INTERVAL);
})();
