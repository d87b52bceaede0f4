/* The checklist's ticks: kept in this browser, shared as a link or a file, and turned into a
   pull-request template of only the ticked items (rendered by the server, so the Markdown is
   the same wherever it's made). */
(function () {
  "use strict";
  var KEY = "checklist-ticks-v1";
  function load() { try { return JSON.parse(localStorage.getItem(KEY) || "{}") || {}; } catch (e) { return {}; } }
  function save(t) { try { localStorage.setItem(KEY, JSON.stringify(t)); } catch (e) { /* private mode */ } }

  document.addEventListener("DOMContentLoaded", function () {
    var list = document.getElementById("checklist");
    if (!list) return;
    var boxes = Array.prototype.slice.call(list.querySelectorAll("input[type=checkbox][data-key]"));
    var known = boxes.map(function (b) { return b.getAttribute("data-key"); });
    var status = document.getElementById("checklist-status");
    var templateLink = document.getElementById("pr-template");
    var shareBtn = document.getElementById("share-ticks");

    function ticked() { return boxes.filter(function (b) { return b.checked; }).map(function (b) { return b.getAttribute("data-key"); }); }
    function render(t) { boxes.forEach(function (b) { b.checked = !!t[b.getAttribute("data-key")]; }); update(); }
    function update() {
      var keys = ticked();
      var count = document.getElementById("tick-count");
      if (count) count.textContent = String(keys.length);
      if (templateLink) templateLink.href = templateLink.getAttribute("data-base") + "?ticks=" + encodeURIComponent(keys.join(","));
    }
    function say(msg) { var s = document.getElementById("checklist-message"); if (s) s.textContent = msg; }
    function fromList(keys) {
      var t = {}, skipped = 0;
      keys.forEach(function (k) { if (known.indexOf(k) >= 0) t[k] = true; else skipped++; });
      return { ticks: t, skipped: skipped };
    }
    function adopt(keys, source) {
      var r = fromList(keys);
      save(r.ticks); render(r.ticks);
      say("Loaded " + Object.keys(r.ticks).length + " ticked items from " + source +
          (r.skipped ? " (" + r.skipped + " unknown items skipped)" : "") + ".");
    }

    boxes.forEach(function (b) {
      b.addEventListener("change", function () {
        var t = load();
        if (b.checked) t[b.getAttribute("data-key")] = true; else delete t[b.getAttribute("data-key")];
        save(t); update();
      });
    });
    render(load());

    // A shared link (?ticks=…) is offered, never applied silently over someone's own ticks.
    var shared = new URLSearchParams(window.location.search).get("ticks");
    var offer = document.getElementById("ticks-offer");
    if (shared !== null && offer) {
      var keys = shared.split(",").filter(Boolean);
      offer.hidden = false;
      offer.querySelector(".offer-count").textContent = String(fromList(keys).ticks ? Object.keys(fromList(keys).ticks).length : 0);
      offer.querySelector(".accept").addEventListener("click", function () { adopt(keys, "the link"); offer.hidden = true; });
      offer.querySelector(".decline").addEventListener("click", function () { offer.hidden = true; });
    }
    if (shareBtn) shareBtn.addEventListener("click", function () {
      var url = new URL(window.location.pathname, window.location.href);
      url.search = "?ticks=" + ticked().join(",");
      var done = function (msg) { say(msg + " " + url.href); };
      if (navigator.clipboard) navigator.clipboard.writeText(url.href).then(function () { done("Link copied:"); }, function () { done("Copy this link:"); });
      else done("Copy this link:");
    });
    var dl = document.getElementById("download-ticks");
    if (dl) dl.addEventListener("click", function () {
      var blob = new Blob([JSON.stringify({ format: "checklist-ticks", version: 1, ticks: ticked() }, null, 1)], { type: "application/json" });
      var a = document.createElement("a");
      a.href = URL.createObjectURL(blob); a.download = "checklist-ticks.json";
      document.body.appendChild(a); a.click(); a.remove();
      setTimeout(function () { URL.revokeObjectURL(a.href); }, 1000);
    });
    var file = document.getElementById("import-ticks");
    if (file) file.addEventListener("change", function () {
      var f = file.files && file.files[0];
      if (!f) return;
      if (f.size > 100000) { say("That file is too large to be a checklist export."); return; }
      f.text().then(function (text) {
        var data = JSON.parse(text);
        if (!data || data.format !== "checklist-ticks" || !Array.isArray(data.ticks)) throw new Error("format");
        adopt(data.ticks.map(String), f.name);
      }).catch(function () { say("That file is not a checklist export (expected the JSON this page downloads)."); })
        .then(function () { file.value = ""; });
    });
    var clear = document.getElementById("clear-ticks");
    if (clear) clear.addEventListener("click", function () { save({}); render({}); say("Cleared."); });
    var print = document.getElementById("print-list");
    if (print) print.addEventListener("click", function () { window.print(); });
    if (status) status.hidden = false;
  });
})();
