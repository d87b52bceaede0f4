// When the server sheds a slider move (503 busy, 429 too many runs from this address):
// keep the last chart, say so beside the controls, and retry once after Retry-After,
// unless the reader has moved on (a newer request made the retry pointless).
(function () {
  "use strict";
  var MAX_TRIES = 5;

  function isFigureForm(el) {
    return el && el.matches && el.matches("form.sim-controls");
  }

  function note(form) {
    var el = form.querySelector(".busy-note");
    if (!el) {
      el = document.createElement("p");
      el.className = "busy-note";
      el.setAttribute("role", "status");
      (form.querySelector(".form-actions") || form).appendChild(el);
    }
    return el;
  }

  document.addEventListener("htmx:beforeRequest", function (e) {
    var form = e.detail.elt;
    if (isFigureForm(form)) form.dataset.busySent = String((+form.dataset.busySent || 0) + 1);
  });

  document.addEventListener("htmx:afterRequest", function (e) {
    var form = e.detail.elt;
    if (!isFigureForm(form) || !e.detail.successful) return;
    form.dataset.busyTries = "0";
    var el = form.querySelector(".busy-note");
    if (el) el.textContent = "";
  });

  document.addEventListener("htmx:responseError", function (e) {
    var xhr = e.detail.xhr, form = e.detail.elt;
    if (!xhr || (xhr.status !== 503 && xhr.status !== 429) || !isFigureForm(form)) return;
    var wait = parseInt(xhr.getResponseHeader("Retry-After"), 10);
    wait = Math.min(Math.max(isNaN(wait) ? 1 : wait, 1), 60);
    var tries = (+form.dataset.busyTries || 0) + 1;
    form.dataset.busyTries = String(tries);
    var el = note(form);
    if (tries > MAX_TRIES) {
      el.textContent = "The server is still busy. The last chart stays; press Run to try again.";
      return;
    }
    el.textContent = (xhr.status === 429 ? "Too many new runs from your address" : "Server busy") +
      ": keeping the last chart, retrying in " + wait + " s…";
    var sent = form.dataset.busySent;
    window.setTimeout(function () {
      if (form.dataset.busySent === sent && window.htmx) window.htmx.trigger(form, "change");
    }, wait * 1000);
  });
})();
