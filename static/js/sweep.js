/* Sweeps: ask for the missing points two at a time and redraw as each arrives (the server
   sends the figure with every point computed so far); when the last one is in, fetch the
   server-rendered table. Drawing goes through app.js (window.monograph) so themes match. */
(function () {
  "use strict";
  var CONCURRENCY = 2;  // the server has one worker per core; two keeps both busy

  function draw(result, figure) {
    var dataEl = result.querySelector(".figdata");
    if (!dataEl) return;
    if (figure) dataEl.textContent = JSON.stringify(figure);
    if (window.monograph) window.monograph.draw(dataEl);
  }

  function stream(result) {
    if (result._streaming) return;
    result._streaming = true;
    var missing = (result.getAttribute("data-missing") || "").split(",").filter(Boolean);
    var total = Number(result.getAttribute("data-total"));
    var progress = result.querySelector(".sweep-progress");
    var best = Number(result.getAttribute("data-computed"));
    draw(result);
    if (!missing.length) return;
    var queue = missing.slice(), running = 0, failed = false;
    function finish() {
      if (failed || !window.htmx) return;
      window.htmx.ajax("GET", result.getAttribute("data-page-url"),
                       { target: "#" + result.id, swap: "outerHTML" });
    }
    function fail(msg) { failed = true; if (progress) progress.textContent = msg; }
    function next() {
      if (!queue.length) { if (!running) finish(); return; }
      var i = queue.shift();
      running++;
      fetch(result.getAttribute("data-point-url") + "&point=" + i, { headers: { Accept: "application/json" } })
        .then(function (r) {
          if (r.status === 503 || r.status === 429) {  // busy: wait as told, then try again
            var wait = Number(r.headers.get("Retry-After") || "2");
            queue.unshift(i);
            return new Promise(function (res) { setTimeout(res, Math.min(wait, 10) * 1000); });
          }
          return r.json().then(function (body) {
            if (!r.ok) { fail(body.error || "The sweep failed."); return; }
            if (body.computed >= best) {  // responses can arrive out of order: keep the fullest
              best = body.computed;
              draw(result, body.figure);
              if (progress) progress.textContent = body.summary;
            }
            result.setAttribute("data-computed", String(best));
          });
        })
        .catch(function () { fail("The sweep stopped: the server could not be reached."); })
        .then(function () { running--; if (!failed) next(); });
    }
    if (progress) progress.textContent = best + " of " + total + " points computed…";
    for (var k = 0; k < CONCURRENCY; k++) next();
  }

  function streamAll(root) {
    if (root.classList && root.classList.contains("sweep-result")) stream(root);
    if (root.querySelectorAll) root.querySelectorAll(".sweep-result").forEach(stream);
  }

  document.addEventListener("DOMContentLoaded", function () {
    streamAll(document);
    // A chapter's sweep arrives by htmx when revealed; the finished table replaces the result.
    document.body.addEventListener("htmx:afterSettle", function (e) {
      var t = e.detail && e.detail.elt ? e.detail.elt : e.target;
      if (t && t.isConnected) streamAll(t.parentNode || t);
    });
  });
})();
