/* Apply the remembered theme before the first paint (no flash). */
(function () {
  document.documentElement.classList.add("js");  // show controls that need JavaScript
  try {
    var t = localStorage.getItem("theme");
    if (t === "light" || t === "dark") document.documentElement.setAttribute("data-theme", t);
  } catch (e) { /* storage may be blocked: follow the system */ }
})();
