/* A participant follows the facilitator: poll the room's state (an ETag makes an unchanged
   room a 304), show the facilitator's step and put the figure in the facilitator's state.
   "Explore on my own" stops applying it until "Rejoin". Guesses go to the room only when
   the facilitator asks for them. */
(function () {
  "use strict";
  var root = document.getElementById("follow");
  if (!root) return;
  var stateUrl = root.getAttribute("data-state-url");
  var pollMs = Number(root.getAttribute("data-poll-ms")) || 1000;
  var etag = null, following = true, applied = { step: 0, query: null }, last = null, failures = 0;
  var status = document.getElementById("follow-status");
  var pid = localStorage.getItem("live-pid");
  if (!pid) {
    var bytes = new Uint8Array(12); crypto.getRandomValues(bytes);
    pid = Array.from(bytes, function (b) { return (b % 36).toString(36); }).join("");
    try { localStorage.setItem("live-pid", pid); } catch (e) { /* private mode: a new pid per page */ }
  }
  try { last = JSON.parse(document.getElementById("live-state").textContent); } catch (e) { /* */ }

  function say(text) { if (status) status.textContent = text; }
  function apply(state) {
    last = state;
    if (!following) { say("Exploring on your own · the facilitator is on step " + state.step); return; }
    say("Following the facilitator · step " + state.step + " of " + state.steps);
    if (state.step !== applied.step) {
      root.querySelectorAll("section.step").forEach(function (s) {
        s.hidden = Number(s.getAttribute("data-step")) !== state.step;
      });
      applied.step = state.step;
    }
    var sec = root.querySelector('section.step[data-step="' + state.step + '"]');
    var form = sec && sec.querySelector("form.predict");
    if (form) {
      form.classList.toggle("closed", !state.predicting);
      var btn = form.querySelector('button[type="submit"]');
      if (btn) btn.disabled = !state.predicting && !state.revealed;
      if (state.revealed) reveal(form, state.step);
    }
    if (state.query && state.query !== applied.query) {
      // The chapter's page answers an htmx request for the figure's body with the controls,
      // presets and result at that state (the same partial a preset click swaps in). The
      // query names the figure (`figure=`) when it is not the chapter's first.
      var name = new URLSearchParams(state.query).get("figure") || root.getAttribute("data-first-figure");
      var box = name && root.querySelector('.follow-figure[data-figure="' + CSS.escape(name) + '"]');
      if (box) root.querySelectorAll(".follow-figure[data-figure]").forEach(function (b) { b.hidden = b !== box; });
      var body = box && box.querySelector(".sim-main[id^='body-']");
      if (body && window.htmx) {
        window.htmx.ajax("GET", root.getAttribute("data-chapter-url") + "?" + state.query,
                         { target: "#" + body.id, swap: "outerHTML" });
      }
      applied.query = state.query;
    }
  }
  function poll() {
    var headers = etag ? { "If-None-Match": etag } : {};
    fetch(stateUrl, { headers: headers, cache: "no-store" }).then(function (r) {
      failures = 0;
      if (r.status === 304) return null;
      if (r.status === 404) { say("This session has ended."); return "end"; }
      if (!r.ok) return null;
      etag = r.headers.get("ETag");
      return r.json();
    }).then(function (state) {
      if (state === "end") return;
      if (state) apply(state);
      setTimeout(poll, pollMs);
    }).catch(function () {
      failures++;
      say("Reconnecting…");
      setTimeout(poll, Math.min(10000, pollMs * Math.pow(2, failures)));  // back off while away
    });
  }
  function reveal(form, step) {
    if (form.getAttribute("data-revealed")) return;
    form.setAttribute("data-revealed", "1");
    fetch(root.getAttribute("data-predictions-url") + "?step=" + step).then(function (r) { return r.ok ? r.json() : null; })
      .then(function (d) {
        if (!d || !d.truth) return;
        var out = form.querySelector(".predict-result");
        var mine = form.getAttribute("data-mine");
        out.textContent = "The run: " + d.truth.text + (mine !== null ? " · you guessed " + mine : "") + " · " + d.n + " guesses in the room.";
      });
  }
  document.addEventListener("submit", function (e) {
    var form = e.target.closest && e.target.closest("form.predict");
    if (!form) return;
    e.preventDefault();
    var raw = new FormData(form).get("guess");
    var out = form.querySelector(".predict-result");
    if (raw === null || raw === "") { out.textContent = "Type or pick a guess first."; return; }
    var body = new URLSearchParams({ pid: pid, value: String(raw) });
    fetch(root.getAttribute("data-predict-url"), { method: "POST", body: body }).then(function (r) {
      return r.json().then(function (d) {
        if (r.ok) { form.setAttribute("data-mine", String(raw)); out.textContent = "Sent. Wait for the facilitator to reveal the run."; }
        else out.textContent = d.error || "Not sent.";
      });
    }).catch(function () { out.textContent = "Not sent: the server could not be reached."; });
  });
  document.getElementById("step-out").addEventListener("click", function () {
    following = false; this.hidden = true; document.getElementById("step-in").hidden = false;
    if (last) apply(last);
  });
  document.getElementById("step-in").addEventListener("click", function () {
    following = true; this.hidden = true; document.getElementById("step-out").hidden = false;
    applied = { step: 0, query: null };
    if (last) apply(last);
  });
  var home = window.location.pathname;
  document.addEventListener("htmx:afterSettle", function () {
    if (window.location.pathname !== home) history.replaceState(null, "", home);
  });
  document.addEventListener("DOMContentLoaded", function () {
    if (last) { applied.step = last.step; apply(last); }
    setTimeout(poll, pollMs);
  });
})();
