/* Presenter mode and its speaker-notes window.
   Steps: ←/→ (or the buttons); A reveals the step's answer; T starts/pauses the timer;
   N opens the notes window. The two windows stay in step through a BroadcastChannel (same
   browser, nothing sent to the server). With a live room, each step and each figure change
   is sent to the room with the facilitator's key (from the URL fragment, kept in
   sessionStorage), and participants' guesses are drawn beside the true value. */
(function () {
  "use strict";
  var present = document.getElementById("present");
  var notes = document.getElementById("notes");
  var root = present || notes;
  if (!root) return;
  var slug = root.getAttribute("data-slug");
  var total = Number(root.getAttribute("data-steps"));
  var channel = "BroadcastChannel" in window ? new BroadcastChannel("monograph-present-" + slug) : null;
  var stepKey = "present-step-" + slug;
  var current = 1;

  function sections() { return root.querySelectorAll("[data-step]"); }
  function section(n) { return root.querySelector('section[data-step="' + n + '"]'); }
  function fmt(s) { s = Math.max(0, Math.floor(s)); return Math.floor(s / 60) + ":" + String(s % 60).padStart(2, "0"); }

  /* ---- the live room ---------------------------------------------------------------- */
  var live = present && present.getAttribute("data-live");
  var key = null;
  if (live) {
    var m = /key=([A-Za-z0-9_-]+)/.exec(window.location.hash);
    if (m) { sessionStorage.setItem("live-key-" + live, m[1]); history.replaceState(null, "", window.location.pathname + window.location.search); }
    key = sessionStorage.getItem("live-key-" + live);
    if (!key) { var warn = document.getElementById("key-missing"); if (warn) warn.hidden = false; }
  }
  var roomState = { predicting: false, revealed: false, query: "" };
  // One POST at a time, and the latest state after it: two in flight can be applied out of
  // order (the room left on an earlier step than the facilitator's) or both saved under the
  // same version (the followers' ETag then hides the later change).
  var pushing = false, pushAgain = false;
  function push() {
    if (!live || !key) return;
    if (pushing) { pushAgain = true; return; }
    pushing = true;
    fetch(present.getAttribute("data-state-url"), {
      method: "POST", headers: { "Content-Type": "application/json", "X-Live-Key": key },
      body: JSON.stringify({ step: current, query: roomState.query, predicting: roomState.predicting, revealed: roomState.revealed })
    }).catch(function () { /* the next change retries */ }).then(function () {
      pushing = false;
      if (pushAgain) { pushAgain = false; push(); }
    });
  }
  var guessTimer = null;
  function drawGuesses(n) {
    if (!live) return;
    var url = present.getAttribute("data-predictions-url") + "?step=" + n;
    fetch(url, { headers: key ? { "X-Live-Key": key } : {} }).then(function (r) { return r.ok ? r.json() : null; }).then(function (d) {
      if (!d) return;
      var box = document.getElementById("guesses-" + n);
      if (!box) return;
      box.querySelector(".guess-count").textContent = String(d.n);
      var chart = document.getElementById("guess-chart-" + n);
      if (!chart || !window.Plotly) return;
      var x = d.choices || d.centres, traces = [{ type: "bar", x: x, y: d.counts, name: "guesses", marker: { color: "#3b82f6" } }];
      var layout = { height: 260, margin: { l: 40, r: 20, t: 10, b: 40 }, paper_bgcolor: "rgba(0,0,0,0)", plot_bgcolor: "rgba(0,0,0,0)",
                     font: { color: getComputedStyle(document.documentElement).getPropertyValue("--fg").trim() }, shapes: [] };
      if (d.truth && d.truth.value !== null && !d.choices) {
        layout.shapes.push({ type: "line", x0: d.truth.value, x1: d.truth.value, y0: 0, y1: 1, yref: "paper", line: { color: "#ef4444", width: 3 } });
        layout.annotations = [{ x: d.truth.value, y: 1, yref: "paper", text: "the run: " + d.truth.text, showarrow: false, yanchor: "bottom", font: { color: "#ef4444" } }];
      }
      window.Plotly.react(chart, traces, layout, { displayModeBar: false, responsive: true });
    });
  }

  /* ---- figures: a chapter may have several; a step shows the one its preset belongs to
     (a step without a preset keeps the figure on screen). Returns the figure's box. ---- */
  function figureQuery(box) {  // a figure's state, as its permalink's query
    var link = box && box.querySelector(".sim-result a.permalink");
    return link ? (link.getAttribute("href").split("?")[1] || "").split("#")[0] : "";
  }
  function showFigure(name) {
    var boxes = present ? present.querySelectorAll(".present-figure[data-figure]") : [];
    var target = name && present.querySelector('.present-figure[data-figure="' + name + '"]');
    if (!target) return Array.prototype.find.call(boxes, function (b) { return !b.hidden; }) || null;
    boxes.forEach(function (b) { b.hidden = b !== target; });
    var chart = target.querySelector(".chart[data-drawn]");  // drawn while hidden: fit its box
    if (chart && window.Plotly && window.Plotly.Plots) window.Plotly.Plots.resize(chart);
    return target;
  }

  /* ---- steps ---------------------------------------------------------------------- */
  var stepStarted = Date.now(), elapsedBefore = 0, running = false, startedAt = 0;
  function show(n, fromPeer) {
    n = Math.min(Math.max(1, n), total);
    var changed = n !== current;
    current = n;
    sections().forEach(function (s) { s.hidden = Number(s.getAttribute("data-step")) !== n; });
    var pos = document.getElementById("pos"); if (pos) pos.textContent = String(n);
    try { sessionStorage.setItem(stepKey, String(n)); } catch (e) { /* private mode */ }
    if (changed) stepStarted = Date.now();
    var sec = section(n);
    if (present && sec) {
      var planned = document.getElementById("step-planned");
      if (planned) planned.textContent = sec.getAttribute("data-minutes") + ":00";
      var label = sec.getAttribute("data-preset");
      var shown = showFigure(sec.getAttribute("data-figure"));
      present.classList.toggle("predicting", sec.hasAttribute("data-predict"));
      if (shown) roomState.query = figureQuery(shown);  // the room sees the figure on screen
      if (label && shown) {
        var link = Array.prototype.find.call(shown.querySelectorAll("a.preset"),
                                             function (a) { return a.textContent.trim() === label; });
        if (link && !link.hasAttribute("aria-current")) link.click();
      }
      roomState.predicting = false; roomState.revealed = false;
      if (guessTimer) { clearInterval(guessTimer); guessTimer = null; }
    }
    if (channel && !fromPeer) channel.postMessage({ step: n });
    if (!fromPeer) push();
  }
  if (channel) channel.onmessage = function (e) { if (e.data && e.data.step) show(e.data.step, true); };

  function onKey(e) {
    if (e.target.closest && e.target.closest("input, select, textarea")) return;
    if (e.key === "ArrowRight" || e.key === "PageDown") { e.preventDefault(); show(current + 1); }
    else if (e.key === "ArrowLeft" || e.key === "PageUp") { e.preventDefault(); show(current - 1); }
    else if (e.key === "a" || e.key === "A") {
      var d = section(current) && section(current).querySelector("details.answer");
      if (d) d.open = !d.open;
    } else if ((e.key === "t" || e.key === "T") && present) { toggleTimer(); }
    else if ((e.key === "n" || e.key === "N") && present) { openNotes(); }
  }
  function toggleTimer() {
    var b = document.getElementById("timer-toggle");
    if (running) { elapsedBefore += (Date.now() - startedAt) / 1000; running = false; if (b) b.textContent = "Resume timer"; }
    else { startedAt = Date.now(); running = true; if (b) b.textContent = "Pause timer"; }
  }
  function tick() {
    var all = elapsedBefore + (running ? (Date.now() - startedAt) / 1000 : 0);
    var el = document.getElementById("elapsed"); if (el) el.textContent = fmt(all);
    var st = document.getElementById("step-elapsed"); if (st) st.textContent = fmt((Date.now() - stepStarted) / 1000);
    var sec = section(current);
    if (present && sec) present.classList.toggle("overtime", (Date.now() - stepStarted) / 1000 > Number(sec.getAttribute("data-minutes")) * 60);
  }
  function openNotes() { window.open(present.getAttribute("data-notes-url"), "notes-" + slug, "width=900,height=700"); }

  /* ---- predictions (local, and the room's) ------------------------------------------ */
  function onPredict(e) {
    var form = e.target.closest && e.target.closest("form.predict");
    if (!form) return;
    e.preventDefault();
    var data = new FormData(form), raw = data.get("guess");
    var out = form.querySelector(".predict-result");
    if (raw === null || raw === "") { out.textContent = "Type or pick a guess first."; return; }
    var truthText = form.getAttribute("data-truth-text");
    var right = form.getAttribute("data-right-choice");
    if (form.querySelector('input[type="radio"]')) {
      var label = form.querySelector('input[value="' + raw + '"]').parentNode.textContent.trim();
      out.textContent = "You said “" + label + "”. The run: " + truthText + (right === String(raw) ? " — right." : " — not this time.");
    } else {
      var guess = Number(raw), truth = Number(form.getAttribute("data-truth"));
      var off = isFinite(truth) && form.getAttribute("data-truth") !== "" ? " (off by " + Math.abs(guess - truth).toPrecision(2) + ")" : "";
      out.textContent = "Your guess: " + guess + ". The run: " + truthText + off + ".";
    }
    present && present.classList.remove("predicting");  // the figure shows the run now
  }

  function onClick(e) {
    var t = e.target;
    if (t.id === "next") show(current + 1);
    else if (t.id === "prev") show(current - 1);
    else if (t.id === "timer-toggle") toggleTimer();
    else if (t.id === "open-notes") openNotes();
    else if (t.classList.contains("open-guesses")) {
      roomState.predicting = true; roomState.revealed = false; push();
      if (guessTimer) clearInterval(guessTimer);
      guessTimer = setInterval(function () { drawGuesses(current); }, 2000);
      drawGuesses(current);
    } else if (t.classList.contains("reveal-room")) {
      roomState.predicting = false; roomState.revealed = true; push();
      present.classList.remove("predicting");
      drawGuesses(current);
    }
  }

  /* The figure's htmx answers rewrite the URL to the figure's permalink: keep the presenter's
     URL, and tell the room the figure's new state. */
  var home = window.location.pathname + window.location.search;
  document.addEventListener("htmx:afterSettle", function (e) {
    if (!present) return;
    var box = (e.target && e.target.closest && e.target.closest(".present-figure")) ||
              present.querySelector(".present-figure:not([hidden])");
    // A figure left behind by a quick step forward may settle late: only the one on screen
    // speaks for the room. A preview shown while the facilitator drags is not a state the
    // room should run: the release that follows is.
    var dragging = box && box.querySelector('.figdata[data-preview="drag"]');
    if (box && !box.hidden && !dragging) { roomState.query = figureQuery(box); push(); }
    if (window.location.pathname + window.location.search !== home) history.replaceState(null, "", home);
  });

  document.addEventListener("keydown", onKey);
  document.addEventListener("click", onClick);
  document.addEventListener("submit", onPredict);
  document.addEventListener("DOMContentLoaded", function () {
    var saved = Number(sessionStorage.getItem(stepKey) || "1");
    var fromUrl = Number(new URLSearchParams(window.location.search).get("step") || "0");
    show(fromUrl || saved || 1, true);
    push();
    setInterval(tick, 500);
  });
})();
