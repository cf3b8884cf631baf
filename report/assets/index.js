// zabcheck index: instant filtering of the rows already on the page (the
// form filters across all pages on the server), plus error reporting.
"use strict";
(function () {
  var status = document.getElementById("js-status");
  var errList = document.getElementById("js-errors");
  function recordError(msg) {
    if (status) { status.setAttribute("data-state", "error"); status.textContent = "script error"; }
    if (errList) { var li = document.createElement("li"); li.textContent = String(msg); errList.appendChild(li); }
  }
  window.addEventListener("error", function (e) { recordError(e.message || e); });
  try {
    var input = document.getElementById("filter");
    var rows = Array.prototype.slice.call(document.querySelectorAll("#runs tr.run"));
    if (input) {
      input.addEventListener("input", function () {
        var needle = input.value.toLowerCase();
        rows.forEach(function (r) { r.style.display = r.textContent.toLowerCase().indexOf(needle) >= 0 ? "" : "none"; });
      });
    }
    if (status) { status.setAttribute("data-state", "ok"); status.textContent = "ready"; }
  } catch (e) { recordError(e && e.stack ? e.stack : e); }
})();
