// Copy buttons: <button data-copy-target="element-id">. The clipboard API needs HTTPS or
// localhost; elsewhere the text is selected so the user can press Ctrl+C.
document.addEventListener("click", function (event) {
  var button = event.target.closest("[data-copy-target]");
  if (!button) return;
  var source = document.getElementById(button.dataset.copyTarget);
  if (!source) return;
  var text = source.textContent.trim();
  var label = button.textContent;
  function selectText() {
    var range = document.createRange();
    range.selectNodeContents(source);
    var selection = window.getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
    button.textContent = "Selected: press Ctrl+C";
  }
  if (navigator.clipboard && window.isSecureContext) {
    navigator.clipboard.writeText(text).then(function () {
      button.textContent = "Copied";
      setTimeout(function () { button.textContent = label; }, 2000);
    }, selectText);
  } else {
    selectText();
  }
});
