/* From Demo to Durable: theme, keyboard paging, live figures, checklist.
   No inline script anywhere: the page's CSP forbids it. Everything degrades to plain
   links and GET forms without JavaScript. */
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
  // Other scripts (the sweep page) draw through the same themed path.
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
  function syncSliders(form) {
    form.querySelectorAll("input.slider").forEach(function (sl) {
      var input = document.getElementById(sl.getAttribute("data-for"));
      if (input) valueToSlider(sl, input.value);
    });
  }
  function fillForm(form, query) {
    var params = new URLSearchParams(query);
    params.forEach(function (value, name) {
      form.querySelectorAll('[name="' + name + '"]').forEach(function (el) {
        if (el.type === "checkbox") el.checked = value === "1";
        else if (el.type !== "hidden") el.value = value;
      });
    });
    syncSliders(form);
  }
  function rerun(form) { window.htmx ? window.htmx.trigger(form, "change") : form.submit(); }
  function clearErrors(form) {
    form.querySelectorAll(".error, .form-error").forEach(function (e) { e.textContent = ""; });
    form.querySelectorAll("[aria-invalid]").forEach(function (e) { e.removeAttribute("aria-invalid"); });
    form.querySelectorAll(".has-error").forEach(function (e) { e.classList.remove("has-error"); });
  }
  function markPreset(fig, query) {
    fig.querySelectorAll(".preset").forEach(function (p) {
      if (query !== null && p.getAttribute("data-query") === query) p.setAttribute("aria-current", "true");
      else p.removeAttribute("aria-current");
    });
  }

  function initFigure(fig) {
    var form = fig.querySelector("form.sim-controls");
    if (!form) return;
    form.addEventListener("input", function (e) {
      var t = e.target;
      if (t.classList.contains("slider")) {
        var input = document.getElementById(t.getAttribute("data-for"));
        if (input) input.value = sliderToValue(t);
        markPreset(fig, null);
        t.dispatchEvent(new CustomEvent("sim:input", { bubbles: true }));
      } else if (t.classList.contains("exact")) {
        var sl = form.querySelector('input.slider[data-for="' + t.id + '"]');
        if (sl) valueToSlider(sl, t.value);
      }
    });
    // A slider's own change event (on release, or each arrow key) would re-send the
    // values its input events already sent: keep it from reaching htmx on the form.
    form.querySelectorAll("input.slider").forEach(function (sl) {
      sl.addEventListener("change", function (e) { e.stopPropagation(); });
    });
    form.addEventListener("change", function (e) {
      if (e.target !== form && !e.target.classList.contains("slider")) markPreset(fig, null);
    });
    fig.querySelectorAll("a.preset").forEach(function (a) {
      a.addEventListener("click", function (e) {
        e.preventDefault();
        fillForm(form, a.getAttribute("data-query"));
        markPreset(fig, a.getAttribute("data-query"));
        rerun(form);
      });
    });
    var reset = form.querySelector("a.reset");
    if (reset) reset.addEventListener("click", function (e) {
      e.preventDefault();
      fillForm(form, form.getAttribute("data-defaults"));
      markPreset(fig, null);
      rerun(form);
    });
    var seedBtn = form.querySelector("button.new-seed");
    if (seedBtn) seedBtn.addEventListener("click", function () {
      var seed = form.querySelector('input[name="seed"]');
      var max = Math.min(parseInt(seedBtn.getAttribute("data-seed-max"), 10) || 1e9, 1e9);
      var buf = new Uint32Array(1);
      window.crypto.getRandomValues(buf);
      seed.value = String(buf[0] % (max + 1));
      markPreset(fig, null);
      rerun(form);
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

  function onAfterSwap(e) {
    var d = e.detail || {};
    var from = d.requestConfig && d.requestConfig.elt ? d.requestConfig.elt : (d.elt || e.target);
    var fig = from && from.closest ? from.closest("figure.sim") : null;
    if (!fig) return;
    var target = d.target && d.target.isConnected ? d.target : fig;
    var form = fig.querySelector("form.sim-controls");
    var status = e.detail.xhr ? e.detail.xhr.status : 200;
    if (status === 400) {
      var ctl = target.closest(".control");
      if (ctl) {
        ctl.classList.add("has-error");
        var input = ctl.querySelector("[name]:not([type=hidden])");
        if (input) input.setAttribute("aria-invalid", "true");
      }
      return;
    }
    if (form) clearErrors(form);
    addPinnedColumn(fig);
    draw(fig.querySelector(".figdata"));
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

  /* ---- checklist ------------------------------------------------------------------ */
  var TICKS = "checklist-ticks-v1";
  function loadTicks() {
    try { return JSON.parse(localStorage.getItem(TICKS) || "{}") || {}; } catch (e) { return {}; }
  }
  function saveTicks(t) { try { localStorage.setItem(TICKS, JSON.stringify(t)); } catch (e) { /* */ } }
  function initChecklist() {
    var list = document.getElementById("checklist");
    if (!list) return;
    var ticks = loadTicks();
    var boxes = list.querySelectorAll("input[type=checkbox][data-key]");
    var count = document.getElementById("tick-count");
    function update() {
      var n = 0;
      boxes.forEach(function (b) { if (b.checked) n++; });
      if (count) count.textContent = String(n);
    }
    boxes.forEach(function (b) {
      b.checked = !!ticks[b.getAttribute("data-key")];
      b.addEventListener("change", function () {
        var t = loadTicks();
        if (b.checked) t[b.getAttribute("data-key")] = true; else delete t[b.getAttribute("data-key")];
        saveTicks(t);
        update();
      });
    });
    update();
    var copy = document.getElementById("copy-pr");
    if (copy) copy.addEventListener("click", function () {
      var lines = ["## Pre-merge checklist", "",
                   "_Proportionate to blast radius. **must** = required for real users, data or payments._", ""];
      list.querySelectorAll(".checklist-group").forEach(function (g) {
        lines.push("### " + g.getAttribute("data-title"));
        g.querySelectorAll("li").forEach(function (li) {
          var text = li.querySelector(".item-text").textContent.replace(/\s+/g, " ").trim();
          var must = li.querySelector(".must") ? "**must** " : "";
          lines.push("- [ ] " + must + text);
        });
        lines.push("");
      });
      copyText(lines.join("\n"), copy, "Copied as Markdown");
    });
    var clear = document.getElementById("clear-ticks");
    if (clear) clear.addEventListener("click", function () {
      saveTicks({});
      boxes.forEach(function (b) { b.checked = false; });
      update();
    });
    var print = document.getElementById("print-list");
    if (print) print.addEventListener("click", function () { window.print(); });
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
    document.body.addEventListener("htmx:afterSwap", onAfterSwap);
    redrawAll();
    initChecklist();
  });
})();
