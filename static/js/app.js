/* From Demo to Durable: theme, keyboard paging, live figures, checklist.
   Only what htmx cannot do: draw charts with Plotly, keep each slider and its number box
   in step, pin a run to compare, copy a link. The server renders everything else
   (results, errors, presets, reset, new seeds). No inline script anywhere: the page's
   CSP forbids it. Everything degrades to plain links and GET forms without JavaScript. */
(function () {
  "use strict";
  var root = document.documentElement;

  /* ---- theme -------------------------------------------------------------------- */
  function effectiveTheme() {
    var t = root.getAttribute("data-theme");
    if (t === "light" || t === "dark") return t;
    return window.matchMedia("(prefers-color-scheme: dark)").matches ? "dark" : "light";
  }
  function labelToggle() {
    var b = document.getElementById("theme-toggle");
    if (!b) return;
    var now = effectiveTheme();
    var next = now === "dark" ? "light" : "dark";
    b.setAttribute("aria-label", "Theme: " + now + ". Switch to " + next);
    b.setAttribute("aria-pressed", now === "dark" ? "true" : "false");
    var l = b.querySelector(".theme-label");
    if (l) l.textContent = now === "dark" ? "Dark" : "Light";
  }
  function setTheme(t) {
    root.setAttribute("data-theme", t);
    try { localStorage.setItem("theme", t); } catch (e) { /* private mode */ }
    labelToggle();
    redrawAll();
  }

  /* ---- keyboard paging ------------------------------------------------------------ */
  function onKey(e) {
    if (e.defaultPrevented || e.altKey || e.ctrlKey || e.metaKey || e.shiftKey) return;
    if (e.key !== "ArrowLeft" && e.key !== "ArrowRight") return;
    var el = document.activeElement;
    if (el && (el.isContentEditable || /^(INPUT|SELECT|TEXTAREA|BUTTON)$/.test(el.tagName) ||
               (el.closest && el.closest(".chart")))) return;
    var link = document.querySelector(e.key === "ArrowLeft" ? 'link[rel="prev"]' : 'link[rel="next"]');
    if (link) window.location.href = link.getAttribute("href");
  }

  /* ---- figures -------------------------------------------------------------------- */
  function cssVar(name) { return getComputedStyle(root).getPropertyValue(name).trim(); }
  function themedLayout(layout) {
    var fg = cssVar("--fg"), grid = cssVar("--line"), muted = cssVar("--muted");
    var out = Object.assign({}, layout);
    out.font = Object.assign({}, layout.font || {}, { color: fg });
    Object.keys(out).forEach(function (k) {
      if (/^[xy]axis\d*$/.test(k)) {
        out[k] = Object.assign({}, out[k], { gridcolor: grid, zerolinecolor: muted, linecolor: grid });
        // Superscript tick labels (10³) are drawn with style attributes, which the CSP blocks.
        if (out[k].type === "log" && !out[k].exponentformat) out[k].exponentformat = "none";
      }
    });
    ["xaxis", "yaxis"].forEach(function (k) {
      if (!out[k]) out[k] = { gridcolor: grid, zerolinecolor: muted };
    });
    return out;
  }
  var CONFIG = { responsive: true, displaylogo: false,
                 modeBarButtonsToRemove: ["select2d", "lasso2d", "autoScale2d"] };
  function draw(dataEl) {
    if (!window.Plotly || !dataEl) return;
    var chart = document.getElementById(dataEl.getAttribute("data-chart"));
    if (!chart) return;
    var fig;
    try { fig = JSON.parse(dataEl.textContent); } catch (e) { return; }
    chart._fig = fig;
    dataEl._drawn = true;
    // A quick run shown while dragging (or while the server is busy) looks provisional.
    var preview = dataEl.getAttribute("data-preview");
    if (preview) chart.setAttribute("data-preview", preview); else chart.removeAttribute("data-preview");
    var figEl = chart.closest("figure.sim");
    var data = fig.data;
    if (figEl && figEl._pinned) data = figEl._pinned.traces.concat(fig.data);
    var t0 = performance.now();
    window.Plotly.react(chart, data, themedLayout(fig.layout || {}), CONFIG).then(function () {
      chart.setAttribute("data-drawn", String(Date.now()));
      chart.setAttribute("data-draw-ms", (performance.now() - t0).toFixed(1));
      chart.dispatchEvent(new CustomEvent("figure:drawn", { bubbles: true }));
    });
  }
  // The sweep, presenter and follow pages reuse these rather than repeat them.
  window.monograph = { draw: draw };
  function redrawAll() {
    document.querySelectorAll(".figdata").forEach(draw);
  }

  function roundTo(v, kind) {
    if (kind === "int") return String(Math.round(v));
    var p = Math.pow(10, Math.max(0, 2 - Math.floor(Math.log10(Math.abs(v) || 1))));
    return String(Math.round(v * p) / p);
  }
  function sliderToValue(sl) {
    var v = parseFloat(sl.value);
    if (sl.getAttribute("data-scale") === "log") v = Math.pow(10, v);
    return roundTo(v, sl.getAttribute("data-kind"));
  }
  // The one rounding of a slider position: the bench asks the page for it (devtools).
  window.Monograph = { sliderValue: sliderToValue };
  function valueToSlider(sl, value) {
    var v = parseFloat(value);
    if (!isFinite(v)) return;
    if (sl.getAttribute("data-scale") === "log") v = Math.log10(Math.max(v, 1e-12));
    sl.value = String(v);
  }
  // Slider ↔ number box, delegated from the figure: htmx may swap the form itself
  // (a preset, "Reset", "New seed", or errors), and the figure outlives those swaps.
  //
  // While a pointer drags a slider, moves ask for a preview (preview=1: a quick run,
  // labelled) where the simulation has one; letting go asks for the full run. A keyboard
  // step or a typed value asks for the full run at once.
  function previewInput(fig) { return fig.querySelector("form input.drag-preview"); }
  function release(fig) {
    fig._dragging = false;
    if (!fig._previewed) return;
    fig._previewed = false;
    var p = previewInput(fig), sl = fig._slider;
    if (p) p.disabled = true;
    if (sl && sl.isConnected) sl.dispatchEvent(new CustomEvent("sim:input", { bubbles: true }));
  }
  function initFigure(fig) {
    fig.addEventListener("pointerdown", function (e) {
      if (e.target.classList && e.target.classList.contains("slider")) {
        fig._dragging = true;
        fig._slider = e.target;
      }
    });
    fig.addEventListener("input", function (e) {
      var t = e.target;
      if (t.classList.contains("slider")) {
        var input = document.getElementById(t.getAttribute("data-for"));
        if (input) input.value = sliderToValue(t);
        var p = previewInput(fig);
        if (p) {
          p.disabled = !fig._dragging;
          fig._previewed = fig._previewed || fig._dragging;
        }
        t.dispatchEvent(new CustomEvent("sim:input", { bubbles: true }));
      } else if (t.classList.contains("exact")) {
        var sl = t.form && t.form.querySelector('input.slider[data-for="' + t.id + '"]');
        if (sl) valueToSlider(sl, t.value);
      }
    });
    // A slider's own change event (on release, or each arrow key) would re-send the
    // values its input events already sent: stop it (capture) before it reaches htmx.
    // After a drag it is the release: ask for the full run.
    fig.addEventListener("change", function (e) {
      if (e.target.classList.contains("slider")) {
        e.stopPropagation();
        release(fig);
      }
    }, true);
    // Released without a change event (dragged back to where it started): still full.
    ["pointerup", "pointercancel"].forEach(function (type) {
      window.addEventListener(type, function () { if (fig._dragging) release(fig); });
    });
  }

  /* ---- pin a run to compare ------------------------------------------------------- */
  // The pinned run is drawn faintly under the current one, and its metrics get a column
  // of their own, so two settings can be compared without a second window.
  function pinnedTrace(t) {
    var c = Object.assign({}, t, { opacity: 0.3, showlegend: false, hoverinfo: "skip",
                                   name: "pinned: " + (t.name || "") });
    delete c.legendgroup;
    return c;
  }
  function addPinnedColumn(fig) {
    var table = fig.querySelector("table.metrics");
    if (!table) return;
    table.querySelectorAll(".pinned-col").forEach(function (c) { c.remove(); });
    if (!fig._pinned) return;
    var head = table.querySelector("thead tr");
    var th = document.createElement("th");
    th.scope = "col"; th.className = "pinned-col"; th.textContent = "Pinned run";
    head.insertBefore(th, head.children[2]);
    table.querySelectorAll("tbody tr[data-metric]").forEach(function (tr) {
      var td = document.createElement("td");
      td.className = "pinned-col";
      td.textContent = fig._pinned.values[tr.getAttribute("data-metric")] || "–";
      tr.insertBefore(td, tr.children[2]);
    });
  }
  function pin(fig) {
    var chart = fig.querySelector(".chart");
    if (!chart || !chart._fig) return;
    var values = {};
    fig.querySelectorAll("table.metrics tbody tr[data-metric]").forEach(function (tr) {
      values[tr.getAttribute("data-metric")] = tr.querySelector("td.value").textContent;
    });
    var btn = fig.querySelector("button.pin-run");
    fig._pinned = { traces: chart._fig.data.map(pinnedTrace), values: values };
    var note = fig.querySelector(".pinned-note");
    note.querySelector(".pinned-text").textContent =
      "Comparing with a pinned run (faint lines, “Pinned run” column): " +
      (btn ? btn.getAttribute("data-label").replace(/&/g, ", ") : "");
    note.hidden = false;
    addPinnedColumn(fig);
    draw(fig.querySelector(".figdata"));
  }
  function unpin(fig) {
    fig._pinned = null;
    fig.querySelector(".pinned-note").hidden = true;
    addPinnedColumn(fig);
    draw(fig.querySelector(".figdata"));
  }

  // After a swap (the server rendered everything, errors included), draw each chart
  // whose data was swapped in (a new element, not yet drawn) and put the pinned column
  // back into a new metrics table. A refusal swaps only the form: nothing is redrawn.
  function onAfterSettle() {
    document.querySelectorAll("figure.sim").forEach(function (fig) {
      var dataEl = fig.querySelector(".figdata");
      if (fig._pinned && !fig.querySelector("table.metrics .pinned-col")) addPinnedColumn(fig);
      if (dataEl && !dataEl._drawn) draw(dataEl);
    });
  }

  /* ---- copy link ---------------------------------------------------------------- */
  function onClick(e) {
    var p = e.target.closest && e.target.closest("button.pin-run, button.unpin");
    if (p) {
      var f = p.closest("figure.sim");
      if (f) (p.classList.contains("unpin") ? unpin : pin)(f);
      return;
    }
    // "Sweep this" carries the figure's current state, not the state the page loaded with.
    var sw = e.target.closest && e.target.closest("a.sweep-link");
    if (sw) {
      var f2 = sw.closest("form");
      if (f2) {
        var q = new URLSearchParams(new FormData(f2));
        var flat = new URLSearchParams();
        q.forEach(function (v, k) { flat.set(k, v); });  // last value wins (checkbox after its hidden 0)
        flat.set("vary", sw.getAttribute("data-vary"));
        sw.href = sw.href.split("?")[0] + "?" + flat.toString();
      }
      return;
    }
    var b = e.target.closest && e.target.closest("button.copy-link");
    if (!b) return;
    var url = new URL(b.getAttribute("data-href"), window.location.href).href;
    copyText(url, b, "Copied");
  }
  function copyText(text, button, done) {
    var original = button.textContent;
    var finish = function (msg) {
      button.textContent = msg;
      setTimeout(function () { button.textContent = original; }, 1600);
    };
    if (navigator.clipboard && navigator.clipboard.writeText) {
      navigator.clipboard.writeText(text).then(function () { finish(done); },
                                               function () { finish("Copy failed"); });
    } else { finish("Copy failed"); }
  }

  /* ---- start ---------------------------------------------------------------------- */
  document.addEventListener("DOMContentLoaded", function () {
    labelToggle();
    var tb = document.getElementById("theme-toggle");
    if (tb) tb.addEventListener("click", function () {
      setTheme(effectiveTheme() === "dark" ? "light" : "dark");
    });
    window.matchMedia("(prefers-color-scheme: dark)").addEventListener("change", function () {
      labelToggle(); redrawAll();
    });
    document.addEventListener("keydown", onKey);
    document.addEventListener("click", onClick);
    document.querySelectorAll("figure.sim").forEach(initFigure);
    document.body.addEventListener("htmx:afterSettle", onAfterSettle);
    redrawAll();
  });
})();
