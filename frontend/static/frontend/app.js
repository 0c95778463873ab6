// Small behaviours shared by every page; everything here is an enhancement of working HTML.
(function () {
  "use strict";

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
