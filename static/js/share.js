/* The share panel: copy a snippet to the clipboard. No inline script (strict CSP); one
   delegated listener, so panels swapped in by htmx work without re-binding. */
(function () {
  "use strict";
  function say(button, text) {
    var panel = button.closest(".share");
    var status = panel && panel.querySelector(".share-status");
    if (status) status.textContent = text;
    var original = button.getAttribute("data-label") || button.textContent;
    button.setAttribute("data-label", original);
    button.textContent = text;
    setTimeout(function () { button.textContent = original; }, 1600);
  }
  function fallback(field) {
    field.focus();
    field.select();
    try { return document.execCommand("copy"); } catch (e) { return false; }
  }
  document.addEventListener("click", function (e) {
    var button = e.target.closest && e.target.closest("button.share-copy");
    if (!button) return;
    var field = document.getElementById(button.getAttribute("data-copy"));
    if (!field) return;
    var text = field.value;
    if (navigator.clipboard && navigator.clipboard.writeText) {
      navigator.clipboard.writeText(text).then(
        function () { say(button, "Copied"); },
        function () { say(button, fallback(field) ? "Copied" : "Select and copy"); });
    } else {
      say(button, fallback(field) ? "Copied" : "Select and copy");
    }
  });
  document.addEventListener("focusin", function (e) {
    if (e.target.classList && e.target.classList.contains("share-text")) e.target.select();
  });
})();
