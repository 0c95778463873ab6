// Small behaviours shared by every page; everything here is an enhancement of working HTML.
(function () {
  "use strict";

  // The MLflow client prints links into MLflow's single-page UI, `/#/experiments/3/runs/<id>`;
  // the fragment never reaches the server, so the landing page (and the log-in page it may
  // send you to first) turns it into our URL that resolves the ids.
  function followClientLink() {
    var link = /^#\/experiments\/(\d+)(?:\/runs\/([0-9A-Za-z]+))?\/?(?:[?#/].*)?$/.exec(window.location.hash);
    if (!link) return false;
    var target = "/go/experiments/" + link[1] + "/" + (link[2] ? "runs/" + link[2] + "/" : "");
    if (window.location.pathname === "/") {
      window.location.replace(target);
      return true;
    }
    var next = document.querySelector('form input[name="next"]');
    if (next) next.value = target;
    return false;
  }
  // A link pasted while the landing page is open changes only the fragment.
  window.addEventListener("hashchange", followClientLink);
  if (followClientLink()) return;

  // Tabs: arrow keys move between them, as the WAI-ARIA tabs pattern expects.
  document.addEventListener("keydown", function (event) {
    var tab = event.target.closest && event.target.closest('[role="tab"]');
    if (!tab || (event.key !== "ArrowRight" && event.key !== "ArrowLeft")) return;
    var tabs = Array.prototype.slice.call(tab.parentElement.querySelectorAll('[role="tab"]'));
    var next = tabs.indexOf(tab) + (event.key === "ArrowRight" ? 1 : -1);
    tabs[(next + tabs.length) % tabs.length].focus();
    event.preventDefault();
  });

  document.addEventListener("click", function (event) {
    var copy = event.target.closest && event.target.closest("[data-copy]");
    if (copy && navigator.clipboard) {
      navigator.clipboard.writeText(copy.dataset.copy).then(function () {
        copy.textContent = "Copied";
        setTimeout(function () { copy.textContent = "Copy"; }, 1500);
      });
    }
    var expand = event.target.closest && event.target.closest("button.expand");
    if (expand) expand.setAttribute("aria-expanded", "true");
  });

  // Behaviours the Content-Security-Policy forbids as inline handlers (onsubmit=, onchange=):
  // data-confirm asks before a form is sent, data-no-submit keeps a form of live controls from
  // being sent, data-autosubmit sends its form when it changes.
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!form.dataset) return;
    if (form.hasAttribute("data-no-submit")) event.preventDefault();
    else if (form.dataset.confirm && !window.confirm(form.dataset.confirm)) event.preventDefault();
  });
  document.addEventListener("change", function (event) {
    var input = event.target;
    if (input.hasAttribute && input.hasAttribute("data-autosubmit") && input.form) input.form.submit();
  });

  // Lists with a search box (the column chooser): hide the labels that do not match.
  document.addEventListener("input", function (event) {
    var box = event.target;
    if (!box.dataset || !box.dataset.filterList) return;
    var needle = box.value.trim().toLowerCase();
    document.querySelectorAll("#" + box.dataset.filterList + " label").forEach(function (label) {
      label.hidden = needle !== "" && label.textContent.toLowerCase().indexOf(needle) === -1;
    });
  });

  // Tables with a search box: hide rows whose text does not contain the query.
  document.addEventListener("input", function (event) {
    var box = event.target;
    if (!box.dataset || !box.dataset.filterTable) return;
    var needle = box.value.trim().toLowerCase();
    var rows = document.querySelectorAll("#" + box.dataset.filterTable + " tbody tr");
    rows.forEach(function (row) {
      row.hidden = needle !== "" && row.textContent.toLowerCase().indexOf(needle) === -1;
    });
  });
})();
